"""`nndsl sweep` with `method = tpe`: the study's storage, its plan, and its live record."""

from __future__ import annotations

from pathlib import Path

from nndsl.elab import Config, TrainPlan
from nndsl.fit.rundir import argument_span


def run_tpe(args, entries: dict[str, Config], plan: TrainPlan, budget: int, seed: int,
            out: Path, extra: list[str], console) -> list:
    """Run (or resume, or join) the sweep's study until `budget` trials are counted in it;
    a line per trial that ends here, sweep.csv/json rewritten from the storage each time.
    Returns every counted trial of the study."""
    from nndsl.fit import study as studies
    from nndsl.fit.loop import monitor_mode, monitored_value
    from nndsl.fit.trials import search_space, train_command, trial_line, write_summary

    url, span = _storage(args, entries, out)
    studies.optuna_module(span)
    monitor = plan.early_stopping.values["monitor"] if plan.early_stopping else "val_loss"
    pruner = str(entries["pruner"].values["value"]) if "pruner" in entries else "median"
    name = Path(args.file).stem + (f"-{args.train}" if args.train else "")
    study_plan = studies.StudyPlan(url, name, seed, budget, pruner, monitor_mode(plan, monitor))
    out.mkdir(parents=True, exist_ok=True)
    study = studies.open_study(study_plan, span)
    space = search_space(entries)
    console.print(f"study {name} in {url} (TPE, pruner {pruner})", markup=False)

    def on_update(trial) -> None:
        write_summary(out, studies.study_trials(study, space))
        console.print(trial_line(trial), markup=False)

    studies.run_study(study, study_plan, space, out,
                      lambda t: train_command(t, Path(args.file), args.train, args.epochs,
                                              tuple(extra)),
                      lambda row: monitored_value(plan, row)[1], args.jobs, on_update)
    trials = studies.study_trials(study, space)
    if trials:
        write_summary(out, trials)
    return trials


def _storage(args, entries: dict[str, Config], out: Path):
    """The storage URL and where an error about it points: --storage, else the sweep's
    `storage`, else an SQLite file in the sweep directory (errors at `method = tpe`)."""
    from nndsl.fit.study import default_storage

    if args.storage:
        return args.storage, argument_span("--storage", args.storage)
    if "storage" in entries:
        return entries["storage"].values["value"], entries["storage"].span
    return default_storage(out), entries["method"].span
