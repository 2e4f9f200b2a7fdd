"""Binding statements, the same in every body: `h = ...`, `a, b = ...`, `shared s = ...`,
`param w: [shape] = init`. `el` is the `Elaborator` running the body."""

from __future__ import annotations

from nndsl import ast
from nndsl.elab.values import Instance, Tensor, describe
from nndsl.init import INITIALISERS
from nndsl.source import did_you_mean, error


def run(el, stmt: ast.Node) -> None:
    """Run one binding statement (`h = ...`, `shared ...`, `param ...`)."""
    env = el.builder.frame.env
    if isinstance(stmt, ast.Assign):
        _assign(el, stmt)
    elif isinstance(stmt, ast.Shared):
        value = el.eval(stmt.value)
        if not isinstance(value, Instance) or value.definition.kind == "cell":
            raise error("E034", "`shared` takes a block or network instance, e.g. "
                        f"`shared {stmt.name.id} = Tower()`", stmt.value.span)
        env[stmt.name.id] = Instance(value.definition, value.hypers, value.span,
                                     shared=el.builder.frame.param_prefix + stmt.name.id)
    elif isinstance(stmt, ast.ParamDecl):
        env[stmt.name.id] = _raw_param(el, stmt)
    elif isinstance(stmt, ast.State):
        raise error("E035", "`state` declares what a cell carries between time steps; it "
                    "belongs in a `cell`", stmt.span)


def bound_value(el, expr: ast.Node, name: str | None):
    """The value of `name = expr`; the layer `expr` makes is named `name` (see
    `GraphBuilder.name_binding`)."""
    mark = el.builder.mark()
    value = el.eval(expr)
    return value if name is None else el.builder.name_binding(value, name, mark)


def _assign(el, stmt: ast.Assign) -> None:
    single = stmt.targets[0].id if len(stmt.targets) == 1 else None
    value = bound_value(el, stmt.value, single)
    env = el.builder.frame.env
    if single is not None:
        env[single] = value
        return
    values = value if isinstance(value, list) else None
    if values is None or len(values) != len(stmt.targets):
        got = f"{len(values)} values" if values is not None else describe(value)
        raise error("E036", f"{len(stmt.targets)} names on the left but {got} on the right",
                    stmt.span)
    for target, item in zip(stmt.targets, values):
        env[target.id] = item


def _raw_param(el, stmt: ast.ParamDecl) -> Tensor:
    declared = el.tensor_type(stmt.type)
    if not all(isinstance(d, int) for d in declared.shape):
        raise error("E037", f"parameter `{stmt.name.id}` needs a fixed shape, got "
                    f"{declared}", stmt.type.span)
    init = "glorot_uniform"
    if stmt.init is not None:
        init = stmt.init.id if isinstance(stmt.init, ast.Name) else ""
        if init not in INITIALISERS:
            raise error("E037", f"unknown initialiser for `{stmt.name.id}`", stmt.init.span,
                        hint=did_you_mean(init, INITIALISERS) or
                        f"one of {', '.join(INITIALISERS)}")
    return el.builder.param(stmt.name.id, declared, init, stmt.span)
