"""Saliency maps and activation maximisation (pure JAX).

`score(x)` gives one number per example (the chosen logit); its gradient with respect to
the input is the saliency map (Simonyan et al. 2014). Gradient × input weighs it by the
input; SmoothGrad (Smilkov et al. 2017) averages it over noisy copies of the input.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

METHODS = ("gradient", "gradient_x_input", "smoothgrad")


def input_gradient(score, x):
    """d score / d x for every example of the batch (the scores are independent)."""
    return jax.grad(lambda x: jnp.sum(score(x)))(x)


def saliency(score, x, method: str, key, samples: int = 16, noise: float = 0.15):
    """The saliency map of `method` for each example: `noise` is SmoothGrad's standard
    deviation in the input's units, `samples` its number of noisy copies."""
    if method == "gradient":
        return input_gradient(score, x)
    if method == "gradient_x_input":
        return input_gradient(score, x) * x

    def noisy(k):
        return input_gradient(score, x + noise * jax.random.normal(k, x.shape, x.dtype))

    return jnp.mean(jax.lax.map(noisy, jax.random.split(key, samples)), axis=0)


def chosen_logit(logits, classes):
    """Each example's logit of its class (`classes`: one index per example)."""
    return jnp.take_along_axis(logits, classes[:, None], axis=1)[:, 0]


def maximise(activation, x0, key, low: float, high: float, steps: int = 200,
             rate: float = 0.1, l2: float = 1e-3, jitter: int = 1):
    """Activation maximisation: gradient ascent on an input to drive `activation(x)` (one
    number per example) up, the textbook recipe — the gradient taken at a randomly
    translated copy (jitter, up to `jitter` pixels on image inputs) with an L2 penalty, the
    input kept in [low, high]. A step is kept only when it raises the activation (else the
    step shrinks), so the activation rises monotonically. Returns the inputs and the
    activation after each step, [steps, B]."""
    image = x0.ndim == 4 and jitter > 0

    def objective(x, shift):
        moved = jnp.roll(x, shift, axis=(1, 2)) if image else x
        return jnp.sum(activation(moved)) - l2 * jnp.sum(x * x)

    def ascend(carry, k):
        x, current, step = carry
        shift = jax.random.randint(k, (2,), -jitter, jitter + 1) if image else jnp.zeros(2, int)
        grad = jax.grad(objective)(x, shift)
        # Normalised per example, so that `rate` is a step in the input's units.
        norm = jnp.sqrt(jnp.sum(grad ** 2, axis=tuple(range(1, x.ndim)), keepdims=True))
        proposal = jnp.clip(x + step * grad / (norm + 1e-12), low, high)
        reached = activation(proposal)
        better = reached > current
        keep = better.reshape((-1,) + (1,) * (x.ndim - 1))
        x = jnp.where(keep, proposal, x)
        current = jnp.where(better, reached, current)
        # A kept step grows (up to `rate`), a refused one shrinks: jitter makes some
        # directions poor ones without the step being too long.
        step = jnp.where(keep, jnp.minimum(step * 1.2, rate), step * 0.7)
        return (x, current, step), current

    start = (x0, activation(x0), jnp.full((x0.shape[0],) + (1,) * (x0.ndim - 1), rate,
                                          x0.dtype))
    (x, _, _), trace = jax.lax.scan(ascend, start, jax.random.split(key, steps))
    return x, trace
