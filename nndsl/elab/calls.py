"""Applying callable values: ops, definitions, instances, partial applications, chains,
repetitions and built-ins. `el` is the `Elaborator` doing the applying."""

from __future__ import annotations

from dataclasses import replace

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
from nndsl.ir import SCALAR, Sym
from nndsl.ops import REGISTRY, Hyper, OpDef
from nndsl.ops.control import CONST, PARAM
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
    given, kwargs = _keyword_inputs(el, op, kwargs)
    hypers = bind_hypers(_sized_by(op, given), args[n_tensors:], kwargs, span, op.name,
                         inputs=op.inputs, keyword_inputs=[key for key, _ in op.keyword_inputs])
    if op.sees_batch:
        hypers["batched"] = not _batch_free(el.builder.graph, tensors[0])
    outs = el.builder.emit(op, tensors + list(given.values()), hypers, span,
                           source_text(span) or op.name, name)
    return outs if len(outs) > 1 else outs[0]


def _keyword_inputs(el, op: OpDef, kwargs) -> tuple[dict[str, Tensor], list]:
    """Split off the tensors passed by keyword (`table=W`, `mask=ids != 0`) from the
    hyperparameters."""
    names = {name for name, _ in op.keyword_inputs}
    given: dict[str, Tensor] = {}
    rest = []
    for name, arg in kwargs:
        if name not in names:
            rest.append((name, arg))
        elif name in given:
            raise error("E022", f"`{name}` is given twice", arg.span)
        elif not isinstance(arg.value, Tensor):
            raise error("E020", f"`{op.name}` expects a tensor for `{name}`, got "
                        f"{describe(arg.value)}", arg.span,
                        hint=f"declare one with `param W: [...]` and pass `{name}=W`")
        elif arg.value.ref.node not in el.builder.graph.nodes:
            # A repeated stage's or a cell's body is a graph of its own: it reads only its
            # inputs (and a cell its states and static inputs).
            raise error("E162", f"`{op.name}`'s `{name}` comes from outside the repeated "
                        "stage or cell it is used in", arg.span,
                        hint="write the repetitions out (one call each), or pass the stage "
                        "once without `* n`")
        else:
            given[name] = arg.value
    return given, rest


def _sized_by(op: OpDef, given: dict[str, Tensor]) -> tuple[Hyper, ...]:
    """The op's hyperparameters, those a keyword input's shape gives defaulting to it: a
    `table=W` of shape [50257, 768] makes `vocab` 50257 and `dim` 768 unless written."""
    defaults = {}
    for name, sized in op.keyword_inputs:
        if name in given:
            defaults.update(zip(sized, given[name].type.shape))
    return tuple(replace(h, default=defaults[h.name]) if h.name in defaults else h
                 for h in op.hypers)


def _batch_free(graph, tensor: Tensor) -> bool:
    """Whether a tensor is computed from parameters and constants alone, so that its first
    axis is not a batch axis (a symbolic first size always is one)."""
    if tensor.type.shape and isinstance(tensor.type.shape[0], Sym):
        return False
    seen, todo = {tensor.ref.node}, [tensor.ref.node]
    while todo:
        node = graph.nodes[todo.pop()]
        if not node.inputs and REGISTRY[node.op] not in (PARAM, CONST):
            return False
        fresh = {ref.node for ref in node.inputs} - seen
        seen |= fresh
        todo += fresh
    return True


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
