"""`x[...]`: indexing and slicing a tensor's non-batch axes with compile-time indices.

Each item of a subscript stands for one axis, batch first: `:` keeps an axis, an integer
picks one position (the axis goes), `start:stop:step` keeps a range (Python's meaning,
negative positions counting from the end), `...` stands for every axis the other items leave.
Each axis that changes becomes one `slice` node; axes are handled from the last to the first
so that dropping one does not renumber those still to come.
"""

from __future__ import annotations

from nndsl import ast
from nndsl.elab.values import Tensor, describe, source_text
from nndsl.ops import REGISTRY
from nndsl.source import Span, error

_WHOLE = {"index": None, "start": None, "stop": None, "step": 1}


def index_tensor(el, expr: ast.Index, value) -> Tensor:
    """The value of `expr` (`value[items]`), built from `slice` nodes."""
    if not isinstance(value, Tensor):
        raise error("E160", f"only a tensor can be indexed, not {describe(value)}",
                    expr.obj.span)
    per_axis = _per_axis(el, expr, value)
    if per_axis[0][0] != _WHOLE:
        raise error("E161", "cannot index the batch axis: the first item must be `:`",
                    per_axis[0][1], hint="`x[:, 0]` is the first step of every example")
    for axis in range(len(per_axis) - 1, 0, -1):
        hypers, span = per_axis[axis]
        if hypers != _WHOLE:
            value = el.builder.emit(REGISTRY["slice"], [value], {"axis": axis, **hypers}, span,
                                    source_text(expr.span) or "slice")[0]
    return value


def _per_axis(el, expr: ast.Index, value: Tensor) -> list[tuple[dict, Span]]:
    """One (slice hyperparameters, span) per axis of `value`, `...` expanded."""
    items = expr.items
    ellipses = [i for i in items if isinstance(i, ast.EllipsisItem)]
    if len(ellipses) > 1:
        raise error("E161", "a subscript has at most one `...`", ellipses[1].span)
    rank = value.type.rank
    explicit = len(items) - len(ellipses)
    if explicit > rank:
        raise error("E161", f"too many indices: {explicit} for a tensor of rank {rank} "
                    f"{value.type}", items[rank].span if not ellipses else expr.span,
                    hint="the first item is the batch axis: `x[:, 0]` indexes axis 1")
    out = []
    for item in items:
        if isinstance(item, ast.EllipsisItem):
            out += [(_WHOLE, item.span)] * (rank - explicit)
        else:
            out.append((_item_hypers(el, item), item.span))
    return out + [(_WHOLE, expr.span)] * (rank - len(out))


def _item_hypers(el, item: ast.Node) -> dict:
    if not isinstance(item, ast.SliceItem):
        return {**_WHOLE, "index": _integer(el, item, "an index")}
    step = 1 if item.step is None else _integer(el, item.step, "a step")
    if step < 1:
        raise error("E161", f"a slice's step must be positive, got {step}", item.step.span)
    return {"index": None, "step": step,
            **{k: None if part is None else _integer(el, part, f"a slice's {k}")
               for k, part in (("start", item.start), ("stop", item.stop))}}


def _integer(el, expr: ast.Node, what: str) -> int:
    value = el.eval(expr)
    if isinstance(value, bool) or not isinstance(value, int):
        raise error("E161", f"{what} must be a whole number known at compile time, got "
                    f"{describe(value)}", expr.span,
                    hint="indices are constants: `x[:, 0]`, `x[:, 1:-1]`, `x[..., :n]`")
    return value
