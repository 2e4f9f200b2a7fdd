"""Runs from Python: `nndsl.fit` trains as `nndsl train` does, `nndsl.evaluate` scores a run
as `nndsl eval` does (the CLI calls both), `nndsl.load_run` brings a run's best network back.

Importing this module does not import JAX; each function imports the runtime when called.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from nndsl.paths import file_span
from nndsl.source import error
from nndsl.spec import Spec, check_epochs, load

if TYPE_CHECKING:
    from nndsl.fit.model import Model

NO_CHECKPOINT = "E083"


def _as_spec(spec: Spec | str | Path, overrides: dict | None) -> Spec:
    if isinstance(spec, Spec):
        if overrides:
            raise ValueError("a loaded Spec already has its overrides: pass them to "
                         "nndsl.load, or pass the spec's path here")
        return spec
    return load(spec, overrides)


def fit(spec: Spec | str | Path, *, train: str | None = None, model: str | None = None,
        out: str | Path | None = None, runs: str | Path = "runs", epochs: int | None = None,
        overrides: dict | None = None, resume: str | Path | None = None,
        overwrite: bool = False, progress: bool = False, quiet: bool = False,
        started: float | None = None, console=None, check_numerics: bool = False,
        log: tuple[str, ...] = (), log_format: str = "text", devices=None) -> dict:
    """Train a spec's train section exactly as `nndsl train` does and return its results:
    `test` (losses and metrics of the best parameters on the test split), `best_epoch`,
    `monitor`, `best`, `epochs_run`, `seconds` and `run_dir`.

    `spec` is a path or a `Spec` from `nndsl.load`; `train` names the section (default: the
    first), `model` replaces its model, `epochs` its epochs, `overrides` the spec's `let`
    values (`--set`). The run directory is `out`, else `runs/<spec>-<section or model>`, or
    the next free `-2`, `-3`, ... after it when that is a run already (see
    `nndsl.fit.rundir`); `overwrite` replaces `out` (else the newest of those) instead;
    `out` naming a run without `overwrite` is E100. `resume` continues the run in that
    directory (E101 when its spec graph, settings or --set values differ; more `epochs`
    extend a finished run). `devices` (a `nndsl.fit.devices.DeviceOptions`) shards
    the run over several devices or processes (docs/devices.md). `progress` shows a
    progress bar, `quiet`
    silences the per-epoch lines; `check_numerics` runs the step under checkify (E087)
    (`console`, a rich Console, prints them instead of the
    default one); `started` (a `time.perf_counter()` value) is when the
    reported time to the first step counts from (default: now). `log` names experiment logs
    (`("tensorboard",)`: RUN_DIR/tensorboard/, needs tensorboardX); `log_format` is `text`
    (the progress bar on a terminal), `plain` (lines only) or `json` (one JSON object per
    event on stdout; `console` should then print to stderr). Raises SpecError for a bad
    spec, data or checkpoint, `nndsl.fit.run.NonFinite` when the loss stops being finite.
    A section with `prune = lottery(...)` runs every training of the lottery into the run
    directory (docs/prune.md) and returns the last ticket's results with `lottery`."""
    import time

    from rich.console import Console

    from nndsl.fit.run import RunOptions
    from nndsl.fit.run import train as run_training
    from nndsl.fit.rundir import run_base

    check_epochs(epochs)
    spec = _as_spec(spec, overrides)
    plan = spec.plan(train, model)
    runs_root = Path(runs)
    console = console or Console(quiet=quiet)
    base = run_base(runs_root, spec.path, plan, model)
    run_dir = _run_dir(base, out, resume, overwrite, console)
    options = RunOptions(run_dir, spec.path, runs_root, epochs, bool(resume),
                         progress=progress, overrides=list(spec.overrides.items()),
                         started=time.perf_counter() if started is None else started,
                         check_numerics=check_numerics, overwrite=overwrite,
                         log=tuple(log), log_format=log_format,
                         picture=lambda: _picture(spec, plan), devices=devices)
    if plan.prune is not None:  # several trainings, one per round (docs/prune.md)
        from nndsl.fit.lottery import train_lottery as run_training
    results = run_training(plan, options, console)
    return {**results, "run_dir": run_dir}


