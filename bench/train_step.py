"""Train-step speed of nndsl against a hand-written JAX model in the same run.

    python bench/train_step.py

For the MLP 784-200-200-10 and LeNet-5 (batch 32 and 256): the median time of nndsl's
compiled train step (the one `nndsl train` runs) and of a hand-written jax.jit step of the
same architecture with the same optax optimizer, and their ratio (target <= 1.0). Then the
compile time of DigitsResNet at depth 24 and 96 (target: 96 <= 1.5 x 24), and the time from
command to first training step of LeNet (target < 3 s). Results go to docs/benchmarks.md by
hand: numbers depend on the machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nndsl.fit.loop import Trainer  # noqa: E402
from nndsl.spec import load  # noqa: E402

SPECS = ROOT / "bench" / "specs"


def _data(name: str, shape: tuple[int, ...], n: int = 2048, target: bool = False) -> None:
    """Synthetic data: x of `shape`, and class labels y (or a regression `target`)."""
    rng = np.random.RandomState(0)
    labels = {"target": rng.rand(n, 1).astype(np.float32)} if target else \
        {"y": rng.randint(10, size=n).astype(np.int32)}
    np.savez(SPECS / f"{name}.npz", x=rng.rand(n, *shape).astype(np.float32), **labels)


def _timed(step) -> float:
    start = time.perf_counter()
    jax.block_until_ready(step())
    return time.perf_counter() - start


def compare(ours, hand, rounds: int = 60) -> tuple[float, float]:
    """Median step times, the two steps alternating so that machine noise hits both alike."""
    _timed(ours), _timed(hand)
    pairs = [(_timed(ours), _timed(hand)) for _ in range(rounds)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def nndsl_step(spec: str, train: str | None, batch: int):
    """nndsl's own jitted train step (as `nndsl train` runs it) on one fixed batch."""
    plan = load(SPECS / spec).plan(train)
    from nndsl.fit.loop import load_data

    trainer = Trainer(plan, load_data(plan), 1)
    trainer.batch = batch
    params, state, opt_states = trainer.init(0)
    data = {k: v[:batch] for k, v in trainer.device_data["train"].items()}
    key = jax.random.PRNGKey(0)

    # Donation consumes the buffers: feed each call the previous call's outputs.
    holder = {"args": (params, state, opt_states)}

    def step():
        p, s, o, loss, ok = trainer.step(*holder["args"], data, key)
        holder["args"] = (p, s, o)
        return loss

    step.lower = lambda: trainer.step.lower(*holder["args"], data, key)  # profile_step.py
    return step


def _hand_mlp(params, x):
    for i, (w, b) in enumerate(params):
        x = x @ w + b
        if i < len(params) - 1:
            x = jax.nn.relu(x)
    return x


def _hand_lenet(params, x):
    def conv(x, w, b):
        return jax.lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC")) + b

    def pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                     "VALID")

    (w1, b1), (w2, b2), (w3, b3), (w4, b4) = params
    x = pool(jnp.tanh(conv(x, w1, b1)))
    x = pool(jnp.tanh(conv(x, w2, b2)))
    x = jnp.tanh(x.reshape(x.shape[0], -1) @ w3 + b3)
    return x @ w4 + b4


