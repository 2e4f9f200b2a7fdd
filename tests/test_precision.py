"""Mixed precision (`precision = bf16`): bfloat16 compute over float32 parameters, optimizer
state, losses and normalisation statistics; the compute dtypes `summary` shows; the setting's
errors. Slow: the digits MLP and LeNet reach their EXPECTED.md targets in bf16."""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file

import nndsl
from nndsl.cli import main
from nndsl.lower import Compiled
from nndsl.ops import REGISTRY
from nndsl.precision import BF16_OPS, UPCAST, compute_dtypes
from nndsl.source import SpecError
from tests.conftest import CONTRACT, ROOT

MLP = CONTRACT / "mlp_digits.nn"
LENET = CONTRACT / "lenet5.nn"
XOR = CONTRACT / "perceptron_xor.nn"


def _inputs(graph, seed=0, batch=4):
    rng = np.random.RandomState(seed)
    out = {}
    for name, ref in graph.inputs.items():
        t = graph.type_of(ref)
        shape = [d if isinstance(d, int) else batch for d in t.shape]
        out[name] = (jnp.asarray(rng.randint(0, 2, shape), jnp.int32) if t.dtype == "i32"
                     else jnp.asarray(rng.randn(*shape), jnp.float32))
    return out


def _relative(a, b) -> float:
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def test_every_op_the_policy_names_is_an_op():
    assert set(BF16_OPS) | set(UPCAST) <= set(REGISTRY)


@pytest.mark.parametrize("spec,net", [(LENET, "DigitsLeNet"), (CONTRACT / "transformer.nn",
                                                                "TinyTransformer"),
                                      (CONTRACT / "elman.nn", "ElmanAdder"),
                                      (CONTRACT / "resnet.nn", "DigitsResNet")])
def test_a_bf16_forward_is_close_to_float32_and_leaves_as_float32(spec, net):
    graph = nndsl.load(spec).network(net)
    f32, bf16 = Compiled(graph), Compiled(graph, precision="bf16")
    params, state = f32.init(0)
    x = _inputs(graph)
    want, _ = f32.apply(params, state, x)
    got, _ = bf16.apply(params, state, x)
    for name in want:
        assert got[name].dtype == jnp.float32
        # bfloat16 keeps 8 bits of mantissa (a relative step of 2^-8 ≈ 0.4%) per op
        assert _relative(got[name], want[name]) < 3e-2, name


def test_bf16_actually_computes_in_bfloat16():
    graph = nndsl.load(MLP).network("MLP")
    compiled = Compiled(graph, precision="bf16")
    params, state = compiled.init(0)
    x = _inputs(graph)
    traced = dict((node.id, v.dtype) for node, v in
                  compiled.trace_all(params, state, x, jax.random.PRNGKey(0), False))
    assert traced["dense_0"] == jnp.bfloat16 and traced["logits"] == jnp.bfloat16
    assert traced["input_0"] == jnp.float32


def _loss_and_grads(precision: str):
    spec = nndsl.load(LENET)
    plan = spec.plan()
    compiled = Compiled(plan.graph, precision=precision)
    params, state = compiled.init(0)
    splits = nndsl.load(LENET).training().data()["train"]
    batch = {k: jnp.asarray(v[:64]) for k, v in splits.items() if k in plan.graph.inputs}

    def loss(p):
        values, _ = compiled.evaluate(p, state, batch, jax.random.PRNGKey(0), True,
                                      [plan.objectives[0].loss])
        return values[0]

    return jax.value_and_grad(loss)(params)


def test_gradients_land_on_float32_parameters_finite_and_close_to_float32():
    loss32, grads32 = _loss_and_grads("f32")
    loss16, grads16 = _loss_and_grads("bf16")
    assert loss16.dtype == jnp.float32
    assert abs(float(loss16) - float(loss32)) < 1e-2 * abs(float(loss32))
    for g16, g32 in zip(jax.tree.leaves(grads16), jax.tree.leaves(grads32)):
        assert g16.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g16)))
        cosine = jnp.vdot(g16, g32) / (jnp.linalg.norm(g16) * jnp.linalg.norm(g32))
        assert float(cosine) > 0.99
        assert float(jnp.linalg.norm(g16 - g32) / jnp.linalg.norm(g32)) < 0.1


