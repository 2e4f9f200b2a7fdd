"""User definitions applied: blocks and networks get a scope of their own, their
hyperparameters bound, their inputs matched and their body run. `el` is the `Elaborator`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nndsl import ast
from nndsl.elab.builder import Frame
from nndsl.elab.values import Instance, Record, Tensor, describe, leading_tensors, source_text
from nndsl.hyper import bind, missing
from nndsl.ir import Scope, TensorType
from nndsl.source import CallNote, Span, SpecError, error


def call_definition(el, definition: ast.Definition, args, kwargs, span: Span):
    """`Block(args)`: an instance; `x -> Block(args)`: the block applied to `x`."""
    tensors = leading_tensors(args)
    if definition.kind == "cell":
        if tensors:
            raise error("E025", f"`{definition.name.id}` is a cell: it describes one time "
                        f"step; unfold it with scan(xs, {definition.name.id}(...))", span)
        return instance(el, definition, args, kwargs, span)
    if tensors == 0:
        return instance(el, definition, args, kwargs, span)
    bound = instance(el, definition, args[tensors:], kwargs, span)
    if el.builder.frame.kind == "train" and definition.kind == "network":
        # In a train section a network is one model: every call shares its parameters.
        bound = Instance(definition, bound.hypers, span, shared=definition.name.id)
    return call_instance(el, bound, args[:tensors], [], span)


def instance(el, definition: ast.Definition, args, kwargs, span: Span, **how) -> Instance:
    """`definition` with its hyperparameters bound (`how`: shared=..., frozen=...)."""
    hypers = bind_definition(el, definition, args, kwargs, span)
    return Instance(definition, tuple(hypers.items()), span, **how)


def bind_definition(el, definition: ast.Definition, args, kwargs, span: Span) -> dict[str, Any]:
    """A definition's hyperparameters: given, else set with --set, else its default (which may
    use the ones before it)."""
    name = definition.name.id
    given = bind([p.name for p in definition.params], args, kwargs, name)
    probe = Frame(definition.kind, "", "")
    with el.builder.inside(probe):
        for p in definition.params:
            override = el.program.overrides.get(f"{name}.{p.name}")
            if p.name in given:
                probe.env[p.name] = given[p.name].value
            elif override is not None:
                probe.env[p.name] = override
            elif p.default is not None:
                probe.env[p.name] = el.eval(p.default)
            else:
                raise missing(name, p.name, span, [q.name for q in definition.params
                                                   if q.default is None])
    return probe.env


def call_instance(el, bound: Instance, args, kwargs, span: Span):
    """Apply a block or network instance to tensors, in a scope of its own."""
    definition = bound.definition
    if kwargs:
        raise error("E022", f"`{definition.name.id}` was already given its "
                    "hyperparameters; pass only tensors here", kwargs[0][1].span)
    if definition.kind == "cell":
        raise error("E025", f"`{definition.name.id}` is a cell; unfold it with scan(...)", span)
    label = definition.name.id
    outer = el.builder.frame
    scope = outer.fresh(bound.shared or label)
    prefix = outer.prefix + scope + "."
    param_prefix = (bound.shared + ".") if bound.shared else outer.param_prefix + scope + "."
    inner = Frame(definition.kind, prefix, param_prefix, dict(bound.hypers),
                  path=outer.path + (label,))
    el.builder.name_scope(prefix[:-1], Scope(source_text(bound.span) or label, bound.shared))
    return _enter(el, bound, inner, [a.value for a in args], span)


def inline_instance(el, bound: Instance, args: list, span: Span):
    """Apply a block directly in the current scope (the body of a repeated stage)."""
    outer = el.builder.frame
    inner = Frame(bound.definition.kind, outer.prefix, outer.param_prefix, dict(bound.hypers),
                  path=outer.path + (bound.definition.name.id,))
    return _enter(el, bound, inner, args, span)


def _enter(el, bound: Instance, inner: Frame, values: list, span: Span):
    definition = bound.definition
    name = definition.name.id
    active = list(el.builder.definitions)
    if name in active:
        raise error("E026", f"`{name}` is recursive: {' → '.join(active + [name])}",
                    definition.span)
    if len(active) >= el.limits.max_call_depth:
        raise error("E002", f"blocks call blocks more than {el.limits.max_call_depth} deep "
                    f"(`{active[0]}` → ... → `{name}`)", span,
                    hint="flatten the chain, or repeat one stage with `Stage * n`")
    with el.builder.inside(inner, frozen=bound.frozen, definition=name), noted(bound, span):
        outputs = run_definition(el, definition, values, span)
    if len(outputs) == 1:
        (out_name, tensor), = outputs.items()
        return Tensor(tensor.ref, tensor.type, tensor.trace, (name, out_name))
    return Record(name, outputs)


@contextmanager
def noted(bound: Instance, span: Span) -> Iterator[None]:
    """Errors raised while running `bound`'s body name the call (`in Res(8) called at ...`)."""
    try:
        yield
    except SpecError as exc:
        exc.called_from(CallNote(source_text(bound.span) or bound.definition.name.id, span))
        raise


