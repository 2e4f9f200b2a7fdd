"""Built-in data sets, made or read locally (no downloads), split into train/val/test.

Each loader takes the checked arguments of its `catalog` entry and returns
`{"train": {field: array}, "val": {...}, "test": {...}}` with the fields and dtypes the
catalog promises (float32 inputs, int32 class labels).
"""

from __future__ import annotations

import numpy as np

from nndsl.data import babi, corrupt, digit_options, graphs, markov, point_clouds
from nndsl.data.semisup import keep_label_fraction

Splits = dict[str, dict[str, np.ndarray]]


def split_fraction(fields: dict[str, np.ndarray], val: float, test: float, seed: int) -> Splits:
    n = len(next(iter(fields.values())))
    order = np.random.RandomState(seed).permutation(n)
    n_test, n_val = int(round(n * test)), int(round(n * val))
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
             "train": order[n_test + n_val:]}
    return {name: {k: v[idx] for k, v in fields.items()} for name, idx in parts.items()}


def split_counts(make, args: dict) -> Splits:
    """Sets with explicit sizes: each split generated from its own seed."""
    return {name: make(args[name], np.random.RandomState(args["seed"] * 3 + i))
            for i, name in enumerate(("train", "val", "test"))}


def _digit_images() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    return x, digits.target.astype(np.int32)


def digits(args: dict) -> Splits:
    x, y = _digit_images()
    splits = split_fraction({"x": x, "y": y}, args["val"], args["test"], args["seed"])
    return digit_options.apply(corrupt.apply(splits, args, classes=10), args)


def xor(args: dict) -> Splits:
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    data = {"x": x, "y": y}
    return {"train": data, "val": data, "test": data}


def spirals(args: dict) -> Splits:
    rng = np.random.RandomState(args["seed"])
    n = args["points"] // 2
    t = np.sqrt(rng.rand(n)) * 3 * np.pi
    arms = [np.stack([t * np.cos(t + k * np.pi), t * np.sin(t + k * np.pi)], 1) for k in (0, 1)]
    x = np.concatenate(arms) / (3 * np.pi) + args["noise"] * rng.randn(2 * n, 2)
    y = np.repeat(np.arange(2), n)
    return split_fraction({"x": x.astype(np.float32), "y": y.astype(np.int32)}, args["val"],
                           args["test"], args["seed"])


