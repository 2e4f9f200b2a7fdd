"""Sweep sections: each entry names a `let` constant and a distribution to draw it from."""

from __future__ import annotations

from nndsl import ast
from nndsl.elab.config import Config, literal
from nndsl.elab.interp import Elaborator
from nndsl.source import did_you_mean, error

SWEEP_DISTRIBUTIONS = ("choice", "uniform", "loguniform", "int")
SWEEP_METHODS = ("random", "grid", "tpe")
# Early stopping of bad trials, fed by each epoch's monitored value (method = tpe only).
SWEEP_PRUNERS = ("median", "asha", "none")
# Entries that configure the search rather than name a swept constant.
SWEEP_SETTINGS = ("trials", "method", "pruner", "storage")
# A sweep runs one training per trial: more than this is a mistake, refused before planning.
MAX_TRIALS = 10_000


def check_sweep(el: Elaborator, sweep: ast.Sweep) -> dict[str, Config]:
    """Each sweep entry names a `let` constant (or `Net.param`) and a distribution."""
    entries = {}
    for f in sweep.fields:
        name = f.name.id
        if name in SWEEP_SETTINGS:
            entries[name] = Config(name, {"value": literal(f.value, {})}, f.span)
            continue
        if name not in el.program.lets:
            raise error("E069", f"sweep over `{name}`, which is not a `let` constant",
                        f.name.span, hint=did_you_mean(name, el.program.lets))
        entries[name] = _distribution(f.value)
    _check_trials(entries.get("trials"))
    _check_method(entries)
    _check_study_settings(entries)
    return entries


def _check_study_settings(entries: dict[str, Config]) -> None:
    """`pruner` is one of SWEEP_PRUNERS and `storage` a text URL; both need method = tpe
    (random and grid sweeps keep no study)."""
    method = entries.get("method")
    tpe = method is not None and str(method.values["value"]) == "tpe"
    for key in ("pruner", "storage"):
        if key in entries and not tpe:
            raise error("E282", f"`{key}` applies to a model-based sweep only",
                        entries[key].span, hint="add `method = tpe` to the sweep section")
    pruner = entries.get("pruner")
    if pruner is not None and str(pruner.values["value"]) not in SWEEP_PRUNERS:
        name = str(pruner.values["value"])
        raise error("E282", f"`pruner` is one of {', '.join(SWEEP_PRUNERS)}, not `{name}`",
                    pruner.span, hint=did_you_mean(name, SWEEP_PRUNERS))
    storage = entries.get("storage")
    if storage is not None and not isinstance(storage.values["value"], str):
        raise error("E282", "`storage` is a database URL in quotes, e.g. "
                    "\"sqlite:///runs/study.db\"", storage.span)


def _check_trials(trials: Config | None) -> None:
    if trials is None:
        return
    value = trials.values["value"]
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_TRIALS:
        raise error("E024", f"`trials` must be a whole number from 1 to {MAX_TRIALS:,}",
                    trials.span)


def _check_method(entries: dict[str, Config]) -> None:
    """`method` is random or grid; a grid takes only `choice` entries and at most MAX_TRIALS
    combinations, counted before anything is enumerated."""
    method = entries.get("method")
    if method is None:
        return
    name = str(method.values["value"])
    if name not in SWEEP_METHODS:
        raise error("E024", f"`method` is one of {', '.join(SWEEP_METHODS)}, not `{name}`",
                    method.span, hint=did_you_mean(name, SWEEP_METHODS))
    if name != "grid":
        return
    size = 1
    for key, entry in entries.items():
        if key in SWEEP_SETTINGS:
            continue
        if entry.name != "choice":
            raise error("E069", f"a grid sweep takes only choice(...) entries; `{key}` is "
                        f"{entry.name}(...)", entry.span)
        size *= len(entry.values["values"])
        if size > MAX_TRIALS:
            raise error("E024", f"the grid has more than {MAX_TRIALS:,} combinations",
                        entry.span, hint="use fewer choices, or method = random with trials")


def _distribution(expr: ast.Node) -> Config:
    if not isinstance(expr, ast.Call) or not isinstance(expr.func, ast.Name) or \
            expr.func.id not in SWEEP_DISTRIBUTIONS:
        raise error("E069", "a sweep entry is a distribution: " +
                    ", ".join(f"{d}(...)" for d in SWEEP_DISTRIBUTIONS), expr.span,
                    hint=did_you_mean(expr.func.id, SWEEP_DISTRIBUTIONS)
                    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) else None)
    values = [literal(a, {}) for a in expr.args]
    if not values or (expr.func.id != "choice" and len(values) != 2):
        raise error("E069", f"`{expr.func.id}` needs "
                    f"{'at least one value' if expr.func.id == 'choice' else 'low and high'}",
                    expr.span)
    if expr.func.id != "choice":
        _check_bounds(expr.func.id, values, expr.span)
    return Config(expr.func.id, {"values": values}, expr.span)


def _check_bounds(kind: str, values: list, span) -> None:
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if kind == "int" and not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise error("E069", "int(low, high) takes whole numbers", span)
    if not numeric:
        raise error("E069", f"{kind}(low, high) takes numbers", span)
    low, high = values
    if low > high:
        raise error("E069", f"{kind}(low, high): low {low} is above high {high}", span)
    if kind == "loguniform" and low <= 0:
        raise error("E069", "loguniform bounds must be positive", span)
