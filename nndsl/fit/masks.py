"""Pruning masks of a lottery-ticket run (docs/prune.md): made by weight magnitude, applied
inside the jitted step, kept in the run directory as safetensors checkpoints.

A mask is a boolean array per pruned parameter (`{layer: {name: mask}}`, the layout of the
parameters); True keeps a weight. The step multiplies nothing: it selects (`where`), so a
pruned weight is exactly +0.0 after every step whatever the optimizer proposed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nndsl.elab.prune import pruned_in_round
from nndsl.fit import checkpoint

Masks = dict[str, dict[str, np.ndarray]]


def full(params, keys) -> Masks:
    """Masks that keep every weight of the parameters `keys` (`layer.name`)."""
    masks: Masks = {}
    for key in keys:
        layer, _, name = key.rpartition(".")
        masks.setdefault(layer, {})[name] = np.ones(np.shape(params[layer][name]), bool)
    return masks


def prune(params, masks: Masks, rate: float) -> Masks:
    """One round of magnitude pruning, parameter by parameter: of the weights each mask
    keeps, the round(rate x kept) smallest in |value| are dropped (ties: the first in
    row-major order goes first, so the count is exact and the result deterministic)."""
    pruned: Masks = {}
    for layer, leaves in masks.items():
        for name, mask in leaves.items():
            magnitude = np.abs(np.asarray(params[layer][name], np.float64)).ravel()
            alive = mask.ravel()
            drop = pruned_in_round(int(alive.sum()), rate)
            # Pruned weights sort last; a stable sort orders equal magnitudes by position.
            order = np.argsort(np.where(alive, magnitude, np.inf), kind="stable")
            kept = alive.copy()
            kept[order[:drop]] = False
            pruned.setdefault(layer, {})[name] = kept.reshape(mask.shape)
    return pruned


def apply_masks(params, masks: Masks | None):
    """`params` with every masked weight set to +0.0 (JAX or numpy arrays alike)."""
    if not masks:
        return params
    import jax.numpy as jnp

    return {layer: {name: jnp.where(masks[layer][name], value, jnp.zeros_like(value))
                    if name in masks.get(layer, {}) else value
                    for name, value in leaves.items()}
            for layer, leaves in params.items()}


def sparsity(masks: Masks) -> dict[str, dict]:
    """Per masked parameter: its size, the weights kept and the fraction pruned."""
    out = {}
    for layer, leaves in masks.items():
        for name, mask in leaves.items():
            kept = int(mask.sum())
            out[f"{layer}.{name}"] = {"size": int(mask.size), "remaining": kept,
                                      "sparsity": 1 - kept / mask.size}
    return out


def save(path: Path, masks: Masks, round_: int) -> None:
    """Masks as a checkpoint file (safetensors, verified on reading; no pickle)."""
    checkpoint.write(path, {"params": masks, "round": round_})


def load(path: Path) -> Masks:
    """Masks saved by `save`, as boolean arrays."""
    return {layer: {name: value.astype(bool) for name, value in leaves.items()}
            for layer, leaves in checkpoint.read(path).group("params").items()}
