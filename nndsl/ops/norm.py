"""Normalisation layers: batchnorm, layernorm, groupnorm, instancenorm."""

from __future__ import annotations

from nndsl.ops.base import Hyper, OpDef, OpError, need_float, need_static, with_lowerings
from nndsl.ops.flops import NORM_PER_ELEMENT, times_elements

_EPS = Hyper("eps", "float", 1e-5, low=0, low_open=True)


def _channels(x) -> int:
    need_float(x, "normalisation")
    if x.rank < 2:
        raise OpError("normalisation needs at least [B, C]")
    return need_static(x.shape[-1], "the channel dimension")


def _same(ins, hp):
    _channels(ins[0])
    return ins[0]


def _scale_shift(ins, hp):
    c = ins[0].shape[-1]
    return {"scale": ((c,), "ones"), "shift": ((c,), "zeros")}


def _groupnorm_shape(ins, hp):
    c = _channels(ins[0])
    if c % hp["groups"]:
        raise OpError(f"groups={hp['groups']} must divide the {c} channels")
    return ins[0]


def _flops(ins, outs, hp):
    return times_elements(outs[0], NORM_PER_ELEMENT)


BATCHNORM = OpDef(
    "batchnorm", "norm",
    "Batch normalisation over all axes but the last; running mean/var are state, not trained.",
    ("x",), _same, (Hyper("momentum", "float", 0.9, low=0, high=1, high_open=True), _EPS),
    _scale_shift,
    state=lambda ins, hp: {"mean": ((ins[0].shape[-1],), "zeros"),
                           "var": ((ins[0].shape[-1],), "ones")},
    flops=_flops, inits=("ones", "zeros"))
LAYERNORM = OpDef("layernorm", "norm", "Layer normalisation over the last axis.", ("x",), _same,
                  (_EPS,), _scale_shift, flops=_flops, inits=("ones", "zeros"))
GROUPNORM = OpDef("groupnorm", "norm", "Group normalisation: channels split into groups.",
                  ("x",), _groupnorm_shape, (Hyper("groups", "int", low=1), _EPS), _scale_shift,
                  flops=_flops, inits=("ones", "zeros"))
INSTANCENORM = OpDef("instancenorm", "norm", "Instance normalisation over spatial axes.",
                     ("x",), _same, (_EPS,), _scale_shift, flops=_flops, inits=("ones", "zeros"))

def _normalise(ctx, x, axes, eps, p):
    # One centred tensor for the variance and the output, and the scale folded into the
    # per-row 1/std before it meets the [.., C] tensor: XLA then materialises the gradient of
    # each residual stream once instead of recomputing the whole chain of later layers'
    # normalisation gradients inside every consumer (docs/benchmarks.md, the transformer gap).
    mean = ctx.jnp.mean(x, axis=axes, keepdims=True)
    centred = x - mean
    var = ctx.jnp.mean(ctx.lax.square(centred), axis=axes, keepdims=True)
    return centred * (ctx.lax.rsqrt(var + eps) * p["scale"]) + p["shift"]


def _lower_batchnorm(ctx, node, xs):
    """Batch statistics while training (and running averages updated); running ones after."""
    x, hp, p = xs[0], node.attrs, ctx.params_of(node)
    axes = tuple(range(x.ndim - 1))
    stats = ctx.state_of(node)
    if ctx.train:
        mean, var = ctx.jnp.mean(x, axis=axes), ctx.jnp.var(x, axis=axes)
        m = hp["momentum"]
        ctx.set_state(node, {"mean": m * stats["mean"] + (1 - m) * mean,
                             "var": m * stats["var"] + (1 - m) * var})
    else:
        mean, var = stats["mean"], stats["var"]
    return (x - mean) * ctx.lax.rsqrt(var + hp["eps"]) * p["scale"] + p["shift"]


def _lower_layernorm(ctx, node, xs):
    return _normalise(ctx, _gradient_written_once(ctx, xs[0]), (-1,), node.attrs["eps"],
                      ctx.params_of(node))


def _gradient_written_once(ctx, x):
    """`x` itself, whose gradient XLA computes into memory once: an optimization barrier on
    the tangent (and so on the cotangent, its transpose). Without it, XLA's CPU fusion
    recomputes a residual stream's gradient, layer after layer of layernorm gradients, inside
    each of its consumers (docs/benchmarks.md, the transformer gap). A custom JVP, not a
    custom VJP: forward mode (Hessian-vector products) keeps working."""
    @ctx.jax.custom_jvp
    def once(v):
        return v

    once.defjvp(lambda primals, tangents: (primals[0],
                                           ctx.lax.optimization_barrier(tangents[0])))
    return once(x)


def _lower_instancenorm(ctx, node, xs):
    x = xs[0]
    return _normalise(ctx, x, tuple(range(1, x.ndim - 1)), node.attrs["eps"],
                      ctx.params_of(node))


def _lower_groupnorm(ctx, node, xs):
    x, hp, p = xs[0], node.attrs, ctx.params_of(node)
    g = hp["groups"]
    grouped = x.reshape(x.shape[:-1] + (g, x.shape[-1] // g))
    axes = tuple(range(1, x.ndim - 1)) + (x.ndim,)
    mean = ctx.jnp.mean(grouped, axis=axes, keepdims=True)
    var = ctx.jnp.var(grouped, axis=axes, keepdims=True)
    y = ((grouped - mean) * ctx.lax.rsqrt(var + hp["eps"])).reshape(x.shape)
    return y * p["scale"] + p["shift"]


OPS = with_lowerings([BATCHNORM, LAYERNORM, GROUPNORM, INSTANCENORM], {
    "batchnorm": _lower_batchnorm, "layernorm": _lower_layernorm,
    "groupnorm": _lower_groupnorm, "instancenorm": _lower_instancenorm,
})
