"""A training run from start to finish: its directory, epochs with progress, early stopping,
checkpoints, resumption, the final test evaluation, metrics and learning curves."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
from rich.console import Console

from nndsl.data import encoding as data_encoding
from nndsl.elab import TrainPlan
from nndsl.fit import checkpoint, devices, explog, rundir
from nndsl.fit.gibbs_picture import write_gibbs_pictures
from nndsl.fit.hypergrad import learned_rates
from nndsl.fit.loop import (
    History,
    Trainer,
    frozen_params,
    improved,
    load_data,
    monitor_mode,
    monitored_value,
)
from nndsl.fit.report import Reporter
from nndsl.paths import file_span
from nndsl.source import error


@dataclass
class RunOptions:
    run_dir: Path
    spec_path: Path
    runs_root: Path
    epochs: int | None = None
    resume: bool = False
    progress: bool = True
    overrides: list[tuple[str, object]] = field(default_factory=list)
    # When the command started (perf_counter): the first step's latency is reported from it.
    started: float = field(default_factory=time.perf_counter)
    # --check-numerics: every step checkified (indices in range, no NaN output), see numerics.
    check_numerics: bool = False
    # --overwrite: empty run_dir (a run already) before training into it.
    overwrite: bool = False
    # --devices, --device, --coordinator ...: the mesh a run shards over (fit/devices.py).
    devices: devices.DeviceOptions | None = None
    # --log: experiment logs (nndsl.fit.explog.LOG_BACKENDS); --log-format: text, plain, json.
    log: tuple[str, ...] = ()
    log_format: str = "text"
    # The network's picture (a graphviz Digraph) for the experiment logs, drawn when asked.
    picture: Callable | None = None
    # A lottery round (nndsl/fit/lottery.py): the masks the step holds at zero, the
    # parameters training starts from instead of the seed's, and a call
    # `after_epoch(epoch, params)` after the initialisation (epoch 0) and every epoch.
    masks: dict | None = None
    start: dict | None = None
    after_epoch: Callable | None = None


IN_USE = "E093"


class NonFinite(Exception):
    """Training produced a non-finite loss; the message says when and where."""


class Interrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C or a signal. The run directory keeps last.ckpt of the last
    finished epoch (`saved`, 0 for none) and metrics.csv and curves.png up to it."""

    def __init__(self, epoch: int, saved: int, run_dir: Path, signum: int | None):
        super().__init__(f"interrupted at epoch {epoch}")
        self.epoch, self.saved, self.run_dir, self.signum = epoch, saved, run_dir, signum


