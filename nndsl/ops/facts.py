"""The kinds of fact an `OpDef` states beyond its signature and shape rule.

Consumers (render, cost, lowering, gradient checks, training) read these from the registry
entry instead of testing op names, so a new op states each fact once, where it is defined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nndsl.ir import Graph, Node

# How `nndsl gradcheck` treats an op, and why (reported by name, never hidden).
GRADCHECK = {
    "exact": "jax.grad must equal central finite differences",
    "fixed_key": "random: checked with one fixed key, so the function is deterministic",
    "as_identity": "alters its gradient on purpose: checked as the function it computes",
    "no_gradient": "no gradient flows through it: nothing to check, reported",
}
# Early stopping follows a metric upwards (accuracy) or downwards (an error rate).
DIRECTIONS = ("max", "min")


class MissingRule(Exception):
    """An op lacks the rule a transform needs: names both, like JAX's missing-rule errors."""

    def __init__(self, op: str, rule: str, transform: str):
        super().__init__(f"op `{op}` has no {rule} rule, needed by {transform}")


@dataclass(frozen=True)
class Indexes:
    """Tensor input `index` holds integer indices into an axis, which must lie in [low, size).

    The axis is counted by hyperparameter `hyper` (embed's `vocab` rows of its table) or is
    axis `axis` of tensor input `into` (the last: the classes of a loss's logits). `noun` names the
    indices in errors (ids, labels); `counts` says what the size counts, with `{n}` for it.
    One checker reads this: integer data and `predict` inputs are checked on entry (E081),
    indices computed in the graph under `--check-numerics` (E087). Float values at the input
    (soft targets) index nothing and are not checked.
    """

    index: int
    noun: str
    counts: str
    hyper: str | None = None
    into: int | None = None
    axis: int = -1  # the axis of input `into` that counts (a graph's nodes: axis 1 of x)
    low: int = 0  # the lowest valid index (-1 where -1 marks padding: a graph's edges)

    def __post_init__(self):
        if (self.hyper is None) == (self.into is None):
            raise ValueError("an index rule names its size by exactly one of hyper= or into=")

    def size(self, attrs: dict, shapes: list[tuple]):
        """The size of the indexed axis, from the node's hyperparameters or input shapes
        (a Dim: symbolic sizes cannot be checked statically)."""
        return attrs[self.hyper] if self.hyper is not None else shapes[self.into][self.axis]

    def out_of_range(self, values, size):
        """Where `values` (a NumPy or JAX array) leave [low, size)."""
        return (values < self.low) | (values >= size)

    def expects(self, node: Node, size: int) -> str:
        """What the op accepts: "`embed(10, 16)` takes ids in [0, 10) (its table has 10 rows)"."""
        return (f"`{call_text(node)}` takes {self.noun} in [{self.low}, {size}) "
                f"({self.counts.format(n=size)})")


@dataclass(frozen=True)
class BodyRule:
    """How a control op runs its body graph.

    stacked: (node) -> whether the body's parameters are stacked, one set per copy
      (`Stage * n` without `shared`), rather than one set for every run.
    runs: (node, enclosing graph) -> how often the body runs per example (its cost multiplier).
    """

    stacked: Callable[[Node], bool]
    runs: Callable[[Node, Graph], int]

    def copies(self, node: Node) -> int:
        """How many sets of parameters the body has."""
        return node.times if self.stacked(node) else 1


def format_value(v) -> str:
    """A hyperparameter value as a picture shows it: `true`, `[0, 2, 1]`, `0.5`."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, tuple):
        return "[" + ", ".join(map(str, v)) + "]"
    return str(v)


def hyper_label(op, node: Node) -> str:
    """`op` and the hyperparameters that differ from their defaults (a leading required one
    by value alone): `dense 10`, `dropout 0.5`, `leaky_relu slope=0.2`."""
    hp = node.attrs
    shown = [format_value(hp[h.name]) if i == 0 and h.required
             else f"{h.name}={format_value(hp[h.name])}"
             for i, h in enumerate(op.hypers) if h.name in hp and hp[h.name] != h.default]
    return " ".join([op.name, *shown])


def spatial(value, node: Node) -> tuple:
    """A per-spatial-dimension hyperparameter (kernel, size) as one value per dimension."""
    return value if isinstance(value, tuple) else (value,) * (node.out.rank - 2)


def call_text(node: Node) -> str:
    """The op's call as the spec writes it (`embed(vocab, 16)`), else its name."""
    span = node.span
    if span is None or span.source is None or span.line != span.end_line or not span.line:
        return node.op
    return span.source.line(span.line)[span.column - 1:span.end_column - 1] or node.op
