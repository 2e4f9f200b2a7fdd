"""Hyperparameter search over a spec's `sweep` section: each trial a `nndsl train` run.

Random search by default (`method = grid` for the Cartesian product of `choice` values).
Trial values come from the sweep's seed, so a sweep is reproducible and an interrupted one
resumes: trials whose run directory already holds results are not run again.
"""

from __future__ import annotations

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


def plan_trials(entries: dict[str, Config], trials: int, seed: int, out: Path) -> list[Trial]:
    """The trials' values: seeded random draws, or the grid of every `choice`."""
    space = {k: v for k, v in entries.items() if k not in ("trials", "method")}
    method = entries.get("method")
    if method is not None and str(method.values["value"]) == "grid":  # checked by check_sweep
        combos = itertools.product(*(v.values["values"] for v in space.values()))
        draws = [dict(zip(space, combo)) for combo in combos]
    else:
        rng = np.random.RandomState(seed)
        draws = [{k: _sample(v, rng) for k, v in space.items()} for _ in range(trials)]
    return [Trial(i, values, out / f"trial-{i:03d}") for i, values in enumerate(draws)]


def run_trial(trial: Trial, spec: Path, train: str | None, epochs: int | None,
              extra: tuple[str, ...] = ()) -> Trial:
    """Train one trial in its own process (unless its results already exist)."""
    results = trial.run_dir / "results.json"
    if results.is_file():
        trial.result, trial.status = json.loads(results.read_text()), "done (earlier)"
        return trial
    trial.status = "running"
    # A trial that did not finish before (failed, interrupted) is trained again from the start.
    command = [sys.executable, "-m", "nndsl", "train", str(spec), "--quiet", "--overwrite",
               "--out", str(trial.run_dir), *extra, *trial.set_args]
    command += ["--train", train] if train else []
    command += ["--epochs", str(epochs)] if epochs else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode == 0 and results.is_file():
        trial.result, trial.status = json.loads(results.read_text()), "done"
    else:
        trial.status = "failed"
        trial.log = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return trial


def run_sweep(trials: list[Trial], spec: Path, train: str | None, epochs: int | None,
              jobs: int, on_update, extra: tuple[str, ...] = ()) -> list[Trial]:
    """Run the trials, `jobs` at a time, calling `on_update()` whenever one finishes;
    `extra` arguments (file-access options) go to every trial's command."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_trial, t, spec, train, epochs, tuple(extra))
                   for t in trials]
        for future in futures:
            future.result()
            on_update()
    return trials


def ranked(trials: list[Trial]) -> list[Trial]:
    """Finished trials, best first by the monitored quantity (max or min as it says)."""
    done = [t for t in trials if t.score() is not None]
    if not done:
        return []
    maximise = done[0].result.get("mode") == "max"
    return sorted(done, key=lambda t: -t.score() if maximise else t.score())
