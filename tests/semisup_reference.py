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
    return LOADERS["digits"]({"val": 0.1, "test": 0.2, "seed": seed, "labelled": fraction})


def semi_supervised(seed: int, consistency: float, recon: float, epochs: int = 200,
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


def ring_modes(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def own_mode_fractions(points: np.ndarray, classes: np.ndarray, modes: int = 8) -> np.ndarray:
    """For each class k, the fraction of its points nearest mode k."""
    nearest = np.linalg.norm(points[:, None] - ring_modes(modes)[None], axis=-1).argmin(1)
    return np.array([np.mean(nearest[classes == k] == k) for k in range(modes)])


def conditional_gan(seed: int = 0, epochs: int = 30, per_class: int = 1000) -> np.ndarray:
    """specs/cgan.nn by hand: per mode, the fraction of the generator's points (drawn with
    that mode as the class) that land nearest it."""
    data = LOADERS["ring"]({"modes": 8, "radius": 2.0, "std": 0.02, "train": 10000,
                            "seed": 0, "labelled": None})
    keys = iter(jax.random.split(jax.random.PRNGKey(seed), 16))

    def mlp(n_in, n_out):
        return {"embed": jax.random.normal(next(keys), (8, 8)),
                "l0": _dense(next(keys), n_in + 8, 128), "l1": _dense(next(keys), 128, 128),
                "l2": _dense(next(keys), 128, n_out)}

    def run(p, x, c, act):
        h = jnp.concatenate([x, p["embed"][c]], -1)
        return _apply(p["l2"], act(_apply(p["l1"], act(_apply(p["l0"], h)))))

    def generate(g, z, c):
        return run(g, z, c, jax.nn.relu)

    def score(d, x, c):
        return run(d, x, c, lambda v: jax.nn.leaky_relu(v, 0.2))

    def bce(logits, target):
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits,
                                                                                target)))

    def d_loss(d, g, x, c, z):
        return bce(score(d, x, c), 1.0) + bce(score(d, generate(g, z, c), c), 0.0)

    def g_loss(g, d, c, z):
        return bce(score(d, generate(g, z, c), c), 1.0)

    opt = optax.adam(1e-3, b1=0.5)
    g, d = mlp(8, 2), mlp(2, 1)
    g_state, d_state = opt.init(g), opt.init(d)

    @jax.jit
    def step(g, d, g_state, d_state, x, c, key):
        z = jax.random.normal(key, (len(x), 8))
        updates, d_state = opt.update(jax.grad(d_loss)(d, g, x, c, z), d_state, d)
        d = optax.apply_updates(d, updates)
        updates, g_state = opt.update(jax.grad(g_loss)(g, d, c, z), g_state, g)
        return optax.apply_updates(g, updates), d, g_state, d_state

    train, rng, key = data["train"], np.random.RandomState(seed), jax.random.PRNGKey(seed + 1)
    for _ in range(epochs):
        order = rng.permutation(len(train["x"]))
        for start in range(0, len(order) - 127, 128):
            rows = order[start:start + 128]
            key, sub = jax.random.split(key)
            g, d, g_state, d_state = step(g, d, g_state, d_state, train["x"][rows],
                                          train["y"][rows], sub)
    classes = np.repeat(np.arange(8), per_class)
    z = jax.random.normal(jax.random.PRNGKey(seed + 2), (len(classes), 8))
    return own_mode_fractions(np.asarray(generate(g, z, classes)), classes)


if __name__ == "__main__":
    print("cgan", conditional_gan())
    for s in range(3):
        print(s, "semi", semi_supervised(s, 30.0, 1.0), "supervised",
              semi_supervised(s, 0.0, 0.0))
