"""The graph being built and where elaboration is in it.

`GraphBuilder` owns the graph, the current frame (names, node-naming prefix, parameter
prefix, path), whether parameters are frozen, how many copies a repeat makes, and the
running parameter total. These change only through `inside(...)` and `building(...)`,
context managers that restore them on the way out, so nothing else saves and restores them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from math import prod
from typing import Any

from nndsl.elab.names import LayerName
from nndsl.elab.values import Tensor, Trace
from nndsl.ir import Dim, Graph, Node, ParamSpec, Ref, Scope, TensorType
from nndsl.ops import REGISTRY, OpDef, OpError
from nndsl.ops.control import CONST, INPUT, PARAM
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
        # Nodes named by `name=` or a `param` declaration: a binding does not rename them.
        self._named: set[str] = set()

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
        self._named = set()
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
             label: str, name: LayerName | None = None) -> list[Tensor]:
        """Add one op application: check its shapes, create its parameters, return outputs.
        `name` (from `name=...`) names the layer; without it the layer is `op_k`."""
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
                              param_shapes, state_shapes, name)
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
        # The declared name names the node (and its key, `W.value`) unless it is taken.
        free = self._frame.prefix + name not in self._graph.nodes
        node = self._add_node(REGISTRY["param"], (), {"type": declared, "init": init},
                              (declared,), span, name, params,
                              name=LayerName(name, span) if free else None)
        return Tensor(Ref(node.id), declared, Trace(f"param {name}: {declared}"))

    def scalar(self, op: OpDef, hypers: dict, out: TensorType, span: Span,
               label: str) -> Tensor:
        """A node with no inputs and no parameters (a regulariser's penalty)."""
        node = self._add_node(op, (), hypers, (out,), span, label, {})
        return Tensor(Ref(node.id), out, Trace(f"{op.name}(params)"))

    def mark(self) -> int:
        """How many nodes exist now: `name_binding` renames only a node made after this."""
        return self._node_count

    def name_binding(self, value, name: str, mark: int):
        """`name = expr`: the layer `expr` just made is called `name`, unless it was named with
        `name=`, is not one layer (a block's result, a repeat, a scan, an input, a constant)
        or the name is taken in this scope (a rebinding: the first binding keeps it)."""
        graph, frame = self._graph, self._frame
        if not isinstance(value, Tensor) or graph is None or self._node_count <= mark or \
                not graph.nodes or next(reversed(graph.nodes)) != value.ref.node:
            return value
        node = graph.nodes[value.ref.node]
        local = node.id[len(frame.prefix):]
        if not node.id.startswith(frame.prefix) or "." in local or node.id in self._named or \
                node.body is not None or len(node.outs) != 1 or \
                REGISTRY[node.op] in (INPUT, CONST, PARAM) or frame.prefix + name in graph.nodes:
            return value
        key = f"{frame.param_prefix}{name}."
        renamed = replace(node, id=frame.prefix + name,
                          params={k: replace(p, key=key + k) for k, p in node.params.items()},
                          state={k: replace(p, key=key + k) for k, p in node.state.items()})
        del graph.nodes[node.id]
        graph.dag.remove_node(node.id)
        graph.add(renamed)
        return replace(value, ref=Ref(renamed.id, value.ref.index))

    def _local_name(self, op: OpDef, name: LayerName | None) -> str:
        """The node's name in its scope: the given one (unique, else E120) or `op_k`."""
        frame, nodes = self._frame, self._graph.nodes
        if name is None:
            local = frame.fresh(op.name)
            # Skip names a layer was given, and those of the model a train section runs in
            # the same graph (its counters are its own): a taken name would replace a node.
            while frame.prefix + local in nodes:
                local = frame.fresh(op.name)
            return local
        other = nodes.get(frame.prefix + name.id)
        if other is not None:
            raise error("E120", f"two layers are named `{name.id}` in one {frame.kind}",
                        name.span, notes=[f"`{name.id}` is already {other.label or other.op} "
                                          f"at {other.span}"],
                        hint="layer names are unique within a network or block: rename one")
        self._named.add(frame.prefix + name.id)
        return name.id

    def _add_node(self, op: OpDef, inputs, hypers, outs, span, label, param_shapes,
                  state_shapes=None, name: LayerName | None = None) -> Node:
        frame = self._frame
        node_id = frame.prefix + self._local_name(op, name)
        key = f"{frame.param_prefix}{node_id[len(frame.prefix):]}."
        params = {p: ParamSpec(key + p, tuple(shape), init, frozen_from=None)
                  for p, (shape, init) in param_shapes.items()}
        if self._frozen:
            params = {k: ParamSpec(p.key, p.shape, p.init, False, self._frozen)
                      for k, p in params.items()}
        state = {p: ParamSpec(key + p, tuple(shape), init, False)
                 for p, (shape, init) in (state_shapes or {}).items()}
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
    return error(exc.code, f"{op.name}: {exc.message}", span, hint=exc.hint, notes=notes)
