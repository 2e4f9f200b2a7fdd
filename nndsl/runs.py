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
from nndsl.source import NO_SPAN, Diagnostic, SpecError, error
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
        progress: bool = False, quiet: bool = False, started: float | None = None,
        console=None, check_numerics: bool = False) -> dict:
    """Train a spec's train section exactly as `nndsl train` does and return its results:
    `test` (losses and metrics of the best parameters on the test split), `best_epoch`,
    `monitor`, `best`, `epochs_run`, `seconds` and `run_dir`.

    `spec` is a path or a `Spec` from `nndsl.load`; `train` names the section (default: the
    first), `model` replaces its model, `epochs` its epochs, `overrides` the spec's `let`
    values (`--set`). The run directory is `out`, else `runs/<spec>-<section or model>`;
    `resume` continues the run in that directory. `progress` shows a progress bar, `quiet`
    silences the per-epoch lines; `check_numerics` runs the step under checkify (E087)
    (`console`, a rich Console, prints them instead of the
    default one); `started` (a `time.perf_counter()` value) is when the
    reported time to the first step counts from (default: now). Raises SpecError for a bad
    spec, data or checkpoint, `nndsl.fit.run.NonFinite` when the loss stops being finite."""
    import time

    from rich.console import Console

    from nndsl.fit.run import RunOptions, run_name
    from nndsl.fit.run import train as run_training

    check_epochs(epochs)
    spec = _as_spec(spec, overrides)
    plan = spec.plan(train, model)
    runs_root = Path(runs)
    if resume:
        run_dir = Path(resume)
    elif out:
        run_dir = Path(out)
    else:
        run_dir = runs_root / (run_name(spec.path, plan) + (f"-{model}" if model else ""))
    options = RunOptions(run_dir, spec.path, runs_root, epochs, bool(resume),
                         progress=progress, overrides=list(spec.overrides.items()),
                         started=time.perf_counter() if started is None else started,
                         check_numerics=check_numerics)
    results = run_training(plan, options, console or Console(quiet=quiet))
    return {**results, "run_dir": run_dir}


def evaluate(spec: Spec | str | Path, run_dir: str | Path, split: str = "test", *,
             train: str | None = None, model: str | None = None,
             overrides: dict | None = None, check_numerics: bool = False) -> dict[str, float]:
    """Losses and metrics of a run's best parameters on `split` (`train`, `val`, `test`),
    as `nndsl eval` reports them. The checkpoint's tensors must be the spec's (names and
    shapes, else E092); a directory without a checkpoint is E083."""
    from nndsl.fit import checkpoint

    spec = _as_spec(spec, overrides)
    task = spec.training(train, model=model, check_numerics=check_numerics)
    saved = checkpoint.matching(best_checkpoint(run_dir), task.trainer.compiled)
    return task.evaluate(saved["params"], saved["state"], split)


def best_checkpoint(run_dir: str | Path) -> Path:
    """The best checkpoint of a run directory, or a clear E083 error."""
    path = Path(run_dir) / "best.ckpt"
    if not path.exists():
        raise SpecError(Diagnostic(NO_CHECKPOINT, f"no checkpoint at {path}: train first",
                                   NO_SPAN))
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


def load_run(run_dir: str | Path) -> Run:
    """The run `nndsl train` (or `nndsl.fit`) wrote into `run_dir`, with the parameters of its
    best checkpoint, checked against the spec by name and shape as `nndsl eval` does."""
    from nndsl.fit import checkpoint

    run_dir = Path(run_dir)
    config = _config(run_dir)
    best = best_checkpoint(run_dir)
    spec = load(run_dir / "spec.nn", _overrides(config.get("set") or {}))
    model = spec.compile(config.get("model"))
    # A run may hold other networks too (a GAN's): only this one's tensors must match.
    saved = checkpoint.matching(best, model.compiled, exact=False)
    wanted = {group: {layer.rpartition(".")[0] for layer in slots}
              for group, slots in (("params", model.compiled.param_slots),
                                   ("state", model.compiled.state_slots))}
    params, state = ({layer: leaves for layer, leaves in saved[group].items()
                      if layer in wanted[group]} for group in ("params", "state"))
    return Run(run_dir, spec, model, params, state, config)


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
