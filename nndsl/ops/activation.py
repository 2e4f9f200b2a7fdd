"""Activations and elementwise math: shape-preserving, no parameters."""

from __future__ import annotations

from nndsl.ir import TensorType
from nndsl.ops.base import (
    Hyper,
    OpDef,
    OpError,
    need_float,
    normalise_axis,
    shape_str,
    with_lowerings,
)


def _same_float(ins, hp):
    need_float(ins[0], "this activation")
    if "axis" in hp:
        normalise_axis(hp["axis"], ins[0].rank)
    return ins[0]


def _same(ins, hp):
    return ins[0]


def _act(name, doc, *hypers, shape=_same_float, differentiable=True, family="activation"):
    return OpDef(name, family, doc, ("x",), shape, tuple(hypers), differentiable=differentiable)


def _maxout_shape(ins, hp):
    x = ins[0]
    need_float(x, "maxout")
    last = x.shape[-1]
    if not isinstance(last, int) or last % hp["pieces"]:
        raise OpError(f"maxout({hp['pieces']}) needs a last dimension divisible by "
                      f"{hp['pieces']}, got {shape_str(x.shape)}")
    return x.with_shape(x.shape[:-1] + (last // hp["pieces"],))


def _argmax_shape(ins, hp):
    x = ins[0]
    axis = normalise_axis(hp["axis"], x.rank)
    return TensorType(x.shape[:axis] + x.shape[axis + 1:], "i32")


_AXIS = Hyper("axis", "axis", -1)

_OPS = [
    _act("relu", "max(x, 0)"),
    _act("leaky_relu", "x if x > 0 else slope * x", Hyper("slope", "float", 0.01, low=0)),
    _act("elu", "x if x > 0 else alpha * (exp(x) - 1)", Hyper("alpha", "float", 1.0, low=0)),
    _act("selu", "Scaled ELU (self-normalising networks)."),
    _act("gelu", "Gaussian error linear unit."),
    _act("swish", "x * sigmoid(x)"),
    _act("sigmoid", "1 / (1 + exp(-x))"),
    _act("tanh", "Hyperbolic tangent."),
    _act("softplus", "log(1 + exp(x))"),
    _act("abs", "|x|", shape=_same),
    _act("softmax", "Softmax along `axis`.", _AXIS),
    _act("log_softmax", "Log-softmax along `axis`.", _AXIS),
    OpDef("maxout", "activation", "Max over `pieces` groups of the last axis.", ("x",),
          _maxout_shape, (Hyper("pieces", "int", low=1),)),
    _act("exp", "e ** x", family="math"),
    _act("log", "Natural logarithm.", family="math"),
    _act("sqrt", "Square root.", family="math"),
    _act("square", "x * x", shape=_same, family="math"),
    _act("clip", "Clamp to [min, max].", Hyper("min", "float"), Hyper("max", "float"),
         shape=_same, family="math"),
    # No gradient flows through these: a loss behind them cannot train what lies before.
    _act("step", "1 if x > 0 else 0 (no gradient).", shape=_same, differentiable=False),
    _act("sign", "-1, 0 or 1 (no gradient).", shape=_same, differentiable=False),
    _act("round", "Round to the nearest integer (no gradient).", shape=_same,
         differentiable=False),
    OpDef("argmax", "activation", "Index of the largest entry along `axis` (i32, no gradient).",
          ("x",), _argmax_shape, (_AXIS,), differentiable=False),
    # Gradient control.
    OpDef("stop_gradient", "gradient", "Identity forward; no gradient flows back.", ("x",),
          _same, differentiable=False, flops=lambda ins, outs, hp: 0, intentional_cut=True),
    OpDef("grad_reverse", "gradient",
          "Identity forward; multiplies the gradient by -scale on the way back (DANN).",
          ("x",), _same, (Hyper("scale", "float", 1.0),), flops=lambda ins, outs, hp: 0,
          gradcheck="as_identity"),
]


def _elementwise(fn):
    return lambda ctx, node, xs: fn(ctx, xs[0], node.attrs)


def _grad_reverse(ctx, x, hp):
    """Identity forward; the incoming gradient times -scale backward (the plain identity when
    gradients are being checked against finite differences of the function itself)."""
    if ctx.exact_gradients:
        return x
    scale = hp["scale"]

    @ctx.jax.custom_vjp
    def reverse(v):
        return v

    reverse.defvjp(lambda v: (v, None), lambda _, g: (-scale * g,))
    return reverse(x)


def _maxout(ctx, x, hp):
    k = hp["pieces"]
    return ctx.jnp.max(x.reshape(x.shape[:-1] + (x.shape[-1] // k, k)), axis=-1)


def _step(ctx, x, hp):
    return ctx.lax.stop_gradient((x > 0).astype(x.dtype))


OPS = with_lowerings(_OPS, {name: _elementwise(fn) for name, fn in {
    "relu": lambda c, x, hp: c.nn.relu(x),
    "leaky_relu": lambda c, x, hp: c.nn.leaky_relu(x, hp["slope"]),
    "elu": lambda c, x, hp: c.nn.elu(x, hp["alpha"]),
    "selu": lambda c, x, hp: c.nn.selu(x),
    "gelu": lambda c, x, hp: c.nn.gelu(x),
    "swish": lambda c, x, hp: c.nn.swish(x),
    "sigmoid": lambda c, x, hp: c.nn.sigmoid(x),
    "tanh": lambda c, x, hp: c.jnp.tanh(x),
    "softplus": lambda c, x, hp: c.nn.softplus(x),
    "abs": lambda c, x, hp: c.jnp.abs(x),
    "softmax": lambda c, x, hp: c.nn.softmax(x, axis=hp["axis"]),
    "log_softmax": lambda c, x, hp: c.nn.log_softmax(x, axis=hp["axis"]),
    "maxout": _maxout,
    "exp": lambda c, x, hp: c.jnp.exp(x),
    "log": lambda c, x, hp: c.jnp.log(x),
    "sqrt": lambda c, x, hp: c.jnp.sqrt(x),
    "square": lambda c, x, hp: c.jnp.square(x),
    "clip": lambda c, x, hp: c.jnp.clip(x, hp["min"], hp["max"]),
    "step": _step,
    "sign": lambda c, x, hp: c.lax.stop_gradient(c.jnp.sign(x)),
    "round": lambda c, x, hp: c.lax.stop_gradient(c.jnp.round(x)),
    "argmax": lambda c, x, hp: c.jnp.argmax(x, axis=hp["axis"]).astype(c.jnp.int32),
    "stop_gradient": lambda c, x, hp: c.lax.stop_gradient(x),
    "grad_reverse": _grad_reverse,
}.items()})