def hand_step(model, shapes, x_shape, batch: int):
    """A hand-written jax.jit train step of the same architecture and optimizer."""
    keys = jax.random.split(jax.random.PRNGKey(0), len(shapes))
    params = [(jax.nn.initializers.glorot_uniform(in_axis=-2, out_axis=-1)(k, s),
               jnp.zeros(s[-1])) for k, s in zip(keys, shapes)]
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    x = jnp.asarray(np.random.rand(batch, *x_shape).astype(np.float32))
    y = jnp.asarray(np.random.randint(10, size=batch).astype(np.int32))

    def loss_fn(p, x, y):
        logits = model(p, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    # The batch is an argument, as in any training loop (not a constant baked into the step).
    @jax.jit
    def step(p, s, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    holder = {"args": (params, opt_state)}

    def run():
        p, s, loss = step(*holder["args"], x, y)
        holder["args"] = (p, s)
        return loss

    run.lower = lambda: step.lower(*holder["args"], x, y)  # for bench/profile_step.py
    return run


def hand_lstm_step(batch: int, length: int = 50, features: int = 32, hidden: int = 128):
    """A hand-written lax.scan LSTM with the standard library's equations and layout."""
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    glorot = jax.nn.initializers.glorot_uniform()
    params = {"wx": glorot(k[0], (features, 4 * hidden)), "b": jnp.zeros(4 * hidden),
              "wh": glorot(k[1], (hidden, 4 * hidden)), "wo": glorot(k[2], (hidden, 1)),
              "bo": jnp.zeros(1)}
    opt = optax.adam(1e-3)
    x = jnp.asarray(np.random.rand(batch, length, features).astype(np.float32))
    target = jnp.asarray(np.random.rand(batch, 1).astype(np.float32))

    def loss_fn(p, x, target):
        def cell(carry, x_t):
            h, c = carry
            i, f, g, o = jnp.split(x_t @ p["wx"] + p["b"] + h @ p["wh"], 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        zeros = jnp.zeros((batch, hidden))
        (h, _), _ = jax.lax.scan(cell, (zeros, zeros), jnp.moveaxis(x, 1, 0))
        return jnp.mean((h @ p["wo"] + p["bo"] - target) ** 2)

    @jax.jit
    def step(p, s, x, target):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, target)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    holder = {"args": (params, opt.init(params))}

    def run():
        p, s, loss = step(*holder["args"], x, target)
        holder["args"] = (p, s)
        return loss

    run.lower = lambda: step.lower(*holder["args"], x, target)  # for bench/profile_step.py
    return run


def synthetic(plan, n: int = 64) -> dict:
    """Arrays shaped like the plan's inputs (compile time does not depend on values)."""
    fields = {}
    for name, ref in plan.graph.inputs.items():
        t = plan.graph.type_of(ref)
        shape = tuple(d if isinstance(d, int) else n for d in t.shape)
        fields[name] = np.zeros(shape, np.int32 if t.dtype == "i32" else np.float32)
    return {split: fields for split in ("train", "val", "test")}


def compile_seconds(spec_path: Path, overrides: dict, train: str | None = None) -> float:
    """Compile time of the train step alone (lowering and XLA compilation)."""
    plan = load(spec_path, overrides).plan(train)
    trainer = Trainer(plan, synthetic(plan), 1)
    params, state, opt_states = trainer.init(0)
    batch = {k: v[:64] for k, v in trainer.device_data["train"].items()}
    start = time.perf_counter()
    trainer.step.lower(params, state, opt_states, batch, jax.random.PRNGKey(0)).compile()
    return time.perf_counter() - start


def first_step_seconds(cache: str) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    out = subprocess.run([sys.executable, "-m", "nndsl.cli", "train",
                          str(SPECS / "lenet32.nn"), "--epochs", "1", "--quiet",
                          "--out", str(Path(cache) / "run"), "--overwrite"],
                         capture_output=True, text=True, cwd=ROOT, check=True, env=env)
    line = next(x for x in out.stdout.splitlines() if "first step" in x)
    return float(line.split("after")[1].split("s")[0])


def main() -> None:
    _data("mlp784", (784,))
    _data("lenet32", (32, 32, 1))
    _data("lstm", (50, 32), target=True)
    mlp_shapes = [(784, 200), (200, 200), (200, 10)]
    lenet_shapes = [(5, 5, 1, 6), (5, 5, 6, 12), (300, 100), (100, 10)]
    print(f"jax {jax.__version__} on {jax.default_backend()}")
    print(f"{'model':<10} {'batch':>5} {'nndsl ms':>9} {'hand ms':>9} {'ratio':>6}")
    for name, spec, train, model, shapes, x_shape in (
            ("MLP", "mlp784.nn", None, _hand_mlp, mlp_shapes, (784,)),
            ("LeNet-5", "lenet32.nn", "bench", _hand_lenet, lenet_shapes, (32, 32, 1))):
        for batch in (32, 256):
            ours, hand = compare(nndsl_step(spec, train, batch),
                                 hand_step(model, shapes, x_shape, batch))
            print(f"{name:<10} {batch:>5} {ours * 1e3:>9.3f} {hand * 1e3:>9.3f} "
                  f"{ours / hand:>6.2f}")
    ours, hand = compare(nndsl_step("lstm.nn", None, 64), hand_lstm_step(64))
    print(f"{'LSTM':<10} {64:>5} {ours * 1e3:>9.3f} {hand * 1e3:>9.3f} {ours / hand:>6.2f}")
    resnet = ROOT / "specs" / "resnet.nn"
    c24, c96 = compile_seconds(resnet, {"depth": 24}), compile_seconds(resnet, {"depth": 96})
    print(f"DigitsResNet compile: depth 24 {c24:.2f} s, depth 96 {c96:.2f} s, "
          f"ratio {c96 / c24:.2f} (target <= 1.5)")
    times = {}
    for length in (50, 200):
        _data("lstm", (length, 32), target=True)
        times[length] = compile_seconds(SPECS / "lstm.nn", {"T": length})
    t50, t200 = times[50], times[200]
    print(f"LSTM compile: T=50 {t50:.2f} s, T=200 {t200:.2f} s, ratio {t200 / t50:.2f}")
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = first_step_seconds(cache), first_step_seconds(cache)
    print(f"LeNet command to first training step: {cold:.2f} s cold, {warm:.2f} s with the "
          "compilation cache (target < 3 s)")


if __name__ == "__main__":
    main()
