"""Applying callable values: ops, definitions, instances, partial applications, chains,
repetitions and built-ins. `el` is the `Elaborator` doing the applying."""

from __future__ import annotations

from nndsl.elab import builtins, definitions
from nndsl.elab.names import take_name
from nndsl.elab.repeat import call_repeated
from nndsl.elab.values import (
    Arg,
    Chain,
    DefValue,
    Instance,
    OpValue,
    ParamSet,
    Partial,
    Repeated,
    Tensor,
    describe,
    is_number,
    leading_tensors,
    source_text,
)
from nndsl.hyper import bind_hypers
from nndsl.ir import SCALAR
from nndsl.ops import OpDef
from nndsl.source import Span, error


def call(el, callee, args: list[Arg], kwargs: list[tuple[str, Arg]], span: Span):
    """Apply any callable value to arguments (tensors first, then hyperparameters)."""
    if isinstance(callee, OpValue):
        return _call_op(el, callee.op, args, kwargs, span)
    if isinstance(callee, DefValue):
        return definitions.call_definition(el, callee.definition, args, kwargs, span)
    if isinstance(callee, Instance):
        return definitions.call_instance(el, callee, args, kwargs, span)
    if isinstance(callee, Partial):
        return call(el, callee.callee, args + list(callee.args), kwargs + list(callee.kwargs),
                    span)
    if isinstance(callee, Chain):
        value = call(el, callee.stages[0], args, kwargs, span)
        for stage in callee.stages[1:]:
            value = call(el, stage, [Arg(value, span)], [], span)
        return value
    if isinstance(callee, Repeated):
        return call_repeated(el, callee, args, kwargs, span)
    return builtins.BUILTINS[callee.name](el, args, kwargs, span)


def _call_op(el, op: OpDef, args, kwargs, span: Span):
    if op.kind == "regulariser":
        return _regulariser(el, op, args, kwargs, span)
    n_tensors = leading_tensors(args) if op.variadic else len(op.inputs)
    waiting = (n_tensors == 0) if op.variadic else (n_tensors and not leading_tensors(args))
    if waiting:
        return Partial(OpValue(op), tuple(args), tuple(kwargs), span)
    if len(args) < n_tensors:
        raise error("E020", f"`{op.name}` takes {n_tensors} tensor inputs "
                    f"({', '.join(op.inputs)}), got {len(args)}", span)
    tensors = [_tensor_arg(el, a, op, i) for i, a in enumerate(args[:n_tensors])]
    kwargs, name = take_name(kwargs, op.name)
    hypers = bind_hypers(op.hypers, args[n_tensors:], kwargs, span, op.name)
    outs = el.builder.emit(op, tensors, hypers, span, source_text(span) or op.name, name)
    return outs if len(outs) > 1 else outs[0]


def _regulariser(el, op: OpDef, args, kwargs, span: Span) -> Tensor:
    if len(args) != 1 or kwargs or not isinstance(args[0].value, ParamSet):
        raise error("E019", f"`{op.name}` takes the parameters to penalise: "
                    f"`{op.name}(params)` inside a `train` section", span)
    return el.builder.scalar(op, {"scope": args[0].value.scope}, SCALAR, span,
                             source_text(span) or op.name)


def _tensor_arg(el, arg: Arg, op: OpDef, index: int) -> Tensor:
    value = arg.value
    if isinstance(value, Tensor):
        return value
    if is_number(value):
        return el.builder.constant(value, arg.span)
    name = op.inputs[min(index, len(op.inputs) - 1)].lstrip("*")
    raise error("E020", f"`{op.name}` expects a tensor for `{name}`, got {describe(value)}",
                arg.span)
