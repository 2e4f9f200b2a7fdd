"""The exact damped natural gradient (Amari 1998) for small models: `natural_gradient(lr,
damping)` steps theta <- theta - lr (F + damping I)^-1 g.

g is the gradient of the objective's whole loss (regularisers included). F is the Fisher of
the model's predictive distribution for the softmax cross-entropy in the loss, computed
exactly over the flattened trained parameters:

    F = 1/B sum_n J_n^T (diag(p_n) - p_n p_n^T) J_n,

J_n = d logits_n / d theta (a jax.jacrev), p_n = softmax(logits_n). For softmax
cross-entropy this *true* Fisher (expectation over the model's own labels) equals the
generalised Gauss-Newton matrix; it is not the empirical Fisher (outer products of the
observed gradients). F is P x P: the optimizer refuses models over PARAM_LIMIT trained
parameters (E290) — it is the textbook reference that cheaper approximations (K-FAC) are
checked against, not a scalable optimizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import networkx as nx
from jax.flatten_util import ravel_pytree

from nndsl.elab import TrainPlan
from nndsl.ir import Ref, trainable_params
from nndsl.source import error

NAME = "natural_gradient"
# The largest trained-parameter count served: F has PARAM_LIMIT^2 entries (100 MB in f32).
PARAM_LIMIT = 5000


@dataclass(frozen=True)
class NaturalGradient:
    """The preconditioner of one objective: its logits and the damping."""

    logits: Ref
    damping: float

    def direction(self, grads, part, evaluate):
        """(F + damping I)^-1 g for the gradient `grads` of the parameters `part`;
        `evaluate(part, refs)` gives the values of `refs` (same batch and random key as the
        loss)."""
        flat, unravel = ravel_pytree(part)
        g, _ = ravel_pytree(grads)

        def logits_flat(vector):
            return evaluate(unravel(vector), [self.logits])[0].astype(jnp.float32)

        logits = logits_flat(flat)
        jac = jax.jacrev(logits_flat)(flat)  # [B, K, P]
        fisher = fisher_matrix(jax.nn.softmax(logits, axis=-1), jac)
        damped = fisher + self.damping * jnp.eye(fisher.shape[0], dtype=fisher.dtype)
        return unravel(jax.scipy.linalg.solve(damped, g.astype(jnp.float32),
                                              assume_a="pos").astype(g.dtype))


def fisher_matrix(probs, jac):
    """1/B sum_n J_n^T (diag(p_n) - p_n p_n^T) J_n for probabilities [B, K], Jacobians
    [B, K, P]."""
    out_fisher = jax.vmap(jnp.diag)(probs) - probs[:, :, None] * probs[:, None, :]
    return jnp.einsum("bkp,bkl,blq->pq", jac, out_fisher, jac) / probs.shape[0]


def preconditioners(plan: TrainPlan) -> list:
    """Per objective, its preconditioner: natural_gradient's (checked: one softmax
    cross-entropy over [B, K] logits, at most PARAM_LIMIT parameters), kfac's (checked: only
    dense layers, fit/kfac.py), else None."""
    from nndsl.fit.kfac import NAME as KFAC
    from nndsl.fit.kfac import kfac_preconditioner

    return [_preconditioner(plan, o) if o.optimizer.name == NAME else
            kfac_preconditioner(plan.graph, o, _logits(plan.graph, o))
            if o.optimizer.name == KFAC else None for o in plan.objectives]


def _preconditioner(plan: TrainPlan, objective) -> NaturalGradient:
    graph, span = plan.graph, objective.optimizer.span
    sizes = {spec.key: spec.size * times for spec, times in trainable_params(graph).values()}
    count = sum(sizes.get(key, 0) for key in objective.keys)
    if count > PARAM_LIMIT:
        raise error("E290", f"natural_gradient computes the exact Fisher, a matrix over every "
                            f"trained parameter: this model trains {count:,} parameters, over "
                            f"the limit of {PARAM_LIMIT:,}", span,
                    hint="use it on a small model, or another optimizer (adam)")
    return NaturalGradient(_logits(graph, objective),
                           float(objective.optimizer.values["damping"]))


def _logits(graph, objective) -> Ref:
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
