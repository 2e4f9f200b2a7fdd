"""Model-based sweeps (`method = tpe`): Optuna's TPE sampler, a pruner, a study storage.

Each trial is still one `nndsl train` process in the sweep directory (trial-NNN, NNN the
study's trial number). While it trains, its metrics.csv is read after every epoch and the
monitored value is reported to the study; the pruner (median or ASHA) may stop it there.
The study lives in a storage (an SQLite file in the sweep directory by default, or any
database URL Optuna accepts): a second `nndsl sweep` on the same storage joins the study
(trial numbers come from the storage, so no trial is run twice), and a rerun resumes it.
Optuna is an optional dependency (`pip install 'nndsl[search]'`).
"""

from __future__ import annotations

import csv
import math
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nndsl.elab import Config
from nndsl.fit.trials import Trial
from nndsl.source import Span, error

POLL_SECONDS = 0.5  # how often a running trial's metrics.csv is read
# The pruners as configured here: a trial is compared with the median of earlier trials
# at the same epoch from its second epoch on, once two trials have finished (median); or at
# rungs of 2, 6, 18... epochs, keeping the best third (ASHA).
MEDIAN_STARTUP, MEDIAN_WARMUP = 2, 2
ASHA_MIN_EPOCHS, ASHA_REDUCTION = 2, 3


@dataclass
class StudyPlan:
    """What a model-based sweep needs to know: where the study lives and what it optimises."""

    url: str
    name: str
    seed: int
    budget: int
    pruner: str
    mode: str  # "min" or "max": the direction of the monitored value


def optuna_module(span: Span):
    """Optuna, or a located error saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise error("E281", "`method = tpe` needs Optuna, which is not installed", span,
                    hint="pip install 'nndsl[search]' (or optuna>=3.4)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_storage(out: Path) -> str:
    """The study's default storage: an SQLite file in the sweep directory."""
    return f"sqlite:///{(out / 'study.db').resolve()}"


def open_study(plan: StudyPlan, span: Span):
    """Create the study in its storage, or load it when it exists (resuming, or joining a
    sweep another process runs); a storage that cannot be opened is E280."""
    optuna = optuna_module(span)
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            study = optuna.create_study(
                storage=plan.url, study_name=plan.name, load_if_exists=True,
                sampler=keyed_sampler(plan.seed, startup_trials(plan.budget)),
                pruner=_pruner(optuna, plan.pruner),
                direction="maximize" if plan.mode == "max" else "minimize")
            break
        except Exception as exc:  # noqa: BLE001 - any driver's failure is one error to a user
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if attempt + 1 < STORAGE_ATTEMPTS and _lost_creation_race(reason):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise error("E280", f"cannot open the study storage {plan.url}: {reason}", span,
                        hint="an Optuna storage URL, e.g. sqlite:///runs/study.db or "
                        "postgresql://host/db (its driver installed)") from None
    fail_orphans(study)
    return study


STORAGE_ATTEMPTS = 5


def _lost_creation_race(reason: str) -> bool:
    """Two processes starting one sweep create the storage's tables at once: the slower one
    is told a table already exists (PostgreSQL: a duplicate key in its type catalogue; SQLite:
    that the database is locked). Its next attempt finds the storage made and joins."""
    return any(words in reason for words in ("already exists", "database is locked",
                                             "duplicate key"))


def startup_trials(budget: int) -> int:
    """Random trials before TPE models the results: a quarter of the budget, 2 to 10."""
    return min(10, max(2, budget // 4))


def _pruner(optuna, name: str):
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP,
                                           n_warmup_steps=MEDIAN_WARMUP)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=ASHA_MIN_EPOCHS,
                                                      reduction_factor=ASHA_REDUCTION)
    return optuna.pruners.NopPruner()


def keyed_sampler(seed: int, startup: int):
    """TPE whose every draw is seeded by the sweep's seed, the trial number and the swept
    name: a sweep is reproducible, and two processes sharing a study never draw alike (each
    trial number is asked once, by one of them). The first `startup` trials are random."""
    import optuna

    def tpe(key: int):
        return optuna.samplers.TPESampler(seed=key, n_startup_trials=startup)

    base = tpe(seed)

    class KeyedTPE(optuna.samplers.BaseSampler):
        def infer_relative_search_space(self, study, trial):
            return base.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            # Keyed too: TPE may model all the names jointly (multivariate), and two processes
            # with the same history would otherwise draw the same point.
            keyed = tpe(_key(seed, trial.number, "(relative)"))
            return keyed.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            keyed = tpe(_key(seed, trial.number, param_name))
            return keyed.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values):
            base.after_trial(study, trial, state, values)

    return KeyedTPE()


def _key(seed: int, number: int, name: str) -> int:
    """A seed for one start-up draw, the same in every process."""
    return int(np.random.SeedSequence([seed, number, *name.encode()]).generate_state(1)[0])


def distributions(space: dict[str, Config]) -> dict:
    """Optuna's distribution for each swept constant."""
    import optuna.distributions as d

    out = {}
    for name, dist in space.items():
        values = dist.values["values"]
        if dist.name == "choice":
            out[name] = d.CategoricalDistribution(values)
        elif dist.name == "int":
            out[name] = d.IntDistribution(values[0], values[1])
        else:
            out[name] = d.FloatDistribution(values[0], values[1],
                                            log=dist.name == "loguniform")
    return out


