"""The textbook activations against PyTorch (forward and gradient, float64), their parameter
counts, the `swish` alias, and E150: a tensor in a hyperparameter's slot.

The NumPy references and finite-difference gradient checks of every op are in
test_forward.py and test_gradcheck.py; this file pins the PyTorch semantics (skipped without
torch, an optional extra)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.ir import count_params
from nndsl.lower import Compiled

# nndsl call -> PyTorch function of (x [B, L, C] channels last, the layer's parameters).
TORCH = {
    "gelu": lambda F, x, p: F.gelu(x),
    "gelu(approximate=true)": lambda F, x, p: F.gelu(x, approximate="tanh"),
    "relu6": lambda F, x, p: F.relu6(x),
    "silu": lambda F, x, p: F.silu(x),
    "swish": lambda F, x, p: F.silu(x),
    "mish": lambda F, x, p: F.mish(x),
    "hard_sigmoid": lambda F, x, p: F.hardsigmoid(x),
    "hard_swish": lambda F, x, p: F.hardswish(x),
    "softplus": lambda F, x, p: F.softplus(x),
    "softplus(beta=2.5)": lambda F, x, p: F.softplus(x, beta=2.5),
    # PyTorch's channels are axis 1.
    "prelu": lambda F, x, p: F.prelu(x.transpose(1, 2), p["slope"]).transpose(1, 2),
    "prelu(per_channel=true)": lambda F, x, p: F.prelu(x.transpose(1, 2),
                                                       p["slope"]).transpose(1, 2),
}

# PyTorch's hardsigmoid backward multiplies by 1/6 as a float32 literal (1.0f / 6.0f), even
# in float64: its gradient is off by 3e-8 relative; JAX's is exact.
GRAD_RTOL = {"hard_sigmoid": 1e-7}


def _compiled(write_spec, call: str, shape: str = "[B, 6, 5]") -> Compiled:
    text = f"network N {{\n  input x: {shape}\n  output y = x -> {call}\n}}\n"
    return Compiled(nndsl.load(write_spec(text)).network("N"))


@pytest.mark.parametrize("call", sorted(TORCH))
def test_activation_matches_pytorch_forward_and_gradient(write_spec, call):
    torch = pytest.importorskip("torch")
    compiled = _compiled(write_spec, call)
    params, state = compiled.init(0)
    rng = np.random.RandomState(3)
    # Wide enough to cross relu6's 6 and the hard functions' -3 and 3 on both sides.
    x = rng.uniform(-8, 8, (3, 6, 5))
    upstream = rng.randn(3, 6, 5)
    params = {layer: {k: rng.uniform(-0.5, 0.5, v.shape) for k, v in leaves.items()}
              for layer, leaves in params.items()}
    with jax.enable_x64(True):
        def f(p, xs):
            return compiled.apply(p, state, {"x": xs})[0]["y"]

        y, vjp = jax.vjp(f, jax.tree.map(jnp.asarray, params), jnp.asarray(x))
        grad_p, grad_x = vjp(jnp.asarray(upstream))
    tx = torch.tensor(x, requires_grad=True)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in
          next(iter(params.values()), {}).items()}
    ty = TORCH[call](torch.nn.functional, tx, tp)
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(grad_x), tx.grad.numpy(),
                               rtol=GRAD_RTOL.get(call, 1e-12), atol=1e-12)
    for name, value in tp.items():
        got = next(iter(grad_p.values()))[name]
        np.testing.assert_allclose(np.asarray(got), value.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_gelu_is_exact_by_default_and_the_tanh_form_on_request(write_spec):
    x = jnp.linspace(-4, 4, 401, dtype=jnp.float32).reshape(1, 401)
    exact, approx = (_compiled(write_spec, call, "[B, 401]").apply({}, {}, {"x": x})[0]["y"]
                     for call in ("gelu", "gelu(approximate=true)"))
    gap = float(jnp.max(jnp.abs(exact - approx)))
    assert 4e-4 < gap < 4.8e-4  # the two forms differ, by the documented 4.7e-4 at most


@pytest.mark.parametrize("call,count", [
    ("prelu", 1), ("prelu(per_channel=true)", 16), ("gelu", 0), ("relu6", 0), ("mish", 0),
    ("hard_swish", 0), ("softplus(beta=2)", 0), ("swish", 0),
])
def test_parameter_counts(write_spec, call, count):
    text = f"network N {{\n  input x: [B, 8, 8, 16]\n  output y = x -> {call}\n}}\n"
    assert count_params(nndsl.load(write_spec(text)).network("N")) == count


def test_prelu_slopes_start_at_a_quarter_and_apply_per_channel(write_spec):
    compiled = _compiled(write_spec, "prelu(per_channel=true)", "[B, 3]")
    params, state = compiled.init(0)
    assert np.asarray(params["y"]["slope"]).tolist() == [0.25, 0.25, 0.25]
    params = {"y": {"slope": jnp.asarray([0.1, 0.2, 0.3])}}
    y = compiled.apply(params, state, {"x": -jnp.ones((1, 3))})[0]["y"]
    np.testing.assert_allclose(y, [[-0.1, -0.2, -0.3]], rtol=1e-6)


def test_swish_is_an_alias_that_builds_silu(write_spec, capsys):
    path = write_spec("network N {\n  input x: [B, 4]\n  output y = x -> swish\n}\n")
    assert [node.op for node in nndsl.load(path).network("N")][1:] == ["silu"]
    assert main(["summary", str(path)]) == 0
    assert re.search(r"\| y +\| silu +\|", capsys.readouterr().out)


def test_summary_shows_new_activations_with_their_counts(write_spec, capsys):
    path = write_spec("network N {\n  input x: [B, 8, 16]\n"
                      "  output y = x -> relu6 -> prelu(per_channel=true) -> gelu -> mish\n}\n")
    assert main(["summary", str(path), "--format", "json"]) == 0
    import json

    layers = {row["op"]: row for row in json.loads(capsys.readouterr().out)["layers"]}
    assert layers["prelu"]["params"] == 16
    # One FLOP per output element for every activation (docs/ops.md, cost conventions).
    assert [layers[op]["flops"] for op in ("relu6", "prelu", "gelu", "mish")] == [128] * 4


# E150: a tensor where a hyperparameter goes -------------------------------------------------

NET = ("network N {{\n  input x: [B, 8, 16]\n  input m: [B, 8, 8]\n"
       "  output y = {expr}\n}}\n")


@pytest.mark.parametrize("expr,where,slot", [
    # The mask lands on `heads`; it was reported as "`heads` is given twice" (E022).
    ("x -> self_attention(m, heads=4)", "4:34", "heads"),
    ("x -> self_attention(m)", "4:34", "heads"),
    ("self_attention(x, m)", "4:32", "heads"),
    ("self_attention(x, heads=m)", "4:32", "heads"),
    ("self_attention(x, 4, m)", "4:35", "causal"),
    ("x -> dense(m)", "4:25", "units"),
])
def test_a_tensor_in_a_hyperparameter_slot_names_the_signature(write_spec, capsys, expr, where,
                                                               slot):
    assert main(["check", str(write_spec(NET.format(expr=expr)))]) == 1
    err = capsys.readouterr().err
    assert f":{where}: error[E150]" in err, err
    op = expr.split("(")[0].split()[-1]
    signature = {"self_attention": "`self_attention(x, heads=1, causal=false, mask=tensor)` "
                                   "takes one tensor, `x`",
                 "dense": "`dense(x, units, bias=true, norm=none)` takes one tensor, `x`"}[op]
    assert signature in err
    assert f"this tensor [B, 8, 8] would be its hyperparameter `{slot}`" in err
    assert ("`mask=` takes a tensor by keyword" in err) == (op == "self_attention")
    assert "Traceback" not in err


def test_a_repeated_keyword_without_a_tensor_is_still_e022(write_spec, capsys):
    assert main(["check", str(write_spec(NET.format(expr="self_attention(x, 4, heads=4)")))]) \
        == 1
    assert ":4:35: error[E022]: `heads` is given twice" in capsys.readouterr().err
