"""`--set` reaches the train section: scalar settings and call arguments by dotted name,
checked like the spec's own values, recorded in config.json; unknown names are E073."""

import json

import pytest

import nndsl
from nndsl.cli import main
from nndsl.elab.settable import settable_names
from nndsl.source import SpecError
from tests.conftest import CONTRACT

MLP = CONTRACT / "mlp_digits.nn"
XOR = CONTRACT / "perceptron_xor.nn"
GAN = CONTRACT / "gan.nn"


def _config(run):
    return json.loads((run / "config.json").read_text())


def test_batch_and_epochs_set_on_the_command_line_train(tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(XOR), "--set", "batch=2", "--set", "epochs=1", "--out", str(run),
                 "--quiet"]) == 0
    config = _config(run)
    assert config["batch"] == 2 and config["settings"]["epochs"] == 1
    assert config["set"] == {"batch": 2, "epochs": 1}
    assert json.loads((run / "results.json").read_text())["epochs_run"] == 1


def test_the_optimizers_learning_rate_is_set(tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(XOR), "--set", "optimizer.lr=0.5", "--set", "epochs=1",
                 "--out", str(run), "--quiet"]) == 0
    assert _config(run)["objectives"][0]["lr"] == 0.5


def test_a_misspelt_setting_is_refused_with_the_nearest_name(capsys):
    assert main(["check", str(MLP), "--set", "optimiser.lr=1"]) == 1
    err = capsys.readouterr().err
    assert f"{MLP}: error[E073]: --set optimiser.lr: this spec has no hyperparameter" in err
    assert "did you mean `optimizer.lr`?" in err


@pytest.mark.parametrize("name,value,where,message", [
    ("batch", 0, "20:17", "--set batch=0: `batch` must be in [1, inf], got 0"),
    ("epochs", 2.5, "21:17", "--set epochs=2.5: `epochs`"),
    ("optimizer.lr", -1, "19:17", "--set optimizer.lr=-1: `lr` must be in (0, inf], got -1"),
    ("early_stopping.epochs", 0, "22:22", "--set early_stopping.epochs=0: `epochs`"),
    ("clip_grad_norm", 0, "14:1", "--set clip_grad_norm=0: `clip_grad_norm`"),
])
def test_set_values_are_checked_like_the_specs_own(name, value, where, message):
    with pytest.raises(SpecError) as exc:
        nndsl.load(MLP, {name: value}).plan()
    diagnostic = exc.value.diagnostics[0]
    assert diagnostic.code == "E024" and message in diagnostic.message
    # At the value the --set replaces; a setting the spec leaves out: at its train section.
    assert f"{diagnostic.span.line}:{diagnostic.span.column}" == where


def test_every_argument_of_the_sections_calls_is_settable():
    names = settable_names(nndsl.load(MLP).program.trains[0])
    assert names == ["batch", "epochs", "seed", "clip_grad_norm", "precision", "steps_per_dispatch",
                     "optimizer.lr",
                     "optimizer.b1", "optimizer.b2", "optimizer.eps", "early_stopping.epochs",
                     "early_stopping.monitor", "early_stopping.mode",
                     "early_stopping.min_delta"]
    plan = nndsl.load(MLP, {"early_stopping.mode": nndsl.ops.Word("max"), "seed": 3,
                            "early_stopping.min_delta": 0.1}).plan()
    assert plan.early_stopping.values["mode"] == "max" and plan.settings["seed"] == 3
    assert plan.early_stopping.values["min_delta"] == 0.1


def test_a_steps_optimizer_is_set_by_its_networks_name():
    plan = nndsl.load(GAN, {"Generator.optimizer.lr": 0.5}).plan()
    assert {o.network: o.optimizer.values["lr"] for o in plan.objectives} == {
        "Discriminator": 1e-3, "Generator": 0.5}
    with pytest.raises(SpecError, match="did you mean `Generator.optimizer.lr`"):
        nndsl.load(GAN, {"optimizer.lr": 0.5})


SHARED = """
network G { input z: [B, 2]; output x = z -> dense(2) }
network D { input x: [B, 2]; output s = x -> dense(1) }
train {
  data = ring(); z = normal([B, 2]); g = G(z); d = D(x)
  optimizer = sgd(lr=0.1)
  step D { loss = bce(d, 1) }
  step G { loss = bce(D(g), 1); optimizer = adam(lr=0.01) }
}
"""


def test_the_sections_optimizer_line_reaches_the_steps_that_inherit_it(write_spec):
    spec = write_spec(SHARED)
    plan = nndsl.load(spec, {"optimizer.lr": 0.5}).plan()
    assert [o.optimizer.values["lr"] for o in plan.objectives] == [0.5, 0.01]
    plan = nndsl.load(spec, {"optimizer.lr": 0.5, "D.optimizer.lr": 0.2}).plan()
    assert [o.optimizer.values["lr"] for o in plan.objectives] == [0.2, 0.01]


def test_zero_epochs_is_an_error_not_the_sections_value(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", str(XOR), "--epochs", "0", "--out", str(tmp_path / "r")])
    assert "takes a whole number >= 1, not `0`" in capsys.readouterr().err
    with pytest.raises(ValueError, match="epochs must be a whole number >= 1, not 0"):
        nndsl.fit(XOR, epochs=0, out=tmp_path / "r", quiet=True)
    with pytest.raises(ValueError, match="not 0"):
        nndsl.load(XOR).training(epochs=0)
    assert not (tmp_path / "r").exists()
