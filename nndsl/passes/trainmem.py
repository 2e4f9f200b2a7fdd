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

from nndsl.ir import DTYPE_BYTES, Graph, Node
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


_REACHED: WeakKeyDictionary = WeakKeyDictionary()


def _reached_by_parameters(graph: Graph) -> set[str]:
    """The nodes whose output depends on a trainable parameter: the only ones a gradient is
    computed for (an upsampled input, say, has none)."""
    if graph not in _REACHED:
        reached: set[str] = set()
        for node in graph:  # insertion order is topological
            if any(p.trainable for p in node.params.values()) or node.body is not None or any(
                    ref.node in reached for ref in node.inputs):
                reached.add(node.id)
        _REACHED[graph] = reached
    return _REACHED[graph]


def _activation_follows(node: Node, graph: Graph) -> bool:
    """A layer read only by activations: XLA fuses them into its output, and the
    activation's gradient is computed in place of the layer's."""
    readers = [graph.nodes[n] for n in graph.dag.successors(node.id)]
    return REGISTRY[node.op].family == "layer" and bool(readers) and all(
        REGISTRY[r.op].family == "activation" for r in readers)


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
