"""Parameter initialisers: one table, name → NumPy function, run on the host.

Every tensor is made on the host from a `numpy.random.RandomState`, so a seed gives the same
numbers on every backend (checkpoints and `--resume` rely on it). An op names the initialisers
its parameters use (`OpDef.inits`); the registry checks those names when the op is built, and
`initialise` refuses a name it does not know rather than guessing one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Shape = tuple[int, ...]
Initialiser = Callable[[np.random.RandomState, Shape], np.ndarray]


def _fans(shape: Shape) -> tuple[int, int]:
    """(fan in, fan out) of a kernel [k..., in, out] or a matrix [in, out]."""
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _fan_scaled(rule: Callable[[np.random.RandomState, Shape, int, int], np.ndarray]
                ) -> Initialiser:
    """A fan-based rule; a vector (no fans) gets unit-variance normal values / sqrt(length)."""
    def init(rng: np.random.RandomState, shape: Shape) -> np.ndarray:
        if len(shape) < 2:
            return rng.standard_normal(shape) / np.sqrt(shape[0])
        return rule(rng, shape, *_fans(shape))

    return init


def _orthogonal(rng, shape, fan_in, fan_out):
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    return (q if rows >= cols else q.T).reshape(shape)


def _glorot_uniform(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape)


def _he_uniform(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, shape)


INITIALISERS: dict[str, Initialiser] = {
    "zeros": lambda rng, shape: np.full(shape, 0.0),
    "ones": lambda rng, shape: np.full(shape, 1.0),
    # PReLU's starting slope (He et al. 2015, and PyTorch's nn.PReLU).
    "quarter": lambda rng, shape: np.full(shape, 0.25),
    "normal": lambda rng, shape: rng.standard_normal(shape),
    "uniform": lambda rng, shape: rng.uniform(-0.05, 0.05, shape),
    "glorot_uniform": _fan_scaled(_glorot_uniform),
    "glorot_normal": _fan_scaled(lambda rng, shape, fan_in, fan_out: rng.standard_normal(
        shape) * np.sqrt(2.0 / (fan_in + fan_out))),
    "he_normal": _fan_scaled(lambda rng, shape, fan_in, fan_out: rng.standard_normal(
        shape) * np.sqrt(2.0 / fan_in)),
    "he_uniform": _fan_scaled(_he_uniform),
    "orthogonal": _fan_scaled(_orthogonal),
}


def unknown_initialisers(names) -> list[str]:
    """Those of `names` that the table does not define."""
    return [name for name in names if name not in INITIALISERS]


def initialise(name: str, rng: np.random.RandomState, shape: Shape) -> np.ndarray:
    """One parameter tensor (float64, on the host); an unknown name is an error, never a guess."""
    if name not in INITIALISERS:
        raise KeyError(f"unknown initialiser `{name}`; known: {', '.join(INITIALISERS)}")
    return INITIALISERS[name](rng, shape)
