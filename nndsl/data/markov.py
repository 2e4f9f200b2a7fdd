"""`markov_text`: a synthetic language with a known entropy rate, for language models.

A random second-order Markov chain over `symbols` symbols (written a, b, c, ...): for every
pair of previous symbols (a, b), P(c | a, b) is drawn from a Dirichlet(`concentration`)
distribution, from `seed`. Each example is a stretch of `context` + 1 symbols of the chain,
started from its stationary distribution: x = its first `context` symbols, y = the next
symbol at each position (i32[B, context] both), and `scored` f32[B, context] is 1 from
position 1 on, where the model has seen the two symbols the next one depends on.

The entropy rate h = -sum_{a,b} pi(a, b) sum_c P(c|a, b) log P(c|a, b) (nats per symbol, pi
the stationary distribution over pairs) is the lowest cross-entropy any model can reach on
the scored positions; `entropy_rate(args)` computes it exactly (up to the eigen-solver).
"""

from __future__ import annotations

import numpy as np

ORDER = 2


def symbols_text(ids, alphabet: int) -> str:
    """Symbol ids as the letters a, b, c, ... (the source's written form)."""
    return "".join(chr(ord("a") + int(i)) if 0 <= i < alphabet else "?" for i in ids)


def transitions(args: dict) -> np.ndarray:
    """P[a, b, c] = P(next = c | previous two = a, b), drawn from `seed`."""
    n = args["symbols"]
    rng = np.random.RandomState([args["seed"], 7919])
    return rng.dirichlet(np.full(n, args["concentration"]), size=(n, n))


def stationary(p: np.ndarray) -> np.ndarray:
    """pi[a, b]: the stationary distribution of the chain on pairs (a, b) -> (b, c)."""
    n = p.shape[0]
    moves = np.zeros((n * n, n * n))
    for a in range(n):
        for b in range(n):
            moves[a * n + b, b * n:(b + 1) * n] = p[a, b]
    values, vectors = np.linalg.eig(moves.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return (pi / pi.sum()).reshape(n, n)


def entropy_rate(args: dict) -> float:
    """The chain's entropy rate in nats per symbol."""
    p = transitions(args)
    per_pair = -np.sum(p * np.log(np.clip(p, 1e-300, None)), axis=2)
    return float(np.sum(stationary(p) * per_pair))


def chains(p: np.ndarray, pi: np.ndarray, count: int, length: int, rng) -> np.ndarray:
    """`count` stretches of `length` symbols, started from the stationary distribution."""
    n = p.shape[0]
    out = np.empty((count, length), np.int32)
    start = rng.choice(n * n, size=count, p=pi.ravel())
    out[:, 0], out[:, 1] = start // n, start % n
    cumulative = np.cumsum(p, axis=2)
    for t in range(ORDER, length):
        u = rng.rand(count, 1)
        rows = cumulative[out[:, t - 2], out[:, t - 1]]
        out[:, t] = np.minimum((u > rows).sum(1), n - 1)
    return out


def markov_text(args: dict) -> dict:
    """Train/val/test stretches of the chain, each split from its own seed."""
    from nndsl.data.sources import split_counts  # sources registers this loader

    p = transitions(args)
    pi = stationary(p)
    scored = np.ones(args["context"], np.float32)
    scored[:ORDER - 1] = 0

    def make(n, rng):
        s = chains(p, pi, n, args["context"] + 1, rng)
        return {"x": s[:, :-1], "y": s[:, 1:], "scored": np.tile(scored, (n, 1))}

    return split_counts(make, args)
