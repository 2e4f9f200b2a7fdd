"""Second order against Adam on mlp_digits: epochs to 97% *test* accuracy of Adam at its
tuned learning rate, `kfac` and the exact `natural_gradient`, each tuned a little by
validation, and one plot of their test-accuracy curves.

    python bench/natural_gradient.py [--epochs 20] [--out runs/natural_gradient]
        [--only adam,kfac,natural_gradient] [--json bench/results/natural_gradient.json]
        [--plot docs/img/natural_gradient.png]

Every run is `nndsl train` of specs/mlp_digits.nn as it is (batch 64, dropout 0.2, seed 0,
early stopping after 10 epochs without a better validation loss), its optimizer line
replaced and, for the exact natural gradient, `hidden=32` (3,466 parameters: the exact
Fisher is refused over 5,000, E290); Adam and kfac keep hidden 128. The run is the very
training `nndsl train` does (nndsl.fit.run.train), with one addition: after every epoch the
current parameters are scored on the test split. The test split is only measured: each
family's setting is chosen by validation alone (the first epoch at which the validation
accuracy reaches 97%, then the best validation loss), and the report gives, for the chosen
ones, the first epoch whose test accuracy reaches 97% and the last epoch's test accuracy.
Finished runs are kept under --out (runs/natural_gradient/<label>/curve.json) and not
trained again; with --only, the families not run keep their entries of an existing --json
report (and their curve in the plot).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

SPEC = Path(__file__).resolve().parents[1] / "specs" / "mlp_digits.nn"
TARGET = 0.97
ADAM_LINE = "optimizer = adam(lr=lr)"
# family -> [(label, optimizer line, --set values)]: the tuning grid, chosen by validation.
GRID = {
    "adam": [(f"adam lr={lr}", ADAM_LINE, {"lr": float(lr)})
             for lr in ("3e-4", "1e-3", "3e-3", "1e-2", "3e-2")],
    "kfac": [(f"kfac lr={lr} damping={d}", f"optimizer = kfac(lr={lr}, damping={d})", {})
             for lr in (0.03, 0.1, 0.3) for d in (0.001, 0.01, 0.1)],
    "natural_gradient": [(f"natural_gradient lr={lr} damping={d}, hidden 32",
                          f"optimizer = natural_gradient(lr={lr}, damping={d})",
                          {"hidden": 32})
                         for lr, d in ((0.1, 0.1), (0.3, 0.1), (1.0, 1.0))],
}


def curve(out: Path, label: str, line: str, sets: dict, epochs: int) -> list[dict]:
    """Per epoch: validation loss and accuracy (metrics.csv) and test accuracy of one run,
    trained unless its curve is kept under `out`."""
    run_dir = out / label.replace(" ", "_").replace(",", "")
    kept = run_dir / "curve.json"
    if kept.is_file():  # the learning rate is constant: a longer run's first epochs are it
        return json.loads(kept.read_text())[:epochs]
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_path = run_dir.parent / f"{run_dir.name}.nn"
    spec_path.write_text(SPEC.read_text().replace(ADAM_LINE, line))
    rows = _train_scoring_test(spec_path, sets, run_dir, epochs)
    kept.write_text(json.dumps(rows, indent=1))
    return rows


def _train_scoring_test(spec_path: Path, sets: dict, run_dir: Path, epochs: int) -> list[dict]:
    """`nndsl train` of the spec into run_dir, the test accuracy taken after every epoch."""
    import csv

    from rich.console import Console

    import nndsl
    from nndsl.fit.run import NonFinite, RunOptions, train

    spec = nndsl.load(spec_path, sets)
    task = spec.training()
    _, state = task.init()  # mlp_digits has no state (no batch norm): the empty one
    test = {}

    def score(epoch: int, params) -> None:
        if epoch:
            test[epoch] = task.evaluate(params, state, "test")["accuracy"]

    options = RunOptions(run_dir, spec_path, run_dir.parent, epochs, progress=False,
                         overrides=list(spec.overrides.items()), overwrite=True,
                         after_epoch=score)
    try:
        train(spec.plan(), options, Console(quiet=True))
        diverged = False
    except NonFinite:  # a setting too aggressive: its finished epochs, marked
        diverged = True
    if not (run_dir / "metrics.csv").is_file():  # diverged within its first epoch
        return []
    with open(run_dir / "metrics.csv") as f:
        return [{"epoch": int(r["epoch"]), "val_loss": float(r["val_loss"]),
                 "val_accuracy": float(r["val_accuracy"]),
                 "test_accuracy": test[int(r["epoch"])], "seconds": float(r["seconds"]),
                 "diverged": diverged} for r in csv.DictReader(f)]


def first_epoch(rows: list[dict], key: str) -> int | None:
    """The first epoch whose `key` is at least TARGET."""
    return next((r["epoch"] for r in rows if r[key] >= TARGET - 1e-9), None)


def chosen(runs: dict[str, list[dict]]) -> str:
    """The run validation prefers, over the epochs every run of the family that did not
    diverge has: the earliest 97% validation accuracy, then the best validation loss."""
    runs = {label: rows for label, rows in runs.items() if not diverged(rows)}
    common = min(len(rows) for rows in runs.values())

    def key(label):
        rows = runs[label][:common]
        reached = first_epoch(rows, "val_accuracy")
        return (math.inf if reached is None else reached, min(r["val_loss"] for r in rows))
    return min(runs, key=key)


def diverged(rows: list[dict]) -> bool:
    """Whether the run's loss became non-finite (it ends early; validation rules it out)."""
    return not rows or rows[-1].get("diverged", False)


