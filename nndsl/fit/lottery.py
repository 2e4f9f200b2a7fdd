"""Lottery tickets (Frankle & Carbin 2019): `prune = lottery(rounds, rate, rewind, layers,
reinit)` turns one `nndsl train` into iterative magnitude pruning with rewinding.

Round 0 trains the dense network and keeps its weights at the rewind point (the initial
weights, or those after epoch `rewind`) in rewind.ckpt. Each round r >= 1 prunes `rate` of
the weights the previous round kept, by magnitude of that round's best weights, saves the
masks in masks/round-r.ckpt, rewinds the kept weights and trains again with the masks held
at zero inside the step; with `reinit`, the same masks are also trained from a fresh random
initialisation (seed + 1). Every training is an ordinary run in its own subdirectory
(round-0, round-1, round-1-reinit, ...): `nndsl eval --run RUN/round-3` evaluates a ticket.
The lottery's table (round → weights left → test metric) is printed and written to
lottery.csv, lottery.json and lottery.png; results.json holds it with the sparsity of every
pruned parameter, and best.ckpt is the last ticket's (so `nndsl eval --run RUN` evaluates
it). `--resume RUN` keeps the finished trainings up to the first unfinished one and trains
that one and every later one again.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from nndsl.elab import TrainPlan
from nndsl.elab.prune import schedule
from nndsl.fit import checkpoint, rundir
from nndsl.fit import run as fit_run
from nndsl.fit.masks import Masks, apply_masks, full, load, prune, save, sparsity
from nndsl.paths import file_span
from nndsl.source import error

NOT_A_LOTTERY = "E219"  # --resume of a run that is no lottery run
NO_REWIND = "E220"  # the dense run stopped before the rewind epoch
REINIT_SEED = 1  # the comparison's fresh initialisation: the section's seed + 1


def train_lottery(plan: TrainPlan, options: fit_run.RunOptions, console: Console) -> dict:
    """Every round of the plan's `prune = lottery(...)` into options.run_dir; returns the
    results (those of the last ticket, plus `lottery`: the table and the sparsity)."""
    run_dir = options.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    with fit_run._locked(run_dir):
        if options.overwrite and rundir.is_run(run_dir):
            rundir.clear(run_dir)
            console.print(f"--overwrite: replaced the run in {run_dir}")
        if options.resume:
            _check_lottery(plan, options)
        return _rounds(plan, options, console)


def _check_lottery(plan: TrainPlan, options) -> None:
    """Refuse --resume of a run that is no lottery, or a lottery of another spec, settings
    or `lottery(...)` (E219, E101). A lottery stopped in its first training has round-0/
    alone: that run's own config says what it was."""
    run_dir, span = options.run_dir, rundir.argument_span("--resume", options.run_dir)
    top = run_dir / "config.json"
    config = rundir.read_config(run_dir if top.is_file() else run_dir / "round-0", span)
    if top.is_file() and config.get("lottery") != _settings(plan):
        raise error(NOT_A_LOTTERY, f"cannot resume {run_dir}: it is not a lottery run of "
                    f"`{_call_text(_settings(plan))}`" + (
                        f" (it ran `{_call_text(config['lottery'])}`)"
                        if "lottery" in config else ""), span,
                    hint="resume with the spec the run was trained with, or train the lottery "
                    "into a new directory")
    rundir.check_resumable(run_dir, config, plan, dict(options.overrides), span)


def _settings(plan: TrainPlan) -> dict:
    """The lottery's arguments as config.json records them."""
    values = {k: v for k, v in plan.prune.values.items() if k != "sizes"}
    return json.loads(json.dumps(values))


def _call_text(values: dict) -> str:
    return "lottery(" + ", ".join(f"{k}={v}" for k, v in values.items()) + ")"


