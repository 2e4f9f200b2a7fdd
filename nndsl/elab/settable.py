"""`--set` for train settings: the dotted names a train section offers and their checked values.

A section offers its scalar settings (`batch`, `epochs`, `seed`, `clip_grad_norm`,
`precision`) and every argument of the calls it makes: `optimizer.lr`, `schedule.warmup`,
`early_stopping.epochs`, `augment.pixels`. A `step Net { ... }` offers `Net.optimizer.lr` and
`Net.schedule.every` for the optimizer and schedule that step uses (its own or the section's);
`optimizer.lr` sets the section's own `optimizer = ...` line, so every step that inherits it.
A value set this way is checked against the same signature as the spec's own value, with the
same errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nndsl import ast
from nndsl.elab.config import Config
from nndsl.elab.vocabulary import CALLS, SETTING_CODES, SETTINGS
from nndsl.ops import HyperError
from nndsl.ops.base import Hyper
from nndsl.precision import precision_hint
from nndsl.source import Span, error

STEP_CALLS = ("optimizer", "schedule")


def settable_names(train: ast.Train) -> list[str]:
    """Every name `--set` may give for this section, in the order a user reads them."""
    fields = {f.name.id: f for f in train.fields}
    names = [*SETTINGS, *_call_names("", fields)]
    for step in train.steps:
        inherited = {k: fields[k] for k in STEP_CALLS if k in fields}
        own = {f.name.id: f for f in step.fields if f.name.id in STEP_CALLS}
        names += _call_names(f"{step.network.id}.", {**inherited, **own})
    return names


def _call_names(prefix: str, fields: dict[str, ast.Field]) -> Iterator[str]:
    for key, catalog in CALLS.items():
        head = _head(fields[key].value) if key in fields else None
        if head in catalog:
            yield from (f"{prefix}{key}.{h.name}" for h in catalog[head])


def _head(expr: ast.Node) -> str | None:
    """`adam` of `adam(lr=0.1)` or of a bare `adam`."""
    head = expr.func if isinstance(expr, ast.Call) else expr
    return head.id if isinstance(head, ast.Name) else None


def set_setting(h: Hyper, overrides: dict, span: Span, default: Any) -> Any:
    """A scalar setting's `--set` value, checked, else `default` (the spec's own)."""
    return checked(h, h.name, overrides[h.name], span) if h.name in overrides else default


def set_call(call: Config, key: str, prefixes: tuple[str, ...], overrides: dict) -> Config:
    """`call` (the `key` field's checked call) with the arguments `--set` gives under each
    prefix (`optimizer.lr`, then the more specific `Generator.optimizer.lr`)."""
    for h in CALLS[key][call.name]:
        for prefix in prefixes:
            name = f"{prefix}{key}.{h.name}"
            if name in overrides:
                call.values[h.name] = checked(h, name, overrides[name], call.span)
    return call


def checked(h: Hyper, name: str, value: Any, span: Span) -> Any:
    """`value` as the signature takes it; E024 (the spec's own error; E190 for
    `steps_per_dispatch`) at the value it replaces, naming the `--set`."""
    try:
        return h.check(value)
    except HyperError as exc:
        raise error(SETTING_CODES.get(h.name, "E024"), f"--set {name}={value}: {exc.message}", span,
                    hint=setting_hint(h, value, exc)) from None


def setting_hint(h: Hyper, value: Any, exc: HyperError) -> str | None:
    """The check's own hint, else for `precision` the nndsl name of another library's."""
    return exc.hint or (precision_hint(value) if h.name == "precision" else None)