def enable_compilation_cache() -> None:
    """Keep compiled steps across runs (XDG cache): a spec's second run starts at once."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nndsl" / "jax"
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def train(plan: TrainPlan, options: RunOptions, console: Console) -> dict:
    """Fit the plan; returns the test results. Writes everything into options.run_dir."""
    started = time.perf_counter()
    devices.start_distributed(options.devices or devices.DeviceOptions())
    enable_compilation_cache()
    run_dir = options.run_dir
    epochs = options.epochs or plan.settings["epochs"]
    if options.resume:
        epochs, finished = _resumable(plan, options)
        if finished:
            console.print(f"{run_dir} is finished: {finished}; nothing to train")
            return json.loads((run_dir / "results.json").read_text())
    data = load_data(plan)
    trainer = Trainer(plan, data, epochs, options.check_numerics,
                      devices.placement(options.devices), options.devices and
                      options.devices.devices, masks=options.masks)
    if not devices.writes_run():  # several processes: process 0 alone speaks and writes
        with tempfile.TemporaryDirectory() as scratch, \
                Reporter(Console(quiet=True), Path(scratch), progress=False) as reporter:
            return _train(plan, options, reporter, data, trainer, epochs, started)
    run_dir.mkdir(parents=True, exist_ok=True)
    with _locked(run_dir):
        if options.overwrite and rundir.is_run(run_dir):
            rundir.clear(run_dir)
            console.print(f"--overwrite: replaced the run in {run_dir}")
        if checkpoint.remove_orphans(run_dir):
            console.print(f"removed the unfinished checkpoint files of an interrupted run "
                          f"in {run_dir}")
        with _reporter(options, console) as reporter:
            return _train(plan, options, reporter, data, trainer, epochs, started)


def _reporter(options: RunOptions, console: Console) -> Reporter:
    """What the run tells its user and writes as it goes (nndsl.fit.report)."""
    loggers = explog.open_loggers(options.log, options.run_dir, options.picture,
                                  lambda text: console.print(text, markup=False))
    return Reporter(console, options.run_dir, progress=options.progress,
                    log_format=options.log_format, loggers=loggers)


def _resumable(plan: TrainPlan, options: RunOptions) -> tuple[int, str | None]:
    """The epochs a resumed run trains to (--epochs, else the run's own), and why it is
    finished when it is; refuses a run of another spec graph, settings or --set values."""
    run_dir, span = options.run_dir, rundir.argument_span("--resume", options.run_dir)
    config = rundir.read_config(run_dir, span)
    rundir.check_resumable(run_dir, config, plan, dict(options.overrides), span)
    epochs = options.epochs or config["settings"]["epochs"]
    results = run_dir / "results.json"
    if not results.is_file():
        return epochs, None
    done = json.loads(results.read_text())["epochs_run"]
    if done < config["settings"]["epochs"]:
        return epochs, f"early stopping ended it at epoch {done}"
    if epochs <= done:
        return epochs, (f"it trained {done} epochs; pass --epochs N with N > {done} to train "
                        "it further")
    return epochs, None


@contextmanager
def _locked(run_dir: Path):
    """Hold `run_dir/.lock` (an advisory lock) so that two runs never share a directory."""
    handle = open(run_dir / ".lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise error(IN_USE, f"{run_dir} is in use by another `nndsl train`; wait for it to "
                    "finish, or train into another directory with --out", file_span(run_dir),
                    ) from None
    try:
        yield
    finally:
        handle.close()


def _train(plan: TrainPlan, options: RunOptions, reporter: Reporter, data, trainer: Trainer,
           epochs: int, started: float) -> dict:
    seed, run_dir = plan.settings["seed"], options.run_dir
    params, state, opt_states = trainer.init(seed)
    params = frozen_params(params, plan, options.runs_root, options.spec_path.stem,
                           reporter.note)
    if options.start is not None:
        params = jax.tree.map(jnp.asarray, options.start)
    history, first_epoch = History(), 1
    if options.resume:
        params, state, opt_states, history, first_epoch = _resume(
            run_dir, trainer, (params, state, opt_states))
        _extend_config(run_dir, epochs)
    else:
        _write_config(plan, options, epochs, trainer)
    params, state, opt_states = trainer.placed(params, state, opt_states)
    if options.after_epoch and first_epoch == 1:
        options.after_epoch(0, params)
    best = _best_so_far(run_dir, trainer) if options.resume else None
    best = best or _host({"params": params, "state": state})
    _say_one_step_per_call(plan, trainer, reporter)
    patience = plan.early_stopping.values["epochs"] if plan.early_stopping else None
    min_delta = plan.early_stopping.values["min_delta"] if plan.early_stopping else 0.0
    # Steps that train against each other (a GAN) have no comparable loss: without an
    # explicit monitor, the last epoch's parameters are the best ones.
    adversarial = len(plan.objectives) > 1 and plan.early_stopping is None
    reporter.on_start(f"training {', '.join(_trained(plan))} on "
                      f"{plan.data.name} ({trainer.n_train:,} examples, batch {trainer.batch}, "
                      f"{trainer.steps_per_epoch} steps/epoch{_on(trainer)}) → {run_dir}",
                      {"networks": _trained(plan), "data": plan.data.name,
                       "examples": trainer.n_train, "batch": trainer.batch,
                       "steps_per_epoch": trainer.steps_per_epoch, "run_dir": str(run_dir),
                       "devices": trainer.placement.count if trainer.placement else 1})
    saved = first_epoch - 1
    try:
        for epoch in range(first_epoch, epochs + 1):
            params, state, opt_states, train_losses = _epoch(
                trainer, params, state, opt_states, seed, epoch, epochs, options, reporter)
            row = _row(trainer, epoch, train_losses, params, state, started,
                       learned_rates(trainer.loss_names, opt_states))
            history.rows.append(row)
            monitor, value = monitored_value(plan, row)
            reporter.on_epoch(history.rows)
            if adversarial or improved(monitor_mode(plan, monitor), value, history.best,
                                       min_delta):
                history.best, history.best_epoch = float(value), epoch
                # A host copy: the device buffers are donated to the next step.
                best = _host({"params": params, "state": state})
                _checkpoint(run_dir / "best.ckpt", {**best, "epoch": epoch})
                reporter.on_best(epoch, monitor, value)
            _save_last(run_dir, params, state, opt_states, history, epoch)
            saved = epoch
            if options.after_epoch:
                options.after_epoch(epoch, params)
            if patience and epoch - history.best_epoch >= patience:
                reporter.note(f"early stopping: {monitor} has not improved for {patience} epochs;"
                              f" restoring epoch {history.best_epoch}")
                break
    except KeyboardInterrupt:
        raise _interrupted(run_dir, history, saved, reporter) from None
    results = _finish(trainer, best, history, run_dir, started, reporter)
    if devices.writes_run():
        write_gibbs_pictures(plan.graph, best["params"], data["test"], run_dir, reporter.note)
    return results


def _say_one_step_per_call(plan: TrainPlan, trainer: Trainer, reporter: Reporter) -> None:
    """A `steps_per_dispatch = k` the run cannot honour (sharded or --check-numerics runs
    send one step per call) is said, not ignored."""
    asked = plan.settings["steps_per_dispatch"]
    if trainer.dispatch.per_step and asked not in ("auto", 1):
        why = "--check-numerics" if trainer.compiled.check_numerics else "a sharded run"
        reporter.note(f"steps_per_dispatch = {asked}: {why} sends one step per call")


def _interrupted(run_dir: Path, history: History, saved: int,
                 reporter: Reporter) -> Interrupted:
    """After Ctrl-C or a signal: last.ckpt already holds epoch `saved` (written as each epoch
    ends; the parameters of the epoch under way are dropped, its step buffers were donated);
    metrics.csv and curves.png are written up to it."""
    reporter.on_interrupt([row for row in history.rows if row["epoch"] <= saved])
    return Interrupted(saved + 1, saved, run_dir, rundir.stop_requested())


def _stop_if_asked(epoch: int) -> None:
    """Stop between steps when a signal asked for it (nndsl.cli `_on_stop_signals`)."""
    if rundir.stop_requested() is not None:
        raise KeyboardInterrupt(f"epoch {epoch}")


def _trained(plan: TrainPlan) -> list[str]:
    """The networks a plan trains: its model, else those its losses reach."""
    if plan.model:
        return [plan.model]
    return sorted({key.split(".")[0] for o in plan.objectives for key in o.keys})


def _host(tree):
    return jax.tree.map(devices.host, tree)


def _on(trainer: Trainer) -> str:
    """`, on 4 cpu devices, per-device batch 16` when the run is sharded."""
    return f", on {trainer.placement.describe(trainer.batch)}" if trainer.placement else ""


def _checkpoint(path: Path, payload: dict) -> None:
    """Write a checkpoint of host arrays (restorable on any number of devices); several
    processes: process 0 alone writes."""
    if devices.writes_run():
        checkpoint.write(path, {key: _host(value) if key in ("params", "state", "opt_states")
                                else value for key, value in payload.items()})


def _epoch(trainer: Trainer, params, state, opt_states, seed, epoch, epochs, options,
           reporter: Reporter):
    """One epoch, its steps sent to the device in chunks (nndsl.fit.dispatch)."""
    steps = trainer.dispatch.epoch(seed, epoch)
    with reporter.epoch(epoch, epochs, trainer.steps_per_epoch, trainer.batch,
                        trainer.loss_names) as progress:
        while not steps.finished:
            _stop_if_asked(epoch)
            params, state, opt_states = steps.run(params, state, opt_states)
            if steps.first_step == 0 and steps.done == 1:
                steps.wait()
                reporter.note(f"first step after {time.perf_counter() - options.started:.2f} s "
                              "(start-up, data, compilation)")
            # The host waits for the device only here, when the clock says the bar is due.
            if progress.due(steps.done - 1):
                if steps.first_bad() >= 0:
                    raise NonFinite(_non_finite(trainer, params, state, steps.order,
                                                steps.base, steps.first_bad(), epoch))
                progress.update(steps.done, steps.losses())
    return params, state, opt_states, steps.mean()


def _non_finite(trainer: Trainer, params, state, order, base, step: int, epoch: int) -> str:
    """Replay the failing step's batch (updates after it were held back) to find the layer."""
    index = step - (epoch - 1) * trainer.steps_per_epoch
    batch, _ = list(trainer.batches("train", trainer.batch, order))[index]
    where = trainer.locate_non_finite(params, state, batch, jax.random.fold_in(base, step))
    return (f"the loss became non-finite at step {step + 1} (epoch {epoch}); first "
            f"non-finite output: {where}")


def _row(trainer: Trainer, epoch, train_losses, params, state, started, rates) -> dict:
    row = {"epoch": epoch}
    row.update({f"train_{name}": value for name, value in zip(trainer.loss_names, train_losses)})
    row.update({f"val_{k}": v for k, v in trainer.evaluate(params, state, "val").items()})
    row.update(rates)  # learned learning rates (fit/hypergrad.py), when an optimizer has one
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


def _save_last(run_dir, params, state, opt_states, history: History, epoch: int) -> None:
    _checkpoint(run_dir / "last.ckpt", {
        "params": params, "state": state, "opt_states": opt_states, "epoch": epoch,
        "history": history.rows, "best": history.best, "best_epoch": history.best_epoch})


def _resume(run_dir: Path, trainer: Trainer, fresh):
    """The run's last checkpoint, checked against this spec; optimizer states take the
    structure of freshly initialised ones. A run stopped before its first epoch ended has no
    last.ckpt: it starts again from `fresh` (parameters, state, optimizer states)."""
    path = run_dir / "last.ckpt"
    if not path.exists():
        return (*fresh, History(), 1)
    saved = checkpoint.matching(path, trainer.compiled)
    opt_states = checkpoint.restore_opt(saved, fresh[2])
    history = History(saved["history"], saved["best"], saved["best_epoch"])
    to_device = lambda tree: jax.tree.map(jnp.asarray, tree)  # noqa: E731
    return (to_device(saved["params"]), to_device(saved["state"]),
            to_device(opt_states), history, saved["epoch"] + 1)


def _best_so_far(run_dir: Path, trainer: Trainer) -> dict | None:
    """A resumed run's best parameters and state, for the final test evaluation."""
    path = run_dir / "best.ckpt"
    if not path.exists():
        return None
    saved = checkpoint.matching(path, trainer.compiled)
    return {"params": saved["params"], "state": saved["state"]}


def _write_config(plan: TrainPlan, options: RunOptions, epochs: int, trainer: Trainer) -> None:
    if not devices.writes_run():
        return
    shutil.copyfile(options.spec_path, options.run_dir / "spec.nn")
    config = {
        "spec": str(options.spec_path), "train": plan.name, "model": plan.model,
        "data": {"name": plan.data.name, **plan.data.values},
        "objectives": [{"network": o.network, "optimizer": o.optimizer.name,
                        **o.optimizer.values,
                        "schedule": o.schedule.name if o.schedule else "constant"}
                       for o in plan.objectives],
        "settings": {**plan.settings, "epochs": epochs}, "batch": trainer.batch,
        "metrics": dict(plan.metric_expressions),
        "spec_sha256": hashlib.sha256(options.spec_path.read_bytes()).hexdigest(),
        "set": rundir.plain_set(dict(options.overrides)),
        "shapes": {name: list(shape) for name, shape in
                   checkpoint.spec_shapes(trainer.compiled).items()},
        "fingerprint": rundir.fingerprint(plan, dict(options.overrides), epochs),
    }
    _write_json(options.run_dir / "config.json", config)
    data_encoding.write(options.run_dir, plan.data.values.get("encoding"))  # data.json


def _extend_config(run_dir: Path, epochs: int) -> None:
    """A resumed run trains to `epochs`: config.json says so, and results.json (of the run
    as it ended before) goes until this one finishes."""
    if not devices.writes_run():
        return
    path = run_dir / "config.json"
    config = json.loads(path.read_text())
    config["settings"]["epochs"] = epochs
    if "fingerprint" in config:
        config["fingerprint"]["settings"]["settings"]["epochs"] = epochs
    _write_json(path, config)
    (run_dir / "results.json").unlink(missing_ok=True)


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, default=checkpoint.plain))


def _finish(trainer: Trainer, best: dict, history: History, run_dir: Path, started,
            reporter: Reporter) -> dict:
    test = trainer.evaluate(best["params"], best["state"], "test")
    monitor = monitored_value(trainer.plan, history.rows[-1])[0] if history.rows else "val_loss"
    results = {"test": test, "best_epoch": history.best_epoch,
               "monitor": monitor, "mode": monitor_mode(trainer.plan, monitor),
               "best": history.best,
               "epochs_run": len(history.rows),
               "seconds": round(time.perf_counter() - started, 2)}
    if devices.writes_run():
        _write_json(run_dir / "results.json", results)
    reporter.on_test(test, results, run_dir / "results.json")
    return results
