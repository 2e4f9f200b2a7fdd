"""Arithmetic with NumPy broadcasting, matrix product and reductions."""

from __future__ import annotations

from nndsl.ir import TensorType
from nndsl.ops.base import (
    Hyper,
    OpDef,
    OpError,
    broadcast,
    elements,
    normalise_axis,
    result_dtype,
    shape_str,
    with_lowerings,
)
from nndsl.ops.flops import MULTIPLY_ADD


def _broadcast_shape(ins, hp):
    a, b = ins
    return TensorType(broadcast(a, b), result_dtype(a, b))


def _matmul_shape(ins, hp):
    a, b = ins
    if a.rank < 2 or b.rank < 2:
        raise OpError(f"@ needs two matrices, got {shape_str(a.shape)} @ {shape_str(b.shape)}")
    if a.shape[-1] != b.shape[-2]:
        raise OpError(f"cannot multiply {shape_str(a.shape)} @ {shape_str(b.shape)}: "
                      f"inner dimensions {a.shape[-1]} and {b.shape[-2]} differ")
    batch = broadcast(a.with_shape(a.shape[:-2]), b.with_shape(b.shape[:-2]))
    return TensorType(batch + (a.shape[-2], b.shape[-1]), result_dtype(a, b))


def _matmul_flops(ins, outs, hp):
    n, inner = elements(outs[0]), ins[0].shape[-1]
    return None if n is None or not isinstance(inner, int) else MULTIPLY_ADD * n * inner


def _reduce_shape(ins, hp):
    x = ins[0]
    if hp["axis"] is None:
        return x.with_shape(x.shape[:1])
    axis = normalise_axis(hp["axis"], x.rank)
    if axis == 0:
        raise OpError("reducing over the batch axis is done by the loss, not inside a network")
    return x.with_shape(x.shape[:axis] + x.shape[axis + 1:])


def _reduce_flops(ins, outs, hp):
    return elements(ins[0])


def _binary(name, doc, rule=_broadcast_shape, flops=None, differentiable=True):
    extra = {"flops": flops} if flops else {}
    return OpDef(name, "math", doc, ("a", "b"), rule, differentiable=differentiable, **extra)


def _reduction(name, doc):
    return OpDef(name, "math", doc, ("x",), _reduce_shape,
                 (Hyper("axis", "axis", None),), flops=_reduce_flops)


_OPS = [
    _binary("add", "a + b"), _binary("sub", "a - b"), _binary("mul", "a * b"),
    _binary("div", "a / b"), _binary("pow", "a ** b"),
    # a % b has slope 1 in a between jumps and none through b; a // b is piecewise constant.
    _binary("mod", "a % b", differentiable=(True, False)),
    _binary("floordiv", "a // b (no gradient)", differentiable=False),
    _binary("matmul", "a @ b (batched over leading axes)", _matmul_shape, _matmul_flops),
    _binary("minimum", "Elementwise minimum."), _binary("maximum", "Elementwise maximum."),
    OpDef("neg", "math", "-x", ("x",), lambda ins, hp: ins[0]),
    _reduction("sum", "Sum over `axis` (all non-batch axes by default)."),
    _reduction("mean", "Mean over `axis` (all non-batch axes by default)."),
    _reduction("max", "Maximum over `axis` (all non-batch axes by default)."),
]


def _binary_lower(fn):
    return lambda ctx, node, xs: fn(ctx.jnp, xs[0], xs[1])


def _reduce_lower(name):
    def lower(ctx, node, xs):
        x, axis = xs[0], node.attrs["axis"]
        axes = tuple(range(1, x.ndim)) if axis is None else axis
        return getattr(ctx.jnp, name)(x, axis=axes)

    return lower


OPS = with_lowerings(_OPS, {
    "add": _binary_lower(lambda jnp, a, b: a + b),
    "sub": _binary_lower(lambda jnp, a, b: a - b),
    "mul": _binary_lower(lambda jnp, a, b: a * b),
    "div": _binary_lower(lambda jnp, a, b: a / b),
    "pow": _binary_lower(lambda jnp, a, b: a ** b),
    "mod": _binary_lower(lambda jnp, a, b: a % b),
    "floordiv": _binary_lower(lambda jnp, a, b: a // b),
    "matmul": _binary_lower(lambda jnp, a, b: jnp.matmul(a, b)),
    "minimum": _binary_lower(lambda jnp, a, b: jnp.minimum(a, b)),
    "maximum": _binary_lower(lambda jnp, a, b: jnp.maximum(a, b)),
    "neg": lambda ctx, node, xs: -xs[0],
    "sum": _reduce_lower("sum"), "mean": _reduce_lower("mean"), "max": _reduce_lower("max"),
})
