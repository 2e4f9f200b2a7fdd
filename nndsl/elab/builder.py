"""The graph being built and where elaboration is in it.

`GraphBuilder` owns the graph, the current frame (names, node-naming prefix, parameter
prefix, path), whether parameters are frozen, how many copies a repeat makes, and the
running parameter total. These change only through `inside(...)` and `building(...)`,
context managers that restore them on the way out, so nothing else saves and restores them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import prod
from typing import Any

from nndsl.elab.values import Tensor, Trace
from nndsl.ir import Dim, Graph, Node, ParamSpec, Ref, Scope, TensorType
from nndsl.ops import REGISTRY, OpDef, OpError
from nndsl.source import Span, error


@dataclass(frozen=True)
class Limits:
    """Sizes refused before anything is allocated (configurable from the command line)."""

    max_params: int = 1_000_000_000
    max_elements: int = 1_000_000_000
    max_nodes: int = 1_000_000
    max_repeat: int = 100_000
    # Real architectures nest a handful of blocks; each level costs Python stack and memory.
    max_call_depth: int = 200


@dataclass
class Frame:
    """One body being elaborated: its names, its naming prefix and what it has made.

    `later` holds the names the body binds further down (for "used before defined")."""

    kind: str
    prefix: str
    param_prefix: str
    env: dict[str, Any] = field(default_factory=dict)
    later: dict[str, Span] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    symbols: dict[str, Dim] = field(default_factory=dict)
    path: tuple[str, ...] = ()

    def fresh(self, label: str) -> str:
        k = self.counters.get(label, 0)
        self.counters[label] = k + 1
        return f"{label}_{k}"


class GraphBuilder:
    """Adds checked nodes to the current graph, in the current frame."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._graph: Graph | None = None
        self._frame = Frame("network", "", "")
        self._frozen: str | None = None
        self._copies = 1
        self._total_params = 0
        self._node_count = 0
        self._definitions: list[str] = []

    @property
    def graph(self) -> Graph | None:
        return self._graph

    @property
    def frame(self) -> Frame:
        return self._frame

    @property
    def definitions(self) -> tuple[str, ...]:
        """The definitions being elaborated, outermost first (to refuse recursion)."""
        return tuple(self._definitions)

    @contextmanager
    def building(self, graph: Graph, frame: Frame) -> Iterator[Graph]:
        """Build a new top-level graph (a network or a train section) from nothing."""
        self._total_params = 0
        with self.inside(frame, graph=graph):
            yield graph

    @contextmanager
    def inside(self, frame: Frame, *, graph: Graph | None = None, frozen: str | None = None,
               copies: int = 1, definition: str | None = None) -> Iterator[Frame]:
        """Elaborate in `frame` (and `graph`, if given) until the block ends.

        `frozen` marks new parameters as loaded from that run, `copies` multiplies parameter
        counts (an unshared repeat), `definition` enters a block's body."""
        saved = self._frame, self._graph, self._frozen, self._copies, len(self._definitions)
        self._frame = frame
        self._graph = graph if graph is not None else self._graph
        self._frozen = frozen or self._frozen
        self._copies *= copies
        if definition is not None:
            self._definitions.append(definition)
        try:
            yield frame
        finally:
            self._frame, self._graph, self._frozen, self._copies, depth = saved
            del self._definitions[depth:]

    def name_scope(self, prefix: str, scope: Scope) -> None:
        """Record how the nodes under `prefix` were written (for pictures and summaries)."""
        self._graph.scopes[prefix] = scope

    def add(self, node: Node) -> Node:
        """Add a node built elsewhere (a repeat or a scan holding a body graph)."""
        return self._graph.add(node)

    def emit(self, op: OpDef, tensors: list[Tensor], hypers: dict, span: Span,
             label: str) -> list[Tensor]:
        """Add one op application: check its shapes, create its parameters, return outputs."""
        in_types = [t.type for t in tensors]
        try:
            result = op.shape(in_types, hypers)
            param_shapes = op.params(in_types, hypers)
            state_shapes = op.state(in_types, hypers)
        except OpError as exc:
            raise _shape_error(op, exc, tensors, span) from None
        outs = tuple(result) if isinstance(result, list) else (result,)
        self._check_sizes(label, outs, param_shapes, span)
        node = self._add_node(op, tuple(t.ref for t in tensors), hypers, outs, span, label,
                              param_shapes, state_shapes)
        parent = tensors[0].trace if tensors else None
        return [Tensor(Ref(node.id, i), t, Trace(f"{label} → {t}", parent))
                for i, t in enumerate(outs)]

    def constant(self, value: int | float, span: Span) -> Tensor:
        dtype = "i32" if isinstance(value, int) else "f32"
        node = self._add_node(REGISTRY["const"], (), {"value": value, "dtype": dtype},
                              (TensorType((), dtype),), span, "const", {})
        return Tensor(Ref(node.id), node.out, Trace(f"constant {value}"))

    def input_tensor(self, name: str, declared: TensorType, span: Span) -> Tensor:
        node = self._add_node(REGISTRY["input"], (), {"type": declared, "name": name},
                              (declared,), span, name, {})
        self._graph.inputs[name] = Ref(node.id)
        return Tensor(Ref(node.id), declared, Trace(f"input {name}: {declared}"))

    def param(self, name: str, declared: TensorType, init: str, span: Span) -> Tensor:
        """A raw parameter declared with `param name: [shape] = init`."""
        params = {"value": (declared.shape, init)}
        self._check_sizes(name, (declared,), params, span)
        node = self._add_node(REGISTRY["param"], (), {"type": declared, "init": init},
                              (declared,), span, name, params)
        return Tensor(Ref(node.id), declared, Trace(f"param {name}: {declared}"))

    def scalar(self, op: OpDef, hypers: dict, out: TensorType, span: Span,
               label: str) -> Tensor:
        """A node with no inputs and no parameters (a regulariser's penalty)."""
        node = self._add_node(op, (), hypers, (out,), span, label, {})
        return Tensor(Ref(node.id), out, Trace(f"{op.name}(params)"))

    def _add_node(self, op: OpDef, inputs, hypers, outs, span, label, param_shapes,
                  state_shapes=None) -> Node:
        frame = self._frame
        node_id = frame.prefix + frame.fresh(op.name)
        # A train section and the model it runs name nodes from separate counters in one
        # graph: a name already taken would replace that node, so take the next one.
        while node_id in self._graph.nodes:
            node_id = frame.prefix + frame.fresh(op.name)
        key = f"{frame.param_prefix}{node_id[len(frame.prefix):]}."
        params = {name: ParamSpec(key + name, tuple(shape), init, frozen_from=None)
                  for name, (shape, init) in param_shapes.items()}
        if self._frozen:
            params = {k: ParamSpec(p.key, p.shape, p.init, False, self._frozen)
                      for k, p in params.items()}
        state = {name: ParamSpec(key + name, tuple(shape), init, False)
                 for name, (shape, init) in (state_shapes or {}).items()}
        self._node_count += 1
        if self._node_count > self.limits.max_nodes:
            raise error("E040", f"the graph has more than {self.limits.max_nodes:,} nodes", span)
        node = Node(node_id, op.name, inputs, outs, dict(hypers), params, state, span,
                    frame.path, label)
        return self._graph.add(node)

    def _check_sizes(self, label: str, outs, param_shapes, span: Span) -> None:
        count = sum(prod(shape) for shape, _ in param_shapes.values()) * self._copies
        self._total_params += count
        limit = self.limits.max_params
        if count > limit or self._total_params > limit:
            what = f"{label} would have {count:,} parameters" if count > limit else \
                f"{label} takes the total to {self._total_params:,} parameters"
            raise error("E040", f"{what}, more than the limit of {limit:,}", span,
                        hint="shrink the layer, or raise the limit with --max-params")
        for t in outs:
            size = t.elements_per_example()
            if size is not None and size > self.limits.max_elements:
                raise error("E040", f"{label} outputs {t}: {size:,} elements per example, more "
                            f"than the limit of {self.limits.max_elements:,}", span)


def _shape_error(op: OpDef, exc: OpError, tensors: list[Tensor], span: Span):
    notes = []
    names = [n.lstrip("*") for n in op.inputs] + [k for k, _ in op.keyword_inputs]
    for i, t in enumerate(tensors):
        if t.trace is None:
            continue
        name = names[min(i, len(names) - 1)] if names else "input"
        notes.append(f"{name} {t.type} was derived as:\n      " +
                     "\n      ".join(t.trace.lines()))
    return error("E030", f"{op.name}: {exc.message}", span, hint=exc.hint, notes=notes)
