"""Options of the built-in `digits` source for unsupervised and few-label training.

`binary=true` thresholds the pixels at one half (the binarised digits a Bernoulli RBM models);
`keep=0.1` keeps a random tenth of the training split (its images with their labels), the
validation and test splits whole: the same few labels for every model trained on them.
"""

from __future__ import annotations

import numpy as np

from nndsl.ops.base import Hyper

DIGITS_OPTIONS = (Hyper("binary", "bool", False),
                  Hyper("keep", "float", 1.0, low=0, high=1, low_open=True))


def apply(splits: dict[str, dict[str, np.ndarray]], args: dict) -> dict:
    """The splits with `binary` and `keep` applied (unchanged with their defaults)."""
    if args.get("binary"):
        splits = {name: {k: (v > 0.5).astype(np.float32) if k == "x" else v
                         for k, v in fields.items()} for name, fields in splits.items()}
    keep = args.get("keep", 1.0)
    if keep < 1.0:
        train = splits["train"]
        n = len(train["y"])
        # Seeded by the split's seed: the kept examples depend on the data, not on the model.
        chosen = np.sort(np.random.RandomState(args["seed"] + 1).permutation(n)[
            :max(1, int(round(n * keep)))])
        splits = {**splits, "train": {k: v[chosen] for k, v in train.items()}}
    return splits
