"""`nndsl init` writes a starter spec that checks and trains, and never overwrites; `nndsl
completion` prints the shell script, and completion names the spec's networks."""

import json
import os
import subprocess
import sys

import nndsl
from nndsl.cli import main
from tests.conftest import CONTRACT, ROOT


def test_init_writes_a_spec_that_checks_and_trains(tmp_path, capsys):
    path = tmp_path / "digits.nn"
    assert main(["init", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    text = path.read_text()
    assert text.startswith("# A starter spec") and "nndsl train digits.nn" in text
    assert nndsl.load(path).check().ok
    run = tmp_path / "run"
    assert main(["train", str(path), "--epochs", "2", "--out", str(run), "--quiet"]) == 0
    assert json.loads((run / "results.json").read_text())["test"]["accuracy"] > 0.5


def test_init_never_overwrites(tmp_path, capsys):
    path = tmp_path / "mine.nn"
    path.write_text("my work")
    assert main(["init", str(path)]) == 1
    assert "already exists; not overwriting it" in capsys.readouterr().err
    assert path.read_text() == "my work"


def test_init_writes_model_nn_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0 and (tmp_path / "model.nn").is_file()


def test_completion_prints_the_shells_script(capsys):
    for shell in ("bash", "zsh"):
        assert main(["completion", shell]) == 0
        assert "nndsl" in capsys.readouterr().out


def _complete(line: str, tmp_path) -> list[str]:
    out = tmp_path / "completions"
    env = {**os.environ, "COMP_LINE": line, "COMP_POINT": str(len(line)), "_ARGCOMPLETE": "1",
           "_ARGCOMPLETE_STDOUT_FILENAME": str(out), "_ARGCOMPLETE_IFS": "\n",
           "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "nndsl.cli"], env=env, cwd=ROOT, check=True,
                   timeout=60)
    return out.read_text().split()


def test_completion_names_commands_spec_files_and_networks(tmp_path):
    assert _complete("nndsl tra", tmp_path) == ["train"]
    assert "specs/perceptron_xor.nn" in _complete("nndsl check specs/perc", tmp_path)
    xor = CONTRACT / "perceptron_xor.nn"
    assert _complete(f"nndsl summary {xor} --model ", tmp_path) == ["Perceptron", "XorMLP"]
    assert _complete(f"nndsl train {CONTRACT / 'distill.nn'} --train s", tmp_path) == ["student"]
