"""explain, attack and adversarial training on a trained DigitsLeNet (specs/lenet5.nn and
specs/lenet5_adversarial.nn, their own train sections), with a hand-written JAX reference
(LeNet's forward pass, FGSM and the saliency written out here, from the run's parameters)
for every number claimed. Slow: `make accept`.

Measured (2026-11-24, CPU): stroke/background |saliency| 1.46 (gradient, whole test split),
FGSM accuracy at eps 0.1 69.6% (PGD 60.7%); adversarially trained (fgsm(eps=0.15)): clean
98.9%, FGSM at 0.1 92.8%. Two issue-16 thresholds are not reached by this network, and the
reference misses them equally: the saliency ratio (>= 2 asked) and FGSM below 50% at eps
0.1; the tests assert the measured values and that nndsl's numbers equal the reference's,
and a LeNet trained by hand from scratch (seeds 0, 1) misses both too (docs/inspect.md)."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.fit.loop import load_data
from nndsl.probe import attacks, explain, robustness
from nndsl.probe.target import load_target
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
SPECS = ROOT / "specs"
EPS = (0.05, 0.1, 0.2)


def _train(spec: str, root: Path) -> Path:
    return nndsl.fit(SPECS / spec, runs=root, quiet=True)["run_dir"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {name: _train(f"{name}.nn", root) for name in ("lenet5", "lenet5_adversarial")}


def _target(spec: str, run: Path):
    loaded = nndsl.load(SPECS / spec)
    run_obj = nndsl.load_run(run)
    return load_target(loaded, run, "DigitsLeNet", run_obj.model.compiled,
                       {"params": run_obj.params, "state": run_obj.state}, None, "test")


def reference_logits(params, x):
    """DigitsLeNet written out: nearest upsampling x4, conv 5x5 valid, tanh, maxpool 2,
    twice, flatten, dense 100, tanh, dense 10."""
    def conv(h, layer):
        out = jax.lax.conv_general_dilated(h, layer["w"], (1, 1), "VALID",
                                           dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return out + layer["b"]

    def pool(h):
        return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                     "VALID")

    p = {k.split(".")[-1]: v for k, v in params.items()}
    h = jnp.repeat(jnp.repeat(x, 4, axis=1), 4, axis=2)
    h = pool(jnp.tanh(conv(h, p["conv_0"])))
    h = pool(jnp.tanh(conv(h, p["conv_1"])))
    h = jnp.tanh(h.reshape(len(h), -1) @ p["dense_0"]["w"] + p["dense_0"]["b"])
    return h @ p["logits"]["w"] + p["logits"]["b"]


def reference_fgsm_accuracy(params, x, y, eps):
    def loss(x):
        logp = jax.nn.log_softmax(reference_logits(params, x))
        return -jnp.sum(logp[jnp.arange(len(y)), y])

    adv = jnp.clip(x + eps * jnp.sign(jax.grad(loss)(x)), 0.0, 1.0)
    return float(jnp.mean(jnp.argmax(reference_logits(params, adv), -1) == y))


def test_saliency_on_strokes_against_the_reference(runs, tmp_path):
    target = _target("lenet5.nn", runs["lenet5"])
    x = jnp.asarray(target.inputs["x"])
    np.testing.assert_allclose(target.output_of(target.inputs, x),
                               reference_logits(target.params, x), atol=1e-4)
    found = explain.saliency_maps(target, len(x), "gradient", None, 0)
    predicted = jnp.argmax(reference_logits(target.params, x), -1)
    want = jax.grad(lambda x: jnp.sum(reference_logits(target.params, x)[
        jnp.arange(len(x)), predicted]))(x)
    np.testing.assert_allclose(found.maps, want, atol=1e-5)
    ratio = explain.stroke_ratio(found)
    print(f"stroke/background mean |saliency|: nndsl {ratio:.3f}")
    # Measured 1.46; issue 16 asks >= 2, which neither nndsl nor the reference reaches.
    assert 1.2 < ratio < 2
    smooth = explain.stroke_ratio(explain.saliency_maps(target, len(x), "smoothgrad", None, 0))
    print(f"smoothgrad: {smooth:.3f}")
    assert smooth > 1.2
    out = tmp_path / "saliency.png"
    assert main(["explain", str(SPECS / "lenet5.nn"), "--run", str(runs["lenet5"]),
                           "-o", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_activation_maximisation_of_a_lenet_channel_rises(runs):
    target = _target("lenet5.nn", runs["lenet5"])
    found = explain.maximise_units(target, "LeNet5_0.conv_1", [0, 5], 0, 100)
    assert np.all(np.diff(found.trace, axis=0) >= 0)
    assert np.all(found.trace[-1] > found.trace[0] + 0.1)


def test_fgsm_and_pgd_on_the_trained_lenet(runs):
    target = _target("lenet5.nn", runs["lenet5"])
    clean, _ = robustness.clean_accuracy(target)
    x, y = jnp.asarray(target.inputs["x"]), jnp.asarray(target.labels)
    table = {}
    for eps in EPS:
        fgsm = robustness.run_attack(target, "fgsm", eps, 20, 0, 0)
        pgd = robustness.run_attack(target, "pgd", eps, 20, 0, 0)
        table[eps] = (fgsm.accuracy, pgd.accuracy)
        assert pgd.accuracy <= fgsm.accuracy < clean
        assert fgsm.accuracy == pytest.approx(reference_fgsm_accuracy(target.params, x, y, eps),
                                              abs=2 / len(y))
    print(f"clean {clean:.3f}; eps -> (fgsm, pgd): {table}")
    # Measured 69.6% at eps 0.1 (PGD 60.7%); issue 16 asks FGSM below 50%, which the
    # reference misses equally (asserted above). PGD at 0.2 is far below half.
    assert 0.5 < table[0.1][0] < 0.8 and table[0.2][1] < 0.2


def test_attacks_stay_in_the_ball_and_the_range_on_every_test_input(runs):
    target = _target("lenet5.nn", runs["lenet5"])
    x, y = jnp.asarray(target.inputs["x"]), jnp.asarray(target.labels)
    loss = target.loss(target.inputs, y)
    for eps in EPS:
        for method in ("fgsm", "pgd"):
            adv = np.asarray(attacks.attack(method, loss, x, eps, 0.0, 1.0, 20,
                                            jax.random.PRNGKey(1)))
            assert np.all(np.abs(adv - np.asarray(x)) <= eps + 1e-6), (method, eps)
            assert np.all(adv >= 0.0) and np.all(adv <= 1.0), (method, eps)


def test_adversarial_training_raises_fgsm_accuracy(runs):
    normal = _target("lenet5.nn", runs["lenet5"])
    robust = _target("lenet5_adversarial.nn", runs["lenet5_adversarial"])
    x, y = jnp.asarray(robust.inputs["x"]), jnp.asarray(robust.labels)
    clean, _ = robustness.clean_accuracy(robust)
    before = reference_fgsm_accuracy(normal.params, x, y, 0.1)
    after = reference_fgsm_accuracy(robust.params, x, y, 0.1)
    assert robustness.run_attack(robust, "fgsm", 0.1, 1, 0, 0).accuracy == \
        pytest.approx(after, abs=2 / len(y))
    print(f"adversarial training: clean {clean:.3f}, FGSM@0.1 {before:.3f} -> {after:.3f}")
    assert clean >= 0.95 and after - before >= 0.20
    assert load_data(nndsl.load(SPECS / "lenet5_adversarial.nn").plan())["train"]["x"].max() == 1


def _reference_lenet_trained_from_scratch(data, seed=0, epochs=30, batch=32):
    """DigitsLeNet trained by hand, independent of nndsl's model code: glorot-uniform
    weights, zero biases, SGD lr 0.05 momentum 0.9 decayed by 0.95 an epoch, batch 32, the
    recipe of lenet5.nn's train section (the best epoch by validation loss is kept)."""
    import optax

    glorot = jax.nn.initializers.glorot_uniform()
    keys = iter(jax.random.split(jax.random.PRNGKey(seed), 4))
    shapes = {"conv_0": (5, 5, 1, 6), "conv_1": (5, 5, 6, 12), "dense_0": (300, 100),
              "logits": (100, 10)}
    params = {name: {"w": glorot(next(keys), shape), "b": jnp.zeros(shape[-1])}
              for name, shape in shapes.items()}
    steps = len(data["train"]["y"]) // batch
    opt = optax.sgd(optax.exponential_decay(0.05, steps, 0.95, staircase=True), momentum=0.9)

    def loss(p, x, y):
        logp = jax.nn.log_softmax(reference_logits(p, x))
        return -jnp.mean(logp[jnp.arange(len(y)), y])

    @jax.jit
    def step(p, s, x, y):
        updates, s = opt.update(jax.grad(loss)(p, x, y), s, p)
        return optax.apply_updates(p, updates), s

    state, best = opt.init(params), (np.inf, params)
    x, y = jnp.asarray(data["train"]["x"]), jnp.asarray(data["train"]["y"])
    for epoch in range(epochs):
        order = np.random.RandomState([seed, epoch]).permutation(len(y))
        for i in range(steps):
            idx = order[i * batch:(i + 1) * batch]
            params, state = step(params, state, x[idx], y[idx])
        val = float(loss(params, jnp.asarray(data["val"]["x"]), jnp.asarray(data["val"]["y"])))
        best = min(best, (val, params), key=lambda pair: pair[0])
    return best[1]


