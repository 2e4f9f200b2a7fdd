"""`nndsl explain`'s computations: saliency maps of N examples and activation maximisation
of a layer's units, on a Target (target.py)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from nndsl.probe import gradients

# Activation maximisation: steps, the step (a fraction of the valid range), the L2 weight
# and the jitter in pixels (image inputs).
MAXIMISE_STEPS = 200
MAXIMISE_RATE = 0.1
MAXIMISE_L2 = 1e-3
MAXIMISE_JITTER = 1
# SmoothGrad's noise as a fraction of the valid range (Smilkov et al.: 10-20%).
SMOOTHGRAD_NOISE = 0.15


@dataclass
class Saliency:
    """Saliency maps of the first N examples of a split, with what they explain."""

    inputs: np.ndarray
    maps: np.ndarray
    labels: np.ndarray | None
    predictions: np.ndarray | None
    explained: np.ndarray | None   # the class whose logit each map differentiates
    method: str


def saliency_maps(target, n: int, method: str, wanted: int | None, seed: int,
                  samples: int = 16) -> Saliency:
    """Maps of `method` for the first `n` examples: a classifier's predicted class (or
    `wanted`), else the output's entries summed."""
    batch, labels = next(target.batches(n, min(n, len(target.inputs[target.field]))))
    x = batch[target.field]
    logits = target.output_of(batch, x)
    noise = SMOOTHGRAD_NOISE * (target.high - target.low)
    if target.classifier:
        predicted = jnp.argmax(logits, axis=-1)
        explained = predicted if wanted is None else jnp.full_like(predicted, wanted)

        def score(x):
            return gradients.chosen_logit(target.output_of(batch, x), explained)
    else:
        predicted = explained = None

        def score(x):
            out = target.output_of(batch, x)
            return jnp.sum(out.reshape(out.shape[0], -1), axis=1)

    maps = jax.jit(lambda x, key: gradients.saliency(score, x, method, key, samples, noise))(
        x, jax.random.PRNGKey(seed))
    return Saliency(np.asarray(x), np.asarray(maps), _array(labels), _array(predicted),
                    _array(explained), method)


def _array(value) -> np.ndarray | None:
    return None if value is None else np.asarray(value)


def stroke_ratio(saliency: Saliency) -> float:
    """Mean |saliency| on the input's nonzero pixels over that on its zero pixels."""
    magnitude, stroke = np.abs(saliency.maps), saliency.inputs > 0
    return float(magnitude[stroke].mean() / max(magnitude[~stroke].mean(), 1e-30))


@dataclass
class Maximised:
    """Inputs found to drive units of a layer, and each unit's activation step by step."""

    layer: str
    units: list[int]
    inputs: np.ndarray
    trace: np.ndarray  # [steps, units]


def top_units(target, node_id: str, count: int) -> list[int]:
    """The `count` units of a layer with the largest mean activation on the split."""
    batch, _ = next(target.batches(256))
    value = target.value_of(batch, batch[target.field], node_id)
    mean = np.asarray(jnp.mean(value.reshape(-1, value.shape[-1]), axis=0))
    return [int(u) for u in np.argsort(-mean)[:count]]


def maximise_units(target, node_id: str, units: list[int], seed: int,
                   steps: int = MAXIMISE_STEPS) -> Maximised:
    """Activation maximisation of each unit (its mean over positions for a convolution),
    from a noisy grey input in the middle of the valid range."""
    shape = (len(units),) + target.inputs[target.field].shape[1:]
    span = target.high - target.low
    key, start_key = jax.random.split(jax.random.PRNGKey(seed))
    x0 = jnp.clip(target.low + span * (0.5 + 0.05 * jax.random.normal(start_key, shape)),
                  target.low, target.high)
    batch = {k: jnp.asarray(v[:1]).repeat(len(units), axis=0)
             for k, v in target.inputs.items()}
    chosen = jnp.asarray(units)

    def activation(x):
        value = target.value_of(batch, x, node_id)
        per_unit = jnp.mean(value.reshape(value.shape[0], -1, value.shape[-1]), axis=1)
        return jnp.take_along_axis(per_unit, chosen[:, None], axis=1)[:, 0]

    run = jax.jit(lambda x0, key: gradients.maximise(
        activation, x0, key, target.low, target.high, steps, MAXIMISE_RATE * span,
        MAXIMISE_L2, MAXIMISE_JITTER))
    x, trace = run(x0, key)
    return Maximised(node_id, units, np.asarray(x), np.asarray(trace))