def test_batchnorm_statistics_and_embeddings_stay_float32(write_spec):
    path = write_spec("""
network Net {
    input ids: [B, 5] i32
    output y = ids -> embed(7, 8) -> dense(6) -> batchnorm -> relu -> mean(1) -> dense(2)
}
""")
    graph = nndsl.load(path).network("Net")
    dtypes = compute_dtypes(graph, "bf16")
    by_op = {node.op: dtypes[node.id] for node in graph}
    assert by_op == {"input": "i32", "embed": "f32", "dense": "bf16", "batchnorm": "f32",
                     "relu": "f32", "mean": "f32"}
    compiled = Compiled(graph, precision="bf16")
    params, state = compiled.init(0)
    out, new_state = compiled.apply(params, state, _inputs(graph), train=True)
    assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(new_state))
    assert out["y"].dtype == jnp.float32


def test_a_bf16_run_keeps_float32_parameters_and_records_the_setting(tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(XOR), "--set", "precision=bf16", "--set", "epochs=2",
                 "--out", str(run), "--quiet"]) == 0
    tensors = load_file(run / "last.ckpt")
    params = {k: v for k, v in tensors.items() if k.startswith("params/")}
    assert params and all(v.dtype == np.float32 for v in params.values())
    assert all(v.dtype == np.float32 for k, v in tensors.items() if v.dtype.kind == "f")
    config = json.loads((run / "config.json").read_text())
    assert config["set"] == {"precision": "bf16", "epochs": 2}
    assert config["settings"]["precision"] == "bf16"


def _with_precision(value: str) -> str:
    """mlp_digits.nn with `precision = value` after its `seed` (line 24, column 17)."""
    return MLP.read_text().replace("    seed      = 0\n",
                                   f"    seed      = 0\n    precision = {value}\n")


def test_precision_defaults_to_f32():
    assert nndsl.load(XOR).plan().settings["precision"] == "f32"


def test_a_spec_sets_bf16(write_spec):
    text = _with_precision("bf16")
    assert nndsl.load(write_spec(text)).plan().settings["precision"] == "bf16"


def test_an_unknown_precision_is_refused_with_the_nearest(write_spec):
    text = _with_precision("fp8")
    with pytest.raises(SpecError) as info:
        nndsl.load(write_spec(text)).plan()
    d = info.value.diagnostics[0]
    assert d.code == "E024" and (d.span.line, d.span.column) == (24, 17)
    assert d.message == "`precision` must be one of f32, bf16; got fp8"
    assert d.hint.startswith("did you mean `bf16`?")


def test_an_unknown_precision_on_the_command_line_is_refused(capsys):
    assert main(["check", str(MLP), "--set", "precision=bfloat17"]) == 1
    err = capsys.readouterr().err
    assert "error[E024]: --set precision=bfloat17: `precision` must be one of f32, bf16" in err
    assert "did you mean `bf16`?" in err


def test_summary_shows_each_layers_dtype_under_bf16(capsys):
    assert main(["summary", str(MLP), "--precision", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "| dtype |" in out and "precision bf16" in out
    assert [line.split("|")[-2].strip() for line in out.splitlines()
            if line.startswith("| dense_0") or line.startswith("| flatten_0")] == ["f32", "bf16"]


def test_summary_reads_the_precision_from_the_train_section(write_spec, capsys):
    text = _with_precision("bf16")
    assert main(["summary", str(write_spec(text)), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["precision"] == "bf16"
    assert {x["name"]: x["dtype"] for x in data["layers"]}["dense_1"] == "bf16"


def test_summary_in_f32_is_as_before(capsys):
    assert main(["summary", str(MLP)]) == 0
    assert "dtype" not in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("spec,threshold", [("mlp_digits.nn", 0.97), ("lenet5.nn", 0.96)])
def test_bf16_training_reaches_the_expected_target(tmp_path, spec, threshold):
    run = tmp_path / spec
    start = time.perf_counter()
    assert main(["train", str(CONTRACT / spec), "--set", "precision=bf16", "--out", str(run),
                 "--quiet"]) == 0
    accuracy = json.loads((run / "results.json").read_text())["test"]["accuracy"]
    print(f"\n{spec} bf16: test accuracy {accuracy:.4f} in {time.perf_counter() - start:.1f} s")
    assert accuracy >= threshold


def test_the_training_step_computes_in_the_sections_precision():
    trainer = nndsl.load(XOR, {"precision": "bf16"}).training().trainer
    assert trainer.compiled.dtypes["logit"] == "bf16"
    assert nndsl.load(XOR).training().trainer.compiled.dtypes is None


def test_docs_name_every_op_the_policy_casts():
    text = (ROOT / "docs" / "precision.md").read_text()
    assert [op for op in sorted({*BF16_OPS, *UPCAST}) if f"`{op}`" not in text] == []