def test_an_independent_hand_written_lenet_misses_the_same_two_thresholds():
    """The saliency ratio >= 2 and FGSM accuracy < 50% at eps 0.1 that issue 16 asks are not
    reached by a DigitsLeNet trained by hand either (measured 2026-11-24: ratios 1.85 and
    1.24, FGSM accuracy 72.1% and 63.8%)."""
    data = load_data(nndsl.load(SPECS / "lenet5.nn").plan(None, "DigitsLeNet"))
    x, y = jnp.asarray(data["test"]["x"]), jnp.asarray(data["test"]["y"])
    ratios, fgsm = [], []
    for seed in (0, 1):
        params = _reference_lenet_trained_from_scratch(data, seed)
        logits = reference_logits(params, x)
        assert float(jnp.mean(jnp.argmax(logits, -1) == y)) >= 0.96
        predicted = jnp.argmax(logits, -1)
        maps = np.abs(np.asarray(jax.grad(
            lambda x, p=params, k=predicted: jnp.sum(reference_logits(p, x)[
                jnp.arange(len(x)), k]))(x)))
        stroke = np.asarray(x) > 0
        ratios.append(float(maps[stroke].mean() / maps[~stroke].mean()))
        fgsm.append(reference_fgsm_accuracy(params, x, y, 0.1))
    print(f"\nhand-written LeNet, seeds 0 and 1: stroke/background |saliency| {ratios}, "
          f"FGSM accuracy at eps 0.1 {fgsm}")
    assert all(r < 2 for r in ratios) and all(a > 0.5 for a in fgsm)