def _picture(spec: Spec, plan):
    """The trained network as `nndsl render` draws it (the train graph when a section trains
    several networks), for the experiment logs."""
    from nndsl.render import render

    return render(spec.network(plan.model) if plan.model else plan.graph)


def _run_dir(base: Path, out, resume, overwrite: bool, console) -> Path:
    """Where a training goes: never over an earlier run unless `overwrite` says so."""
    from nndsl.fit import rundir

    if resume and overwrite:
        raise ValueError("resume continues a run and overwrite replaces it: pass one")
    if resume:
        return Path(resume)
    if out:
        if rundir.is_run(Path(out)) and not overwrite:
            raise error(rundir.EXISTS, f"{out} holds a run already (it has config.json)",
                        rundir.argument_span("--out", out),
                        hint=f"add --overwrite to replace it, or continue it with --resume {out} "
                        "(and --epochs N to train a finished run further)")
        return Path(out)
    if overwrite:
        return rundir.newest(base) or base
    run_dir = rundir.claim_new(base)
    if run_dir != base:
        console.print(f"{base} is taken: this run goes to {run_dir} (--overwrite replaces "
                      "the newest run instead, --resume DIR continues one)")
    return run_dir


def spec_run(spec: Spec, runs: str | Path = "runs", train: str | None = None,
             model: str | None = None, say=None) -> Path:
    """The run a command uses when none is named: the newest run (highest number) named for
    the spec's train section (`runs/<spec>-<name>[-N]`), or for `--model` when a run of that
    model exists; `say` is told which run, and E103 says where it looked when none is."""
    from nndsl.fit import rundir

    plan = spec.plan(train)
    bases = [rundir.run_base(runs, spec.path, plan, model)] if model else []
    bases.append(rundir.run_base(runs, spec.path, plan))
    for base in bases:
        found = rundir.runs_of(base)
        if found:
            if say:
                say(f"using the run {found[-1]}" + (f" (the newest of {len(found)}; --run DIR "
                                                     "picks another)" if len(found) > 1 else ""))
            return found[-1]
    raise error(rundir.NO_RUN, f"no run of this spec under {runs}: looked for "
                + " and ".join(f"{b}[-N]" for b in bases), spec.file_span(),
                hint=f"train it first (nndsl train {spec.path}), or name a run with --run DIR")


def evaluate(spec: Spec | str | Path, run_dir: str | Path, split: str = "test", *,
             train: str | None = None, model: str | None = None,
             overrides: dict | None = None, check_numerics: bool = False,
             devices=None) -> dict[str, float]:
    """Losses and metrics of a run's best parameters on `split` (`train`, `val`, `test`),
    as `nndsl eval` reports them. The checkpoint's tensors must be the spec's (names and
    shapes, else E092); a directory without a checkpoint is E083. `devices`: a
    `nndsl.fit.devices.DeviceOptions` (`--devices N`, `--device`) to evaluate on a mesh."""
    from nndsl.fit import checkpoint
    from nndsl.fit.training import Training

    spec = _as_spec(spec, overrides)
    task = Training(spec.plan(train, model), check_numerics=check_numerics, devices=devices,
                    training=False)
    saved = checkpoint.matching(best_checkpoint(run_dir), task.trainer.compiled)
    return task.evaluate(saved["params"], saved["state"], split)


def best_checkpoint(run_dir: str | Path) -> Path:
    """The best checkpoint of a run directory, or a clear E083 error."""
    path = Path(run_dir) / "best.ckpt"
    if not path.exists():
        raise error(NO_CHECKPOINT, f"no checkpoint at {path}: train first", file_span(path),
                    hint="name the directory `nndsl train` wrote (runs/<spec>-<name>[-N])")
    return path


