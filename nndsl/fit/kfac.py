"""K-FAC (Martens & Grosse 2015) for dense layers, written from the definition (not on
kfac-jax): each dense layer's block of the Fisher is approximated by A ⊗ G, with
A = E[ā āᵀ] over the layer's inputs ā = [a, 1] and G = E[J_sᵀ (diag p − p pᵀ) J_s] over its
outputs s (the exact expectation over the model's labels, as in fit/natural.py). J_s, the
Jacobian of the logits with respect to a layer's output, is the Jacobian with respect to its
bias, so a jacrev over the biases alone gives every G. With factored Tikhonov damping the
update of [W; b] is (A + √λ I)⁻¹ ∇ (G + √λ I)⁻¹.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from nndsl.fit.natural import fisher_matrix
from nndsl.ir import Graph, Ref
from nndsl.source import error

NAME = "kfac"


@dataclass(frozen=True)
class Kfac:
    """kfac's preconditioner of one objective."""

    graph: Graph
    logits: Ref
    damping: float

    def direction(self, grads, part, evaluate):
        """The K-FAC direction for the gradient `grads` of the dense layers `part`."""
        return kfac_direction(self.graph, part, grads, evaluate, self.logits, self.damping)


def kfac_preconditioner(graph: Graph, objective, logits: Ref) -> Kfac:
    """kfac for an objective whose trained layers are all dense with a bias on inputs
    [B, d]; any other layer with parameters is E292, named."""
    for node in graph:
        trained = any(p.key in objective.keys for p in node.params.values())
        if trained and (node.op != "dense" or "b" not in node.params or
                        graph.type_of(node.inputs[0]).rank != 2):
            raise error("E292", f"kfac serves dense layers with a bias on inputs [B, d]: it "
                                f"cannot register layer {node.id} (`{node.label or node.op}`, "
                                f"line {node.span.line})", objective.optimizer.span,
                        hint="natural_gradient (small models) or adam")
    return Kfac(graph, logits, float(objective.optimizer.values["damping"]))


def kfac_direction(graph, params, grads, evaluate, logits_ref, damping: float) -> dict:
    """The K-FAC direction for every dense layer of `graph` ({layer: {"w", "b"}}).
    `evaluate(params, refs)` gives the values of `refs` on the batch."""
    dense = [n for n in graph if n.op == "dense" and n.params["w"].key.rsplit(".", 1)[0] in
             params]
    layers = [n.params["w"].key.rsplit(".", 1)[0] for n in dense]
    inputs = evaluate(params, [n.inputs[0] for n in dense])

    def logits_of(biases):
        changed = {**params, **{layer: {**params[layer], "b": b}
                                for layer, b in zip(layers, biases)}}
        return evaluate(changed, [logits_ref])[0].astype(jnp.float32)

    biases = [params[layer]["b"] for layer in layers]
    probs = jax.nn.softmax(logits_of(biases), axis=-1)
    jacobians = jax.jacrev(logits_of)(biases)  # per layer [B, K, d_out]
    root = jnp.sqrt(damping)
    out = {}
    for layer, a, jac in zip(layers, inputs, jacobians):
        a = jnp.concatenate([a, jnp.ones((a.shape[0], 1), a.dtype)], axis=1)
        big_a = a.T @ a / a.shape[0]
        big_g = fisher_matrix(probs, jac)
        grad = jnp.concatenate([grads[layer]["w"], grads[layer]["b"][None]], axis=0)
        step = jnp.linalg.solve(big_a + root * jnp.eye(len(big_a)), grad)
        step = jnp.linalg.solve(big_g + root * jnp.eye(len(big_g)), step.T).T
        out[layer] = {"w": step[:-1], "b": step[-1]}
    return out
