"""Hostile specs: bounded work, located errors (never a hang, a blow-up or an internal error).

Each case runs `nndsl check` in a child process so that its peak memory can be read."""

import json
import subprocess
import sys

import pytest

NET = "network N { input x: [B, 4]; output y = x -> dense(2) }\n"
DIGITS = ("let lr = 0.1\nlet hidden = 8\n"
          "network M { input x: [B, 8, 8, 1]; output y = x -> flatten -> dense(10) }\n"
          "train { model = M; data = digits(); loss = cross_entropy(y, y); "
          "optimizer = adam(lr) }\n")
# The child reports its exit code, the rendered errors and its peak memory.
CHILD = """
import contextlib, io, json, resource, sys
from nndsl.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    code = main(["check", sys.argv[1]])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"code": code, "err": err.getvalue(), "peak": peak}))
"""
BASELINE = NET


def _check(path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                          text=True, timeout=60)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def baseline_peak(tmp_path_factory):
    path = tmp_path_factory.mktemp("base") / "ok.nn"
    path.write_text(BASELINE)
    result = _check(path)
    assert result["code"] == 0
    return result["peak"]


@pytest.mark.parametrize("text, where, phrase", [
    ("let a = 10 ** 10 ** 8\n" + NET, "1:9", "E014]: constant too large"),
    ("let a = 2 ** 1000000 * 0\n" + NET, "1:9", "E014]: constant too large"),
    ("let a = " + "7" * 4301 + "\n" + NET, "1:9", "E001]: a number of 4301 characters"),
    ("let a = 1e999\n" + NET, "1:9", "E001]: `1e999` is too large to be a number"),
    ("let a = 1 + relu\n" + NET, "1:9",
     "E014]: cannot apply `+` to the number 1 and the operation `relu`"),
    ("network N { input x: [B, 8, 8, 1]; output y = x -> conv(4, 3, pad=[1, 2]) }\n", "1:63",
     "E024]: conv: `pad` must be an integer, got a list"),
    ("network N { input x: [B, 4, 3]; output y = x -> transpose(2) }\n", "1:49",
     "E030]: transpose: perm [2] is not a permutation of the 3 axes"),
    (DIGITS + "sweep { trials = 1000000000 }\n", "5:9", "E024]: `trials` must be a whole"),
    (DIGITS + "sweep { trials = 1e9 }\n", "5:9", "E024]: `trials` must be a whole"),
    (DIGITS + "sweep { lr = int(10, 1) }\n", "5:14", "E069]: int(low, high): low 10 is above"),
    (DIGITS + 'sweep { lr = uniform("a", "b") }\n', "5:14", "E069]: uniform(low, high) takes "
     "numbers"),
    (DIGITS + 'sweep { lr = loguniform("a", 1) }\n', "5:14", "E069]: loguniform(low, high) "
     "takes numbers"),
    (DIGITS + "sweep { method = bayes }\n", "5:9", "E024]: `method` is one of random, grid"),
])
def test_refused_quickly_with_a_located_error(tmp_path, baseline_peak, text, where, phrase):
    path = tmp_path / "h.nn"
    path.write_text(text)
    result = _check(path)
    assert result["code"] == 1, result["err"]
    first = result["err"].splitlines()[0]
    assert f"h.nn:{where}: error[" in first and phrase in first, result["err"]
    assert result["peak"] - baseline_peak < 200 * 2**20


def test_a_64_million_trial_grid_is_counted_not_enumerated(tmp_path, baseline_peak):
    values = ", ".join(str(i) for i in range(1, 8001))
    line = f"sweep {{ method = grid; lr = choice({values}); hidden = choice({values}) }}"
    path = tmp_path / "h.nn"
    path.write_text(DIGITS + line + "\n")
    result = _check(path)
    column = line.index("choice", line.index("hidden")) + 1
    assert result["err"].startswith(f"{path}:5:{column}: error[E024]: the grid has more than "
                                    "10,000 combinations")
    assert result["peak"] - baseline_peak < 200 * 2**20


def test_long_lines_are_shown_as_a_window(tmp_path):
    path = tmp_path / "h.nn"
    path.write_text("let b = " + "1 + " * 500 + "relu\n" + NET)
    err = _check(path)["err"]
    shown = err.splitlines()[2]
    assert shown.endswith("...") and len(shown) < 140
    path.write_text("let b = 1 + relu\n")
    assert _check(path)["err"].splitlines()[2] == "1 | let b = 1 + relu"


