"""Integer inputs checked on entry: ids and labels a graph input feeds straight into an op
that indexes with them (the registry's `indexes` rule: embed's table rows, a loss's classes).

Out of range, such indices fail silently at run time (embed gives NaN rows for ids >= vocab
and wraps negative ones round; a loss scores label -1 as the last class), so every training
split and every `predict` input file is checked before anything runs. Indices computed inside
the graph are checked only under `--check-numerics` (see nndsl.fit.numerics).
"""

from __future__ import annotations

import numpy as np

from nndsl.ir import Graph, Node
from nndsl.ops import REGISTRY
from nndsl.ops.facts import Indexes
from nndsl.source import error

OUT_OF_RANGE = "E081"


def check_indices(graph: Graph, fields: dict[str, np.ndarray], where: str) -> None:
    """Raise E081 at the op when a field feeding one of its index inputs leaves [0, size):
    names the field, `where` it came from (`train split`, `predict input x.npz`), the first
    offending example, position and value, and the valid range."""
    field_of = {ref.node: name for name, ref in graph.inputs.items()}
    for node in graph:
        for rule in REGISTRY[node.op].indexes:
            ref = node.inputs[rule.index]
            name = field_of.get(ref.node)
            shapes = [fields[field_of[r.node]].shape if field_of.get(r.node) in fields
                      else graph.type_of(r).shape for r in node.inputs]  # data's sizes first
            size = rule.size(node.attrs, shapes)
            if name not in fields or graph.type_of(ref).is_float or not isinstance(size, int):
                continue  # computed in the graph, soft targets, or a symbolic class count
            _check_field(fields[name], name, where, node, rule, size)


def _check_field(values: np.ndarray, name: str, where: str, node: Node, rule: Indexes,
                 size: int) -> None:
    bad = rule.out_of_range(values, size)
    if not bad.any():
        return
    at = np.unravel_index(int(np.argmax(bad)), values.shape)
    value = values[at].item()
    raise error(OUT_OF_RANGE, f"{rule.noun} `{name}` ({where}) hold {value} at "
                f"{_position(at)}; {rule.expects(node, size)}", node.span)


def _position(at: tuple) -> str:
    """`example 3`, `example 3, position 7`, `example 3, position (1, 2)`."""
    example, rest = f"example {int(at[0])}", [int(i) for i in at[1:]]
    if not rest:
        return example
    return f"{example}, position {rest[0] if len(rest) == 1 else tuple(rest)}"
