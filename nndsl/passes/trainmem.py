"""Bytes per example a training step holds for one node: its output, the gradient buffer of
that output where XLA keeps one apart, and what the op's own gradient saves inside it.

`summary --batch` sums these over the graph (passes/cost.py). The model is checked against
the compiled step's `memory_analysis()` (arguments + outputs - donated + temporaries) for
mlp_digits, DigitsLeNet and the transformer, within 20% (tests/test_trainmem.py,
docs/benchmarks.md#memory):
- an elementwise op (activation, arithmetic, dropout, a loss) fuses with its neighbours:
  its output once, and its gradient is computed in place of its input's;
- a layer, normalisation, attention, pooling or data-moving shape op (upsample, pad,
  concat, crop) keeps its output and a gradient buffer of the same size (2x), except:
  a layer read only by activations (they fuse into its output, and their gradient is
  computed in place of its own), a node no trainable parameter reaches (no gradient is
  computed for it: an upsampled input), and a max/avg pool whose windows tile its input
  (a reshape; its gradient is elementwise): these keep their output alone;
- a view (flatten, reshape, squeeze, expand, last, slice, split, transpose) costs nothing;
- any other maxpool's gradient (XLA's select-and-scatter) keeps four int32 index maps of its
  input;
- self_attention and multi-head attention keep queries, keys, values and the context
  (4 x T x D) and the scores and weights (2 x heads x T x S);
- dropout keeps its random bits (one uint32 per element).
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from nndsl.ir import DTYPE_BYTES, Graph, Node, walk
from nndsl.ops import REGISTRY
from nndsl.ops.pooling import tiling_window

VIEWS = {"flatten", "reshape", "squeeze", "expand", "last", "slice", "split", "transpose"}
WITH_GRADIENT_BUFFER = {"layer", "norm", "attention", "pooling", "shape"}
INDEX_MAPS = 4  # int32 maps per input element in maxpool's gradient (measured, XLA CPU)
F32 = 4


def _elements(t) -> int | None:
    return t.elements_per_example()


def training_bytes(node: Node, graph: Graph) -> int | None:
    """Bytes per example node `node` of `graph` holds during a training step (None: a
    dimension other than the batch is symbolic)."""
    if node.op in VIEWS:
        return 0
    out = 0
    for t in node.outs:
        n = _elements(t)
        if n is None:
            return None
        out += n * DTYPE_BYTES[t.dtype]
    total = out * (2 if _keeps_gradient_buffer(node, graph) else 1)
    extra = _saved_inside(node, graph, out)
    return None if extra is None else total + extra


def _tiling(node: Node, graph: Graph) -> bool:
    """A max/avg pool whose windows tile its input: lowered by a reshape, its gradient an
    elementwise select (max) or broadcast (avg) written in place of its input's."""
    return node.op in ("maxpool", "avgpool") and tiling_window(
        graph.type_of(node.inputs[0]).shape[1:-1], node.attrs) is not None


def _keeps_gradient_buffer(node: Node, graph: Graph) -> bool:
    if _tiling(node, graph) or _activation_follows(node, graph):
        return False
    return REGISTRY[node.op].family in WITH_GRADIENT_BUFFER and \
        node.id in _reached_by_parameters(graph)


def _activation_follows(node: Node, graph: Graph) -> bool:
    """A layer read only by elementwise activations (same shape: not maxout) and not itself
    an output: XLA fuses them into its output, and the activation's gradient is computed in
    place of the layer's."""
    if REGISTRY[node.op].family != "layer" or node.id in {r.node for r in
                                                           graph.outputs.values()}:
        return False
    readers = [graph.nodes[n] for n in graph.dag.successors(node.id)]
    return bool(readers) and all(REGISTRY[r.op].family == "activation" and r.op != "softmax"
                                 and r.out.shape == node.out.shape for r in readers)


_REACHED: WeakKeyDictionary = WeakKeyDictionary()


def mark_reached(graph: Graph) -> None:
    """Mark the nodes of a network's graph, and of its bodies, whose output depends on a
    trainable parameter: the only ones a gradient is computed for (an upsampled input, say,
    has none). Called on the whole graph before `training_bytes` asks about any of its nodes,
    since a body's marks depend on the node holding it."""
    _mark(graph, inputs_reached=False)


def _reached_by_parameters(graph: Graph) -> set[str]:
    if graph not in _REACHED:  # a graph nobody marked: taken as a network's own graph
        mark_reached(graph)
    return _REACHED[graph]


def _mark(graph: Graph, inputs_reached: bool) -> set[str]:
    """Mark `graph`'s reached nodes, and its bodies' (whose inputs are reached when the node
    holding them is: its inputs are, or its body trains, as a scan's carried state then is)."""
    reached: set[str] = set()
    for node in graph:  # insertion order is topological
        if (node.op == "input" and inputs_reached) or _trains(node) or any(
                ref.node in reached for ref in node.inputs):
            reached.add(node.id)
        if node.body is not None:
            _mark(node.body, node.id in reached)
    _REACHED[graph] = reached
    return reached


def _trains(node: Node) -> bool:
    """The node has a trainable parameter, itself or anywhere in its body."""
    own = any(p.trainable for p in node.params.values())
    return own or (node.body is not None and any(
        any(p.trainable for p in inner.params.values()) for inner, _ in walk(node.body)))


def _saved_inside(node: Node, graph: Graph, out: int) -> int | None:
    """What the op's gradient keeps beyond its output (0 for most ops)."""
    if node.op == "dropout":
        return out
    if node.op == "maxpool" and not _tiling(node, graph):
        n = _elements(graph.type_of(node.inputs[0]))
        return None if n is None else INDEX_MAPS * F32 * n
    if node.op in ("self_attention", "attention"):
        return _attention_saved(node, graph)
    return 0


def _attention_saved(node: Node, graph: Graph) -> int | None:
    """Queries, keys, values, context (4 x T x D) and scores, weights (2 x heads x T x S)."""
    query = graph.type_of(node.inputs[0])
    memory = graph.type_of(node.inputs[1]) if node.op == "attention" else query
    steps = query.shape[1] if query.rank == 3 else 1
    length, width = memory.shape[1], memory.shape[-1]
    if not all(isinstance(d, int) for d in (steps, length, width)):
        return None
    heads = node.attrs.get("heads", 1)
    return F32 * (4 * steps * width + 2 * heads * steps * length)
