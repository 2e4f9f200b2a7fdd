"""explain, attack and adversarial training (issue 16), fast: the pure JAX functions on
small hand-made models, the commands on runs trained for one epoch, and their errors.
The thresholds on a trained DigitsLeNet are in test_probe_slow.py (`make accept`)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.fit.adversarial import adversarial_batch
from nndsl.fit.loop import Trainer, load_data
from nndsl.probe import attacks, gradients
from tests.conftest import CONTRACT, ROOT

ADVERSARIAL = ROOT / "specs" / "lenet5_adversarial.nn"

W = jax.random.normal(jax.random.PRNGKey(1), (6, 3))


def _logits(x):
    return jnp.tanh(x @ W) * 3.0


def _loss(labels):
    return lambda x: -jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(_logits(x)),
                                                  labels[:, None], axis=1))


def _data(n=64):
    x = jax.random.uniform(jax.random.PRNGKey(2), (n, 6))
    return x, jnp.argmax(_logits(x), axis=1)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_perturbation_stays_in_the_eps_ball_and_the_valid_range(method):
    x, labels = _data()
    eps, low, high = 0.2, 0.1, 0.9
    x = jnp.clip(x, low, high)
    adv = attacks.attack(method, _loss(labels), x, eps, low, high, 10, jax.random.PRNGKey(0))
    delta = np.asarray(adv - x)
    assert np.all(np.abs(delta) <= eps + 1e-6) and np.all(np.asarray(adv) >= low)
    assert np.all(np.asarray(adv) <= high) and np.abs(delta).max() > eps / 2


def test_fgsm_steps_along_the_gradient_sign_and_pgd_is_at_least_as_strong():
    x, labels = _data()
    grad = jax.grad(_loss(labels))(x)
    adv = attacks.fgsm(_loss(labels), x, 0.05, -10.0, 10.0)
    np.testing.assert_allclose(adv - x, 0.05 * np.sign(grad), atol=1e-6)
    pgd = attacks.pgd(_loss(labels), x, 0.05, -10.0, 10.0, 20, jax.random.PRNGKey(0))
    assert float(_loss(labels)(pgd)) >= float(_loss(labels)(adv)) > float(_loss(labels)(x))


def test_saliency_of_a_linear_score_is_its_weights():
    x, _ = _data(4)
    w = jnp.arange(6.0)

    def score(x):
        return x @ w

    key = jax.random.PRNGKey(0)
    for method in ("gradient", "smoothgrad"):
        np.testing.assert_allclose(gradients.saliency(score, x, method, key), np.tile(w, (4, 1)),
                                   rtol=1e-5)
    np.testing.assert_allclose(gradients.saliency(score, x, "gradient_x_input", key), x * w,
                               rtol=1e-5)


def test_activation_maximisation_rises_monotonically():
    images = jax.random.uniform(jax.random.PRNGKey(3), (3, 8, 8, 1)) * 0.1
    kernel = jax.random.normal(jax.random.PRNGKey(4), (8, 8, 1))

    def activation(x):
        return jnp.tanh(jnp.sum(x * kernel, axis=(1, 2, 3)) / 8)

    for jitter, rise in ((0, 0.5), (1, 0.05)):
        x, trace = gradients.maximise(activation, images, jax.random.PRNGKey(5), 0.0, 1.0,
                                      steps=60, rate=0.1, jitter=jitter)
        trace = np.asarray(trace)
        assert np.all(np.diff(trace, axis=0) >= 0)
        assert np.all(trace[-1] > np.asarray(activation(images)) + rise)
        assert float(jnp.min(x)) >= 0 and float(jnp.max(x)) <= 1


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-epoch runs of a classifier (the digits MLP) and non-classifiers (the
    autoencoder; XOR's MLP, inputs of two features), under one runs folder."""
    root = tmp_path_factory.mktemp("runs")
    made = {}
    for spec in ("mlp_digits", "autoencoder", "perceptron_xor"):
        made[spec] = nndsl.fit(CONTRACT / f"{spec}.nn", runs=root, epochs=1,
                               quiet=True)["run_dir"]
    return made


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_writes_bar_charts_for_features(runs, capsys, tmp_path):
    out = tmp_path / "xor.png"
    code, _, err = _cli(capsys, "explain", str(CONTRACT / "perceptron_xor.nn"), "--run",
                        str(runs["perceptron_xor"]), "--n", "4", "-o", str(out))
    assert code == 0, err
    assert out.stat().st_size > 1000


