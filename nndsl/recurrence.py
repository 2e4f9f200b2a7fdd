"""Cells unfolded in time: `scan(xs, Cell(args), axis, reverse, static=...)`, `bidirectional`.

A scan node holds the cell's step as a body graph whose inputs are the step's slice of each
sequence, the static inputs and the states; its outputs are the step's output and the new
states. Parameters live in the body once, however long the sequence.
"""

from __future__ import annotations

from nndsl import ast
from nndsl.elaborate import Arg, Elaborator, Frame, Instance, Tensor, Trace, _describe
from nndsl.ir import Graph, Node, Ref, TensorType
from nndsl.ops import REGISTRY
from nndsl.source import Span, did_you_mean, error

_SCAN_OPTIONS = ("axis", "reverse")


def scan(el: Elaborator, args: list[Arg], kwargs, span: Span, frame: Frame) -> Tensor:
    """`scan(xs, Cell(...), axis=1, reverse=false, name=tensor...)`: every step's output."""
    sequences, cell, options, statics = _scan_arguments(args, kwargs, span)
    return _unfold(el, sequences, cell, options["axis"], options["reverse"], statics, span,
                   frame, frame.fresh(cell.definition.name.id))


def bidirectional(el: Elaborator, args: list[Arg], kwargs, span: Span, frame: Frame) -> Tensor:
    """A forward and a reverse scan of the same cell (separate parameters), concatenated."""
    sequences, cell, options, statics = _scan_arguments(args, kwargs, span)
    scope = frame.fresh(f"bi{cell.definition.name.id}")
    outs = [_unfold(el, sequences, cell, options["axis"], reverse, statics, span, frame,
                    f"{scope}.{direction}")
            for direction, reverse in (("fwd", False), ("bwd", True))]
    return el.emit(REGISTRY["concat"], outs, {"axis": -1}, span,
                   f"bidirectional({cell.definition.name.id})")[0]


def _scan_arguments(args, kwargs, span):
    sequences = [a.value for a in args if isinstance(a.value, Tensor)]
    cells = [a.value for a in args if isinstance(a.value, Instance)]
    if not sequences or len(cells) != 1 or cells[0].definition.kind != "cell" or \
            len(sequences) + 1 != len(args):
        raise error("E041", "scan takes sequences and one cell: `xs -> scan(LSTM(128))` or "
                    "`scan(xs, LSTM(128), memory=enc)`", span)
    options = {"axis": 1, "reverse": False}
    statics: dict[str, Arg] = {}
    for name, arg in kwargs:
        if name in _SCAN_OPTIONS:
            options[name] = arg.value
        else:
            statics[name] = arg
    if isinstance(options["axis"], bool) or not isinstance(options["axis"], int):
        raise error("E024", "scan: `axis` must be an integer", span)
    if not isinstance(options["reverse"], bool):
        raise error("E024", "scan: `reverse` must be true or false", span)
    return sequences, cells[0], options, statics


def _unfold(el: Elaborator, sequences: list[Tensor], cell: Instance, axis: int, reverse: bool,
            statics: dict[str, Arg], span: Span, frame: Frame, scope: str) -> Tensor:
    definition = cell.definition
    for xs in sequences:
        if not -xs.type.rank <= axis < xs.type.rank or axis % xs.type.rank == 0:
            raise error("E041", f"scan over axis {axis} of {xs.type}: the time axis must exist "
                        "and not be the batch axis", span)
    axis = axis % sequences[0].type.rank
    body = Graph(f"{frame.prefix}{scope}")
    inner = Frame("cell", f"{frame.prefix}{scope}.", f"{frame.param_prefix}{scope}.",
                  dict(cell.hypers), path=frame.path + (f"{definition.name.id} step",))
    inner.symbols["B"] = sequences[0].type.shape[0]
    saved = el.graph, el.frame
    el.graph, el.frame = body, inner
    try:
        output, states = _run_cell(el, definition, inner, sequences, axis, statics, span)
    finally:
        el.graph, el.frame = saved
    body.outputs = {"out": output.ref, **{f"state:{k}": v.ref for k, v in states.items()}}
    hypers = {"axis": axis, "reverse": reverse, "cell": definition.name.id,
              "states": tuple(states), "statics": tuple(statics), "step_out": output.type}
    out_type = REGISTRY["scan"].shape([s.type for s in sequences], hypers)
    inputs = tuple(s.ref for s in sequences) + tuple(a.value.ref for a in statics.values())
    node = Node(f"{frame.prefix}{scope}", "scan", inputs, (out_type,), hypers, {}, {}, span,
                frame.path, f"scan({definition.name.id})", body)
    el.graph.add(node)
    return Tensor(Ref(node.id), out_type,
                  Trace(f"scan({definition.name.id}) → {out_type}", sequences[0].trace))


