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