def summary(rows: list[dict]) -> dict:
    if not rows:
        return {"diverged": True, "epochs_run": 0}
    return {"diverged": diverged(rows), "val_97_at": first_epoch(rows, "val_accuracy"),
            "best_val_loss": round(min(r["val_loss"] for r in rows), 4),
            "test_97_at": first_epoch(rows, "test_accuracy"),
            "final_test_accuracy": round(rows[-1]["test_accuracy"], 4),
            "epochs_run": rows[-1]["epoch"],
            "seconds_per_epoch": round(rows[-1]["seconds"] / rows[-1]["epoch"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="runs/natural_gradient")
    parser.add_argument("--only", default=",".join(GRID),
                        help="comma-separated families to run (default: all)")
    parser.add_argument("--json", default=None, help="write the report here")
    parser.add_argument("--plot", default=None, help="write the test-accuracy plot here")
    args = parser.parse_args()
    out = Path(args.out)
    report = {"epochs": args.epochs, "families": {}}
    if args.json and Path(args.json).is_file():  # families not rerun (--only) keep their report
        report["families"] = json.loads(Path(args.json).read_text())["families"]
    for family in args.only.split(","):
        runs = {}
        for label, line, sets in GRID[family]:
            runs[label] = curve(out, label, line, sets, args.epochs)
            print(json.dumps({label: summary(runs[label])}), flush=True)
        best = chosen(runs)
        report["families"][family] = {"chosen": best, "grid": {k: summary(v)
                                                               for k, v in runs.items()},
                                      "test_accuracy": [round(r["test_accuracy"], 4)
                                                        for r in runs[best]]}
    print(json.dumps({f: {"chosen": v["chosen"], **v["grid"][v["chosen"]]}
                      for f, v in report["families"].items()}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.plot:
        plot(Path(args.plot), {f["chosen"]: f["test_accuracy"]
                               for f in report["families"].values()})


def plot(path: Path, winners: dict[str, list[float]]) -> None:
    """Test accuracy per epoch (from epoch 1) of the chosen runs, the 97% line dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, accuracy in winners.items():
        ax.plot(range(1, len(accuracy) + 1), accuracy, marker=".",
                label=label if "hidden" in label else f"{label}, hidden 128")
    ax.axhline(TARGET, color="grey", ls="--", lw=0.9, label="97%")
    ax.set(xlabel="epoch", ylabel="test accuracy",
           title="mlp_digits: test accuracy per epoch (settings chosen by validation)",
           ylim=(0.8, 1.0))
    ax.title.set_fontsize(9)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