def test_explain_writes_a_grid_and_npz(runs, capsys, tmp_path):
    spec = str(CONTRACT / "mlp_digits.nn")
    png, npz = tmp_path / "s.png", tmp_path / "s.npz"
    code, out, err = _cli(capsys, "explain", spec, "--run", str(runs["mlp_digits"]), "--n",
                          "4", "-o", str(png))
    assert code == 0, err
    assert png.stat().st_size > 1000 and "valid range [0, 1]" in out
    code, out, err = _cli(capsys, "explain", spec, "--run", str(runs["mlp_digits"]), "--n",
                          "4", "--format", "npz", "--class", "3", "-o", str(npz))
    assert code == 0, err
    saved = np.load(npz)
    assert saved["maps"].shape == (4, 8, 8, 1) and list(saved["explained"]) == [3] * 4


def test_explain_maximise_and_attack_commands(runs, capsys, tmp_path):
    spec, run = str(CONTRACT / "mlp_digits.nn"), str(runs["mlp_digits"])
    code, out, err = _cli(capsys, "explain", spec, "--run", run, "--maximise", "dense_1:5",
                          "--steps", "20", "-o", str(tmp_path / "m.png"))
    assert code == 0, err
    assert "dense_1:5  activation" in out and (tmp_path / "m.png").exists()
    code, out, err = _cli(capsys, "attack", spec, "--run", run, "--method", "fgsm,pgd",
                          "--eps", "0.1", "--steps", "3", "--n", "4", "-o",
                          str(tmp_path / "a.png"))
    assert code == 0, err
    results = json.loads((tmp_path / "a.json").read_text())
    assert [a["method"] for a in results["attacks"]] == ["fgsm", "pgd"]
    assert results["valid_range"] == [0.0, 1.0]
    assert all(a["largest_change"] <= 0.1 + 1e-6 for a in results["attacks"])
    assert "0.1" in out and (tmp_path / "a.png").exists()


@pytest.mark.parametrize("spec,args,code,phrase", [
    ("autoencoder", ["explain", "--class", "3"], "E200", "needs a classifier"),
    ("autoencoder", ["attack", "--eps", "0.1"], "E200", "needs a classifier"),
    ("mlp_digits", ["explain", "--class", "10"], "E201", "classes 0 to 9"),
    ("mlp_digits", ["attack", "--eps", "0.1,2"], "E202", "outside (0, 1]"),
    ("mlp_digits", ["attack", "--eps", "lots"], "E202", "numbers separated"),
    ("mlp_digits", ["explain", "--maximise", "dense_7"], "E203", "did you mean `dense_1`"),
    ("mlp_digits", ["explain", "--maximise", "dense_1:500"], "E204", "units 0 to 127"),
])
def test_bad_input_is_a_located_error(runs, capsys, spec, args, code, phrase):
    status, _, err = _cli(capsys, args[0], str(CONTRACT / f"{spec}.nn"), "--run",
                          str(runs[spec]), *args[1:])
    assert status == 1 and f"error[{code}]" in err and phrase in err
    assert "Traceback" not in err


def test_a_run_of_another_spec_is_refused(runs, capsys):
    for spec, run in (("lenet5", "mlp_digits"), ("mlp_digits", "autoencoder")):
        status, _, err = _cli(capsys, "explain", str(CONTRACT / f"{spec}.nn"), "--run",
                              str(runs[run]))
        assert status == 1 and "error[E205]" in err and "Traceback" not in err
    status, _, err = _cli(capsys, "attack", str(CONTRACT / "mlp_digits.nn"), "--run",
                          str(runs["mlp_digits"]), "--set", "hidden=64")
    assert status == 1 and "error[E205]" in err


