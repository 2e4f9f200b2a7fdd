"""`nndsl export`: .jax and .onnx files that run without nndsl and give `predict`'s outputs.

The loading scripts are read out of docs/export.md and run in a subprocess whose Python
cannot import nndsl (an import blocker, and nndsl's own paths and editable finder removed),
so the documentation is what is tested.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nndsl.cli import main
from tests.conftest import ROOT

SPECS = ROOT / "specs"
XOR = SPECS / "perceptron_xor.nn"
DIGITS = SPECS / "mlp_digits.nn"

# Runs before a documented script: nndsl cannot be imported, from the tree or the venv.
ISOLATE = f"""\
import sys

class _NoNndsl:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "nndsl":
            raise ImportError("nndsl must not be needed here")

sys.meta_path[:] = [_NoNndsl()] + [f for f in sys.meta_path
                                   if "editable" not in type(f).__module__]
# The project tree goes, the installed packages stay (a venv may live inside the tree).
sys.path[:] = [p for p in sys.path
               if p and (p.startswith(sys.prefix) or not p.startswith({str(ROOT)!r}))]
"""
CHECK = '\nassert "nndsl" not in sys.modules, "the script imported nndsl"\n'


def documented_scripts() -> list[str]:
    """The ```python blocks of docs/export.md: the .jax loader, then the .onnx one."""
    text = (ROOT / "docs" / "export.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def run_outside(script: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    """Run `script` in an isolated Python (-I) that cannot import nndsl."""
    return subprocess.run([sys.executable, "-I", "-c", ISOLATE + script + CHECK,
                           *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def cli(*args) -> int:
    return main([str(a) for a in args])


def trained(spec: Path, tmp: Path, epochs: int) -> Path:
    run = tmp / "run"
    assert cli("train", spec, "--epochs", epochs, "--out", run, "--quiet") == 0
    return run


def split_inputs(spec: Path) -> dict[str, np.ndarray]:
    """The inputs of the test split of the spec's train section."""
    from nndsl.fit.loop import load_data
    from nndsl.spec import load

    plan = load(spec).plan(None)
    return {k: v for k, v in load_data(plan)["test"].items() if k in plan.graph.inputs}


def predicted(spec: Path, run: Path, inputs: dict, tmp: Path, tag: str) -> dict:
    source, out = tmp / f"{tag}-in.npz", tmp / f"{tag}-predict.npz"
    np.savez(source, **inputs)
    assert cli("predict", spec, "--run", run, "--input", source, "--output", out) == 0
    return dict(np.load(out))


def outside(artifact: Path, inputs: dict, tmp: Path, tag: str) -> dict:
    """Outputs of an exported file, computed by the documented script without nndsl."""
    script = documented_scripts()[0 if artifact.suffix == ".jax" else 1]
    source, out = tmp / f"{tag}-in.npz", tmp / f"{tag}-{artifact.suffix[1:]}.npz"
    np.savez(source, **inputs)
    done = run_outside(script, artifact, source, out, cwd=tmp)
    assert done.returncode == 0, done.stderr
    return dict(np.load(out))


def assert_same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=1e-5)


def check_round_trip(spec: Path, tmp: Path, epochs: int, other_batch: int) -> None:
    """Export to .jax and .onnx; the files, run outside nndsl, give predict's outputs on the
    test split and on a batch of another size; predict --run model.jax agrees too."""
    pytest.importorskip("jax2onnx")
    run = trained(spec, tmp, epochs)
    for suffix in (".jax", ".onnx"):
        assert cli("export", spec, "--run", run, "-o", tmp / f"model{suffix}") == 0
    split = split_inputs(spec)
    rng = np.random.default_rng(0)
    other = {k: np.concatenate([v] * (other_batch // len(v) + 1))[:other_batch] +
             (rng.normal(0, 0.1, (other_batch, *v.shape[1:])) if v.dtype.kind == "f" else 0)
             for k, v in split.items()}
    for tag, inputs in (("test", split), ("other", other)):
        want = predicted(spec, run, inputs, tmp, tag)
        for suffix in (".jax", ".onnx"):
            assert_same(outside(tmp / f"model{suffix}", inputs, tmp, tag), want)
        assert_same(predicted(spec, tmp / "model.jax", inputs, tmp, f"{tag}-artifact"), want)


def test_xor_exports_run_without_nndsl_and_match_predict(tmp_path):
    check_round_trip(XOR, tmp_path, epochs=30, other_batch=7)


@pytest.mark.slow
def test_mlp_digits_exports_run_without_nndsl_and_match_predict(tmp_path):
    check_round_trip(DIGITS, tmp_path, epochs=2, other_batch=3)


ORDERED = """\
network TwoWays {
    input a: [B, 3]
    input b: [B, 5]
    h = concat(a, b -> dense(3)) -> dense(4)
    output first = h -> dense(2)
    output second = h -> tanh
}
"""


@pytest.mark.parametrize("suffix", [".jax", ".onnx"])
def test_inputs_and_outputs_keep_their_declared_order(tmp_path, suffix):
    """Two inputs of different shapes, two outputs: positions follow the declarations."""
    if suffix == ".onnx":
        pytest.importorskip("jax2onnx")
    from nndsl.lower import Compiled
    from nndsl.spec import load

    spec = tmp_path / "two.nn"
    spec.write_text(ORDERED)
    artifact = tmp_path / f"two{suffix}"
    sidecar = export_fresh(spec, "TwoWays", artifact)
    assert [t["name"] for t in sidecar["inputs"]] == ["a", "b"]
    assert [t["name"] for t in sidecar["outputs"]] == ["first", "second"]
    rng = np.random.default_rng(2)
    inputs = {"a": rng.normal(size=(6, 3)), "b": rng.normal(size=(6, 5))}
    compiled = Compiled(load(spec).network("TwoWays"))
    params, state = compiled.init(0)
    want, _ = compiled.apply(params, state, {k: v.astype(np.float32) for k, v in inputs.items()})
    assert_same(outside(artifact, inputs, tmp_path, "two"), {k: np.asarray(v)
                                                              for k, v in want.items()})


def test_the_isolated_python_cannot_import_nndsl(tmp_path):
    done = run_outside("import nndsl", cwd=tmp_path)
    assert done.returncode != 0 and "nndsl must not be needed here" in done.stderr


def test_sidecar_names_order_dtypes_and_symbolic_shapes(tmp_path):
    run = trained(XOR, tmp_path, epochs=1)
    assert cli("export", XOR, "--run", run, "-o", tmp_path / "m.jax") == 0
    sidecar = json.loads((tmp_path / "m.jax.json").read_text())
    assert sidecar["format"] == "nndsl-export/1" and sidecar["network"] == "XorMLP"
    assert sidecar["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["B", 2]}]
    assert sidecar["outputs"] == [{"name": "logit", "dtype": "float32", "shape": ["B", 1]}]
    assert sidecar["symbols"] == ["B"] and sidecar["vjp_order"] == 0
    assert sidecar["epoch"] >= 1 and sidecar["platforms"] == ["cpu"]


def test_vjp_artifact_gives_gradients(tmp_path):
    import jax

    from nndsl.fit import checkpoint
    from nndsl.lower import Compiled
    from nndsl.spec import load

    run = trained(XOR, tmp_path, epochs=1)
    assert cli("export", XOR, "--run", run, "-o", tmp_path / "m.jax", "--vjp") == 0
    exported = jax.export.deserialize(bytearray((tmp_path / "m.jax").read_bytes()))
    compiled = Compiled(load(XOR).network())
    saved = checkpoint.read(run / "best.ckpt")
    x = np.random.default_rng(1).normal(size=(5, 2)).astype(np.float32)
    got = jax.grad(lambda x: exported.call(x)[0].sum())(x)
    want = jax.grad(lambda x: compiled.apply(saved["params"], saved["state"],
                                             {"x": x})[0]["logit"].sum())(x)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert json.loads((tmp_path / "m.jax.json").read_text())["vjp_order"] == 1


def test_a_symbolic_length_under_a_positional_table_exports_with_its_bound(tmp_path):
    # `positional(16)` covers at most 16 positions: jax.export is told T <= 16, so the
    # artifact takes any length up to it and refuses a longer one when called.
    import jax

    spec = tmp_path / "seq.nn"
    spec.write_text("network Seq {\n  input x: [B, T] i32\n"
                    "  output y = x -> embed(5, 8) -> positional(16) -> dense(3)\n}\n")
    export_fresh(spec, "Seq", tmp_path / "m.jax")
    exported = jax.export.deserialize(bytearray((tmp_path / "m.jax").read_bytes()))
    assert exported.call(np.zeros((2, 16), np.int32))[0].shape == (2, 16, 3)
    assert exported.call(np.zeros((3, 5), np.int32))[0].shape == (3, 5, 3)
    with pytest.raises(Exception, match="shape"):  # jax.export: "Error refining shapes"
        exported.call(np.zeros((2, 17), np.int32))


def test_a_derived_length_under_a_positional_table_is_a_located_error(tmp_path):
    # (T + 1)//2 positions cannot be bounded for jax.export: E094 naming the op, no crash.
    from nndsl.source import SpecError

    spec = tmp_path / "strided.nn"
    spec.write_text("network P {\n  input x: [B, T, 4]\n  output y = x -> conv(8, 3, stride=2, "
                    "pad=same) -> positional(64) -> dense(2)\n}\n")
    with pytest.raises(SpecError) as caught:
        export_fresh(spec, "P", tmp_path / "m.jax")
    assert caught.value.diagnostics[0].code == "E094"
    assert "op `positional`" in caught.value.diagnostics[0].message


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xor")
    run = trained(XOR, tmp, epochs=1)
    assert cli("export", XOR, "--run", run, "-o", tmp / "xor.jax") == 0
    return run


def fails(capsys, code: str, *args) -> str:
    """Run the CLI; it must exit 1 with a located `error[code]` and no traceback."""
    capsys.readouterr()
    assert cli(*args) == 1
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and "Traceback" not in err, err
    return err


def test_unknown_output_suffix_is_refused(xor_run, tmp_path, capsys):
    err = fails(capsys, "E094", "export", XOR, "--run", xor_run, "-o", tmp_path / "x.txt")
    assert ".jax" in err and ".onnx" in err and not (tmp_path / "x.txt").exists()


def test_vjp_with_onnx_is_refused(xor_run, tmp_path, capsys):
    fails(capsys, "E094", "export", XOR, "--run", xor_run, "-o", tmp_path / "x.onnx", "--vjp")


def test_run_of_another_spec_is_refused(xor_run, tmp_path, capsys):
    err = fails(capsys, "E205", "export", DIGITS, "--run", xor_run, "-o", tmp_path / "m.jax")
    assert "the run trained `XorMLP`" in err and not (tmp_path / "m.jax").exists()


def test_missing_extra_says_how_to_install(xor_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "jax2onnx", None)  # `import jax2onnx` fails
    err = fails(capsys, "E094", "export", XOR, "--run", xor_run, "-o", tmp_path / "m.onnx")
    assert "pip install 'nndsl[export]'" in err and len(err.strip().splitlines()) == 1


def test_predict_refuses_an_artifact_of_another_network(xor_run, tmp_path, capsys):
    artifact = xor_run.parent / "xor.jax"
    err = fails(capsys, "E095", "predict", DIGITS, "--run", artifact, "--input",
                tmp_path / "in.npz", "--output", tmp_path / "out.npz")
    assert "`x`" in err


def test_predict_refuses_a_file_that_is_not_an_artifact(tmp_path, capsys):
    fake = tmp_path / "fake.jax"
    fake.write_bytes(b"not StableHLO")
    fails(capsys, "E095", "predict", XOR, "--run", fake, "--input", tmp_path / "in.npz",
          "--output", tmp_path / "out.npz")


def test_eval_of_an_artifact_is_a_clear_error(xor_run, capsys):
    err = fails(capsys, "E095", "eval", XOR, "--run", xor_run.parent / "xor.jax")
    assert "run directory" in err


def test_onnx_failure_names_the_op(tmp_path):
    """A network jax2onnx cannot convert: the error names the nndsl op and the primitive."""
    pytest.importorskip("jax2onnx")
    from nndsl.source import SpecError

    with pytest.raises(SpecError) as caught:
        export_fresh(SPECS / "conv1d_waves.nn", "Voxels", tmp_path / "v.onnx")
    message = caught.value.diagnostics[0].message
    assert "op `conv`" in message and "conv_general_dilated" in message, message


def export_fresh(spec: Path, network: str, out: Path) -> dict:
    """Export a network with freshly initialised parameters (conversion does not depend on
    their values)."""
    from nndsl import export
    from nndsl.lower import Compiled
    from nndsl.spec import load

    compiled = Compiled(load(spec).network(network))
    params, state = compiled.init(0)
    return export.export(export.Trained(network, compiled.graph, compiled, params, state, {}),
                         out)


# The table in docs/export.md: which contract networks convert to ONNX, and the op of each
# that does not.
ONNX_TABLE = {
    ("conv1d_waves", "Voxels"): "op `conv`",
    ("seq2seq_attention", "Reverser"): "primitive `scan`",
    ("vae", "VAE"): "op `sample_normal`",
    ("dbn", "RBM1"): "primitive `random_split`",
    ("dbn", "RBM2"): "primitive `random_split`",
    ("rbm", "RBM"): "primitive `random_split`",
    ("gcn_karate", "KarateGCN"): "op `gcn_conv`",
    ("graph_classify", "GraphSAGE"): "op `sage_conv`",
}


def contract_networks() -> list[tuple[str, str]]:
    from nndsl.spec import load

    return [(path.stem, name) for path in sorted(SPECS.glob("*.nn"))
            for name in load(path).program.networks]


@pytest.mark.slow
@pytest.mark.parametrize("stem,network", contract_networks())
def test_contract_networks_export(stem, network, tmp_path):
    """Every contract network exports to .jax; to .onnx as docs/export.md's table says."""
    pytest.importorskip("jax2onnx")
    from nndsl.source import SpecError

    assert export_fresh(SPECS / f"{stem}.nn", network, tmp_path / "m.jax")["kind"] == "jax"
    expected = ONNX_TABLE.get((stem, network))
    if expected is None:
        export_fresh(SPECS / f"{stem}.nn", network, tmp_path / "m.onnx")
    else:
        with pytest.raises(SpecError) as caught:
            export_fresh(SPECS / f"{stem}.nn", network, tmp_path / "m.onnx")
        assert expected in caught.value.diagnostics[0].message
    doc = (ROOT / "docs" / "export.md").read_text()
    assert network in doc, f"{network} missing from the table in docs/export.md"