def _run_cell(el: Elaborator, definition: ast.Definition, frame: Frame, sequences, axis,
              statics: dict[str, Arg], span: Span):
    pending = list(sequences)
    declared: dict[str, tuple[TensorType, ast.State]] = {}
    assigned: dict[str, Span] = {}
    output: Tensor | None = None
    from nndsl.elaborate import _bound_names

    frame.later = _bound_names(definition.body)
    for stmt in definition.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                frame.later.pop(target.id, None)
                assigned[target.id] = target.span
        elif hasattr(stmt, "name") and isinstance(stmt.name, ast.Ident):
            frame.later.pop(stmt.name.id, None)
        if isinstance(stmt, ast.Input):
            _cell_input(el, stmt, frame, pending, axis, statics, definition, span)
        elif isinstance(stmt, ast.State):
            declared[stmt.name.id] = _cell_state(el, stmt, frame)
        elif isinstance(stmt, ast.Output):
            if output is not None:
                raise error("E032", "a cell has one `output` per step", stmt.span)
            output = el.eval(stmt.value, frame)
            if not isinstance(output, Tensor):
                raise error("E033", f"a cell's output must be a tensor, got "
                            f"{_describe(output)}", stmt.value.span)
        else:
            el.statement(stmt, frame)
    if pending:
        raise error("E027", f"`{definition.name.id}` reads {len(sequences) - len(pending)} "
                    f"sequences, got {len(sequences)}", span)
    unknown = [name for name in statics if name not in frame.env]
    if unknown:
        raise error("E022", f"`{definition.name.id}` has no static input `{unknown[0]}`",
                    statics[unknown[0]].span)
    if output is None:
        raise error("E028", f"cell `{definition.name.id}` has no `output`", definition.name.span)
    states = {}
    for name, (want, stmt) in declared.items():
        new = frame.env[name]
        if not isinstance(new, Tensor) or new.type != want:
            where = assigned.get(name, stmt.name.span)
            got = new.type if isinstance(new, Tensor) else _describe(new)
            raise error("E038", f"state `{name}` is declared {want} but this step makes it "
                        f"{got}", where,
                        notes=[f"`state {name}` is declared at {stmt.span}"] +
                        (["the new value was derived as:\n      " +
                          "\n      ".join(new.trace.lines())] if isinstance(new, Tensor) and
                         new.trace else []),
                        hint="a state must keep its shape from one time step to the next")
        states[name] = new
    return output, states


def _cell_input(el, stmt: ast.Input, frame: Frame, pending, axis, statics, definition, span):
    name = stmt.name.id
    if stmt.static:
        if name not in statics:
            raise error("E041", f"cell `{definition.name.id}` needs its static input `{name}`: "
                        f"scan(xs, {definition.name.id}(...), {name}=...)", span,
                        hint=did_you_mean(name, statics) if statics else None)
        value = statics[name].value
        if not isinstance(value, Tensor):
            raise error("E041", f"static input `{name}` must be a tensor", statics[name].span)
        frame.env[name] = el.input_tensor(name, value.type, stmt.span)
        return
    if not pending:
        raise error("E027", f"cell `{definition.name.id}` reads more sequences than scan gives "
                    f"it (input `{name}`)", span)
    xs: Tensor = pending.pop(0)
    step = xs.type.with_shape(xs.type.shape[:axis] + xs.type.shape[axis + 1:])
    frame.env[name] = el.input_tensor(name, step, stmt.span)


def _cell_state(el, stmt: ast.State, frame: Frame):
    if stmt.init is not None:
        raise error("E039", "initial state values are not supported: every state starts at "
                    "zero", stmt.init.span)
    declared = el.tensor_type(stmt.type, frame)
    frame.env[stmt.name.id] = el.input_tensor(f"state:{stmt.name.id}", declared, stmt.span)
    return declared, stmt
