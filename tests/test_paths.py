"""The file-access policy (nndsl.paths): what a spec may read, which runs it may name, and
that refusals are located, name the rule and never quote the refused file."""

import os
import subprocess
import sys

import numpy as np
import pytest

import nndsl
from nndsl import paths
from nndsl.cli import main
from nndsl.source import NO_SPAN, SpecError
from tests.conftest import CONTRACT, ROOT

NET = "network N {\n  input x: [B, 3]\n  output z = x -> dense(2)\n}\n"
TRAIN = ("train {\n  model = N\n  data = DATA\n  loss = cross_entropy(z, y)\n"
         "  optimizer = adam()\n}\n")
SECRET = "root:x:0:0:secret-first-line"


@pytest.fixture(autouse=True)
def default_access():
    paths.configure()
    yield
    paths.configure()


def _spec(folder, data: str, name="s.nn"):
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / name
    spec.write_text(NET + TRAIN.replace("DATA", data))
    return spec


def _secret(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SECRET + "\n1,2,3\n")
    return path


@pytest.mark.parametrize("data", ['csv("../../../../../../../../etc/passwd", y="nope")',
                                  'csv("../outside/secret.csv", y="nope")',
                                  'npz("/etc/passwd", y="nope")',
                                  'csv("link.csv", y="nope")'])
def test_data_outside_the_spec_folder_is_refused_without_quoting_it(tmp_path, capsys, data):
    secret = _secret(tmp_path / "outside" / "secret.csv")
    spec = _spec(tmp_path / "project", data)
    (tmp_path / "project" / "link.csv").symlink_to(secret)
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "outside the folders this spec may read" in err and ":7:14" in err, err
    assert "root:" not in err and "secret-first-line" not in err


def test_data_root_lets_a_spec_read_another_folder(tmp_path, capsys):
    data = tmp_path / "shared-data" / "d.csv"
    data.parent.mkdir()
    data.write_text("a,b,c,label\n" + "0.1,0.2,0.3,1\n" * 20)
    spec = _spec(tmp_path / "project", 'csv("../shared-data/d.csv", y="label")')
    assert main(["check", str(spec)]) == 1
    assert "outside the folders" in capsys.readouterr().err
    assert main(["check", str(spec), "--data-root", str(tmp_path / "shared-data")]) == 0


def test_a_missing_column_does_not_quote_the_header(tmp_path, capsys):
    _secret(tmp_path / "d.csv")
    spec = _spec(tmp_path, 'csv("d.csv", y="label")')
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "has no column `label` in its header line (it has 1 columns)" in err
    assert "secret-first-line" not in err


def test_special_and_huge_files_are_not_read(tmp_path, capsys, monkeypatch):
    assert main(["check", "/dev/zero"]) == 1
    err = capsys.readouterr().err
    assert "E090" in err and "spec file `/dev/zero` is a device" in err
    assert main(["check", str(tmp_path)]) == 1
    assert "is a directory; only regular files are read" in capsys.readouterr().err
    big = tmp_path / "big.nn"
    with open(big, "wb") as f:
        f.truncate(paths.SPEC_MAX_BYTES + 1)
    assert main(["check", str(big)]) == 1
    assert "over the 1.0 MiB limit for a spec file" in capsys.readouterr().err
    (tmp_path / "d.csv").write_text("a,label\n" + "1,0\n" * 100)
    spec = _spec(tmp_path, 'csv("d.csv", y="label")')
    monkeypatch.setattr(paths, "DATA_MAX_BYTES", 100)
    assert main(["check", str(spec)]) == 1
    assert "over the 100 B limit for a data file" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["spec", "import", "csv"])
