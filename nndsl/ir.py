"""The graph IR: tensor types with symbolic dimensions, parameters, nodes and graphs.

A `Graph` wraps a `networkx.DiGraph` whose nodes are operation applications. Each node keeps
its ordered tensor inputs itself (an op may read one tensor twice); the DiGraph's edges carry
the shape of the tensor that flows along them, for passes and pictures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import networkx as nx

from nndsl.source import NO_SPAN, Span

DTYPES = ("f32", "bf16", "f16", "i32", "bool")
DTYPE_BYTES = {"f32": 4, "bf16": 2, "f16": 2, "i32": 4, "bool": 1}
FLOAT_DTYPES = ("f32", "bf16", "f16")


@dataclass(frozen=True)
class Sym:
    """A symbolic dimension: a polynomial with integer coefficients over named sizes.

    `terms` maps a sorted tuple of symbol names (a monomial; `()` is the constant) to its
    coefficient. Floor division that is not exact becomes an opaque symbol named by its text.
    """

    terms: tuple[tuple[tuple[str, ...], int], ...]

    @staticmethod
    def named(name: str) -> Sym:
        return Sym((((name,), 1),))

    def __str__(self) -> str:
        parts = []
        for mono, coef in self.terms:
            body = "*".join(mono)
            if not mono:
                parts.append(str(coef))
            elif coef == 1:
                parts.append(body)
            elif coef == -1:
                parts.append(f"-{body}")
            else:
                parts.append(f"{coef}*{body}")
        return " + ".join(parts).replace("+ -", "- ") or "0"

    def __repr__(self) -> str:
        return f"Sym({self})"


Dim = int | Sym


def _as_terms(d: Dim) -> dict[tuple[str, ...], int]:
    if isinstance(d, Sym):
        return dict(d.terms)
    return {(): d} if d else {}


def _from_terms(terms: dict[tuple[str, ...], int]) -> Dim:
    terms = {m: c for m, c in terms.items() if c}
    if not terms:
        return 0
    if set(terms) == {()}:
        return terms[()]
    return Sym(tuple(sorted(terms.items(), key=lambda kv: (len(kv[0]), kv[0]), reverse=True)))


def shape_fits(have, want) -> bool:
    """Whether a concrete shape `have` fits a declared one: same rank, every fixed size equal;
    a symbolic size (B, T) takes any."""
    return len(have) == len(want) and all(
        isinstance(w, Sym) or (isinstance(h, int) and h == w) for h, w in zip(have, want))


def dim_add(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    terms = _as_terms(a)
    for m, c in _as_terms(b).items():
        terms[m] = terms.get(m, 0) + c
    return _from_terms(terms)


def dim_neg(a: Dim) -> Dim:
    return -a if isinstance(a, int) else _from_terms({m: -c for m, c in _as_terms(a).items()})


def dim_sub(a: Dim, b: Dim) -> Dim:
    return dim_add(a, dim_neg(b))


def dim_mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    terms: dict[tuple[str, ...], int] = {}
    for ma, ca in _as_terms(a).items():
        for mb, cb in _as_terms(b).items():
            mono = tuple(sorted(ma + mb))
            terms[mono] = terms.get(mono, 0) + ca * cb
    return _from_terms(terms)


def dim_floordiv(a: Dim, b: int) -> Dim:
    if isinstance(a, int):
        return a // b
    terms = _as_terms(a)
    if all(c % b == 0 for c in terms.values()):
        return _from_terms({m: c // b for m, c in terms.items()})
    return Sym.named(f"({a})//{b}")


def dims_product(dims) -> Dim:
    result: Dim = 1
    for d in dims:
        result = dim_mul(result, d)
    return result


def format_dim(d: Dim) -> str:
    return str(d)


@dataclass(frozen=True)
class TensorType:
    """A tensor's shape (batch dimension included) and dtype."""

    shape: tuple[Dim, ...]
    dtype: str = "f32"

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        dims = "[" + ", ".join(format_dim(d) for d in self.shape) + "]"
        return dims if self.dtype == "f32" else f"{dims} {self.dtype}"

    def with_shape(self, shape) -> TensorType:
        return TensorType(tuple(shape), self.dtype)

    def elements_per_example(self) -> int | None:
        """Elements excluding the leading (batch) dimension, or None if one is symbolic."""
        rest = self.shape[1:]
        return prod(rest) if all(isinstance(d, int) for d in rest) else None

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES


