"""Learned learning rates: hypergradient descent (Baydin et al. 2018, "Online learning rate
adaptation with hypergradient descent"), as an optax GradientTransformation.

An optimizer steps theta_t = theta_{t-1} - alpha_t u_{t-1}, u the direction it takes at unit
rate (the gradient for SGD, m_hat / (sqrt(v_hat) + eps) for Adam). The derivative of the
next loss with respect to the rate is dL(theta_t)/d alpha = -grad_t . u_{t-1}, so gradient
descent on the rate with its own step beta ("hyper_lr") is

    alpha_{t+1} = alpha_t + beta * grad_t . u_{t-1}

which raises the rate while successive directions agree and lowers it when they oppose.
The rate is part of the optimizer state: it is checkpointed, resumed, and logged per epoch
as the `lr` column of metrics.csv (and its own panel of curves.png).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class HypergradientState(NamedTuple):
    """The learned rate, the last unit-rate direction, and the direction's own state."""

    lr: jnp.ndarray
    direction: optax.Updates
    inner: optax.OptState


def hypergradient(direction: optax.GradientTransformation, lr: float,
                  hyper_lr: float) -> optax.GradientTransformation:
    """`direction` (a transformation giving the unit-rate step, e.g. optax.scale_by_adam)
    scaled by a rate that starts at `lr` and follows its hypergradient with step
    `hyper_lr` (see the module's docstring)."""

    def init(params):
        return HypergradientState(jnp.asarray(lr, jnp.float32),
                                  jax.tree.map(jnp.zeros_like, params), direction.init(params))

    def update(grads, state, params=None):
        agreement = sum(jnp.vdot(g, u) for g, u in
                        zip(jax.tree.leaves(grads), jax.tree.leaves(state.direction)))
        rate = state.lr + hyper_lr * agreement.astype(jnp.float32)
        step, inner = direction.update(grads, state.inner, params)
        updates = jax.tree.map(lambda u: (-rate * u).astype(u.dtype), step)
        return updates, HypergradientState(rate, step, inner)

    return optax.GradientTransformation(init, update)


def learned(name: str, values: dict, lr: float) -> optax.GradientTransformation | None:
    """The transformation of a learned-rate optimizer (`sgd_hd`, `adam_hd`), else None."""
    if name == "sgd_hd":
        inner = optax.trace(values["momentum"]) if values["momentum"] else optax.identity()
        return hypergradient(inner, lr, values["hyper_lr"])
    if name == "adam_hd":
        inner = optax.scale_by_adam(b1=values["b1"], b2=values["b2"], eps=values["eps"])
        return hypergradient(inner, lr, values["hyper_lr"])
    return None


def learned_rates(names: list[str], opt_states: list) -> dict[str, float]:
    """The current learned rate of each objective that has one: `lr` (one objective) or
    `lr_<network>` (named after its loss column), for metrics.csv."""
    rates = {}
    for name, state in zip(names, opt_states):
        found = [s for s in jax.tree.leaves(
            state, is_leaf=lambda s: isinstance(s, HypergradientState))
            if isinstance(s, HypergradientState)]
        if found:
            rates[name.replace("loss", "lr", 1)] = float(found[0].lr)
    return rates
