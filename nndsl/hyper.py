"""The one argument binder: positional and keyword arguments matched to a signature.

Ops, user definitions (blocks, networks, cells) and train settings (optimizers, schedules,
data sources, ...) all bind their arguments here, so every call reports the same errors:
E021 too many positional arguments, E022 an unknown or repeated keyword, E023 a missing
required one, E024 a value of the wrong kind or out of range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nndsl.ops.base import Hyper, HyperError
from nndsl.source import Span, SpecError, did_you_mean, error


@dataclass(frozen=True)
class Arg:
    """An argument as written: its value and where it is (for a keyword, `name=value`)."""

    value: Any
    span: Span


def bind(names: Sequence[str], args: Sequence[Arg], kwargs: Sequence[tuple[str, Arg]],
         what: str, noun: str = "hyperparameter") -> dict[str, Arg]:
    """Match positional arguments, then keywords, to `names`; `what` names the callee."""
    names = list(names)
    if len(args) > len(names):
        raise error("E021", f"`{what}` takes at most {len(names)} {noun}s "
                    f"({', '.join(names) or 'none'}), got {len(args)}", args[len(names)].span)
    given: dict[str, Arg] = dict(zip(names, args))
    for name, arg in kwargs:
        if name not in names:
            raise error("E022", f"`{what}` has no {noun} `{name}`", arg.span,
                        hint=did_you_mean(name, names))
        if name in given:
            raise error("E022", f"`{name}` is given twice", arg.span)
        given[name] = arg
    return given


def missing(what: str, name: str, span: Span, required: Sequence[str]) -> SpecError:
    """The error for a required argument nobody gave (E023), with an example call."""
    return error("E023", f"`{what}` needs `{name}`", span,
                 hint=f"e.g. {what}({', '.join(required)})")


def bind_hypers(hypers: Sequence[Hyper], args: Sequence[Arg],
                kwargs: Sequence[tuple[str, Arg]], span: Span, what: str,
                noun: str = "hyperparameter",
                read: Callable[[Any], Any] = lambda value: value) -> dict[str, Any]:
    """Bind and check arguments against declared hyperparameters; defaults fill the rest.

    `read` turns an argument's value into the one checked (train settings read literals)."""
    given = bind([h.name for h in hypers], args, kwargs, what, noun)
    values = {}
    for h in hypers:
        if h.name not in given:
            if h.required:
                raise missing(what, h.name, span, [x.name for x in hypers if x.required])
            values[h.name] = h.default
            continue
        arg = given[h.name]
        try:
            values[h.name] = h.check(read(arg.value))
        except HyperError as exc:
            raise error("E024", f"{what}: {exc.message}", arg.span, hint=exc.hint) from None
    return values
