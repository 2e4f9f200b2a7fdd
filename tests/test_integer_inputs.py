"""Integer inputs checked where they are used (issue 21): ids and labels that index something
(the registry's `indexes` rule) are checked on entry for data and predict files (E081), and
computed ones under --check-numerics (E087); a valid run is unchanged by the checks."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nndsl.cli import main
from nndsl.fit import checkpoint
from nndsl.ops import REGISTRY

SPEC = """network N {
  input tokens: [B, 4] i32
  output z = IDS -> embed(10, 8) -> flatten -> dense(3)
}
train {
  model = N
  data = npz("d.npz")
  loss = cross_entropy(z, y)
  optimizer = adam()
  epochs = 2
}
"""


def _data(tmp_path, name="d.npz", **bad):
    """100 valid examples, with the entries named in `bad` (field=(index, value)) replaced."""
    rng = np.random.RandomState(0)
    fields = {"tokens": rng.randint(0, 10, (100, 4)), "y": rng.randint(0, 3, 100)}
    for field, (index, value) in bad.items():
        fields[field][index] = value
    np.savez(tmp_path / name, **fields)
    return tmp_path / name


def _spec(write_spec, ids="tokens"):
    return str(write_spec(SPEC.replace("IDS", ids)))


def _train(spec, out, *extra):
    return main(["train", spec, "--out", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run of the valid spec, for predict."""
    root = tmp_path_factory.mktemp("run")
    _data(root)
    (root / "spec.nn").write_text(SPEC.replace("IDS", "tokens"))
    assert _train(str(root / "spec.nn"), root / "run") == 0
    return root


def test_every_indexing_input_has_one_rule_naming_what_it_indexes():
    ruled = {name: op.indexes for name, op in REGISTRY.items() if op.indexes}
    assert set(ruled) == {"embed", "cross_entropy", "accuracy", "top_k", "perplexity",
                          "gcn_conv", "sage_conv"}
    (ids,) = ruled["embed"]
    assert (REGISTRY["embed"].inputs[ids.index], ids.hyper) == ("ids", "vocab")
    for name in ("cross_entropy", "accuracy", "top_k", "perplexity"):
        (labels,) = ruled[name]
        inputs = REGISTRY[name].inputs
        assert (inputs[labels.index], inputs[labels.into]) == ("labels", "logits")
    for name in ("gcn_conv", "sage_conv"):  # edges name nodes: axis 1 of x, -1 pads
        (edges,) = ruled[name]
        inputs = REGISTRY[name].inputs
        assert (inputs[edges.index], inputs[edges.into], edges.axis, edges.low) == \
            ("edges", "x", 1, -1)
    with pytest.raises(ValueError, match="op `embed`: an index rule names an input"):
        dataclasses.replace(REGISTRY["embed"], indexes=(dataclasses.replace(ids, hyper="v"),))


@pytest.mark.parametrize("value,where", [(12, "12 at example 57, position 2"),
                                         (-3, "-3 at example 57, position 2")])
def test_ids_out_of_range_in_training_data_are_located(tmp_path, write_spec, capsys, value,
                                                       where):
    _data(tmp_path, tokens=((57, 2), value))
    assert _train(_spec(write_spec), tmp_path / "r") == 1
    err = capsys.readouterr().err
    assert f"spec.nn:3:24: error[E081]: ids `tokens` (data file d.npz) hold {where}; " \
           "`embed(10, 8)` takes ids in [0, 10) (its table has 10 rows)" in err, err
    assert not (tmp_path / "r" / "config.json").exists()  # nothing ran


def test_label_minus_one_for_cross_entropy_is_located(tmp_path, write_spec, capsys):
    _data(tmp_path, y=(80, -1))
    assert _train(_spec(write_spec), tmp_path / "r") == 1
    err = capsys.readouterr().err
    assert "spec.nn:8:10: error[E081]: labels `y` (data file d.npz) hold -1 at example 80; " \
           "`cross_entropy(z, y)` takes labels in [0, 3) (the logits have 3 classes)" in err, err