def _rounds(plan: TrainPlan, options, console: Console) -> dict:
    values = plan.prune.values
    run_dir = options.run_dir
    table = schedule(values["sizes"], values["rate"], values["rounds"])
    console.print(f"lottery: {values['rounds']} rounds of magnitude pruning, {values['rate']:g}"
                  f" of the remaining weights each, rewound to "
                  f"{_rewind_text(values['rewind'])} → {run_dir}")
    trainer = _Trainings(plan, options, console)
    dense = trainer.run("round-0", after_epoch=_keeper(run_dir, values["rewind"]))
    _write_config(run_dir, plan)
    rewind = _rewind_params(run_dir, values["rewind"])
    rows = [_row(table[0], dense, None)]
    masks = full(rewind, values["sizes"])
    for r in range(1, values["rounds"] + 1):
        masks = _masks(run_dir, r, masks, values["rate"], trainer.reusing)
        ticket = trainer.run(f"round-{r}", masks, apply_masks(rewind, masks))
        fresh = trainer.run(f"round-{r}-reinit", masks,
                            apply_masks(_fresh(plan, rewind), masks)) \
            if values["reinit"] else None
        rows.append(_row(table[r], ticket, fresh))
    _adopt(run_dir, f"round-{values['rounds']}")
    return _finish(run_dir, plan, rows, masks, ticket, console)


class _Trainings:
    """The lottery's trainings in order. Resumed, the finished ones are kept until the first
    that is not: it and every training after it (whose masks or start depend on it) train
    again."""

    def __init__(self, plan: TrainPlan, options, console: Console):
        self.plan, self.options, self.console = plan, options, console
        self.reusing = options.resume

    def run(self, name: str, masks: Masks | None = None, start=None,
            after_epoch=None) -> dict:
        """The results of training `name` (run_dir/name): kept when resuming and finished,
        else a fresh run."""
        sub = self.options.run_dir / name
        if self.reusing and (sub / "results.json").is_file():
            self.console.print(f"lottery {name}: finished already ({sub})")
            return json.loads((sub / "results.json").read_text())
        self.reusing = False
        self.console.print(f"lottery {name}: {_what(name, masks)}")
        options = replace(self.options, run_dir=sub, resume=False, overwrite=True,
                          masks=masks, start=start, after_epoch=after_epoch,
                          started=time.perf_counter())
        try:
            return fit_run.train(self.plan, options, self.console)
        except fit_run.Interrupted as stop:  # resumed as a lottery: the whole directory
            raise fit_run.Interrupted(stop.epoch, stop.saved, self.options.run_dir,
                                      stop.signum) from None


def _adopt(run_dir: Path, name: str) -> None:
    """The last ticket's best.ckpt (and data.json) in the lottery's own directory, so that
    `eval`, `predict`, `export` and `load(Net, "run")` of the lottery use the last ticket."""
    for file in ("best.ckpt", "data.json"):
        if (run_dir / name / file).is_file():
            shutil.copyfile(run_dir / name / file, run_dir / file)


def _rewind_text(rewind: int) -> str:
    return "the initial weights" if rewind == 0 else f"the weights after epoch {rewind}"


def _what(name: str, masks: Masks | None) -> str:
    if masks is None:
        return "the dense network"
    kept = sparsity(masks)
    left = sum(v["remaining"] for v in kept.values()) / sum(v["size"] for v in kept.values())
    start = "a fresh initialisation" if name.endswith("reinit") else "the rewound weights"
    return f"{left:.1%} of the pruned weights, from {start}"


def _keeper(run_dir: Path, rewind: int):
    """The round-0 callback that writes rewind.ckpt at epoch `rewind` (0: initial)."""
    def keep(epoch: int, params) -> None:
        if epoch == rewind:
            checkpoint.write(run_dir / "rewind.ckpt", {"params": _host(params),
                                                       "epoch": epoch})
    return keep


def _host(tree) -> dict:
    return {layer: {name: np.array(value) for name, value in leaves.items()}
            for layer, leaves in tree.items()}


def _rewind_params(run_dir: Path, rewind: int) -> dict:
    path = run_dir / "rewind.ckpt"
    if not path.is_file():
        done = json.loads((run_dir / "round-0" / "results.json").read_text())["epochs_run"]
        raise error(NO_REWIND, f"the dense network stopped after epoch {done}, before the "
                    f"rewind epoch {rewind}; no weights to rewind to", file_span(run_dir),
                    hint="a smaller `lottery(rewind=...)`, or more patience")
    return checkpoint.read(path).group("params")


def _masks(run_dir: Path, r: int, previous: Masks, rate: float, reuse: bool) -> Masks:
    """Round r's masks: read back when a resumed lottery kept round r-1 (`reuse`), else
    pruned from the best weights of round r-1 and saved."""
    path = run_dir / "masks" / f"round-{r}.ckpt"
    if reuse and path.is_file():
        return load(path)
    trained = checkpoint.read(run_dir / f"round-{r - 1}" / "best.ckpt").group("params")
    masks = prune(trained, previous, rate)
    path.parent.mkdir(exist_ok=True)
    save(path, masks, r)
    return masks


