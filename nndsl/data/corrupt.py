"""Memorisation data (Zhang et al. 2017, "Understanding deep learning requires rethinking
generalization"): the options `labels=` and `pixels=` of the bundled classification sets.

`labels=shuffled` permutes the training split's labels among its examples (the class counts
stay, the pairing of image and label is gone); `labels=random` draws each training label
uniformly from the classes. Validation and test keep their true labels, so they measure what
the network learnt that generalises (chance, for random labels). `pixels=shuffled` applies one
fixed permutation of the input positions to every example of every split (a learnable, if
unnatural, input); `pixels=random` a different permutation to each example. Every choice is a
fixed function of the data source's `seed`: the same seed gives the same corruption.
"""

from __future__ import annotations

import numpy as np

from nndsl.ops.base import Hyper

CHOICES = ("original", "shuffled", "random")
HYPERS = (Hyper("labels", "word", "original", choices=CHOICES),
          Hyper("pixels", "word", "original", choices=CHOICES))
# Streams of the seed, apart from the split's own shuffle (RandomState(seed)).
_LABEL_STREAM, _PIXEL_STREAM = 1, 2


def apply(splits: dict, args: dict, classes: int, x: str = "x", y: str = "y") -> dict:
    """`splits` with `args["labels"]` and `args["pixels"]` applied to fields `y` and `x`."""
    seed = args["seed"]
    out = {name: dict(fields) for name, fields in splits.items()}
    if args.get("labels", "original") != "original":
        out["train"][y] = corrupt_labels(out["train"][y], args["labels"], classes, seed)
    if args.get("pixels", "original") != "original":
        rng = np.random.RandomState([seed, _PIXEL_STREAM])
        fixed = rng.permutation(int(np.prod(out["train"][x].shape[1:])))
        for i, fields in enumerate(out[name] for name in ("train", "val", "test")):
            fields[x] = corrupt_pixels(fields[x], args["pixels"], fixed,
                                       np.random.RandomState([seed, _PIXEL_STREAM, i]))
    return out


def corrupt_labels(labels: np.ndarray, how: str, classes: int, seed: int) -> np.ndarray:
    """Training labels shuffled among the examples, or drawn uniformly from `classes`."""
    rng = np.random.RandomState([seed, _LABEL_STREAM])
    if how == "shuffled":
        return labels[rng.permutation(len(labels))]
    return rng.randint(classes, size=labels.shape).astype(labels.dtype)


def corrupt_pixels(x: np.ndarray, how: str, fixed: np.ndarray, rng) -> np.ndarray:
    """Inputs whose positions (all axes after the batch, flattened) are permuted: by `fixed`
    for every example (`shuffled`), or by a permutation of its own each (`random`)."""
    flat = x.reshape(len(x), -1)
    if how == "shuffled":
        return flat[:, fixed].reshape(x.shape)
    order = np.argsort(rng.rand(*flat.shape), axis=1)
    return np.take_along_axis(flat, order, axis=1).reshape(x.shape)