def test_non_finite_set_values_are_refused(capsys, tmp_path):
    from nndsl.cli import main

    path = tmp_path / "h.nn"
    path.write_text("let lr = 0.1\n" + NET)
    for value in ("nan", "inf", "-inf", "1e999"):
        with pytest.raises(SystemExit) as info:
            main(["check", str(path), "--set", f"lr={value}"])
        assert info.value.code == 2
        assert f"`{value}` is not a finite number" in capsys.readouterr().err


def test_an_import_diamond_reads_each_file_once(tmp_path):
    # Each file imports the next twice: 2**20 paths to the last file, 20 files.
    for i in range(21):
        imports = f'import "d{i + 1}.nn"\nimport "d{i + 1}.nn"\n' if i < 20 else ""
        (tmp_path / f"d{i}.nn").write_text(
            imports + f"block B{i}(n) {{ input x; output y = x -> dense(n) }}\n")
    (tmp_path / "top.nn").write_text('import "d0.nn"\n' + NET.replace("dense(2)", "B20(2)"))
    result = _check(tmp_path / "top.nn")
    assert result["code"] == 0, result["err"]


def test_a_nul_byte_in_an_import_is_a_located_error(tmp_path):
    path = tmp_path / "h.nn"
    path.write_bytes(b'import "a\x00b.nn"\n' + NET.encode())
    result = _check(path)
    assert result["err"].startswith(f"{path}:1:1: error[E003]: an import path cannot contain")


def test_a_long_chain_of_blocks_is_refused_at_the_depth_limit(tmp_path, baseline_peak):
    lines = ["block L0 { input x; output y = x -> dense(4) }"]
    lines += [f"block L{i} {{ input x; output y = x -> L{i - 1} }}" for i in range(1, 2000)]
    lines.append("network N { input x: [B, 4]; output y = x -> L1999 }")
    path = tmp_path / "h.nn"
    path.write_text("\n".join(lines) + "\n")
    result = _check(path)
    # The 201st call in the chain is refused where it is written: L1800 calls L1799.
    assert result["err"].startswith(f"{path}:1801:40: error[E002]: blocks call blocks more "
                                    "than 200 deep (`L1999` → ... → `L1799`)"), result["err"]
    assert result["peak"] - baseline_peak < 200 * 2**20


def test_the_command_line_guards_time_and_memory(tmp_path):
    # The real command (not main([...]) in this process) runs check under resource limits.
    script = ("import resource, sys; from nndsl import cli; cli._guard(type('A', (), "
              "{'file': 'x', 'command': 'check'})()); "
              "print(resource.getrlimit(resource.RLIMIT_AS)[0])")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    from nndsl.cli import GUARD_BYTES

    assert int(done.stdout) == GUARD_BYTES


@pytest.mark.parametrize("data, phrase", [
    ("spirals(val=0.6, test=0.5)", "data: val=0.6 and test=0.5 leave no examples to train on"),
    ('csv("d.csv", y="c", val="lots")', "data: `val` must be a number, got a string"),
    ('csv("d.csv", y="c", seed=true)', "data: `seed`"),
])
def test_data_split_options_are_checked_for_every_source(tmp_path, data, phrase):
    (tmp_path / "d.csv").write_text("a,b,c\n" + "1,2,0\n" * 10)
    path = tmp_path / "h.nn"
    path.write_text("network N { input x: [B, 2]; output z = x -> dense(2) }\n"
                    f"train {{ model = N; data = {data}; loss = cross_entropy(z, y); "
                    "optimizer = adam() }\n")
    result = _check(path)
    assert result["err"].startswith(f"{path}:2:27: error[E024]: {phrase}"), result["err"]


def test_a_csv_column_name_with_a_dash_is_read_as_written(tmp_path):
    # numpy's genfromtxt renamed `label-1` to `label1`; nndsl's csv reader keeps names.
    from nndsl.cli import main
    from nndsl.data import files

    (tmp_path / "d.csv").write_text("a,b,label-1\n" + "".join(f"{i},{i},{i % 2}\n"
                                                              for i in range(20)))
    path = tmp_path / "h.nn"
    path.write_text("network N { input x: [B, 2]; output z = x -> dense(2) }\n"
                    'train { model = N; data = csv("d.csv", y="label-1"); '
                    "loss = cross_entropy(z, y); optimizer = adam() }\n")
    assert main(["check", str(path)]) == 0
    arrays = files.load("csv", tmp_path / "d.csv", {"y": "label-1"}, from_spec=False)
    assert arrays["y"].tolist() == [i % 2 for i in range(20)]
    assert arrays["x"].shape == (20, 2)
