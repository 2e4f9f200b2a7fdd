"""Activations and elementwise math: shape-preserving; only `prelu` has a parameter.

Each activation has its textbook name (PyTorch's and JAX's where they agree); `ALIASES` maps
other common names onto the one entry, so `swish` builds the `silu` op.
"""

from __future__ import annotations

from nndsl.ir import TensorType
from nndsl.ops.base import (
    Hyper,
    OpDef,
    OpError,
    need_float,
    need_static,
    normalise_axis,
    shape_str,
    with_lowerings,
)
from nndsl.ops.flops import SOFTMAX_PER_ELEMENT, times_elements


def _same_float(ins, hp):
    need_float(ins[0], "this activation")
    if "axis" in hp:
        normalise_axis(hp["axis"], ins[0].rank)
    return ins[0]


def _same(ins, hp):
    return ins[0]


def _act(name, doc, *hypers, shape=_same_float, differentiable=True, family="activation",
         **facts):
    return OpDef(name, family, doc, ("x",), shape, tuple(hypers), differentiable=differentiable,
                 **facts)


def _softmax_flops(ins, outs, hp):
    return times_elements(outs[0], SOFTMAX_PER_ELEMENT)


def _reduction_flops(ins, outs, hp):
    """One comparison per input element (maxout, argmax)."""
    return times_elements(ins[0], 1)


def _prelu_params(ins, hp):
    """One slope, or one per channel (the last axis): PyTorch's num_parameters=1 or C."""
    channels = need_static(ins[0].shape[-1], "the channel dimension of prelu's input") \
        if hp["per_channel"] else 1
    return {"slope": ((channels,), "quarter")}


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
    _act("relu6", "min(max(x, 0), 6) (MobileNetV2)"),
    _act("prelu", "x if x > 0 else slope * x, the slope learned (He et al. 2015): one for "
         "the whole tensor, or per_channel=true one per channel (last axis); each starts at "
         "0.25. PyTorch's nn.PReLU(num_parameters=1 or C).",
         Hyper("per_channel", "bool", False), params=_prelu_params, inits=("quarter",)),
    # Exact by default, as in the paper (Hendrycks & Gimpel), PyTorch and Keras, and BERT
    # as Hugging Face runs it; the tanh form (GPT-2, jax.nn.gelu's default) on request.
    _act("gelu", "x * Phi(x), Phi the standard normal CDF (exact, with erf: PyTorch's "
         "default); approximate=true: the tanh form 0.5x(1 + tanh(sqrt(2/pi)(x + "
         "0.044715x^3))) (GPT-2; jax.nn.gelu's default), within 4.7e-4 of it.",
         Hyper("approximate", "bool", False)),
    _act("silu", "x * sigmoid(x) (also called `swish`, its name in Ramachandran et al. 2017)."),
    _act("mish", "x * tanh(softplus(x)) (Misra 2019)."),
    _act("hard_sigmoid", "relu6(x + 3) / 6 (MobileNetV3; PyTorch's hardsigmoid)."),
    _act("hard_swish", "x * relu6(x + 3) / 6 (MobileNetV3; PyTorch's hardswish)."),
    _act("sigmoid", "1 / (1 + exp(-x))"),
    _act("tanh", "Hyperbolic tangent."),
    _act("softplus", "log(1 + exp(beta * x)) / beta, a smooth relu (PyTorch's Softplus).",
         Hyper("beta", "float", 1.0, low=0, low_open=True)),
    _act("abs", "|x|", shape=_same),
    _act("softmax", "Softmax along `axis`.", _AXIS, flops=_softmax_flops),
    _act("log_softmax", "Log-softmax along `axis`.", _AXIS, flops=_softmax_flops),
    OpDef("maxout", "activation", "Max over `pieces` groups of the last axis.", ("x",),
          _maxout_shape, (Hyper("pieces", "int", low=1),), flops=_reduction_flops),
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
          ("x",), _argmax_shape, (_AXIS,), differentiable=False, flops=_reduction_flops),
    # Gradient control.
    OpDef("stop_gradient", "gradient", "Identity forward; no gradient flows back.", ("x",),
          _same, differentiable=False, flops=lambda ins, outs, hp: 0, intentional_cut=True),
    OpDef("grad_reverse", "gradient",
          "Identity forward; multiplies the gradient by -scale on the way back (DANN).",
          ("x",), _same, (Hyper("scale", "float", 1.0),), flops=lambda ins, outs, hp: 0,
          gradcheck="as_identity"),
]


# Other names for an activation: the call builds the entry named here (layers are named after
# it too: `swish` makes `silu_0`).
ALIASES = {"swish": "silu"}


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


def _prelu(ctx, node, xs):
    x = xs[0]
    slope = ctx.params_of(node)["slope"].astype(x.dtype)
    return ctx.jnp.where(x > 0, x, slope * x)


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
    "relu6": lambda c, x, hp: c.nn.relu6(x),
    "gelu": lambda c, x, hp: c.nn.gelu(x, approximate=hp["approximate"]),
    "silu": lambda c, x, hp: c.nn.silu(x),
    "mish": lambda c, x, hp: c.nn.mish(x),
    "hard_sigmoid": lambda c, x, hp: c.nn.hard_sigmoid(x),
    "hard_swish": lambda c, x, hp: c.nn.hard_swish(x),
    "sigmoid": lambda c, x, hp: c.nn.sigmoid(x),
    "tanh": lambda c, x, hp: c.jnp.tanh(x),
    "softplus": lambda c, x, hp: c.nn.softplus(hp["beta"] * x) / hp["beta"],
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
}.items()} | {"prelu": _prelu})