SCALAR = TensorType(())


@dataclass(frozen=True)
class ParamSpec:
    """A parameter tensor: its full hierarchical key, shape, initialiser and whether it trains."""

    key: str
    shape: tuple[int, ...]
    init: str
    trainable: bool = True
    frozen_from: str | None = None

    @property
    def size(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class Ref:
    """One output of one node: the value an edge carries."""

    node: str
    index: int = 0


@dataclass
class Node:
    """One operation application in a graph."""

    id: str
    op: str
    inputs: tuple[Ref, ...]
    outs: tuple[TensorType, ...]
    attrs: dict = field(default_factory=dict)
    params: dict[str, ParamSpec] = field(default_factory=dict)
    state: dict[str, ParamSpec] = field(default_factory=dict)
    span: Span = NO_SPAN
    path: tuple[str, ...] = ()
    label: str = ""
    body: Graph | None = None
    times: int = 1

    @property
    def out(self) -> TensorType:
        return self.outs[0]


@dataclass(frozen=True)
class Scope:
    """A block or network instance inside a graph: its call as written, and whether shared."""

    label: str
    shared: str | None = None


class Graph:
    """A DAG of nodes (insertion order is a topological order) with named inputs and outputs.

    `scopes` maps a node-name prefix (`Basic_2`) to the block call that made those nodes.
    """

    def __init__(self, name: str):
        self.name = name
        self.dag = nx.DiGraph()
        self.nodes: dict[str, Node] = {}
        self.inputs: dict[str, Ref] = {}
        self.outputs: dict[str, Ref] = {}
        self.scopes: dict[str, Scope] = {}

    def add(self, node: Node) -> Node:
        self.nodes[node.id] = node
        self.dag.add_node(node.id)
        for ref in node.inputs:
            self.dag.add_edge(ref.node, node.id, shape=self.type_of(ref))
        return node

    def type_of(self, ref: Ref) -> TensorType:
        return self.nodes[ref.node].outs[ref.index]

    def __iter__(self):
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)


def walk(graph: Graph, times: int = 1):
    """Yield (node, multiplicity) for every node, descending into bodies of scans and repeats.

    A repeated body's nodes count `times` times (each copy has its own parameters) unless the
    repeat shares one instance.
    """
    for node in graph:
        yield node, times
        if node.body is not None:
            inner = times * (node.times if not node.attrs.get("shared") else 1)
            yield from walk(node.body, inner)


def trainable_params(graph: Graph) -> dict[str, tuple[ParamSpec, int]]:
    """Every distinct parameter with its number of copies; shared parameters count once."""
    found: dict[str, tuple[ParamSpec, int]] = {}
    for node, times in walk(graph):
        for spec in node.params.values():
            found.setdefault(spec.key, (spec, times))
    return found


def count_params(graph: Graph, trainable: bool = True) -> int:
    """Trainable (or frozen, with trainable=False) parameter count, shared instances once."""
    return sum(spec.size * times for spec, times in trainable_params(graph).values()
               if spec.trainable == trainable)


def count_state(graph: Graph) -> int:
    """Non-trainable state elements (e.g. batch-norm running statistics)."""
    seen: dict[str, int] = {}
    for node, times in walk(graph):
        for spec in node.state.values():
            seen.setdefault(spec.key, spec.size * times)
    return sum(seen.values())
