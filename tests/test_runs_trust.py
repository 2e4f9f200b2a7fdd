"""Runs you can trust: a new run never replaces an old one, resuming refuses a changed spec,
a finished run extends, Ctrl-C and SIGTERM save what exists, several-network runs are read
by network, and runtime errors point at the command line or the file, never `<spec>:0:0`."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.fit import checkpoint
from nndsl.paths import check_run_reference
from nndsl.source import NO_SPAN
from tests.conftest import CONTRACT

XOR = CONTRACT / "perceptron_xor.nn"
PACKAGE_ROOT = str(CONTRACT.parent)


def _train(*args: str) -> int:
    return main(["train", *map(str, args), "--quiet"])


def test_a_rerun_is_numbered_and_out_or_overwrite_say_what_they_do(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _train(XOR, "--runs", runs, "--epochs", 1) == 0
    assert _train(XOR, "--runs", runs, "--epochs", 2) == 0
    base, second = runs / "perceptron_xor-XorMLP", runs / "perceptron_xor-XorMLP-2"
    out = capsys.readouterr().out
    assert f"{base} is taken: this run goes to {second}" in out
    assert json.loads((base / "results.json").read_text())["epochs_run"] == 1
    assert json.loads((second / "results.json").read_text())["epochs_run"] == 2
    assert _train(XOR, "--out", base, "--epochs", 1) == 1
    err = capsys.readouterr().err
    assert f"<command line>:1:7: error[E100]: {base} holds a run already" in err
    assert "--overwrite" in err and f"--resume {base}" in err
    assert _train(XOR, "--runs", runs, "--epochs", 3, "--overwrite") == 0
    assert f"--overwrite: replaced the run in {second}" in capsys.readouterr().out
    assert json.loads((second / "results.json").read_text())["epochs_run"] == 3
    assert not (runs / "perceptron_xor-XorMLP-3").exists()
    with pytest.raises(SystemExit) as usage:
        _train(XOR, "--resume", second, "--overwrite")
    assert usage.value.code == 2 and "not allowed with argument --resume" in \
        capsys.readouterr().err
    assert main(["eval", str(XOR), "--runs", str(runs)]) == 0
    assert f"using the run {second} (the newest of 2" in capsys.readouterr().err


def test_eval_without_a_run_says_where_it_looked(tmp_path, capsys):
    assert main(["eval", str(XOR), "--runs", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "error[E103]: no run of this spec" in err
    assert str(tmp_path / "perceptron_xor-XorMLP") + "[-N]" in err


def _spec(tmp_path, name: str, text: str):
    path = tmp_path / f"{name}.nn"
    path.write_text(text)
    return path


def test_resume_refuses_another_graph_setting_or_set_value(tmp_path, capsys):
    text = XOR.read_text().replace("network XorMLP {", "let width = 4\nnetwork XorMLP {") \
        .replace("dense(4) -> tanh", "dense(width) -> tanh")
    spec = _spec(tmp_path, "x", text)
    run = tmp_path / "run"
    assert _train(spec, "--out", run, "--epochs", 1) == 0
    capsys.readouterr()
    cases = [
        (["--set", "width=8"], "--set width: not set in the run, `8` now"),
        ([], "the spec's graph: changed `logit`; added `relu_0`; removed `tanh_0`"),
        ([], "the train setting `objectives[0].optimizer.lr`"),
    ]
    edits = [text, text.replace("dense(width) -> tanh", "dense(width) -> relu"),
             text.replace("lr=0.5", "lr=0.4")]
    for (extra, phrase), edited in zip(cases, edits):
        spec.write_text(edited)
        assert _train(spec, "--resume", run, "--epochs", 2, *extra) == 1
        err = capsys.readouterr().err
        assert f"<command line>:1:10: error[E101]: cannot resume {run}" in err, err
        assert phrase in err and "--resume " + str(run) in err, err
    spec.write_text(text)
    assert _train(spec, "--resume", run, "--epochs", 2) == 0


def test_a_finished_run_extends_with_more_epochs_and_says_when_it_is_done(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(XOR, "--out", run, "--epochs", 2) == 0
    assert _train(XOR, "--resume", run, "--epochs", 4) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["epochs_run"] == 4
    assert len((run / "metrics.csv").read_text().splitlines()) == 5
    assert json.loads((run / "config.json").read_text())["settings"]["epochs"] == 4
    capsys.readouterr()
    assert _train(XOR, "--resume", run) == 0
    assert f"{run} is finished: it trained 4 epochs; pass --epochs N with N > 4" in \
        capsys.readouterr().out


def test_checkpoint_metadata_takes_numpy_values(tmp_path):
    path = tmp_path / "c.ckpt"
    checkpoint.write(path, {"params": {}, "best": np.float32(0.5), "epoch": np.int64(3),
                            "history": [{"loss": np.array(1.5)}]})
    saved = checkpoint.read(path)
    assert saved["best"] == 0.5 and saved["epoch"] == 3 and saved["history"][0]["loss"] == 1.5


def _child(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nndsl", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_the_run_and_resume_continues_it(tmp_path, signum, code):
    run = tmp_path / "run"
    child = _child("train", str(XOR), "--epochs", "100000", "--out", str(run), "--quiet")
    deadline = time.monotonic() + 120
    while not (run / "last.ckpt").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child.send_signal(signum)
    out, err = child.communicate(timeout=60)
    assert child.returncode == code, err
    assert "Traceback" not in err
    saved = checkpoint.read(run / "last.ckpt")["epoch"]
    assert f"interrupted at epoch {saved + 1} (last.ckpt holds epoch {saved}) — resume with " \
        f"`nndsl train {XOR} --resume {run}`" in err, err
    assert (run / "curves.png").is_file()
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == saved + 1 and rows[-1].startswith(f"{saved},")
    assert main(["train", str(XOR), "--resume", str(run), "--epochs", str(saved + 2),
                 "--quiet"]) == 0
    assert json.loads((run / "results.json").read_text())["epochs_run"] == saved + 2


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("gan") / "runs"
    assert _train(CONTRACT / "gan.nn", "--runs", runs, "--epochs", 1) == 0
    return runs


def test_predict_reads_one_network_of_a_gan_run(gan_run, tmp_path, capsys):
    gan = str(CONTRACT / "gan.nn")
    np.savez(tmp_path / "z.npz", z=np.random.RandomState(0).randn(5, 8).astype(np.float32))
    common = ["--runs", str(gan_run), "--input", str(tmp_path / "z.npz"),
              "--output", str(tmp_path / "x.npz")]
    assert main(["predict", gan, "--model", "Generator", *common]) == 0
    assert np.load(tmp_path / "x.npz")["x"].shape == (5, 2)
    capsys.readouterr()
    assert main(["predict", gan, *common]) == 1
    err = capsys.readouterr().err
    assert "error[E102]: " in err and "holds several networks (`Discriminator`, " \
        "`Generator`): name the one to use with --model" in err
    assert main(["predict", gan, "--model", "Critic", *common]) == 1
    assert "error[E102]: " in capsys.readouterr().err
    assert main(["export", gan, "--runs", str(gan_run), "--model", "Discriminator",
                 "-o", str(tmp_path / "d.jax")]) == 0
    assert main(["eval", gan, "--runs", str(gan_run)]) == 0
    generator = nndsl.load_run(gan, "Generator", runs=gan_run)
    assert generator({"z": np.zeros((3, 8), np.float32)})["x"].shape == (3, 2)
    with pytest.raises(nndsl.SpecError, match="E102|several networks"):
        nndsl.load_run(gan, runs=gan_run)


def test_load_in_a_spec_reads_the_newest_numbered_run(tmp_path):
    for name in ("distill-teacher", "distill-teacher-2", "distill-teacher-10", "teacher-3"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        (tmp_path / name / "best.ckpt").write_bytes(b"")
    (tmp_path / "distill-teacher-11").mkdir()  # not a run: no config.json
    found = checkpoint.find_run(tmp_path, "distill", check_run_reference("teacher", NO_SPAN))
    assert found == tmp_path / "distill-teacher-10"


def test_runtime_errors_point_at_a_file_or_the_command_line(tmp_path, capsys):
    run, missing = tmp_path / "run", tmp_path / "nothing"
    assert _train(XOR, "--out", run, "--epochs", 1) == 0
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 3), np.float32))
    failures = [
        ["eval", str(XOR), "--run", str(missing)],
        ["predict", str(XOR), "--run", str(missing), "--input", str(tmp_path / "bad.npz"),
         "--output", str(tmp_path / "o.npz")],
        ["predict", str(XOR), "--run", str(run), "--input", str(tmp_path / "bad.npz"),
         "--output", str(tmp_path / "o.npz")],
        ["predict", str(XOR), "--run", str(run), "--input", str(tmp_path / "none.npz"),
         "--output", str(tmp_path / "o.npz")],
        ["train", str(XOR), "--resume", str(missing), "--quiet"],
    ]
    capsys.readouterr()
    for command in failures:
        assert main(command) == 1
        err = capsys.readouterr().err
        assert ":0:0" not in err and not err.startswith("<spec>") and "error[E" in err, err
    assert main(failures[-1]) == 1
    assert f"<command line>:1:10: error[E104]: {missing} is not a run directory" in \
        capsys.readouterr().err


def test_a_missing_load_run_is_reported_at_the_load_call(tmp_path, capsys):
    assert main(["train", str(CONTRACT / "distill.nn"), "--train", "student", "--runs",
                 str(tmp_path), "--out", str(tmp_path / "s"), "--quiet"]) == 1
    err = capsys.readouterr().err
    line = next(i for i, text in enumerate(CONTRACT.joinpath("distill.nn").read_text()
                                           .splitlines(), 1) if "load(Teacher" in text)
    assert f"distill.nn:{line}:" in err and "error[E082]" in err
    caret = err.splitlines()[3]
    source = err.splitlines()[2]
    assert source[caret.index("^"):].startswith('load(Teacher, "teacher")'), err


def test_a_csv_run_resumes_though_reading_the_data_adds_its_encoding(tmp_path):
    x = np.random.RandomState(0).randn(120, 3)
    (tmp_path / "d.csv").write_text("a,b,c,label\n" + "".join(
        f"{a},{b},{c},{'cat' if a + b > 0 else 'dog'}\n" for a, b, c in x))
    spec = _spec(tmp_path, "s", "network N {\n  input x: [B, 3]\n  output z = x -> dense(2)\n"
                 "}\ntrain {\n  model = N\n  data = csv(\"d.csv\", y=\"label\")\n"
                 "  loss = cross_entropy(z, y)\n  optimizer = adam(lr=0.05)\n  epochs = 1\n}\n")
    assert _train(spec, "--out", tmp_path / "run") == 0
    assert _train(spec, "--resume", tmp_path / "run", "--epochs", 2) == 0
