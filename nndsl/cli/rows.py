"""The rows of `nndsl summary`: one per layer, grouped by block instance, repeat and scan,
each group closed by a subtotal row.

A layer in a repeated body is one row with its total over the copies (`conv × 24`), the
figure `render` draws for the same box; a parameter shared by several layers counts at the
first. The subtotals of the outermost groups and the ungrouped layers add up to the total.
"""

from __future__ import annotations

from dataclasses import dataclass

from nndsl.ir import Graph, walk
from nndsl.ops import REGISTRY
from nndsl.ops.control import INPUT
from nndsl.passes.cost import LayerCost


@dataclass
class Row:
    """One summary row: a layer, the head of a group, or a group's subtotal (`kind`)."""

    name: str
    op: str
    shape: str
    params: int
    flops: int | None
    depth: int
    kind: str = "layer"
    dtype: str = ""


@dataclass
class _Group:
    prefix: str
    label: str
    depth: int
    params: int = 0


def summary_rows(graph: Graph, layers: list[LayerCost],
                 dtypes: dict[str, str] | None = None) -> list[Row]:
    """Rows for `layers` (the cost pass's, in graph order) of `graph`, with each layer's
    compute dtype from `dtypes` (nndsl/precision.py) when given."""
    scopes, copies = _scopes_and_copies(graph)
    rows: list[Row] = []
    stack: list[_Group] = []
    for layer in layers:
        while stack and not layer.name.startswith(stack[-1].prefix + "."):
            rows.append(_close(stack))
        parts = layer.name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in scopes and all(g.prefix != prefix for g in stack):
                rows.append(Row(prefix, scopes[prefix], "", 0, None, len(stack), "block"))
                stack.append(_Group(prefix, scopes[prefix], len(stack)))
        for group in stack:
            group.params += layer.params
        op = REGISTRY[layer.op]
        if op is INPUT:
            continue
        times = copies.get(layer.name, 1)
        what = layer.label if op.body else layer.op + (f" × {times}" if times > 1 else "")
        rows.append(Row(layer.name, what, layer.shape, layer.params, layer.flops, len(stack),
                        dtype=(dtypes or {}).get(layer.name, "")))
        if op.body:
            stack.append(_Group(layer.name, layer.label, len(stack)))
    while stack:
        rows.append(_close(stack))
    return rows


def _close(stack: list[_Group]) -> Row:
    group = stack.pop()
    return Row(f"{group.prefix} total", group.label, "", group.params, None, group.depth,
               "total")


def _scopes_and_copies(graph: Graph) -> tuple[dict[str, str], dict[str, int]]:
    """Block instances (prefix → the call as written) in the graph and in every body, and how
    many copies of its parameters each layer has."""
    scopes = {}
    copies = {}
    for body in [graph, *(n.body for n, _ in walk(graph) if n.body is not None)]:
        scopes.update((prefix, scope.label + (f" (shared: {scope.shared})" if scope.shared
                                              else "")) for prefix, scope in body.scopes.items())
    for node, times in walk(graph):
        copies[node.id] = times
    return scopes, copies
