"""`Stage * n` lowered scanned or unrolled (nndsl/repeat_rule.py): the same parameters, the
same outputs and gradients, and the rule and its override."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nndsl.lower import Compiled
from nndsl.repeat_rule import UNROLL_UP_TO, repeat_mode, unrolled
from nndsl.source import SpecError
from nndsl.spec import load
from tests.conftest import CONTRACT


def _loss_and_grads(compiled: Compiled, inputs: dict):
    params, state = compiled.init(0)

    def loss(p):
        outs, _ = compiled.apply(p, state, inputs, rng=jax.random.PRNGKey(3), train=True)
        return jnp.sum(outs["logits"] ** 2), outs["logits"]

    (value, logits), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
    return params, logits, grads


@pytest.mark.parametrize("spec, inputs", [
    ("transformer.nn", {"src": np.arange(32, dtype=np.int32).reshape(4, 8) % 12}),
    ("resnet.nn", {"x": np.linspace(0, 1, 4 * 64, dtype=np.float32).reshape(4, 8, 8, 1)}),
])
def test_unrolled_and_scanned_agree(spec, inputs):
    name = {"transformer.nn": "TinyTransformer", "resnet.nn": "DigitsResNet"}[spec]
    graph = load(CONTRACT / spec, {"depth": 2} if spec == "resnet.nn" else None).network(name)
    scanned = _loss_and_grads(Compiled(graph, repeat="scan", platform="cpu"), inputs)
    unrolled_ = _loss_and_grads(Compiled(graph, repeat="unroll", platform="cpu"), inputs)
    # The same stacked parameters (checkpoints do not change), outputs and gradients; the
    # transformer's dropout draws the same masks.
    same = jax.tree.map(lambda a, b: a.shape == b.shape and bool(jnp.all(a == b)),
                        scanned[0], unrolled_[0])
    assert all(jax.tree.leaves(same))
    # The CPU scan lowers convolutions as im2col, unrolled they are lax.conv: float rounding.
    tol = 1e-6 if spec == "transformer.nn" else 2e-5
    np.testing.assert_allclose(scanned[1], unrolled_[1], rtol=tol, atol=tol)
    # Gradients to `tol` of the largest gradient (near-zero entries differ by rounding).
    scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(scanned[2]))
    for a, b in zip(jax.tree.leaves(scanned[2]), jax.tree.leaves(unrolled_[2])):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


def test_the_rule_unrolls_short_stacks_and_scans_deep_ones():
    assert unrolled(2, "cpu", "auto") and not unrolled(24, "cpu", "auto")
    assert unrolled(UNROLL_UP_TO["gpu"], "gpu", "auto")
    assert not unrolled(UNROLL_UP_TO["gpu"] + 1, "gpu", "auto")
    assert unrolled(96, "cpu", "unroll") and not unrolled(1, "cpu", "scan")


def test_the_environment_overrides_the_rule(monkeypatch):
    monkeypatch.setenv("NNDSL_REPEAT", "scan")
    assert repeat_mode(None) == "scan" and repeat_mode("unroll") == "unroll"
    monkeypatch.setenv("NNDSL_REPEAT", "unrolled")
    with pytest.raises(SpecError) as info:
        repeat_mode(None)
    assert info.value.diagnostics[0].code == "E195"


def test_an_unrolled_stage_has_no_loop_and_a_scanned_one_has_one():
    graph = load(CONTRACT / "transformer.nn").network("TinyTransformer")
    src = {"src": np.zeros((2, 8), np.int32)}

    def text(mode):
        compiled = Compiled(graph, repeat=mode, platform="cpu")
        params, state = compiled.init(0)
        return jax.jit(lambda p: compiled.apply(p, state, src)[0]).lower(params).as_text()

    assert "while" in text("scan") and "while" not in text("auto")


def test_an_unrolled_convolution_stage_keeps_lax_conv_on_cpu(write_spec):
    # im2col is for convolutions inside a CPU loop; unrolled, no loop is left.
    graph = load(write_spec("network N {\n  input x: [B, 6, 6, 4]\n"
                            "  output y = x -> (conv(4, 3, pad=same) -> relu) * 2\n}\n")
                 ).network("N")
    compiled = Compiled(graph, platform="cpu")
    params, state = compiled.init(0)
    jaxpr = jax.make_jaxpr(lambda x: compiled.apply(params, state, {"x": x})[0]["y"])(
        jnp.zeros((2, 6, 6, 4)))
    assert "conv_general_dilated" in str(jaxpr)
