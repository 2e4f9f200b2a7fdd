"""Hyperparameter search over a spec's `sweep` section: each trial a `nndsl train` run.

Random search by default (`method = grid` for the Cartesian product of `choice` values).
Trial values come from the sweep's seed, so a sweep is reproducible and an interrupted one
resumes: trials whose run directory already holds results are not run again. The sweep's
directory gets sweep.csv and sweep.json (one row per trial), rewritten as each trial ends.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nndsl.elab import Config
from nndsl.elab.sweep import SWEEP_SETTINGS


@dataclass
class Trial:
    index: int
    values: dict[str, object]
    run_dir: Path
    result: dict | None = None
    status: str = "waiting"
    log: list[str] = field(default_factory=list)

    @property
    def set_args(self) -> list[str]:
        return [arg for k, v in self.values.items() for arg in ("--set", f"{k}={_text(v)}")]

    def score(self) -> float | None:
        return None if not self.result else self.result.get("best")


def _text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _sample(dist: Config, rng: np.random.RandomState):
    values = dist.values["values"]
    if dist.name == "choice":
        return values[rng.randint(len(values))]
    low, high = values
    if dist.name == "uniform":
        return float(rng.uniform(low, high))
    if dist.name == "loguniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return int(rng.randint(low, high + 1))


def search_space(entries: dict[str, Config]) -> dict[str, Config]:
    """The swept constants and their distributions (the sweep's settings left out)."""
    return {k: v for k, v in entries.items() if k not in SWEEP_SETTINGS}


def plan_trials(entries: dict[str, Config], trials: int, seed: int, out: Path) -> list[Trial]:
    """The trials' values: seeded random draws, or the grid of every `choice`."""
    space = search_space(entries)
    method = entries.get("method")
    if method is not None and str(method.values["value"]) == "grid":  # checked by check_sweep
        combos = itertools.product(*(v.values["values"] for v in space.values()))
        draws = [dict(zip(space, combo)) for combo in combos]
    else:
        rng = np.random.RandomState(seed)
        draws = [{k: _sample(v, rng) for k, v in space.items()} for _ in range(trials)]
    return [Trial(i, values, out / f"trial-{i:03d}") for i, values in enumerate(draws)]


def train_command(trial: Trial, spec: Path, train: str | None, epochs: int | None,
                  extra: tuple[str, ...] = ()) -> list[str]:
    """The `nndsl train` command of one trial, in its own run directory."""
    # A trial that did not finish before (failed, interrupted) is trained again from the start.
    command = [sys.executable, "-m", "nndsl", "train", str(spec), "--quiet", "--overwrite",
               "--out", str(trial.run_dir), *extra, *trial.set_args]
    command += ["--train", train] if train else []
    return command + (["--epochs", str(epochs)] if epochs else [])


def run_trial(trial: Trial, spec: Path, train: str | None, epochs: int | None,
              extra: tuple[str, ...] = ()) -> Trial:
    """Train one trial in its own process (unless its results already exist)."""
    results = trial.run_dir / "results.json"
    if results.is_file():
        trial.result, trial.status = json.loads(results.read_text()), "done (earlier)"
        return trial
    trial.status = "running"
    done = subprocess.run(train_command(trial, spec, train, epochs, extra),
                          capture_output=True, text=True)
    if done.returncode == 0 and results.is_file():
        trial.result, trial.status = json.loads(results.read_text()), "done"
    else:
        trial.status = "failed"
        trial.log = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return trial


def run_sweep(trials: list[Trial], spec: Path, train: str | None, epochs: int | None,
              jobs: int, on_update, extra: tuple[str, ...] = (),
              out: Path | None = None) -> list[Trial]:
    """Run the trials, `jobs` at a time, calling `on_update(trial)` whenever one finishes
    (and rewriting `out`/sweep.csv and sweep.json then, when `out` is given); `extra`
    arguments (file-access options) go to every trial's command."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_trial, t, spec, train, epochs, tuple(extra))
                   for t in trials]
        for future in futures:
            trial = future.result()
            if out is not None:
                write_summary(out, trials)
            on_update(trial)
    return trials


def summary_row(trial: Trial) -> dict:
    """A trial as sweep.json has it: index, settings, monitored value, best epoch, status,
    run directory (monitor, best and best_epoch are null until it finishes)."""
    result = trial.result or {}
    return {"trial": trial.index,
            "settings": {k: v if isinstance(v, bool | int | float) else str(v)
                         for k, v in trial.values.items()},
            "monitor": result.get("monitor"), "mode": result.get("mode"),
            "best": trial.score(), "best_epoch": result.get("best_epoch"),
            "status": trial.status, "run_dir": str(trial.run_dir)}


def write_summary(out: Path, trials: list[Trial]) -> None:
    """OUT/sweep.json (a list of summary rows) and OUT/sweep.csv (the same, one column per
    setting), in trial order."""
    rows = [summary_row(t) for t in trials]
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(rows, indent=2))
    flat = [{"trial": r["trial"], **r["settings"],
             **{k: "" if v is None else v for k, v in r.items() if k not in
                ("trial", "settings")}} for r in rows]
    with open(out / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(flat[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)


def table_columns(trials: list[Trial]) -> list[str]:
    """The columns of the sweep's tables: the trial, its settings, then its outcome."""
    names = list(trials[0].values) if trials else []
    return ["trial", *names, "monitor", "best", "epoch", "status"]


def table_cells(trial: Trial) -> list[str]:
    """A trial's row in the sweep's tables (see table_columns)."""
    score, result = trial.score(), trial.result or {}
    return [str(trial.index),
            *(f"{v:.4g}" if isinstance(v, float) else _text(v) for v in trial.values.values()),
            result.get("monitor", ""), f"{score:.4f}" if score is not None else "",
            str(result.get("best_epoch", "")),
            trial.status + (f": {trial.log[-1]}" if trial.log else "")]


def trial_line(trial: Trial) -> str:
    """`trial 2 done: hidden=128 lr=0.00177 val_loss 0.1234 (epoch 5)`."""
    settings = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={_text(v)}"
                        for k, v in trial.values.items())
    score, result = trial.score(), trial.result or {}
    outcome = (f" {result['monitor']} {score:.4f} (epoch {result['best_epoch']})"
               if score is not None else "")
    failure = f": {trial.log[-1]}" if trial.log else ""
    return f"trial {trial.index} {trial.status}{failure}: {settings}{outcome}"


def plain_table(trials: list[Trial]) -> list[str]:
    """The table as plain lines (for pipes and logs): columns padded with spaces, no
    borders."""
    rows = [table_columns(trials), *(table_cells(t) for t in trials)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def ranked(trials: list[Trial]) -> list[Trial]:
    """Finished trials, best first by the monitored quantity (max or min as it says)."""
    done = [t for t in trials if t.score() is not None]
    if not done:
        return []
    maximise = done[0].result.get("mode") == "max"
    return sorted(done, key=lambda t: -t.score() if maximise else t.score())
