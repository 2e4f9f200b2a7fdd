"""Cells unfolded in time: `scan(xs, Cell(args), axis, reverse, static=...)`, `bidirectional`.

A scan node holds the cell's step as a body graph whose inputs are the step's slice of each
sequence, the static inputs and the states; its outputs are the step's output and the new
states. Parameters live in the body once, however long the sequence. `el` is the
`Elaborator`; the step runs through its one body runner.
"""

from __future__ import annotations

from nndsl import ast
from nndsl.elab import definitions
from nndsl.elab.builder import Frame
from nndsl.elab.values import Arg, Instance, Tensor, Trace, describe
from nndsl.ir import Graph, Node, Ref, TensorType
from nndsl.ops import REGISTRY
from nndsl.source import Span, did_you_mean, error

_SCAN_OPTIONS = ("axis", "reverse")


def scan(el, args: list[Arg], kwargs, span: Span) -> Tensor:
    """`scan(xs, Cell(...), axis=1, reverse=false, name=tensor...)`: every step's output."""
    sequences, cell, options, statics = _scan_arguments(args, kwargs, span)
    return _unfold(el, sequences, cell, options["axis"], options["reverse"], statics, span,
                   el.builder.frame.fresh(cell.definition.name.id))


def bidirectional(el, args: list[Arg], kwargs, span: Span) -> Tensor:
    """A forward and a reverse scan of the same cell (separate parameters), concatenated."""
    sequences, cell, options, statics = _scan_arguments(args, kwargs, span)
    scope = el.builder.frame.fresh(f"bi{cell.definition.name.id}")
    outs = [_unfold(el, sequences, cell, options["axis"], reverse, statics, span,
                    f"{scope}.{direction}")
            for direction, reverse in (("fwd", False), ("bwd", True))]
    return el.builder.emit(REGISTRY["concat"], outs, {"axis": -1}, span,
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


def _unfold(el, sequences: list[Tensor], cell: Instance, axis: int, reverse: bool,
            statics: dict[str, Arg], span: Span, scope: str) -> Tensor:
    definition = cell.definition
    for xs in sequences:
        if not -xs.type.rank <= axis < xs.type.rank or axis % xs.type.rank == 0:
            raise error("E041", f"scan over axis {axis} of {xs.type}: the time axis must exist "
                        "and not be the batch axis", span)
    axis = axis % sequences[0].type.rank
    outer = el.builder.frame
    body = Graph(f"{outer.prefix}{scope}")
    inner = Frame("cell", f"{outer.prefix}{scope}.", f"{outer.param_prefix}{scope}.",
                  dict(cell.hypers), path=outer.path + (f"{definition.name.id} step",))
    inner.symbols["B"] = sequences[0].type.shape[0]
    with el.builder.inside(inner, graph=body), definitions.noted(cell, span):
        output, states = _run_cell(el, definition, sequences, axis, statics, span)
    body.outputs = {"out": output.ref, **{f"state:{k}": v.ref for k, v in states.items()}}
    hypers = {"axis": axis, "reverse": reverse, "cell": definition.name.id,
              "states": tuple(states), "statics": tuple(statics), "step_out": output.type}
    out_type = REGISTRY["scan"].shape([s.type for s in sequences], hypers)
    inputs = tuple(s.ref for s in sequences) + tuple(a.value.ref for a in statics.values())
    node = Node(f"{outer.prefix}{scope}", "scan", inputs, (out_type,), hypers, {}, {}, span,
                outer.path, f"scan({definition.name.id})", body)
    el.builder.add(node)
    return Tensor(Ref(node.id), out_type,
                  Trace(f"scan({definition.name.id}) → {out_type}", sequences[0].trace))


def _run_cell(el, definition: ast.Definition, sequences, axis, statics: dict[str, Arg],
              span: Span):
    """One time step: the cell's body, run in the current (cell) frame."""
    frame = el.builder.frame
    pending = list(sequences)
    declared: dict[str, tuple[TensorType, ast.State]] = {}
    outputs: list[Tensor] = []

    def take_input(stmt: ast.Input) -> None:
        _cell_input(el, stmt, pending, axis, statics, definition, span)

    def declare_state(stmt: ast.State) -> None:
        declared[stmt.name.id] = _cell_state(el, stmt), stmt

    def give_output(stmt: ast.Output) -> None:
        if outputs:
            raise error("E032", "a cell has one `output` per step", stmt.span)
        value = el.eval(stmt.value)
        if not isinstance(value, Tensor):
            raise error("E033", f"a cell's output must be a tensor, got {describe(value)}",
                        stmt.value.span)
        outputs.append(value)

    el.run_body(definition.body, {ast.Input: take_input, ast.State: declare_state,
                                  ast.Output: give_output})
    if pending:
        raise error("E027", f"`{definition.name.id}` reads {len(sequences) - len(pending)} "
                    f"sequences, got {len(sequences)}", span)
    unknown = [name for name in statics if name not in frame.env]
    if unknown:
        raise error("E022", f"`{definition.name.id}` has no static input `{unknown[0]}`",
                    statics[unknown[0]].span)
    if not outputs:
        raise error("E028", f"cell `{definition.name.id}` has no `output`", definition.name.span)
    return outputs[0], _new_states(definition, declared, frame.env)


def _new_states(definition: ast.Definition, declared, env) -> dict[str, Tensor]:
    """Each state's value at the end of the step, which must keep the declared type."""
    assigned = {target.id: target.span for stmt in definition.body
                if isinstance(stmt, ast.Assign) for target in stmt.targets}
    states = {}
    for name, (want, stmt) in declared.items():
        new = env[name]
        if not isinstance(new, Tensor) or new.type != want:
            where = assigned.get(name, stmt.name.span)
            got = new.type if isinstance(new, Tensor) else describe(new)
            derived = ["the new value was derived as:\n      " + "\n      ".join(
                new.trace.lines())] if isinstance(new, Tensor) and new.trace else []
            raise error("E038", f"state `{name}` is declared {want} but this step makes it "
                        f"{got}", where, notes=[f"`state {name}` is declared at {stmt.span}"] +
                        derived, hint="a state must keep its shape from one time step to the "
                        "next")
        states[name] = new
    return states


def _cell_input(el, stmt: ast.Input, pending, axis, statics, definition, span) -> None:
    name = stmt.name.id
    env = el.builder.frame.env
    if stmt.static:
        if name not in statics:
            raise error("E041", f"cell `{definition.name.id}` needs its static input `{name}`: "
                        f"scan(xs, {definition.name.id}(...), {name}=...)", span,
                        hint=did_you_mean(name, statics) if statics else None)
        value = statics[name].value
        if not isinstance(value, Tensor):
            raise error("E041", f"static input `{name}` must be a tensor", statics[name].span)
        env[name] = el.builder.input_tensor(name, value.type, stmt.span)
        return
    if not pending:
        raise error("E027", f"cell `{definition.name.id}` reads more sequences than scan gives "
                    f"it (input `{name}`)", span)
    xs: Tensor = pending.pop(0)
    step = xs.type.with_shape(xs.type.shape[:axis] + xs.type.shape[axis + 1:])
    env[name] = el.builder.input_tensor(name, step, stmt.span)


def _cell_state(el, stmt: ast.State) -> TensorType:
    if stmt.init is not None:
        raise error("E039", "initial state values are not supported: every state starts at "
                    "zero", stmt.init.span)
    declared = el.tensor_type(stmt.type)
    el.builder.frame.env[stmt.name.id] = el.builder.input_tensor(f"state:{stmt.name.id}",
                                                                 declared, stmt.span)
    return declared
