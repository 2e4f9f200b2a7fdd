"""Training from the command line: it learns, it resumes exactly, it fails clearly."""

import json
import re

import numpy as np
import pytest

from nndsl.cli import main
from nndsl.fit import checkpoint
from tests.conftest import CONTRACT

XOR = CONTRACT / "perceptron_xor.nn"


def results(run_dir):
    return json.loads((run_dir / "results.json").read_text())["test"]


def test_xor_mlp_learns_and_the_perceptron_cannot(tmp_path):
    assert main(["train", str(XOR), "--out", str(tmp_path / "mlp"), "--quiet"]) == 0
    assert results(tmp_path / "mlp")["binary_accuracy"] == 1.0
    assert main(["train", str(XOR), "--model", "Perceptron", "--out", str(tmp_path / "p"),
                 "--quiet"]) == 0
    assert results(tmp_path / "p")["binary_accuracy"] <= 0.75
    for name in ("spec.nn", "config.json", "best.ckpt", "last.ckpt", "metrics.csv",
                 "curves.png"):
        assert (tmp_path / "mlp" / name).is_file(), name


def _params(run_dir):
    return checkpoint.read(run_dir / "last.ckpt")["params"]


def test_resume_reaches_the_same_parameters(tmp_path, write_spec):
    spec = str(CONTRACT / "mlp_digits.nn")
    assert main(["train", spec, "--epochs", "4", "--out", str(tmp_path / "full"),
                 "--quiet"]) == 0
    assert main(["train", spec, "--epochs", "2", "--out", str(tmp_path / "part"),
                 "--quiet"]) == 0
    assert main(["train", spec, "--epochs", "4", "--resume", str(tmp_path / "part"),
                 "--quiet"]) == 0
    full, resumed = _params(tmp_path / "full"), _params(tmp_path / "part")
    for layer in full:
        for name in full[layer]:
            np.testing.assert_array_equal(full[layer][name], resumed[layer][name])


def test_labels_out_of_range(write_spec, capsys):
    text = ("network N {\n  input x: [B, 8, 8, 1]\n  output z = x -> flatten -> dense(5)\n}\n"
            "train {\n  model = N\n  data = digits()\n  loss = cross_entropy(z, y)\n"
            "  optimizer = adam()\n}\n")
    assert main(["train", str(write_spec(text)), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "E081" in err and "logits have 5 classes" in err and ":8:10" in err


def test_non_finite_loss_names_step_and_layer(write_spec, capsys, tmp_path):
    text = ("network N {\n  input x: [B, 8, 8, 1]\n  h = x -> flatten -> dense(10)\n"
            "  output z = (h * 1000) -> exp -> dense(10)\n}\n"
            "train {\n  model = N\n  data = digits()\n  loss = cross_entropy(z, y)\n"
            "  optimizer = sgd(lr=1.0)\n  epochs = 3\n}\n")
    assert main(["train", str(write_spec(text)), "--out", str(tmp_path / "r"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"non-finite at step 1 \(epoch 1\); first non-finite output: "
                     r"exp_0 \(exp, line 4\)", err), err


def test_eval_and_predict(tmp_path, capsys):
    spec, run = str(XOR), tmp_path / "run"
    assert main(["train", spec, "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", spec, "--run", str(run)]) == 0
    assert "binary_accuracy 1.0000" in capsys.readouterr().out
    np.savez(tmp_path / "in.npz", x=np.array([[0, 1], [1, 1]], np.float32))
    assert main(["predict", spec, "--run", str(run), "--input", str(tmp_path / "in.npz"),
                 "--output", str(tmp_path / "out.npz")]) == 0
    logits = np.load(tmp_path / "out.npz")["logit"]
    assert logits.shape == (2, 1) and logits[0, 0] > 0 > logits[1, 0]


@pytest.mark.parametrize("args,phrase", [
    (["--run", "/nonexistent"], "no checkpoint"),
])
def test_eval_errors(capsys, args, phrase):
    assert main(["eval", str(XOR), *args]) == 1
    err = capsys.readouterr().err
    assert phrase in err and "Traceback" not in err


def test_predict_checks_input_shapes(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(XOR), "--out", str(run), "--quiet", "--epochs", "1"]) == 0
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 3), np.float32))
    assert main(["predict", str(XOR), "--run", str(run), "--input", str(tmp_path / "bad.npz"),
                 "--output", str(tmp_path / "o.npz")]) == 1
    assert "must be [B, 2], got [2, 3]" in capsys.readouterr().err
    (tmp_path / "broken.npz").write_text("not a zip")
    assert main(["predict", str(XOR), "--run", str(run), "--input",
                 str(tmp_path / "broken.npz"), "--output", str(tmp_path / "o.npz")]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "internal error" not in err


def test_npz_and_csv_sources(tmp_path, capsys):
    rng = np.random.RandomState(0)
    x = rng.randn(400, 3).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    (tmp_path / "d.csv").write_text("a,b,c,label\n" + "".join(
        f"{a},{b},{c},{t}\n" for (a, b, c), t in zip(x, y)))
    body = ("network N {\n  input x: [B, 3]\n  output z = x -> dense(2)\n}\n"
            "train {\n  model = N\n  data = DATA\n  loss = cross_entropy(z, y)\n"
            "  metrics = accuracy(z, y)\n  optimizer = adam(lr=0.05)\n  epochs = 20\n}\n")
    for source in ('npz("d.npz", x="images", y="labels")', 'csv("d.csv", y="label")'):
        spec = tmp_path / "s.nn"
        spec.write_text(body.replace("DATA", source))
        out = tmp_path / source[:3]
        assert main(["train", str(spec), "--out", str(out), "--quiet"]) == 0
        assert results(out)["accuracy"] > 0.9
    spec.write_text(body.replace("DATA", 'npz("d.npz", x="imgs")'))
    assert main(["check", str(spec)]) == 1
    assert "has no array `imgs` (it has images, labels)" in capsys.readouterr().err


@pytest.mark.parametrize("spec,extra", [("dann.nn", []), ("gan.nn", []),
                                        ("distill.nn", ["--train", "teacher"])])
def test_train_sections_without_a_single_model_run_end_to_end(tmp_path, spec, extra):
    out = tmp_path / "run"
    assert main(["train", str(CONTRACT / spec), *extra, "--epochs", "1", "--out", str(out),
                 "--quiet"]) == 0
    assert (out / "results.json").is_file()


def test_a_named_accuracy_is_maximised(tmp_path, write_spec):
    # Bound to a name, the accuracy is still a metric that goes up: "best" is its highest
    # epoch, not its lowest (a silent failure this once was).
    text = XOR.read_text().replace(
        "metrics   = binary_accuracy(logit, y)",
        "xor_acc = binary_accuracy(logit, y)\n    metrics = xor_acc\n"
        "    early_stopping = patience(200, monitor=val_xor_acc)").replace(
        "epochs    = 500", "epochs = 40")
    run = tmp_path / "run"
    assert main(["train", str(write_spec(text)), "--out", str(run), "--quiet"]) == 0
    summary = json.loads((run / "results.json").read_text())
    accuracy = np.genfromtxt(run / "metrics.csv", delimiter=",", names=True)["val_xor_acc"]
    assert summary["monitor"] == "val_xor_acc" and summary["mode"] == "max"
    assert accuracy.max() > accuracy[0]
    assert summary["best_epoch"] == int(np.argmax(accuracy)) + 1
