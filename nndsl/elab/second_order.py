"""Static checks of the second-order optimizers (`natural_gradient`, `kfac`), run by
`nndsl check` and again when training starts (no JAX here).

Both precondition the gradient with the Fisher of one softmax cross-entropy (E291).
`natural_gradient` builds that Fisher exactly, so it serves small models only (E290); `kfac`
(nndsl/fit/kfac.py) registers every trained layer with kfac-jax, which has Kronecker-factored
blocks for dense and 2-D convolution layers only (E292 names any other trained layer).
"""

from __future__ import annotations

import networkx as nx

from nndsl.ir import Graph, Node, Ref, trainable_params
from nndsl.source import error

NATURAL_GRADIENT, KFAC = "natural_gradient", "kfac"
# The largest trained-parameter count natural_gradient serves: F has PARAM_LIMIT^2 entries
# (100 MB in f32).
PARAM_LIMIT = 5000


def check_second_order(graph: Graph, objective) -> None:
    """E290, E291, E292 for an objective whose optimizer is natural_gradient or kfac, at the
    optimizer setting."""
    name = objective.optimizer.name
    if name == NATURAL_GRADIENT:
        _check_size(graph, objective)
    if name in (NATURAL_GRADIENT, KFAC):
        fisher_logits(graph, objective)
    if name == KFAC:
        kfac_layers(graph, objective)


def _check_size(graph: Graph, objective) -> None:
    sizes = {spec.key: spec.size * times for spec, times in trainable_params(graph).values()}
    count = sum(sizes.get(key, 0) for key in objective.keys)
    if count > PARAM_LIMIT:
        raise error("E290", f"natural_gradient computes the exact Fisher, a matrix over every "
                            f"trained parameter: this model trains {count:,} parameters, over "
                            f"the limit of {PARAM_LIMIT:,}", objective.optimizer.span,
                    hint="use it on a small model, or another optimizer (adam, kfac)")


def fisher_logits(graph: Graph, objective) -> Ref:
    """The logits [B, K] of the objective's one softmax cross-entropy (else E291)."""
    name, span = objective.optimizer.name, objective.optimizer.span
    found = [graph.nodes[n] for n in nx.ancestors(graph.dag, objective.loss.node) |
             {objective.loss.node} if graph.nodes[n].op == "cross_entropy"]
    reason = None
    if len(found) != 1:
        reason = f"its loss has {len(found)} cross_entropy terms, not one"
    elif len(found[0].inputs) != 2 or graph.type_of(found[0].inputs[0]).rank != 2:
        reason = "its cross_entropy is not over logits [B, K] without a mask"
    if reason:
        raise error("E291", f"{name} needs the Fisher of a softmax cross-entropy: "
                            f"{reason}", span,
                    hint="loss = cross_entropy(logits, y) (+ regularisers) with logits [B, K]")
    return found[0].inputs[0]


def kfac_layers(graph: Graph, objective) -> list[Node]:
    """The layers kfac registers with kfac-jax: every node with a parameter the objective
    trains, each dense or 2-D conv (else E292, naming the layer and its line)."""
    trained = set(objective.keys)
    layers, seen = [], {}
    for node, body in _nodes(graph):
        keys = [spec.key for spec in node.params.values() if spec.key in trained]
        if not keys:
            continue
        reason = _unregistrable(graph, node, body) or \
            (f"it shares its parameters with {seen[keys[0]]}" if keys[0] in seen else None)
        if reason:
            raise error("E292", f"kfac registers dense and 2-D conv layers with kfac-jax: it "
                                f"cannot register layer {node.id} (`{node.label or node.op}`, "
                                f"line {node.span.line}): {reason}", objective.optimizer.span,
                        hint="natural_gradient (small models) or adam; or freeze that layer")
        seen.update(dict.fromkeys(keys, node.id))
        layers.append(node)
    return layers


def _nodes(graph: Graph, body: str | None = None):
    """(node, the repeat or scan it sits in, else None) for every node, bodies included."""
    for node in graph:
        yield node, body
        if node.body is not None:
            yield from _nodes(node.body, body or f"`{node.label or node.op}`")


def _unregistrable(graph: Graph, node: Node, body: str | None) -> str | None:
    """Why kfac-jax has no block for this trained node (None: it has one)."""
    if body is not None:
        return f"it sits inside {body}, whose copies kfac does not register"
    if "g" in node.params:
        return "weight normalisation (norm=weight) is not a plain dense or conv"
    if node.op == "dense":
        return None
    if node.op != "conv":
        return f"kfac-jax has no block for `{node.op}`"
    hp = node.attrs
    if graph.type_of(node.inputs[0]).rank != 4:
        return "only 2-D convolutions ([B, H, W, C]) are registered"
    if hp["groups"] != 1 or any(d != 1 for d in _tuple(hp["dilation"])):
        return "grouped or dilated convolutions are not registered"
    return None


def _tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)