def _fresh(plan: TrainPlan, rewind: dict) -> dict:
    """A fresh initialisation (the section's seed + 1) for the comparison; layers loaded
    from another run (`Net@run`) keep their loaded weights."""
    from nndsl.lower import Compiled

    params, _ = Compiled(plan.graph).init(plan.settings["seed"] + REINIT_SEED)
    fresh = _host(params)
    return {layer: rewind[layer] if "@" in layer.split(".")[0] else leaves
            for layer, leaves in fresh.items()}


def _row(planned: dict, ticket: dict, fresh: dict | None) -> dict:
    return {"round": planned["round"], "remaining": planned["remaining"],
            "fraction": planned["fraction"], "layers": planned["layers"],
            "ticket": ticket["test"],
            "reinit": fresh["test"] if fresh else None}


def _metric(plan: TrainPlan) -> str:
    """The test value the table shows: the first metric, else the loss."""
    return next(iter(plan.metrics), "loss")


def _write_config(run_dir: Path, plan: TrainPlan) -> None:
    """The lottery's config.json: round 0's (so --resume checks the spec) with `lottery`."""
    config = json.loads((run_dir / "round-0" / "config.json").read_text())
    config["lottery"] = _settings(plan)
    shutil.copyfile(run_dir / "round-0" / "spec.nn", run_dir / "spec.nn")
    (run_dir / "config.json").write_text(json.dumps(config, indent=2, default=checkpoint.plain))


def _finish(run_dir: Path, plan: TrainPlan, rows: list[dict], masks: Masks, last: dict,
            console: Console) -> dict:
    metric = _metric(plan)
    lottery = {"metric": metric, "rounds": rows, "sparsity": sparsity(masks),
               "layout": "round-0 dense; round-r ticket; round-r-reinit fresh init; "
                         "masks/round-r.ckpt"}
    (run_dir / "lottery.json").write_text(json.dumps(lottery, indent=2))
    _write_csv(run_dir / "lottery.csv", rows, metric)
    _plot(run_dir / "lottery.png", rows, metric)
    results = {**last, "lottery": lottery}
    (run_dir / "results.json").write_text(json.dumps(results, indent=2,
                                                     default=checkpoint.plain))
    console.print(_table(rows, metric))
    console.print(f"lottery table: {run_dir / 'lottery.csv'}, plot: {run_dir / 'lottery.png'}")
    return results


def _cells(row: dict, metric: str) -> list[str]:
    reinit = row["reinit"][metric] if row["reinit"] else None
    return [str(row["round"]), str(row["remaining"]), f"{row['fraction']:.4f}",
            f"{row['ticket'][metric]:.4f}", "" if reinit is None else f"{reinit:.4f}"]


def _columns(metric: str) -> list[str]:
    return ["round", "remaining", "fraction", f"ticket_test_{metric}",
            f"reinit_test_{metric}"]


def _write_csv(path: Path, rows: list[dict], metric: str) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(_columns(metric))
        writer.writerows(_cells(row, metric) for row in rows)


def _table(rows: list[dict], metric: str) -> Table:
    table = Table(title="lottery tickets (round 0: the dense network)")
    for column in _columns(metric):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*_cells(row, metric))
    return table


def _plot(path: Path, rows: list[dict], metric: str) -> None:
    """Test metric against the fraction of weights left (log scale, dense on the right)."""
    from nndsl.pictures import pyplot

    plt = pyplot()

    left = [100 * row["fraction"] for row in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(left, [row["ticket"][metric] for row in rows], "o-", label="ticket (rewound)")
    fresh = [(x, row["reinit"][metric]) for x, row in zip(left, rows) if row["reinit"]]
    if fresh:
        ax.plot(*zip(*fresh), "s--", label="same masks, random re-initialisation")
    ax.axhline(rows[0]["ticket"][metric], color="grey", lw=0.8, label="dense")
    ax.set_xscale("log")
    ax.set_xticks(left, [f"{x:.1f}%" for x in left])
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining (% of the pruned parameters)")
    ax.set_ylabel(f"test {metric}")
    ax.set_title("lottery tickets: iterative magnitude pruning with rewinding")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
