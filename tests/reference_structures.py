"""Hand-written JAX models for issue 18's acceptance thresholds: the same data sources as the
contract specs, no nndsl ops, lowering or training loop. Each returns its test accuracy."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nndsl.data import babi, graphs


def _fit(loss, params, batches, lr):
    """Adam on `loss(params, batch)` over the given batches."""
    opt = optax.adam(lr)
    state = opt.init(params)

    @jax.jit
    def step(params, state, batch):
        grads = jax.grad(loss)(params, batch)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(params, updates), state

    for batch in batches:
        params, state = step(params, state, batch)
    return params


def _glorot(key, shape):
    return jax.random.normal(key, shape) * np.sqrt(2.0 / sum(shape))


def karate_gcn(seed: int) -> float:
    """Two GCN layers on the dense normalised adjacency, 100 full-graph steps."""
    data = graphs.karate({"labelled": 1, "seed": seed})
    edges, y = graphs.karate_graph()
    a = np.eye(34)
    a[edges[:, 1], edges[:, 0]] = 1
    d = 1 / np.sqrt(a.sum(1))
    a_norm = jnp.asarray(d[:, None] * a * d[None, :], jnp.float32)
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    params = {"w1": _glorot(k1, (34, 16)), "b1": jnp.zeros(16),
              "w2": _glorot(k2, (16, 2)), "b2": jnp.zeros(2)}

    def logits(p):
        h = jax.nn.relu(a_norm @ (jnp.eye(34) @ p["w1"]) + p["b1"])
        return a_norm @ (h @ p["w2"]) + p["b2"]

    train = data["train"]["mask"][0]

    def loss(p, _):
        nll = -jnp.take_along_axis(jax.nn.log_softmax(logits(p)), y[:, None], 1)[:, 0]
        return jnp.sum(nll * train) / jnp.sum(train)

    params = _fit(loss, params, [None] * 100, 0.01)
    test = data["test"]["mask"][0] == 1
    return float(np.mean(np.argmax(logits(params), 1)[test] == y[test]))


def memory_network(hops: int = 3, dim: int = 32, epochs: int = 60) -> float:
    """MemN2N with adjacent weight tying and temporal encoding, as memnet.nn describes."""
    args = dict(people=4, places=6, sentences=10, memory=10, train=1000, val=200, test=1000,
                seed=0)
    splits = babi.single_fact(args)
    vocab = len(babi.vocabulary(4, 6))
    keys = jax.random.split(jax.random.PRNGKey(0), 2 * (hops + 1))
    params = {"e": [_glorot(k, (vocab, dim)) for k in keys[:hops + 1]],
              "t": [_glorot(k, (10, dim)) for k in keys[hops + 1:]]}

    def logits(p, b):
        u = p["e"][0][b["question"]].sum(1)
        for k in range(hops):
            m = p["e"][k][b["story"]].sum(2) + p["t"][k]
            c = p["e"][k + 1][b["story"]].sum(2) + p["t"][k + 1]
            scores = jnp.einsum("bsd,bd->bs", m, u)
            w = jax.nn.softmax(jnp.where(b["slots"] > 0, scores, -1e30), axis=1)
            u = u + jnp.einsum("bs,bsd->bd", w * (b["slots"] > 0), c)
        return u @ p["e"][hops].T

    def loss(p, b):
        return optax.softmax_cross_entropy_with_integer_labels(logits(p, b), b["answer"]).mean()

    train, rng = splits["train"], np.random.RandomState(0)
    batches = []
    for _ in range(epochs):
        order = rng.permutation(len(train["answer"]))
        batches += [{k: v[order[i:i + 32]] for k, v in train.items()}
                    for i in range(0, len(order) - 31, 32)]
    params = _fit(loss, params, batches, 0.005)
    test = splits["test"]
    return float(np.mean(np.argmax(logits(params, test), 1) == test["answer"]))


def markov_table_lm(epochs: int = 5) -> tuple[float, float]:
    """A table of next-symbol logits per pair of previous symbols, fitted with Adam on
    language_model.nn's data: (test cross-entropy on the scored positions, entropy rate)."""
    from nndsl.data import markov

    args = dict(symbols=8, concentration=0.3, context=32, train=5000, val=500, test=1000,
                seed=0)
    splits = markov.markov_text(args)

    def pairs(split):
        x, y = split["x"], split["y"]
        return x[:, :-1], x[:, 1:], y[:, 1:]  # the scored positions, t >= 1

    def loss(table, batch):
        a, b, y = batch
        return optax.softmax_cross_entropy_with_integer_labels(table[a, b], y).mean()

    train, rng = pairs(splits["train"]), np.random.RandomState(0)
    batches = []
    for _ in range(epochs):
        order = rng.permutation(len(train[0]))
        batches += [tuple(v[order[i:i + 64]] for v in train)
                    for i in range(0, len(order) - 63, 64)]
    table = _fit(loss, jnp.zeros((8, 8, 8)), batches, 0.03)
    return float(loss(table, pairs(splits["test"]))), markov.entropy_rate(args)