@pytest.mark.parametrize("value", [10, -1])
def test_ids_out_of_range_in_predict_inputs_are_located(trained, tmp_path, capsys, value):
    tokens = np.random.RandomState(1).randint(0, 10, (5, 4))
    tokens[3, 1] = value
    np.savez(tmp_path / "x.npz", tokens=tokens)
    code = main(["predict", str(trained / "spec.nn"), "--run", str(trained / "run"),
                 "--input", str(tmp_path / "x.npz"), "--output", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    assert code == 1 and f"spec.nn:3:24: error[E081]: ids `tokens` (predict input x.npz) hold " \
        f"{value} at example 3, position 1; `embed(10, 8)` takes ids in [0, 10)" in err, err
    assert not (tmp_path / "o.npz").exists()


def test_computed_ids_wrap_silently_unless_numerics_are_checked(tmp_path, write_spec, capsys):
    _data(tmp_path)
    spec = _spec(write_spec, "(tokens - 5)")  # ids in [-5, 5): negative ones wrap round
    assert _train(spec, tmp_path / "silent") == 0
    capsys.readouterr()
    assert _train(spec, tmp_path / "checked", "--check-numerics") == 1
    err = capsys.readouterr().err
    assert "spec.nn:3:30: error[E087]: --check-numerics: embed_0 (`embed(10, 8)`, line 3): " \
           "ids hold -" in err and "takes ids in [0, 10)" in err, err


def _same_weights(trained, spec: Path) -> Path:
    """A copy of the trained run recorded as a run of `spec` (a graph with the same tensors
    that computes something else): reading commands refuse a run of another graph (E205), and
    these tests need the other graph's runtime faults with weights that exist."""
    import nndsl
    from nndsl.fit import rundir

    run = trained / f"run-{spec.stem}"
    shutil.copytree(trained / "run", run, dirs_exist_ok=True)
    config = json.loads((run / "config.json").read_text())
    config["fingerprint"] = rundir.fingerprint(nndsl.load(spec).plan(), {})
    (run / "config.json").write_text(json.dumps(config))
    return run


def test_computed_ids_give_nan_predictions_unless_numerics_are_checked(trained, tmp_path,
                                                                       capsys):
    (trained / "scaled.nn").write_text(SPEC.replace("IDS", "(tokens * 3)"))
    tokens = np.full((2, 4), 1, np.int32)
    tokens[1, 2] = 4  # 4 * 3 = 12 >= vocab
    np.savez(tmp_path / "x.npz", tokens=tokens)
    run = ["predict", str(trained / "scaled.nn"), "--run",
           str(_same_weights(trained, trained / "scaled.nn")),
           "--input", str(tmp_path / "x.npz"), "--output", str(tmp_path / "o.npz")]
    assert main(run) == 0
    z = np.load(tmp_path / "o.npz")["z"]
    assert np.isfinite(z[0]).all() and np.isnan(z[1]).all()  # silently NaN
    capsys.readouterr()
    assert main([*run, "--check-numerics"]) == 1
    err = capsys.readouterr().err
    assert "scaled.nn:3:30: error[E087]: --check-numerics: embed_0 (`embed(10, 8)`, line 3): " \
           "ids hold 12 at example 1, position 2; `embed(10, 8)` takes ids in [0, 10)" in err, err


def test_eval_checks_numerics_too(trained, capsys):
    (trained / "nan.nn").write_text(SPEC.replace("IDS", "tokens").replace(
        "-> flatten", "-> log -> flatten"))  # log of negative embeddings: NaN
    run = ["eval", str(trained / "nan.nn"), "--run",
           str(_same_weights(trained, trained / "nan.nn"))]
    assert main(run) == 0
    assert "loss nan" in capsys.readouterr().out
    assert main([*run, "--check-numerics"]) == 1
    err = capsys.readouterr().err
    assert "nan.nn:3:40: error[E087]: --check-numerics: log_0 (`log`, line 3): the output " \
           "holds NaN" in err, err


def test_a_valid_run_is_bit_identical_with_the_checks_on(tmp_path, write_spec):
    _data(tmp_path)
    spec = _spec(write_spec)
    assert _train(spec, tmp_path / "plain") == 0
    assert _train(spec, tmp_path / "checked", "--check-numerics") == 0
    plain = checkpoint.read(tmp_path / "plain" / "last.ckpt")["params"]
    checked = checkpoint.read(tmp_path / "checked" / "last.ckpt")["params"]
    for layer in plain:
        for name in plain[layer]:
            np.testing.assert_array_equal(plain[layer][name], checked[layer][name])