def _host_pid() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def fail_orphans(study) -> None:
    """Trials left running by a process of this machine that no longer exists (an
    interrupted sweep) are marked failed and not counted: the rerun replaces them."""
    import optuna

    host = socket.gethostname()
    for frozen in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        attrs = frozen.user_attrs
        if attrs.get("host") == host and not _alive(attrs.get("pid", -1)):
            trial = optuna.trial.Trial(study, frozen._trial_id)
            trial.set_user_attr("uncounted", "interrupted")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _counted(frozen) -> bool:
    """Whether a trial spends the budget: asked and not given back (an enqueued trial
    waiting to be asked does not, yet)."""
    return "uncounted" not in frozen.user_attrs and frozen.state.name != "WAITING"


def ask(study, plan: StudyPlan, space: dict[str, Config]):
    """The next trial of the study, or None when the budget is spent (trials of every
    process count; a trial asked past the budget by a racing process is given back)."""
    import optuna

    if sum(map(_counted, study.get_trials(deepcopy=False))) >= plan.budget:
        return None
    trial = study.ask(distributions(space))
    host, pid = _host_pid()
    trial.set_user_attr("host", host)
    trial.set_user_attr("pid", pid)
    earlier = [t for t in study.get_trials(deepcopy=False)
               if _counted(t) and t.number < trial.number]
    if len(earlier) >= plan.budget:
        trial.set_user_attr("uncounted", "over budget")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return None
    return trial


def run_study(study, plan: StudyPlan, space: dict[str, Config], out: Path,
              command: Callable[[Trial], list[str]], monitor: Callable[[dict], float],
              jobs: int, on_update: Callable[[Trial], None]) -> None:
    """Ask, train and tell until the study's budget is spent, `jobs` trials at a time;
    `monitor(row)` is the monitored value of a metrics.csv row, `on_update(trial)` is told
    of each trial that ends."""
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:  # one ask at a time in this process (the storage orders processes)
                asked = ask(study, plan, space)
            if asked is None:
                return
            trial = run_watched(study, asked, out, command, monitor)
            with lock:
                on_update(trial)

    threads = [threading.Thread(target=worker) for _ in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_watched(study, asked, out: Path, command, monitor) -> Trial:
    """Train one asked trial, reporting each epoch's monitored value; stop it when the
    pruner says so; tell the study how it ended."""
    import optuna

    trial = Trial(asked.number, dict(asked.params), out / f"trial-{asked.number:03d}")
    asked.set_user_attr("run_dir", str(trial.run_dir))
    trial.status = "running"
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command(trial), stdout=log, stderr=log, text=True)
        pruned_at = watch(process, trial.run_dir / "metrics.csv", monitor,
                          lambda epoch, value: _report(asked, epoch, value))
        log.seek(0)
        output = log.read()
    result = _read_result(trial.run_dir)
    if pruned_at is not None:
        trial.status = f"pruned (epoch {pruned_at})"
        study.tell(asked, state=optuna.trial.TrialState.PRUNED)
    elif process.returncode == 0 and result is not None:
        trial.result, trial.status = result, "done"
        asked.set_user_attr("result", _result_attrs(result))
        study.tell(asked, result["best"])
    else:
        trial.status, trial.log = "failed", output.strip().splitlines()[-3:]
        asked.set_user_attr("log", trial.log)
        study.tell(asked, state=optuna.trial.TrialState.FAIL)
    return trial


def _report(asked, epoch: int, value: float) -> bool:
    """Report an epoch's value; whether the pruner stops the trial here."""
    if not math.isfinite(value):
        return False
    asked.report(value, epoch)
    return asked.should_prune()


def watch(process: subprocess.Popen, metrics: Path, monitor, report) -> int | None:
    """Follow a training process's metrics.csv until it exits, calling `report(epoch,
    value)` for each finished epoch; when that returns True, stop the process and return
    the epoch (None when it ran to its end)."""
    seen = 0
    while True:
        finished = process.poll() is not None
        rows = read_rows(metrics)
        for row in rows[seen:]:
            if report(int(row["epoch"]), monitor(row)):
                process.terminate()
                process.wait()
                return int(row["epoch"])
        seen = len(rows)
        if finished:
            return None
        time.sleep(POLL_SECONDS)


def read_rows(metrics: Path) -> list[dict]:
    """The complete rows of a metrics.csv being written (a partial last line is left for
    the next read), values as floats."""
    try:
        text = metrics.read_text()
    except OSError:
        return []
    lines = text.splitlines(keepends=True)
    complete = [line for line in lines if line.endswith("\n")]
    rows = list(csv.DictReader(complete))
    return [{k: _number(v) for k, v in row.items()} for row in rows]


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _read_result(run_dir: Path) -> dict | None:
    import json

    path = run_dir / "results.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _result_attrs(result: dict) -> dict:
    return {k: result.get(k) for k in ("monitor", "mode", "best", "best_epoch")}


def study_trials(study, space: dict[str, Config]) -> list[Trial]:
    """Every counted trial of the study (any process's), as the sweep's record shows it."""
    return [_as_trial(t, space) for t in study.get_trials(deepcopy=False) if _counted(t)]


def _as_trial(frozen, space: dict[str, Config]) -> Trial:
    attrs = frozen.user_attrs
    status = {"COMPLETE": "done", "PRUNED": f"pruned (epoch {frozen.last_step})",
              "FAIL": "failed"}.get(frozen.state.name, frozen.state.name.lower())
    values = {k: frozen.params[k] for k in space if k in frozen.params}
    return Trial(frozen.number, values, Path(attrs.get("run_dir", "")), attrs.get("result"),
                 status, list(attrs.get("log", [])))
