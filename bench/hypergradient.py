"""Hypergradient descent on mlp_digits: Adam at its tuned learning rate (3e-3) against
Adam-HD started 10x too small (3e-4) and plain Adam at 3e-4; the epoch at which each first
reaches the tuned run's best validation loss, and one plot of the validation losses and the
learned rate.

    python bench/hypergradient.py [--out runs/hypergradient] [--plot docs/img/hypergradient.png]

The tuned rate is the one of 3e-4, 1e-3, 3e-3, 1e-2 whose run (the spec's own budget: 100
epochs, early stopping after 10 without a better validation loss) reaches the lowest
validation loss (docs/optimisation.md gives the table): 3e-3.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

SPEC = Path(__file__).resolve().parents[1] / "specs" / "mlp_digits.nn"
TUNED, START = "3e-3", "3e-4"  # the rate validation chose, and ten times below it
RUNS = {f"adam lr={TUNED} (tuned)": ["--set", f"lr={TUNED}"],
        f"adam_hd from lr={START}": ["--set", f"lr={START}"],
        f"adam lr={START}": ["--set", f"lr={START}"]}
FOLDERS = dict(zip(RUNS, ("tuned", "hd", "small")))


def train(out: Path, name: str, extra: list[str]) -> Path:
    """Train one run (the HD run from a copy of the spec with `adam_hd`)."""
    spec = SPEC
    if "adam_hd" in name:
        spec = out / "mlp_digits_hd.nn"
        spec.write_text(SPEC.read_text().replace("optimizer = adam(lr=lr)",
                                                 "optimizer = adam_hd(lr=lr, hyper_lr=1e-5)"))
    run = out / FOLDERS[name]
    if not (run / "results.json").is_file():
        subprocess.run([sys.executable, "-m", "nndsl", "train", str(spec), "--quiet",
                        "--overwrite", "--out", str(run), *extra], check=True)
    return run


def rows(run: Path) -> list[dict]:
    return [{k: float(v) for k, v in r.items()} for r in
            csv.DictReader(io.StringIO((run / "metrics.csv").read_text()))]


def reached(history: list[dict], target: float) -> int | None:
    """The first epoch whose validation loss is at or below `target`."""
    return next((int(r["epoch"]) for r in history if r["val_loss"] <= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/hypergradient")
    parser.add_argument("--plot", default=None)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    histories = {name: rows(train(out, name, extra)) for name, extra in RUNS.items()}
    tuned = json.loads((out / "tuned" / "results.json").read_text())
    report = {"tuned_best": tuned["best"], "tuned_best_epoch": tuned["best_epoch"]}
    for name, history in histories.items():
        report[name] = {"reaches_tuned_best_at": reached(history, tuned["best"]),
                        "best_val_loss": min(r["val_loss"] for r in history)}
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(Path(args.plot), histories, tuned["best"])


def plot(path: Path, histories: dict, target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in histories.items():
        left.plot([r["epoch"] for r in history], [r["val_loss"] for r in history], label=name)
        if "lr" in history[0]:
            right.plot([r["epoch"] for r in history], [r["lr"] for r in history], label=name)
    left.axhline(target, color="grey", ls="--", lw=0.8, label="tuned run's best")
    left.set(yscale="log", xlabel="epoch", ylabel="validation loss", title="mlp_digits")
    right.axhline(float(TUNED), color="grey", ls="--", lw=0.8, label=f"tuned lr {TUNED}")
    right.axhline(float(START), color="grey", ls=":", lw=0.8, label=f"start {START}")
    right.set(yscale="log", xlabel="epoch", ylabel="learning rate", title="learned rate")
    for ax in (left, right):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
