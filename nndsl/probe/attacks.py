"""Adversarial examples (pure JAX): FGSM (Goodfellow et al. 2015) and PGD with a random
start (Madry et al. 2018), inside the eps-ball around each input and the data's valid range.

`loss(x)` is the summed loss of a batch as a function of its input, so its gradient holds
each example's own gradient. `eps` here is absolute (in the input's units); the commands
and the train setting take it as a fraction of the valid range (`absolute_eps`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# PGD's step, as a multiple of eps / steps: Madry et al.'s 2.5 lets a walk reach the far
# side of the ball and come back.
PGD_STEP = 2.5


def absolute_eps(fraction: float, low: float, high: float) -> float:
    """An eps given as a fraction of the valid range [low, high], in the input's units."""
    return fraction * (high - low)


def project(x, original, eps: float, low: float, high: float):
    """`x` moved back into the eps-ball (max norm) around `original` and into [low, high]."""
    return jnp.clip(jnp.clip(x, original - eps, original + eps), low, high)


def fgsm(loss, x, eps: float, low: float, high: float):
    """The fast gradient sign method: one step of eps along the sign of the loss's gradient,
    kept in the valid range."""
    grad = jax.grad(loss)(x)
    return project(x + eps * jnp.sign(grad), x, eps, low, high)


def pgd(loss, x, eps: float, low: float, high: float, steps: int, key):
    """Projected gradient descent (ascent on the loss): a uniform random start in the
    eps-ball, then `steps` signed steps of PGD_STEP * eps / steps, each projected back to the
    ball and the valid range."""
    step = PGD_STEP * eps / steps
    start = project(x + jax.random.uniform(key, x.shape, x.dtype, -eps, eps), x, eps, low,
                    high)

    def ascend(adv, _):
        grad = jax.grad(loss)(adv)
        return project(adv + step * jnp.sign(grad), x, eps, low, high), None

    adv, _ = jax.lax.scan(ascend, start, None, length=steps)
    return adv


def attack(method: str, loss, x, eps: float, low: float, high: float, steps: int, key):
    """`fgsm` or `pgd` by name (a stop_gradient result: parameters are not trained through
    the attack)."""
    adv = fgsm(loss, x, eps, low, high) if method == "fgsm" else \
        pgd(loss, x, eps, low, high, steps, key)
    return jax.lax.stop_gradient(adv)
