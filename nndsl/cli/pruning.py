"""What `summary` says about a train section's `prune = lottery(...)`: the weights each
round leaves in every pruned parameter, known before training (nndsl/elab/prune.py)."""

from __future__ import annotations

from rich.console import Console

from nndsl.elab.prune import schedule


def lottery_summary(spec, network: str) -> dict | None:
    """The lottery of the first train section that trains `network` and prunes: its
    arguments and the per-round schedule, or None when no section prunes it."""
    for train in spec.program.trains:
        fields = {f.name.id: f.value for f in train.fields}
        if getattr(fields.get("model"), "id", None) == network and "prune" in fields:
            values = spec.plan(train.name).prune.values
            return {"rounds": values["rounds"], "rate": values["rate"],
                    "rewind": values["rewind"], "reinit": values["reinit"],
                    "schedule": schedule(values["sizes"], values["rate"], values["rounds"])}
    return None


def print_lottery(console: Console, lottery: dict) -> None:
    """One line per pruned parameter: its weights left after each round, and the total."""
    rows = lottery["schedule"]
    console.print(f"lottery: {lottery['rounds']} rounds pruning {lottery['rate']:g} of the "
                  "remaining weights each (docs/prune.md); weights left per round:")
    for key in rows[0]["layers"]:
        counts = " → ".join(f"{row['layers'][key]:,}" for row in rows)
        last = rows[-1]["layers"][key] / rows[0]["layers"][key]
        console.print(f"  {key:<24} {counts}  ({last:.1%} left, sparsity {1 - last:.1%})")
    console.print(f"  {'all pruned':<24} " + " → ".join(f"{row['remaining']:,}" for row in rows)
                  + f"  ({rows[-1]['fraction']:.1%} left)")
