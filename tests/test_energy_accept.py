"""Acceptance for energy-based models (issue 17), slow: `make accept` / `pytest -m slow`.

The RBM of specs/rbm.nn learns binarised digits (reconstruction error down at least 50% from
epoch 1, pseudo-log-likelihood up), and a hand-written JAX CD-1 of the same RBM, trained beside
it, confirms the threshold is a property of CD on these data, not of nndsl. The deep belief
net of specs/dbn.nn, fine-tuned with a tenth of the labels, beats the same classifier from
random initialisation (3 seeds, both numbers printed). On a tiny RBM whose partition function
is enumerated, the exact log-likelihood rises under the op's CD-1 as under a reference.
"""

import csv
import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nndsl.cli import main
from nndsl.data.sources import digits
from tests.conftest import ROOT
from tests.test_energy import (
    as_params,
    data,
    exact_log_likelihood,
    reference_cd1_step,
    tiny,
    tiny_params,
)

pytestmark = pytest.mark.slow


def _column(run_dir, name) -> list[float]:
    with open(run_dir / "metrics.csv") as f:
        return [float(row[name]) for row in csv.DictReader(f)]


def reference_recon(epochs=30, lr=0.1, momentum=0.5, batch=20, seed=0) -> list[float]:
    """Validation reconstruction error per epoch of a hand-written CD-1 RBM (64 x 64, glorot
    uniform weights, sgd with momentum as optax applies it) on the spec's data."""
    splits = digits({"val": 0.1, "test": 0.2, "seed": 0, "binary": True, "keep": 1.0})
    train = splits["train"]["x"].reshape(-1, 64)
    val = jnp.asarray(splits["val"]["x"].reshape(-1, 64))
    rng = np.random.RandomState(seed)
    limit = math.sqrt(6 / 128)
    p = {"w": jnp.asarray(rng.uniform(-limit, limit, (64, 64)), jnp.float32),
         "b": jnp.zeros(64), "b_visible": jnp.zeros(64)}
    velocity = jax.tree.map(jnp.zeros_like, p)

    @jax.jit
    def step(p, velocity, v, key):
        ascent = reference_cd1_step(p, v, key, 1.0)       # p + (CD-1 statistics)
        velocity = jax.tree.map(lambda m, a, q: momentum * m + (q - a), velocity, ascent, p)
        return jax.tree.map(lambda q, m: q - lr * m, p, velocity), velocity

    def recon(p):
        h = jax.nn.sigmoid(val @ p["w"] + p["b"])
        r = jax.nn.sigmoid(h @ p["w"].T + p["b_visible"])
        return float(jnp.mean(jnp.sum((val - r) ** 2, -1)))

    key, errors = jax.random.PRNGKey(seed), []
    for epoch in range(epochs):
        order = np.random.RandomState([seed, epoch]).permutation(len(train))
        for i in range(len(train) // batch):
            key, sub = jax.random.split(key)
            p, velocity = step(p, velocity, jnp.asarray(train[order[i * batch:(i + 1) * batch]]),
                               sub)
        errors.append(recon(p))
    return errors


def test_rbm_learns_binarised_digits(tmp_path):
    started = time.perf_counter()
    assert main(["train", str(ROOT / "specs" / "rbm.nn"), "--runs", str(tmp_path),
                 "--quiet"]) == 0
    run = tmp_path / "rbm-RBM"
    recon, pll = _column(run, "val_recon"), _column(run, "val_pll")
    reference = reference_recon()
    print(f"\nrbm.nn: val recon {recon[0]:.3f} -> {recon[-1]:.3f} "
          f"({1 - recon[-1] / recon[0]:.0%} down), val pll {pll[0]:.2f} -> {pll[-1]:.2f}; "
          f"reference CD-1: recon {reference[0]:.3f} -> {reference[-1]:.3f} "
          f"({1 - reference[-1] / reference[0]:.0%} down); {time.perf_counter() - started:.0f} s")
    assert reference[-1] <= 0.5 * reference[0]
    assert recon[-1] <= 0.5 * recon[0]
    assert pll[-1] > pll[0]
    assert abs(recon[-1] - reference[-1]) < 0.25 * reference[-1]
    assert (run / "gibbs.png").stat().st_size > 10_000


def test_exact_log_likelihood_rises_under_the_ops_cd1_as_under_a_reference(write_spec):
    compiled, x, lr = tiny(write_spec), data(60), 0.1
    start = tiny_params(seed=4, scale=0.1)

    @jax.jit
    def op_step(p, v, key):
        grads = jax.grad(lambda q: compiled.apply(
            {"rbm_0": q}, {}, {"v": v}, key, train=True)[0]["cd"])(p)
        return jax.tree.map(lambda a, g: a - lr * g, p, grads)

    def train(step, p, steps=300):
        for key in jax.random.split(jax.random.PRNGKey(0), steps):
            p = step(p, jnp.asarray(x), key)
        return {k: np.asarray(v, np.float64) for k, v in p.items()}

    ref_step = jax.jit(lambda p, v, key: reference_cd1_step(p, v, key, lr))
    jstart = as_params(start)["rbm_0"]
    before = exact_log_likelihood(start, x)
    ours = exact_log_likelihood(train(op_step, jstart), x)
    reference = exact_log_likelihood(train(ref_step, jstart), x)
    print(f"\ntiny RBM exact log-likelihood: {before:.3f} -> {ours:.3f} (nndsl), "
          f"{reference:.3f} (reference)")
    assert ours > before + 1.0 and reference > before + 1.0
    assert abs(ours - reference) < 0.2


def _accuracy(spec, runs, train, seed) -> float:
    out = runs / f"{train}-{seed}"
    assert main(["train", str(spec), "--train", train, "--runs", str(runs), "--quiet",
                 "--set", f"seed={seed}", "--out", str(out)]) == 0
    return json.loads((out / "results.json").read_text())["test"]["accuracy"]


def test_dbn_pretraining_beats_random_initialisation_with_a_tenth_of_the_labels(tmp_path):
    spec = ROOT / "specs" / "dbn.nn"
    for layer in ("rbm1", "rbm2"):
        assert main(["train", str(spec), "--train", layer, "--runs", str(tmp_path),
                     "--quiet"]) == 0
    pretrained = [_accuracy(spec, tmp_path, "finetune", s) for s in range(3)]
    scratch = [_accuracy(spec, tmp_path, "scratch", s) for s in range(3)]
    print(f"\ndbn.nn test accuracy, seeds 0-2: pretrained {pretrained} "
          f"(mean {np.mean(pretrained):.4f}), from random init {scratch} "
          f"(mean {np.mean(scratch):.4f})")
    assert np.mean(pretrained) > np.mean(scratch) + 0.01
