"""A hand-written JAX lottery ticket (no nndsl model code): the MLP of specs/lottery.nn on the
same digit splits, Adam, early stopping on the validation loss, 3 rounds of per-matrix
magnitude pruning at 42%, rewound to the initial weights, and the same masks from a fresh
initialisation. The slow test compares its claim with nndsl's (tests/test_acceptance_prune.py);
`python -m tests.reference_lottery` prints its table."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nndsl.data.sources import LOADERS

SIZES = (64, 128, 128, 10)
BATCH, EPOCHS, PATIENCE, LR, L2, DROPOUT = 64, 100, 10, 1e-3, 1e-4, 0.2


def init(key) -> list[dict]:
    """Glorot-uniform weights, zero biases."""
    layers = []
    for part, (n_in, n_out) in zip(jax.random.split(key, 3), zip(SIZES, SIZES[1:])):
        limit = np.sqrt(6 / (n_in + n_out))
        layers.append({"w": jax.random.uniform(part, (n_in, n_out), minval=-limit, maxval=limit),
                       "b": jnp.zeros(n_out)})
    return layers


def forward(params, x, key=None):
    h = x.reshape(len(x), -1)
    for i, layer in enumerate(params):
        h = h @ layer["w"] + layer["b"]
        if i < len(params) - 1:
            h = jax.nn.relu(h)
            if key is not None:  # inverted dropout while training
                keep = jax.random.bernoulli(jax.random.fold_in(key, i), 1 - DROPOUT, h.shape)
                h = jnp.where(keep, h / (1 - DROPOUT), 0)
    return h


def loss(params, x, y, key=None):
    ce = optax.softmax_cross_entropy_with_integer_labels(forward(params, x, key), y).mean()
    return ce + L2 * sum(jnp.sum(v ** 2) for v in jax.tree.leaves(params))


def accuracy(params, x, y) -> float:
    return float(jnp.mean(jnp.argmax(forward(params, x), -1) == y))


def train(params, masks, data, seed: int = 0):
    """Adam with early stopping; masked weights set to zero after every update. Returns the
    best (lowest validation loss) parameters."""
    opt = optax.adam(LR)

    @jax.jit
    def step(params, state, x, y, key):
        grads = jax.grad(loss)(params, x, y, key)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        params = [{"w": jnp.where(m, p["w"], 0.0), "b": p["b"]} for p, m in zip(params, masks)]
        return params, state

    state, best, best_loss, since = opt.init(params), params, np.inf, 0
    x, y = data["train"]["x"], data["train"]["y"]
    for epoch in range(EPOCHS):
        order = np.random.RandomState([seed, epoch]).permutation(len(x))
        for i in range(len(x) // BATCH):
            idx = order[i * BATCH:(i + 1) * BATCH]
            key = jax.random.PRNGKey(epoch * 1000 + i)
            params, state = step(params, state, x[idx], y[idx], key)
        val = float(loss(params, data["val"]["x"], data["val"]["y"]))
        if val < best_loss:
            best, best_loss, since = params, val, 0
        else:
            since += 1
            if since >= PATIENCE:
                break
    return best


def prune(params, masks, rate: float):
    """Per matrix: drop round(rate x kept) of the kept weights with the smallest |w|."""
    out = []
    for p, m in zip(params, masks):
        magnitude = np.where(m, np.abs(np.asarray(p["w"])), np.inf).ravel()
        drop = int(round(rate * m.sum()))
        kept = m.ravel().copy()
        kept[np.argsort(magnitude, kind="stable")[:drop]] = False
        out.append(kept.reshape(m.shape))
    return out


def masked(params, masks):
    return [{"w": jnp.where(m, p["w"], 0.0), "b": p["b"]} for p, m in zip(params, masks)]


def lottery(rounds: int = 3, rate: float = 0.42) -> list[dict]:
    """Rows: round, fraction of the weights left, ticket and re-init test accuracy."""
    data = LOADERS["digits"]({"val": 0.1, "test": 0.2, "seed": 0, "labels": "original",
                              "pixels": "original"})
    test = data["test"]["x"], data["test"]["y"]
    start = init(jax.random.PRNGKey(0))
    masks = [np.ones(p["w"].shape, bool) for p in start]
    trained = train(start, masks, data)
    rows = [{"round": 0, "fraction": 1.0, "ticket": accuracy(trained, *test), "reinit": None}]
    for r in range(1, rounds + 1):
        masks = prune(trained, masks, rate)
        trained = train(masked(start, masks), masks, data)
        fresh = train(masked(init(jax.random.PRNGKey(1000 + r)), masks), masks, data)
        total = sum(m.size for m in masks)
        rows.append({"round": r, "fraction": sum(int(m.sum()) for m in masks) / total,
                     "ticket": accuracy(trained, *test), "reinit": accuracy(fresh, *test)})
    return rows


if __name__ == "__main__":
    for row in lottery():
        print(row)
