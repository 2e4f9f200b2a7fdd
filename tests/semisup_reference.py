"""Hand-written JAX references for the semi-supervised and conditional-GAN contract specs.

Neither uses nndsl's compiler: plain `jax.numpy` and optax, the same data (nndsl's loaders,
so both see the same labelled examples), the same recipe as specs/semi_supervised.nn and
specs/cgan.nn. The slow tests run them next to the specs to confirm the thresholds are what
the method reaches, not what nndsl happens to do. Run alone: `python -m tests.semisup_reference`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nndsl.data.sources import LOADERS


def _dense(key, n_in: int, n_out: int) -> dict:
    limit = np.sqrt(6.0 / (n_in + n_out))  # Glorot uniform
    return {"w": jax.random.uniform(key, (n_in, n_out), minval=-limit, maxval=limit),
            "b": jnp.zeros(n_out)}


def _apply(layer: dict, x):
    return x @ layer["w"] + layer["b"]


def digits_with_labels(seed: int, fraction: float = 0.1) -> dict:
    return LOADERS["digits"]({"val": 0.1, "test": 0.2, "seed": seed, "labels": fraction})


def semi_supervised(seed: int, consistency: float, recon: float, epochs: int = 100,
                    noise: float = 0.3, hidden: int = 128) -> float:
    """Test accuracy (at the best validation accuracy) of the Pi-model + reconstruction
    recipe; consistency = recon = 0 is the supervised-only baseline on the same labels."""
    data = digits_with_labels(seed)
    flat = {name: {**split, "x": split["x"].reshape(len(split["x"]), -1)}
            for name, split in data.items()}
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    params = {"h": _dense(keys[0], 64, hidden), "logits": _dense(keys[1], hidden, 10),
              "recon": _dense(keys[2], hidden, 64)}

    def forward(p, x, key):
        h = jax.nn.relu(_apply(p["h"], x + noise * jax.random.normal(key, x.shape)))
        return _apply(p["logits"], h), _apply(p["recon"], h)

    def loss(p, batch, key):
        ka, kb = jax.random.split(key)
        logits_a, recon_a = forward(p, batch["x"], ka)
        logits_b, _ = forward(p, batch["x"], kb)
        ce = -jnp.take_along_axis(jax.nn.log_softmax(logits_a), batch["y"][:, None], 1)[:, 0]
        keep = batch["labelled"]
        supervised = jnp.sum(ce * keep) / jnp.maximum(jnp.sum(keep), 1)
        agree = jnp.mean((jax.nn.softmax(logits_a) - jax.nn.softmax(logits_b)) ** 2)
        return supervised + consistency * agree + recon * jnp.mean((recon_a - batch["x"]) ** 2)

    def accuracy(p, split):
        h = jax.nn.relu(_apply(p["h"], split["x"]))
        return float(jnp.mean(jnp.argmax(_apply(p["logits"], h), -1) == split["y"]))

    return _fit(params, loss, flat, epochs, seed, accuracy)


def _fit(params, loss, data, epochs, seed, accuracy, batch: int = 64) -> float:
    optimizer = optax.adam(1e-3)
    state = optimizer.init(params)

    @jax.jit
    def step(p, s, b, key):
        grads = jax.grad(loss)(p, b, key)
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s

    train, rng, key = data["train"], np.random.RandomState(seed), jax.random.PRNGKey(seed + 1)
    n = len(train["x"])
    best, best_test = -1.0, 0.0
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n - batch + 1, batch):
            rows = order[start:start + batch]
            key, sub = jax.random.split(key)
            params, state = step(params, state, {k: v[rows] for k, v in train.items()}, sub)
        val = accuracy(params, data["val"])
        if val > best:
            best, best_test = val, accuracy(params, data["test"])
    return best_test


if __name__ == "__main__":
    for s in range(3):
        print(s, "semi", semi_supervised(s, 10.0, 1.0), "supervised",
              semi_supervised(s, 0.0, 0.0))
