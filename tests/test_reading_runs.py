"""Every command that reads a trained run checks that the run is one of this spec's graph
(E205 at the option naming it), so another spec's weights, or this spec's before a change,
never answer silently for this one; and `sample --text`'s own errors are located (E265-E267)."""

import numpy as np
import pytest

from nndsl.cli import main

SPEC = """\
let hidden = 4

network Net {
    input x: [B, 2]
    output logit = x -> dense(hidden) -> tanh -> dense(1)
}

train {
    model     = Net
    data      = xor()
    loss      = bce(logit, y)
    optimizer = sgd(lr=0.5)
    batch     = 4
    epochs    = 1
}
"""

LM = """\
network Tiny {
    input x: [B, 8] i32
    output logits = x -> embed(4, 3) -> dense(4)
}

train {
    model     = Tiny
    data      = markov_text(symbols=4, context=8, train=64, val=16, test=16, seed=0)
    loss      = cross_entropy(logits, y)
    optimizer = adam(lr=1e-2)
    batch     = 16
    epochs    = 1
}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reading")
    spec, lm = folder / "net.nn", folder / "lm.nn"
    spec.write_text(SPEC)
    lm.write_text(LM)
    np.savez(folder / "in.npz", x=np.zeros((2, 2), np.float32))
    for path, run in ((spec, "net-run"), (lm, "lm-run")):
        assert main(["train", str(path), "--out", str(folder / run), "--quiet"]) == 0
    return folder


READERS = [["eval"], ["predict", "--input", "{folder}/in.npz", "--output", "{folder}/o.npz"],
           ["export", "--output", "{folder}/n.jax"], ["hessian", "--top", "1"],
           ["landscape", "--dims", "1", "--steps", "3"], ["explain"], ["attack"]]


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
def test_a_run_of_the_spec_before_a_change_is_refused_by_every_reader(trained, capsys,
                                                                       command):
    run = trained / "net-run"
    args = [a.format(folder=trained) for a in command[1:]]
    code = main([command[0], str(trained / "net.nn"), "--run", str(run), *args,
                 "--set", "hidden=8"])
    err = capsys.readouterr().err
    assert code == 1 and "error[E205]" in err and "Traceback" not in err
    assert "changed `dense_0`" in err and "hint: pass the run's own options" not in err
    assert err.startswith("<command line>:1:7: error[E205]")
    lines = err.splitlines()
    assert lines[lines.index(f"1 | --run {run}") + 1] == "  |       " + "^" * len(str(run))


def test_the_hint_gives_the_runs_own_set_values(trained, capsys):
    run = trained / "net-8"
    assert main(["train", str(trained / "net.nn"), "--out", str(run), "--quiet",
                 "--set", "hidden=8"]) == 0
    assert main(["eval", str(trained / "net.nn"), "--run", str(run)]) == 1
    assert "hint: pass the run's own options (--set hidden=8)" in capsys.readouterr().err
    assert main(["eval", str(trained / "net.nn"), "--run", str(run), "--set",
                 "hidden=8"]) == 0


def test_the_line_to_a_second_run_is_checked_too(trained, capsys):
    code = main(["landscape", str(trained / "net.nn"), "--run", str(trained / "net-run"),
                 "--to", str(trained / "lm-run")])
    err = capsys.readouterr().err
    assert code == 1 and "error[E205]" in err and "--to " in err


@pytest.mark.parametrize("args, code, phrase", [
    (["--temperature", "0"], "E266", "--temperature must be above 0"),
    (["--length", "0"], "E266", "--length must be at least 1"),
    (["--prompt", "xyz"], "E267", "not in the model's vocabulary"),
])
def test_sample_text_errors_are_located(trained, capsys, args, code, phrase):
    assert main(["sample", str(trained / "lm.nn"), "--run", str(trained / "lm-run"),
                 "--text", *args]) == 1
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and phrase in err and "<command line>" in err


def test_sample_text_of_a_network_that_is_no_language_model(trained, capsys):
    assert main(["sample", str(trained / "net.nn"), "--run", str(trained / "net-run"),
                 "--text"]) == 1
    err = capsys.readouterr().err
    assert "error[E265]" in err and "one integer input" in err and "net.nn" in err


def test_sample_text_reads_the_run_it_was_given(trained, capsys):
    assert main(["sample", str(trained / "lm.nn"), "--run", str(trained / "lm-run"),
                 "--text", "--length", "5", "--prompt", "ab"]) == 0
    text = capsys.readouterr().out.strip()
    assert len(text) == 7 and text.startswith("ab") and set(text) <= set("abcd")
