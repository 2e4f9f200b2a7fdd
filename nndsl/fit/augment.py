"""Data augmentation inside the jitted train step, on the device, for image inputs
[B, H, W, C]: `random_shift(pixels)` (zero-padded translation), `random_flip()` (horizontal)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def random_shift(images, key, pixels: int):
    """Translate each image by up to `pixels` in each direction, filling with zeros."""
    b, h, w, _ = images.shape
    padded = jnp.pad(images, ((0, 0), (pixels, pixels), (pixels, pixels), (0, 0)))
    offsets = jax.random.randint(key, (b, 2), 0, 2 * pixels + 1)

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, image.shape[-1]))

    return jax.vmap(crop)(padded, offsets)


def random_flip(images, key):
    flip = jax.random.bernoulli(key, 0.5, (images.shape[0], 1, 1, 1))
    return jnp.where(flip, images[:, :, ::-1], images)


def augment(batch: dict, key, name: str, values: dict) -> dict:
    """Apply the named augmentation to every image field (rank 4, floating point)."""
    out = dict(batch)
    for i, (field, array) in enumerate(sorted(batch.items())):
        if array.ndim != 4 or not jnp.issubdtype(array.dtype, jnp.floating):
            continue
        k = jax.random.fold_in(key, i)
        out[field] = random_shift(array, k, values["pixels"]) if name == "random_shift" \
            else random_flip(array, k)
    return out
