"""Stochastic ops: active only while training (dropout, noise) or reparameterised sampling."""

from __future__ import annotations

from nndsl.ir import TensorType
from nndsl.ops.base import Hyper, OpDef, OpError, need_float, shape_str


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


OPS = [
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
