"""The exact damped natural gradient (Amari 1998) for small models: `natural_gradient(lr,
damping)` steps theta <- theta - lr (F + damping I)^-1 g.

g is the gradient of the objective's whole loss (regularisers included). F is the Fisher of
the model's predictive distribution for the softmax cross-entropy in the loss, computed
exactly over the flattened trained parameters:

    F = 1/B sum_n J_n^T (diag(p_n) - p_n p_n^T) J_n,

J_n = d logits_n / d theta (a jax.jacrev), p_n = softmax(logits_n). For softmax
cross-entropy this *true* Fisher (expectation over the model's own labels) equals the
generalised Gauss-Newton matrix; it is not the empirical Fisher (outer products of the
observed gradients). F is P x P: `nndsl check` refuses models over PARAM_LIMIT trained
parameters (E290, nndsl/elab/second_order.py) — it is the textbook reference that cheaper
approximations (K-FAC, fit/kfac.py) are checked against, not a scalable optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from nndsl.elab import TrainPlan
from nndsl.elab.second_order import KFAC, NATURAL_GRADIENT, fisher_logits
from nndsl.ir import Ref


@dataclass(frozen=True)
class NaturalGradient:
    """The preconditioner of one objective: its logits and the damping. `evaluate(part,
    context, refs)` gives the values of `refs` with the trained parameters `part` on the
    step's `context` (parameters, state, batch, random key), as the loss sees them."""

    logits: Ref
    damping: float
    evaluate: Callable
    # Whether it carries a state from step to step in the optimizer state (kfac does).
    stateful: ClassVar[bool] = False

    def direction(self, grads, part, context, carried=None):
        """((F + damping I)^-1 g, None) for the gradient `grads` of the parameters `part`."""
        flat, unravel = ravel_pytree(part)
        g, _ = ravel_pytree(grads)

        def logits_flat(vector):
            return self.evaluate(unravel(vector), context, [self.logits])[0].astype(jnp.float32)

        logits = logits_flat(flat)
        jac = jax.jacrev(logits_flat)(flat)  # [B, K, P]
        fisher = fisher_matrix(jax.nn.softmax(logits, axis=-1), jac)
        damped = fisher + self.damping * jnp.eye(fisher.shape[0], dtype=fisher.dtype)
        return unravel(jax.scipy.linalg.solve(damped, g.astype(jnp.float32),
                                              assume_a="pos").astype(g.dtype)), None


def fisher_matrix(probs, jac):
    """1/B sum_n J_n^T (diag(p_n) - p_n p_n^T) J_n for probabilities [B, K], Jacobians
    [B, K, P]."""
    out_fisher = jax.vmap(jnp.diag)(probs) - probs[:, :, None] * probs[:, None, :]
    return jnp.einsum("bkp,bkl,blq->pq", jac, out_fisher, jac) / probs.shape[0]


def preconditioners(plan: TrainPlan, evaluate: Callable) -> list:
    """Per objective, its preconditioner: natural_gradient's, kfac's (fit/kfac.py), else
    None. The checks (nndsl/elab/second_order.py) ran when the plan was built; they give the
    logits. `evaluate(part, context, refs, tag=None)` evaluates the graph (see
    NaturalGradient)."""
    from nndsl.fit.kfac import Kfac

    out = []
    for objective in plan.objectives:
        name = objective.optimizer.name
        if name not in (NATURAL_GRADIENT, KFAC):
            out.append(None)
            continue
        logits = fisher_logits(plan.graph, objective)
        damping = float(objective.optimizer.values["damping"])
        out.append(NaturalGradient(logits, damping, evaluate) if name == NATURAL_GRADIENT else
                   Kfac.for_objective(plan.graph, objective, logits, evaluate))
    return out


def split_state(preconditioner, opt_state):
    """An objective's optimizer state as (optax's state, the preconditioner's carried state
    or None): a stateful preconditioner keeps its own beside optax's, as a pair."""
    if preconditioner is not None and preconditioner.stateful:
        return opt_state[0], opt_state[1]
    return opt_state, None


def join_state(opt_state, carried):
    """The inverse of split_state."""
    return opt_state if carried is None else (opt_state, carried)
