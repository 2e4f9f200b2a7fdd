"""Sweep sections: each entry names a `let` constant and a distribution to draw it from."""

from __future__ import annotations

from nndsl import ast
from nndsl.elab.config import Config, literal
from nndsl.elab.interp import Elaborator
from nndsl.source import did_you_mean, error

SWEEP_DISTRIBUTIONS = ("choice", "uniform", "loguniform", "int")


def check_sweep(el: Elaborator, sweep: ast.Sweep) -> dict[str, Config]:
    """Each sweep entry names a `let` constant (or `Net.param`) and a distribution."""
    entries = {}
    for f in sweep.fields:
        name = f.name.id
        if name in ("trials", "method"):
            entries[name] = Config(name, {"value": literal(f.value, {})}, f.span)
            continue
        if name not in el.program.lets:
            raise error("E069", f"sweep over `{name}`, which is not a `let` constant",
                        f.name.span, hint=did_you_mean(name, el.program.lets))
        entries[name] = _distribution(f.value)
    trials = entries.get("trials")
    if trials is not None and (not isinstance(trials.values["value"], int) or
                               isinstance(trials.values["value"], bool) or
                               trials.values["value"] < 1):
        raise error("E024", "`trials` must be a whole number >= 1", trials.span)
    return entries


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
    if expr.func.id == "loguniform" and min(values) <= 0:
        raise error("E069", "loguniform bounds must be positive", expr.span)
    return Config(expr.func.id, {"values": values}, expr.span)
