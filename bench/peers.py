"""The benchmark's peers: the same models as nndsl's bench specs, written by hand in JAX, in
Flax NNX and in Keras 3 (JAX backend), each as `step()`: one compiled train step (forward,
gradient, Adam at 1e-3) on a fixed batch, returning a value to block on.

Each peer is written as that library's documentation recommends for speed: NNX through
`nnx.split`/`nnx.merge` around a plain `jax.jit` (not `nnx.jit`, which walks the object
graph on every call), Keras through the jitted `train_function` that `fit` runs. Flax and
Keras are optional (`pip install -e .[bench]`); a missing one is skipped.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

LR = 1e-3


def _chained(step, args):
    """A callable running `step(*args, *batch)` and feeding each call's outputs (the buffers
    it donated) to the next."""
    holder = {"args": args}

    def run():
        *state, loss = step(*holder["args"])
        holder["args"] = tuple(state)
        return loss

    run.lower = lambda: step.lower(*holder["args"])  # for bench/profile_step.py
    return run


def _xent(logits, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[..., None], -1))


# Hand-written JAX: the transformer (the MLP, LeNet and LSTM are in train_step.py) --------------

def _hand_transformer_params(key, vocab, dim, ff, layers, length):
    glorot = jax.nn.initializers.glorot_uniform()
    keys = iter(jax.random.split(key, 8 * layers + 4))

    def dense(n_in, n_out):
        return {"w": glorot(next(keys), (n_in, n_out)), "b": jnp.zeros(n_out)}

    def norm():
        return {"g": jnp.ones(dim), "b": jnp.zeros(dim)}

    blocks = [{"n1": norm(), "q": dense(dim, dim), "k": dense(dim, dim), "v": dense(dim, dim),
               "o": dense(dim, dim), "n2": norm(), "f1": dense(dim, ff), "f2": dense(ff, dim)}
              for _ in range(layers)]
    return {"embed": jax.random.normal(next(keys), (vocab, dim)) * 0.02,
            "pos": jnp.zeros((length, dim)), "blocks": blocks, "norm": norm(),
            "out": dense(dim, vocab)}


def _layernorm(p, x):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-5) * p["g"] + p["b"]


def _attention(p, x, heads):
    b, t, d = x.shape
    q, k, v = ((x @ p[n]["w"] + p[n]["b"]).reshape(b, t, heads, d // heads) for n in "qkv")
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(d // heads)
    out = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, -1), v).reshape(b, t, d)
    return out @ p["o"]["w"] + p["o"]["b"]


def hand_transformer(p, src, heads=4):
    """A pre-norm encoder, layers unrolled by Python as one writes it by hand."""
    x = p["embed"][src] + p["pos"][: src.shape[1]]
    for blk in p["blocks"]:
        x = x + _attention(blk, _layernorm(blk["n1"], x), heads)
        h = jax.nn.gelu(_layernorm(blk["n2"], x) @ blk["f1"]["w"] + blk["f1"]["b"],
                        approximate=False)
        x = x + h @ blk["f2"]["w"] + blk["f2"]["b"]
    x = _layernorm(p["norm"], x)
    return x @ p["out"]["w"] + p["out"]["b"]


def hand_transformer_step(cfg, src, tgt):
    params = _hand_transformer_params(jax.random.PRNGKey(0), cfg["vocab"], cfg["dim"],
                                      cfg["ff"], cfg["layers"], src.shape[1])
    opt = optax.adam(LR)

    def loss_fn(p):
        return _xent(hand_transformer(p, src, cfg["heads"]), tgt)

    @jax.jit
    def step(p, s):
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    return _chained(step, (params, opt.init(params)))


# Flax NNX ------------------------------------------------------------------------------------

def _nnx_models():
    from flax import nnx

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.layers = nnx.List([nnx.Linear(784, 200, rngs=rngs),
                                    nnx.Linear(200, 200, rngs=rngs),
                                    nnx.Linear(200, 10, rngs=rngs)])

        def __call__(self, x):
            for layer in self.layers[:-1]:
                x = jax.nn.relu(layer(x))
            return self.layers[-1](x)

    class LeNet(nnx.Module):
        def __init__(self, rngs):
            self.c1 = nnx.Conv(1, 6, (5, 5), padding="VALID", rngs=rngs)
            self.c2 = nnx.Conv(6, 12, (5, 5), padding="VALID", rngs=rngs)
            self.d1 = nnx.Linear(300, 100, rngs=rngs)
            self.d2 = nnx.Linear(100, 10, rngs=rngs)

        def __call__(self, x):
            x = nnx.max_pool(jnp.tanh(self.c1(x)), (2, 2), (2, 2))
            x = nnx.max_pool(jnp.tanh(self.c2(x)), (2, 2), (2, 2))
            return self.d2(jnp.tanh(self.d1(x.reshape(x.shape[0], -1))))

    class LSTM(nnx.Module):
        def __init__(self, rngs):
            self.rnn = nnx.RNN(nnx.OptimizedLSTMCell(32, 128, rngs=rngs), return_carry=True)
            self.out = nnx.Linear(128, 1, rngs=rngs)

        def __call__(self, x):
            (_, h), _ = self.rnn(x)
            return self.out(h)

    class Block(nnx.Module):
        def __init__(self, cfg, rngs):
            d = cfg["dim"]
            self.n1, self.n2 = nnx.LayerNorm(d, rngs=rngs), nnx.LayerNorm(d, rngs=rngs)
            self.att = nnx.MultiHeadAttention(cfg["heads"], d, decode=False, rngs=rngs)
            self.f1, self.f2 = nnx.Linear(d, cfg["ff"], rngs=rngs), nnx.Linear(cfg["ff"], d,
                                                                              rngs=rngs)

        def __call__(self, x):
            x = x + self.att(self.n1(x))
            return x + self.f2(jax.nn.gelu(self.f1(self.n2(x)), approximate=False))

    class Transformer(nnx.Module):
        def __init__(self, cfg, length, rngs):
            self.embed = nnx.Embed(cfg["vocab"], cfg["dim"], rngs=rngs)
            self.pos = nnx.Param(jnp.zeros((length, cfg["dim"])))
            self.blocks = nnx.List([Block(cfg, rngs) for _ in range(cfg["layers"])])
            self.norm = nnx.LayerNorm(cfg["dim"], rngs=rngs)
            self.out = nnx.Linear(cfg["dim"], cfg["vocab"], rngs=rngs)

        def __call__(self, src):
            x = self.embed(src) + self.pos[...]
            for block in self.blocks:
                x = block(x)
            return self.out(self.norm(x))

    return {"mlp": MLP, "lenet": LeNet, "lstm": LSTM, "transformer": Transformer}


def nnx_step(model: str, x, y, cfg=None):
    """Flax NNX: split the model and optimizer once, merge them inside a plain jax.jit."""
    from flax import nnx

    cls = _nnx_models()[model]
    rngs = nnx.Rngs(0)
    net = cls(cfg, x.shape[1], rngs) if model == "transformer" else cls(rngs)
    opt = nnx.Optimizer(net, optax.adam(LR), wrt=nnx.Param)
    graphdef, state = nnx.split((net, opt))
    mse = model == "lstm"

    def loss_fn(net):
        out = net(x)
        return jnp.mean((out - y) ** 2) if mse else _xent(out, y)

    @jax.jit
    def step(state):
        net, opt = nnx.merge(graphdef, state)
        loss, grads = nnx.value_and_grad(loss_fn)(net)
        opt.update(net, grads)
        return nnx.state((net, opt)), loss

    return _chained(step, (state,))


# Keras 3 (JAX backend) -------------------------------------------------------------------------

def _keras_model(model: str, cfg, length):
    import keras
    from keras import layers

    if model == "mlp":
        return keras.Sequential([keras.Input((784,)), layers.Dense(200, "relu"),
                                 layers.Dense(200, "relu"), layers.Dense(10)])
    if model == "lenet":
        return keras.Sequential([keras.Input((32, 32, 1)), layers.Conv2D(6, 5, activation="tanh"),
                                 layers.MaxPooling2D(2), layers.Conv2D(12, 5, activation="tanh"),
                                 layers.MaxPooling2D(2), layers.Flatten(),
                                 layers.Dense(100, "tanh"), layers.Dense(10)])
    if model == "lstm":
        return keras.Sequential([keras.Input((50, 32)), layers.LSTM(128), layers.Dense(1)])
    src = keras.Input((length,), dtype="int32")
    x = layers.Embedding(cfg["vocab"], cfg["dim"])(src)
    x = x + layers.Embedding(length, cfg["dim"])(keras.ops.arange(length))[None]
    for _ in range(cfg["layers"]):
        h = layers.LayerNormalization(epsilon=1e-5)(x)
        x = x + layers.MultiHeadAttention(cfg["heads"], cfg["dim"] // cfg["heads"])(h, h)
        h = layers.LayerNormalization(epsilon=1e-5)(x)
        h = layers.Dense(cfg["ff"], activation=lambda v: keras.activations.gelu(v, False))(h)
        x = x + layers.Dense(cfg["dim"])(h)
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    return keras.Model(src, layers.Dense(cfg["vocab"])(x))


def keras_step(model: str, x, y, cfg=None):
    """Keras 3: the jitted train function `fit` runs, called on one batch."""
    import keras

    net = _keras_model(model, cfg, x.shape[1])
    loss = "mse" if model == "lstm" else keras.losses.SparseCategoricalCrossentropy(
        from_logits=True)
    net.compile(optimizer=keras.optimizers.Adam(LR), loss=loss, jit_compile=True)
    net.train_on_batch(x, y)  # builds the model, the optimizer and the train function
    state = net._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                               optimizer_variables=True, metrics_variables=True)
    holder = {"state": state}

    def run():
        logs, holder["state"] = net.train_function(holder["state"], iter([(x, y, None)]))
        return logs["loss"]

    return run


def available() -> dict[str, bool]:
    """Which optional peers are installed."""
    found = {}
    for name in ("flax", "keras"):
        try:
            __import__(name)
            found[name] = True
        except ImportError:
            found[name] = False
    return found
