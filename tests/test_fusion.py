"""What XLA makes of nndsl's lowering, where it decides speed: the compiled gradient of a
pre-norm residual stack computes each residual gradient once, instead of recomputing the
chain of every later layer's layernorm gradient inside each of its consumers (quadratic in
depth; docs/benchmarks.md, "The LeNet and transformer gap")."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np

from nndsl.lower import Compiled
from nndsl.spec import load

STACK = """
block Layer(dim) {
    input x
    x = x + (x -> layernorm -> dense(dim))
    output x
}

network Stack {
    input x: [B, 16, 32]
    output y = x -> Layer(32) * 8 -> layernorm
}
"""
NOT_WORK = {"parameter", "constant", "bitcast", "broadcast"}


def widest_loop_fusion(hlo: str) -> int:
    """The most operations any of XLA's loop fusions computes per output element."""
    bodies = {m.group(1): m.group(2) for m in
              re.finditer(r"^(%\S+) \(.*?\) -> .*? \{\n(.*?)\n\}", hlo, re.S | re.M)}
    widths = [0]
    for called in re.findall(r"fusion\(.*?kind=kLoop, calls=(%[\w.\-]+)", hlo):
        ops = re.findall(r"= \S+ ([\w-]+)\(", bodies[called])
        widths.append(sum(op not in NOT_WORK for op in ops))
    return max(widths)


def test_a_residual_stacks_gradient_is_not_recomputed_layer_after_layer(write_spec):
    graph = load(write_spec(STACK)).network("Stack")
    compiled = Compiled(graph, repeat="unroll", platform="cpu")
    params, state = compiled.init(0)
    x = {"x": np.linspace(-1, 1, 4 * 16 * 32, dtype=np.float32).reshape(4, 16, 32)}

    def loss(p):
        return jnp.sum(compiled.apply(p, state, x, train=True)[0]["y"] ** 2)

    hlo = jax.jit(jax.grad(loss)).lower(params).compile().as_text()
    # Recomputed, the widest fusion grows by ~17 operations a layer (42, 78, 143 with 2, 4, 8
    # layers before the fix); computed once, it stays near one layernorm's gradient (35, 37,
    # 32).
    assert widest_loop_fusion(hlo) <= 50


SEQUENCE = """
network Seq {
    input x: [B, 16, 32]
    output y = x -> dense(64) -> self_attention(4) -> dense(10)
}
"""


def _plain_matrix_products(hlo: str) -> list[str]:
    """The output shapes of the matrix products (two axes: weight-shaped) XLA:CPU leaves to
    Eigen (a `dot` outside any fusion), not to YNNPACK (a product fusion)."""
    entry = hlo[hlo.index("\nENTRY"):]
    return re.findall(r"= f32\[(\d+,\d+)\]\S* dot\(", entry)


def _sequence_gradient(write_spec, platform: str):
    compiled = Compiled(load(write_spec(SEQUENCE)).network("Seq"), platform=platform)
    params, state = compiled.init(0)
    x = {"x": np.linspace(-1, 1, 4 * 16 * 32, dtype=np.float32).reshape(4, 16, 32)}

    def loss(p):
        return jnp.sum(jnp.sin(compiled.apply(p, state, x, train=True)[0]["y"]))

    return jax.jit(jax.grad(loss)), params


def test_a_sequence_models_weight_gradients_are_products_ynnpack_takes(write_spec):
    # On XLA:CPU a dense layer over [B, T, D] is an einsum over its weight viewed [D, 2, N/2];
    # its weight gradient is then a plain product, not Eigen's doubly transposed one
    # (docs/benchmarks.md, "The transformer gap"). dense(10)'s gradient would be one too.
    grad, params = _sequence_gradient(write_spec, "cpu")
    assert _plain_matrix_products(grad.lower(params).compile().as_text()) == []


def test_the_split_product_computes_the_plain_products_gradient(write_spec):
    grad_cpu, params = _sequence_gradient(write_spec, "cpu")
    grad_gpu, _ = _sequence_gradient(write_spec, "gpu")  # the plain x @ w, run here on CPU
    assert "dhk" not in str(jax.make_jaxpr(grad_gpu)(params))
    for a, b in zip(jax.tree.leaves(grad_cpu(params)), jax.tree.leaves(grad_gpu(params))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)  # summed in another order
