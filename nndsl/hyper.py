"""The one argument binder: positional and keyword arguments matched to a signature.

Ops, user definitions (blocks, networks, cells) and train settings (optimizers, schedules,
data sources, ...) all bind their arguments here, so every call reports the same errors:
E021 too many positional arguments, E022 an unknown or repeated keyword, E023 a missing
required one, E024 a value of the wrong kind or out of range, E150 a tensor where a
hyperparameter is expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nndsl.ir import TensorType
from nndsl.ops.base import REQUIRED, Hyper, HyperError
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


def signature(name: str, inputs: Sequence[str], hypers: Sequence[Hyper],
              keyword_inputs: Sequence[str] = ()) -> str:
    """A call's signature as the op reference writes it: `dense(x, units, bias=true, ...)`,
    tensors given by keyword last (`embed(ids, vocab, dim, table=tensor)`)."""
    parts = list(inputs)
    for h in hypers:
        parts.append(h.name if h.default is REQUIRED else f"{h.name}={format_default(h.default)}")
    parts += [f"{keyword}=tensor" for keyword in keyword_inputs]
    return f"{name}({', '.join(parts)})"


def format_default(value: Any) -> str:
    """A default as a spec would write it: `true`, `none`, `valid`, `0.9`."""
    if isinstance(value, bool):
        return str(value).lower()
    return "none" if value is None else str(value)


def _is_tensor(value: Any) -> bool:
    # The elaborator's tensors carry their TensorType as `.type` (elab sits above the binder).
    return isinstance(getattr(value, "type", None), TensorType)


def _refuse_tensors(hypers: Sequence[Hyper], args: Sequence[Arg],
                    kwargs: Sequence[tuple[str, Arg]], what: str, inputs: Sequence[str],
                    keyword_inputs: Sequence[str]):
    """E150 for a tensor in a hyperparameter's slot, said before any other binding error, so
    that a stray tensor is not reported as a repeated keyword or a value of the wrong type."""
    names = {h.name for h in hypers}
    slots = [*((h.name, arg) for h, arg in zip(hypers, args)),
             *((name, arg) for name, arg in kwargs if name in names)]
    for name, arg in slots:
        if _is_tensor(arg.value):
            takes = (f"one tensor, `{inputs[0]}`" if len(inputs) == 1 else
                     f"{len(inputs)} tensors, {', '.join(f'`{i}`' for i in inputs)}") \
                if inputs else "no tensor"
            raise error("E150", f"`{signature(what, inputs, hypers, keyword_inputs)}` takes "
                        f"{takes}: this "
                        f"tensor {arg.value.type} would be its hyperparameter `{name}`",
                        arg.span, hint=_tensor_slot_hint(keyword_inputs))


def _tensor_slot_hint(keyword_inputs: Sequence[str]) -> str:
    hint = ("tensors come first (or through `->`); the other arguments are numbers, words or "
            "lists")
    if keyword_inputs:
        hint += "; " + ", ".join(f"`{k}=`" for k in keyword_inputs) + " takes a tensor by keyword"
    return hint


def bind_hypers(hypers: Sequence[Hyper], args: Sequence[Arg],
                kwargs: Sequence[tuple[str, Arg]], span: Span, what: str,
                noun: str = "hyperparameter",
                read: Callable[[Any], Any] = lambda value: value,
                inputs: Sequence[str] = (),
                keyword_inputs: Sequence[str] = ()) -> dict[str, Any]:
    """Bind and check arguments against declared hyperparameters; defaults fill the rest.

    `read` turns an argument's value into the one checked (train settings read literals);
    `inputs` and `keyword_inputs` name the callee's tensor inputs, the ones before `args` and
    the ones given by keyword (for E150's signature)."""
    _refuse_tensors(hypers, args, kwargs, what, inputs, keyword_inputs)
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
