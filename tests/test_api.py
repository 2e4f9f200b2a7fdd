"""The Python API: compile → pure JAX functions, a train section's loss and step, fit,
evaluate and load_run, each checked against what the CLI does with the same spec."""

import json
import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.fit import checkpoint
from tests.conftest import CONTRACT, ROOT

MLP = CONTRACT / "mlp_digits.nn"
DOC = ROOT / "docs" / "api.md"
EXAMPLES = ("custom_loop.py", "fit_and_run.py")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """mlp_digits trained for 2 epochs by `nndsl train`."""
    run = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", str(MLP), "--epochs", "2", "--out", str(run), "--quiet"]) == 0
    return run


def test_import_and_check_never_load_jax():
    code = ("import sys, nndsl\n"
            f"assert nndsl.load({str(MLP)!r}).check().ok\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'optax')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "[]"


def test_fit_stays_the_function_when_the_runtime_package_is_imported():
    import nndsl.fit.run  # noqa: F401

    assert nndsl.fit is nndsl.runs.fit and callable(nndsl.fit)


def test_compile_init_apply_shapes_and_parameter_counts():
    model = nndsl.load(MLP).compile("MLP")
    assert model.input_shapes == {"x": ("B", 8, 8, 1)} and model.output_names == ("logits",)
    assert model.param_count == 26_122 and model.state_count == 0
    params, state = model.init(0)
    shapes = {f"{layer}.{name}": v.shape for layer, leaves in params.items()
              for name, v in leaves.items()}
    assert shapes == {"dense_0.w": (64, 128), "dense_0.b": (128,), "dense_1.w": (128, 128),
                      "dense_1.b": (128,), "dense_2.w": (128, 10), "dense_2.b": (10,)}
    assert sum(v.size for leaves in params.values() for v in leaves.values()) == 26_122
    outputs, new_state = model.apply(params, state, {"x": np.zeros((5, 8, 8, 1), np.float32)})
    assert outputs["logits"].shape == (5, 10) and new_state == {}


def test_batch_statistics_are_state():
    model = nndsl.load(CONTRACT / "digits_cnn.nn").compile()
    assert model.name == "DigitsCNN" and model.param_count == 62_506
    params, state = model.init(1)
    assert set(state) == {"batchnorm_0", "batchnorm_1", "batchnorm_2"}
    x = np.random.RandomState(0).rand(4, 8, 8, 1).astype(np.float32)
    _, trained = model.apply(params, state, {"x": x}, rng=jax.random.PRNGKey(0), train=True)
    _, frozen = model.apply(params, state, {"x": x})
    assert not np.allclose(trained["batchnorm_0"]["mean"], state["batchnorm_0"]["mean"])
    np.testing.assert_array_equal(frozen["batchnorm_0"]["mean"], state["batchnorm_0"]["mean"])


def test_apply_equals_predict_on_the_same_run(cli_run, tmp_path):
    x = nndsl.load(MLP).training().data()["test"]["x"][:50]
    np.savez(tmp_path / "in.npz", x=x)
    assert main(["predict", str(MLP), "--run", str(cli_run), "--input",
                 str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz")]) == 0
    predicted = np.load(tmp_path / "out.npz")["logits"]
    run = nndsl.load_run(cli_run)
    outputs, _ = run.model.apply(run.params, run.state, {"x": x})
    np.testing.assert_array_equal(np.asarray(outputs["logits"]), predicted)
    np.testing.assert_allclose(np.asarray(run({"x": x})["logits"]), predicted, rtol=1e-5,
                               atol=1e-6)


STEP_SPEC = """\
network N {
    input x: [B, 8, 8, 1]
    output logits = x -> conv(4, 3, pad=same) -> batchnorm -> relu -> flatten
                      -> dropout(0.5) -> dense(10)
}
train {
    model = N
    data = digits(val=0.1, test=0.2, seed=0)
    augment = random_shift(1)
    loss = cross_entropy(logits, y) + 1e-3 * l2(params)
    metrics = accuracy(logits, y)
    optimizer = sgd(lr=1.0)
    batch = 32
}
"""


def test_loss_fn_gradient_is_the_cli_steps(write_spec):
    """With sgd(lr=1) the step moves every parameter by minus its gradient: the gradient of
    `loss_fn` (augmentation, dropout and batch statistics included) must be that move."""
    task = nndsl.load(write_spec(STEP_SPEC)).training()
    params, state = task.init()
    batch = {k: v[:32] for k, v in task.data()["train"].items()}
    rng = jax.random.PRNGKey(7)
    (loss, (metrics, new_state)), grads = jax.value_and_grad(task.loss_fn, has_aux=True)(
        params, state, batch, rng)
    assert set(metrics) == {"accuracy"}
    copy = jax.tree.map(np.array, (params, state))  # the step donates its inputs
    stepped, stepped_state, _, losses, ok = task.train_step(
        *jax.tree.map(jax.numpy.asarray, copy), task.init_opt(params), batch, rng)
    assert bool(ok) and float(losses[0]) == pytest.approx(float(loss), rel=1e-6)
    for layer, leaves in grads.items():
        for name, grad in leaves.items():
            moved = copy[0][layer][name] - np.asarray(stepped[layer][name])
            np.testing.assert_allclose(moved, grad, rtol=1e-4, atol=1e-6,
                                       err_msg=f"{layer}.{name}")
    np.testing.assert_allclose(stepped_state["batchnorm_0"]["var"],
                               new_state["batchnorm_0"]["var"], rtol=1e-6)


def test_fit_is_nndsl_train_and_load_run_brings_it_back(cli_run, tmp_path):
    results = nndsl.fit(MLP, out=tmp_path / "api", epochs=2, quiet=True)
    saved = json.loads((tmp_path / "api" / "results.json").read_text())
    assert {k: v for k, v in results.items() if k != "run_dir"} == saved
    assert results["run_dir"] == tmp_path / "api" and results["epochs_run"] == 2
    api, cli = (checkpoint.read(d / "last.ckpt")["params"] for d in (tmp_path / "api", cli_run))
    for layer in cli:
        for name in cli[layer]:
            np.testing.assert_array_equal(api[layer][name], cli[layer][name])
    run = nndsl.load_run(results["run_dir"])
    best = checkpoint.read(tmp_path / "api" / "best.ckpt")["params"]
    assert run.model.name == "MLP" and run.spec.path == tmp_path / "api" / "spec.nn"
    assert run.results == saved and run.config["settings"]["epochs"] == 2
    assert {k: set(v) for k, v in run.params.items()} == {k: set(v) for k, v in best.items()}
    for layer in best:
        for name in best[layer]:
            np.testing.assert_array_equal(run.params[layer][name], best[layer][name])


def test_load_run_uses_the_runs_set_values(tmp_path):
    nndsl.fit(MLP, out=tmp_path / "r", epochs=1, overrides={"hidden": 16}, quiet=True)
    run = nndsl.load_run(tmp_path / "r")
    assert run.spec.overrides == {"hidden": 16} and run.model.param_count == 1_482
    assert run({"x": np.zeros((3, 8, 8, 1), np.float32)})["logits"].shape == (3, 10)


def test_evaluate_equals_nndsl_eval(cli_run, capsys):
    values = nndsl.evaluate(MLP, cli_run, "test")
    assert values == json.loads((cli_run / "results.json").read_text())["test"]
    capsys.readouterr()
    assert main(["eval", str(MLP), "--run", str(cli_run), "--split", "val"]) == 0
    val = nndsl.evaluate(nndsl.load(MLP), cli_run, split="val")
    assert capsys.readouterr().out.strip() == "val: " + "  ".join(
        f"{k} {v:.4f}" for k, v in val.items())


def test_errors_are_located_spec_errors(tmp_path):
    spec = nndsl.load(MLP)
    with pytest.raises(nndsl.SpecError) as caught:
        spec.compile("Mlp")
    first = caught.value.diagnostics[0]
    assert first.code == "E070" and "no network `Mlp`" in first.message
    assert "MLP" in first.hint
    with pytest.raises(nndsl.SpecError, match="no `train fast` section"):
        spec.training("fast")
    with pytest.raises(nndsl.SpecError, match="is not a run directory: it has no config.json"):
        nndsl.load_run(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(nndsl.SpecError, match=r"no checkpoint at .*best.ckpt: train first"):
        nndsl.load_run(tmp_path)
    with pytest.raises(nndsl.SpecError, match="E083|no checkpoint") as caught:
        nndsl.evaluate(MLP, tmp_path)
    assert caught.value.diagnostics[0].code == "E083"
    with pytest.raises(KeyError, match="MLP needs the input"):
        spec.compile().apply({}, {}, {"image": np.zeros((1, 8, 8, 1))})


def test_the_doc_shows_the_examples_verbatim_and_the_readme_links_it():
    doc = DOC.read_text()
    for name in EXAMPLES:
        assert (ROOT / "docs" / "examples" / name).read_text() in doc, name
    assert "(docs/api.md)" in (ROOT / "README.md").read_text()


def _example(name: str, *args: str, epochs: int | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if epochs is not None:
        env["NNDSL_EXAMPLE_EPOCHS"] = str(epochs)
    out = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / name), *args],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _accuracy(stdout: str) -> float:
    return float(re.findall(r"test accuracy (\d\.\d+)", stdout)[-1])


def test_the_examples_run(tmp_path):
    assert _accuracy(_example("custom_loop.py", epochs=3)) > 0.6
    out = _example("fit_and_run.py", str(tmp_path / "run"), epochs=2)
    assert "MLP: test accuracy" in out and (tmp_path / "run" / "best.ckpt").is_file()


@pytest.mark.slow
def test_a_custom_loop_reaches_the_accuracy_of_nndsl_train(tmp_path):
    custom = _accuracy(_example("custom_loop.py"))
    assert main(["train", str(MLP), "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())["test"]
    print(f"custom loop {custom:.4f}, nndsl train {cli['accuracy']:.4f}")
    assert custom >= 0.97 and cli["accuracy"] >= 0.97
    assert abs(custom - cli["accuracy"]) <= 0.01


def test_load_run_checks_names_and_shapes_as_eval_does(cli_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "set": {"hidden": 32}}))
    with pytest.raises(nndsl.SpecError, match=r"tensor `dense_0.w` is \[64, 128\] in the "
                       r"run but \[64, 32\] in this spec") as caught:
        nndsl.load_run(run)
    assert caught.value.diagnostics[0].code == "E092"