@dataclass(frozen=True)
class Run:
    """A trained run: its spec (re-loaded from the run's spec.nn with its `--set` values),
    the trained network as a `Model`, and that network's best parameters and state."""

    path: Path
    spec: Spec
    model: Model
    params: dict
    state: dict
    config: dict

    @cached_property
    def _predict(self):
        import jax

        return jax.jit(lambda params, state, inputs: self.model.apply(params, state, inputs)[0])

    def __call__(self, inputs: dict) -> dict:
        """The network's outputs (inference mode) for `inputs`, one array per input name."""
        return self._predict(self.params, self.state, inputs)

    @property
    def results(self) -> dict | None:
        """The run's results.json (test figures, best epoch), once training finished."""
        path = self.path / "results.json"
        return json.loads(path.read_text()) if path.exists() else None


def load_run(run_dir: str | Path, network: str | None = None, *,
             runs: str | Path = "runs") -> Run:
    """The run `nndsl train` (or `nndsl.fit`) wrote into `run_dir`, with the parameters of its
    best checkpoint, checked against the spec by name and shape as `nndsl eval` does. A `.nn`
    spec path instead of a run directory: its newest run under `runs` (as `nndsl eval` picks
    one without --run). `network` picks one network of a run of several (a GAN's
    `Generator`); E102 when such a run is loaded without it."""
    if Path(run_dir).suffix == ".nn":
        run_dir = spec_run(load(run_dir), runs)
    run_dir = Path(run_dir)
    config = _config(run_dir)
    best_checkpoint(run_dir)  # before the spec: a run without a checkpoint is E083
    spec = load(run_dir / "spec.nn", _overrides(config.get("set") or {}))
    name, saved = trained_network(spec, config, run_dir, network)
    model = spec.compile(name)
    saved = saved(model.compiled)
    wanted = {group: {layer.rpartition(".")[0] for layer in slots}
              for group, slots in (("params", model.compiled.param_slots),
                                   ("state", model.compiled.state_slots))}
    params, state = ({layer: leaves for layer, leaves in saved[group].items()
                      if layer in wanted[group]} for group in ("params", "state"))
    return Run(run_dir, spec, model, params, state, config)


def trained_network(spec: Spec, config: dict, run_dir: Path, network: str | None, span=None):
    """The network of a run a command reads (`network`, else the run's only one) and a
    function that gives its best checkpoint checked against that network compiled, with
    the tensors named as in that network alone. A run may hold other networks too (a
    GAN's, a frozen teacher's): only this one's tensors must match."""
    from nndsl.fit import checkpoint, rundir

    best = checkpoint.read(best_checkpoint(run_dir))
    name, prefixed = rundir.choose_network(run_dir, config, checkpoint.networks(best), network,
                                           span or file_span(run_dir))
    part = checkpoint.network_part(best, name) if prefixed else best
    # A run of a network this spec does not have (another spec's run): the spec's default
    # network, whose tensors then differ from the run's (E092 names the first).
    name = name if name in spec.program.networks else network
    return spec.resolve(name), lambda compiled: checkpoint.checked(part, compiled, exact=False)


def _config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if not path.is_file():
        raise error(NO_CHECKPOINT, f"{run_dir} is not a run directory: it has no config.json "
                    "(nndsl train writes one)", file_span(path))
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise error(NO_CHECKPOINT, f"cannot read {path}: {exc}", file_span(path)) from None


def _overrides(saved: dict) -> dict:
    """The run's `--set` values as the command line parsed them: JSON keeps numbers and
    booleans; a string was a word (`--set act=gelu`)."""
    from nndsl.ops import Word

    return {name: Word(value) if isinstance(value, str) else value
            for name, value in saved.items()}