def test_a_fifo_never_blocks(tmp_path, where):
    fifo = tmp_path / ("f.csv" if where == "csv" else "f.nn")
    os.mkfifo(fifo)
    spec = {"spec": fifo,
            "import": _spec(tmp_path, "xor()", "i.nn"),
            "csv": _spec(tmp_path, 'csv("f.csv", y="label")', "c.nn")}[where]
    if where == "import":
        spec.write_text('import "f.nn"\n' + spec.read_text())
    done = subprocess.run([sys.executable, "-m", "nndsl.cli", "check", str(spec)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1 and "is a FIFO; only regular files are read" in done.stderr


def test_imports_stay_under_the_spec_folder(tmp_path, capsys):
    (tmp_path / "lib.nn").write_text("block Lin {\n  input x\n  output y = x -> dense(2)\n}\n")
    spec = tmp_path / "project" / "s.nn"
    spec.parent.mkdir()
    spec.write_text('import "../lib.nn"\n' + NET)
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "E090" in err and ":1:1" in err and "outside the folders" in err
    assert main(["check", str(spec), "--data-root", str(tmp_path)]) == 0
    # Inside the spec's folder, `..` is fine: an import of an import may climb back.
    (spec.parent / "sub").mkdir()
    (spec.parent / "sub" / "a.nn").write_text('import "../b.nn"\n')
    (spec.parent / "b.nn").write_text("block Lin {\n  input x\n  output y = x -> dense(2)\n}\n")
    spec.write_text('import "sub/a.nn"\n' + NET.replace("dense(2)", "Lin"))
    assert nndsl.load(spec).network("N") is not None


@pytest.mark.parametrize("run,problem", [("/tmp/teacher", "is an absolute path"),
                                         ("../../elsewhere", "leaves the runs folder"),
                                         ("", "is empty"), ("v1.2", "contains `.`")])
def test_run_references_stay_under_the_runs_folder(tmp_path, run, problem):
    with pytest.raises(SpecError, match=f"the run `{run}` in load\\(...\\) {problem}") as exc:
        paths.check_run_reference(run, NO_SPAN)
    assert exc.value.diagnostics[0].code == "E090"
    ok = paths.check_run_reference("sweep/trial-000", NO_SPAN)
    assert ok.candidates(tmp_path, "distill") == [tmp_path / "distill-sweep/trial-000",
                                                  tmp_path / "sweep/trial-000"]
    if run.startswith("/"):
        paths.configure(allow_outside_runs=True)
        assert paths.check_run_reference(run, NO_SPAN).candidates(tmp_path, "d")[-1] == \
            paths.Path(run)


def test_training_refuses_a_run_outside_the_runs_folder(tmp_path, capsys):
    spec = tmp_path / "distill.nn"
    spec.write_text((CONTRACT / "distill.nn").read_text().replace(
        'load(Teacher, "teacher")', 'load(Teacher, "/tmp/x")'))
    assert main(["train", str(spec), "--train", "student", "--runs", str(tmp_path / "runs"),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "E090" in err and "the run `/tmp/x` in load(...) is an absolute path" in err


def test_predict_reads_inputs_named_on_the_command_line(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 2), np.float32))
    paths.set_spec(tmp_path / "elsewhere" / "s.nn")
    from nndsl.data import files

    with pytest.raises(paths.PathRefused):
        files.load("npz", tmp_path / "x.npz", {})
    assert files.load("npz", tmp_path / "x.npz", {}, from_spec=False)["x"].shape == (1, 2)


@pytest.mark.parametrize("run, problem", [("/tmp/x", "is an absolute path"),
                                          ("../../x", "leaves the runs folder through `..`")])
def test_check_refuses_a_run_outside_the_runs_folder_at_its_string(tmp_path, capsys, run,
                                                                    problem):
    spec = tmp_path / "distill.nn"
    text = (CONTRACT / "distill.nn").read_text()
    spec.write_text(text.replace('load(Teacher, "teacher")', f'load(Teacher, "{run}")'))
    line = next(i for i, t in enumerate(text.splitlines(), 1) if 'load(Teacher' in t)
    column = text.splitlines()[line - 1].index('"teacher"') + 1
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"distill.nn:{line}:{column}: error[E090]: the run `{run}` in load(...) {problem}" \
        in err