def run_network(el, definition: ast.Definition, inputs: list | None,
                span: Span) -> dict[str, Tensor]:
    """Run a network with its default hyperparameters at the top of the current graph;
    `inputs=None`: on its declared input shapes."""
    frame = Frame("network", "", "", path=(definition.name.id,))
    frame.env.update(bind_definition(el, definition, [], [], span))
    with el.builder.inside(frame):
        return run_definition(el, definition, inputs, span)


def run_definition(el, definition: ast.Definition, inputs: list | None,
                   call_span: Span) -> dict[str, Tensor]:
    """Run a block or network body in the current frame and return its outputs."""
    frame = el.builder.frame
    pending = list(inputs) if inputs is not None else None
    outputs: dict[str, Tensor] = {}
    spans: dict[str, Span] = {}

    def take_input(stmt: ast.Input) -> None:
        frame.env[stmt.name.id] = _input(el, stmt, definition, pending, call_span)

    def give_output(stmt: ast.Output) -> None:
        name, value = _output(el, stmt, outputs, spans)
        outputs[name] = frame.env[name] = value

    el.run_body(definition.body, {ast.Input: take_input, ast.Output: give_output})
    if pending:
        n_inputs = len([s for s in definition.body if isinstance(s, ast.Input)])
        raise error("E027", f"`{definition.name.id}` takes {n_inputs} tensor inputs, got "
                    f"{len(inputs)}", call_span)
    if not outputs:
        raise error("E028", f"`{definition.name.id}` has no `output`", definition.name.span)
    return outputs


def _input(el, stmt: ast.Input, definition, pending: list | None, call_span) -> Tensor:
    name = stmt.name.id
    if stmt.static:
        raise error("E029", "`static` inputs belong to cells", stmt.span)
    if pending is None:
        if stmt.type is None:
            raise error("E029", f"network input `{name}` needs a shape, e.g. "
                        f"`input {name}: [B, 784]`", stmt.name.span)
        return el.builder.input_tensor(name, el.tensor_type(stmt.type), stmt.span)
    if not pending:
        raise error("E027", f"`{definition.name.id}` needs a tensor for its input `{name}`",
                    call_span)
    value = pending.pop(0)
    if not isinstance(value, Tensor):
        raise error("E027", f"input `{name}` of `{definition.name.id}` must be a tensor, "
                    f"got {describe(value)}", call_span)
    if stmt.type is not None:
        _unify(el, stmt, value.type, definition, call_span)
    return value


def _unify(el, stmt: ast.Input, actual: TensorType, definition, call_span) -> None:
    """Match a declared input type against the actual one, binding symbolic sizes."""
    dims = stmt.type.dims
    ok = len(dims) == len(actual.shape) and (stmt.type.dtype or "f32") == actual.dtype
    symbols = el.builder.frame.symbols
    for expr, have in zip(dims, actual.shape) if ok else ():
        if isinstance(expr, ast.Name) and not el.is_value(expr.id):
            ok = ok and symbols.setdefault(expr.id, have) == have
        else:
            ok = ok and el.eval(expr) == have
    if not ok:
        declared = "[" + ", ".join(source_text(d.span) or "?" for d in dims) + "]"
        raise error("E031", f"input `{stmt.name.id}` of `{definition.name.id}` is declared "
                    f"{declared} {stmt.type.dtype or 'f32'}, but receives {actual} "
                    f"{actual.dtype}", call_span, notes=[f"declared at {stmt.span}"])


def _output(el, stmt: ast.Output, outputs: dict, spans: dict) -> tuple[str, Tensor]:
    value = el.eval(stmt.value)
    name = stmt.name.id if stmt.name else (
        stmt.value.id if isinstance(stmt.value, ast.Name) else "out")
    where = stmt.name.span if stmt.name else stmt.value.span
    if name in outputs:
        raise error("E032", f"output `{name}` is already defined on line {spans[name].line}",
                    where)
    if not isinstance(value, Tensor):
        raise error("E033", f"output `{name}` must be a tensor, got {describe(value)}",
                    stmt.value.span)
    spans[name] = where
    return name, value