def test_adversarial_setting_is_checked_and_settable():
    spec = ADVERSARIAL
    assert nndsl.load(spec).plan().adversarial.values == {"eps": 0.15, "fields": ("x",)}
    assert nndsl.load(spec, {"adversarial.eps": 0.2}).plan().adversarial.values["eps"] == 0.2
    assert nndsl.load(spec).cost("DigitsLeNet").params == 33_078
    with pytest.raises(nndsl.SpecError, match="E024"):
        nndsl.load(spec, {"adversarial.eps": 1.5}).plan()


def test_adversarial_training_of_token_ids_is_refused(write_spec):
    text = (CONTRACT / "transformer.nn").read_text()
    spec = write_spec(text.replace("train {\n", "train {\n    adversarial = fgsm(eps=0.1)\n", 1))
    with pytest.raises(nndsl.SpecError, match="E207"):
        nndsl.load(spec).plan()


REGRESSION = """
network Sum {
    input x: [B, 10, 2]
    output y_hat = x -> flatten -> dense(1)
}
train {
    model       = Sum
    data        = adding(length=10, train=64, val=16, test=16)
    loss        = mse(y_hat, y)
    optimizer   = adam(lr=1e-3)
    adversarial = fgsm(eps=0.1)
    batch       = 16
}
"""


def test_adversarial_training_perturbs_the_models_inputs_not_its_float_targets(write_spec):
    plan = nndsl.load(write_spec(REGRESSION)).plan()
    assert plan.adversarial.values["fields"] == ("x",)
    trainer = Trainer(plan, load_data(plan), 1)
    params, state, _ = trainer.init(0)
    batch = {k: v[:8] for k, v in trainer.device_data["train"].items()}
    adv = adversarial_batch(trainer, params, state, batch, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(adv["y"], batch["y"])
    assert not np.array_equal(adv["x"], batch["x"])


def test_adversarial_batch_is_fgsm_of_the_current_parameters():
    plan = nndsl.load(ADVERSARIAL).plan()
    trainer = Trainer(plan, load_data(plan), 1)
    params, state, _ = trainer.init(0)
    batch = {k: v[:8] for k, v in trainer.device_data["train"].items()}
    rng = jax.random.PRNGKey(0)
    adv = adversarial_batch(trainer, params, state, batch, rng)
    key = jax.random.fold_in(rng, 1 << 21)

    def loss(x):
        return trainer.objective_loss(params, state, {**batch, "x": x}, key, 0)[0]

    want = jnp.clip(batch["x"] + 0.15 * jnp.sign(jax.grad(loss)(batch["x"])), 0, 1)
    np.testing.assert_allclose(adv["x"], want, atol=1e-6)
    assert np.array_equal(adv["y"], batch["y"])


def test_pgd_training_batch_stays_in_the_ball_and_the_range(write_spec):
    text = (CONTRACT / "mlp_digits.nn").read_text()
    spec = write_spec(text.replace("    seed      = 0\n",
                                   "    seed      = 0\n    adversarial = pgd(eps=0.1, steps=2)\n"))
    plan = nndsl.load(spec).plan()
    trainer = Trainer(plan, load_data(plan), 1)
    params, state, _ = trainer.init(0)
    batch = {k: v[:16] for k, v in trainer.device_data["train"].items()}
    adv = np.asarray(adversarial_batch(trainer, params, state, batch, jax.random.PRNGKey(0))["x"])
    delta = adv - np.asarray(batch["x"])
    assert np.all(np.abs(delta) <= 0.1 + 1e-6) and adv.min() >= 0 and adv.max() <= 1
    assert np.abs(delta).max() > 0.05
