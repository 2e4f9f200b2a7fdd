"""Stochastic ops: active only while training (dropout, noise) or reparameterised sampling."""

from __future__ import annotations

from nndsl.ir import TensorType
from nndsl.ops.base import Hyper, OpDef, OpError, need_float, shape_str, with_lowerings


def _same_float(ins, hp):
    need_float(ins[0], "this op")
    return ins[0]


def _sample_shape(ins, hp):
    mu, logvar = ins
    if mu.shape != logvar.shape:
        raise OpError(f"mu {shape_str(mu.shape)} and logvar {shape_str(logvar.shape)} must "
                      "have the same shape")
    return mu


def _normal_shape(ins, hp):
    return TensorType(hp["shape"], "f32")


_OPS = [
    OpDef("dropout", "stochastic", "Zeroes a fraction `rate` of entries while training.",
          ("x",), _same_float, (Hyper("rate", "float", low=0, high=1, high_open=True),),
          stochastic=True),
    OpDef("noise", "stochastic", "Adds Gaussian noise of deviation `std` while training.",
          ("x",), _same_float, (Hyper("std", "float", low=0),), stochastic=True),
    OpDef("sample_normal", "stochastic",
          "mu + exp(logvar / 2) * eps, eps ~ N(0, 1): the reparameterisation trick.",
          ("mu", "logvar"), _sample_shape, stochastic=True),
    OpDef("normal", "stochastic", "Standard normal noise of `shape`, drawn anew every batch.",
          (), _normal_shape, (Hyper("shape", "shape"),), stochastic=True,
          flops=lambda ins, outs, hp: 0),
]


def _lower_dropout(ctx, node, xs):
    x, rate = xs[0], node.attrs["rate"]
    if not ctx.train or rate == 0:
        return x
    keep = ctx.jax.random.bernoulli(ctx.key_of(node), 1 - rate, x.shape)
    return ctx.jnp.where(keep, x / (1 - rate), 0).astype(x.dtype)


def _lower_noise(ctx, node, xs):
    x = xs[0]
    if not ctx.train:
        return x
    return x + node.attrs["std"] * ctx.jax.random.normal(ctx.key_of(node), x.shape, x.dtype)


def _lower_sample_normal(ctx, node, xs):
    mu, logvar = xs
    eps = ctx.jax.random.normal(ctx.key_of(node), mu.shape, mu.dtype)
    return mu + ctx.jnp.exp(logvar / 2) * eps


def _lower_normal(ctx, node, xs):
    shape = tuple(d if isinstance(d, int) else ctx.batch_size for d in node.attrs["shape"])
    return ctx.jax.random.normal(ctx.key_of(node), shape)


OPS = with_lowerings(_OPS, {"dropout": _lower_dropout, "noise": _lower_noise,
                            "sample_normal": _lower_sample_normal, "normal": _lower_normal})