def ring(args: dict) -> Splits:
    def make(n, rng):
        mode = rng.randint(args["modes"], size=n)
        angle = 2 * np.pi * mode / args["modes"]
        centres = args["radius"] * np.stack([np.cos(angle), np.sin(angle)], 1)
        return {"x": (centres + args["std"] * rng.randn(n, 2)).astype(np.float32),
                "y": mode.astype(np.int32)}

    sizes = {"train": args["train"], "val": max(1, args["train"] // 10),
             "test": max(1, args["train"] // 10), "seed": args["seed"]}
    return split_counts(make, sizes)


def adding(args: dict) -> Splits:
    """Values uniform in [0, 1], two marked positions (one in each half); y is their sum."""
    length = args["length"]

    def make(n, rng):
        values = rng.rand(n, length).astype(np.float32)
        marks = np.zeros((n, length), np.float32)
        first = rng.randint(length // 2, size=n)
        second = length // 2 + rng.randint(length - length // 2, size=n)
        marks[np.arange(n), first] = marks[np.arange(n), second] = 1
        y = (values * marks).sum(1, keepdims=True).astype(np.float32)
        return {"x": np.stack([values, marks], -1), "y": y}

    return split_counts(make, args)


def reverse(args: dict) -> Splits:
    """Symbols 1..symbols; the target is the source reversed; tgt_in starts with token 0."""
    length, symbols = args["length"], args["symbols"]

    def make(n, rng):
        src = rng.randint(1, symbols + 1, size=(n, length)).astype(np.int32)
        tgt = src[:, ::-1].copy()
        tgt_in = np.concatenate([np.zeros((n, 1), np.int32), tgt[:, :-1]], 1)
        return {"src": src, "tgt_in": tgt_in, "tgt": tgt}

    return split_counts(make, args)


def reverse_padded(args: dict) -> Splits:
    """Issue 13's masked task: x = 0..0 s_1..s_n SEP s_n..s_1 0..0, each padding run
    max_length - n long (so SEP sits at position max_length), n drawn from [1, max_length],
    symbols 1..symbols, SEP = symbols + 1. y is the next token where it belongs to the
    reversal (from SEP on) and 0 elsewhere, so `mask=y != 0` scores exactly the n reversed
    tokens; a causal model reading x sees the left padding before every real token."""
    high, symbols = args["max_length"], args["symbols"]

    def make(n, rng):
        lengths = rng.randint(1, high + 1, size=n)
        x, y = np.zeros((n, 2 * high + 1), np.int32), np.zeros((n, 2 * high + 1), np.int32)
        for row, length in enumerate(lengths):
            s = rng.randint(1, symbols + 1, size=length)
            x[row, high - length:high + length + 1] = np.concatenate([s, [symbols + 1], s[::-1]])
            y[row, high:high + length] = s[::-1]
        return {"x": x, "y": y}

    return split_counts(make, args)


def waves(args: dict) -> Splits:
    """Class 0 sine, 1 square, 2 sawtooth; random frequency and phase, Gaussian noise."""
    length = args["length"]

    def make(n, rng):
        y = rng.randint(3, size=n)
        t = np.arange(length)[None, :]
        freq = rng.uniform(1 / 32, 1 / 8, size=(n, 1))
        phase = rng.uniform(0, 1, size=(n, 1))
        cycle = (t * freq + phase) % 1.0
        shapes = np.stack([np.sin(2 * np.pi * cycle), np.where(cycle < 0.5, 1.0, -1.0),
                           2 * cycle - 1], 0)
        x = shapes[y, np.arange(n)] + args["noise"] * rng.randn(n, length)
        return {"x": x[..., None].astype(np.float32), "y": y.astype(np.int32)}

    return corrupt.apply(split_counts(make, args), args, classes=3)


def digit_pairs(args: dict) -> Splits:
    """Pairs of digit images, half of the same class; split by image so no image leaks."""
    x, y = _digit_images()
    images = split_fraction({"x": x, "y": y}, args["val"], args["test"], args["seed"])
    out = {}
    for i, (name, part) in enumerate(images.items()):
        rng = np.random.RandomState(args["seed"] + 17 * i)
        n = max(2, int(args["pairs"] * {"train": 1 - args["val"] - args["test"],
                                         "val": args["val"], "test": args["test"]}[name]))
        out[name] = _pairs(part["x"], part["y"], n, rng)
    return out


def _pairs(x, y, n, rng) -> dict[str, np.ndarray]:
    by_class = [np.flatnonzero(y == c) for c in range(10)]
    a = rng.randint(len(y), size=n)
    same = rng.rand(n) < 0.5
    b = np.empty(n, int)
    for i in range(n):
        pool = by_class[y[a[i]]] if same[i] else np.flatnonzero(y != y[a[i]])
        b[i] = pool[rng.randint(len(pool))]
    return {"a": x[a], "b": x[b], "same": same[:, None].astype(np.float32)}


def digits_domains(args: dict) -> Splits:
    """Source: the digits; target: other digits of the same classes, shifted in intensity and
    noise (dimmer, grainier: a domain shift a classifier notices but can bridge)."""
    x, y = _digit_images()
    rng = np.random.RandomState(args["seed"] + 1)
    order = rng.permutation(len(y))
    noisy = 0.6 * x[order] + 0.1 + 0.2 * rng.standard_normal(x.shape)
    target = np.clip(noisy, 0.0, 1.0).astype(np.float32)
    fields = {"x": x, "y": y, "x_target": target, "y_target": y[order]}
    return split_fraction(fields, args["val"], args["test"], args["seed"])


LOADERS = keep_label_fraction({
    f.__name__: f for f in (digits, xor, spirals, ring, adding, reverse, reverse_padded, waves,
                            digit_pairs, digits_domains, point_clouds.point_clouds,
                            graphs.karate, graphs.colored_graphs, babi.single_fact,
                            markov.markov_text)})
