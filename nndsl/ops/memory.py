"""Memory reads (end-to-end memory networks, Sukhbaatar et al. 2015): a query attends over
a memory of S slots by its keys and reads their values.

p = softmax(keys . query) over the S slots (exactly zero where `mask` is false), and the
result is sum_s p_s values_s. The op has no parameters: the keys and values are the
memories a spec computes (sentence embeddings plus temporal encodings), so that weight tying
between hops is written in the spec, with `param` tables shared by name.
"""

from __future__ import annotations

from nndsl.ops.attention import masked_softmax
from nndsl.ops.base import (
    OpDef,
    OpError,
    need_float,
    need_rank,
    shape_str,
    with_lowerings,
)
from nndsl.ops.flops import MULTIPLY_ADD, SOFTMAX_PER_ELEMENT


def _read_shape(ins, hp):
    query, keys, values = ins[:3]
    need_rank(query, (2,), "query [B, D]")
    need_rank(keys, (3,), "keys [B, S, D]")
    need_rank(values, (3,), "values [B, S, V]")
    need_float(query, "memory_read")
    if keys.shape[0] != query.shape[0] or keys.shape[2] != query.shape[1]:
        raise OpError(f"keys {shape_str(keys.shape)} must be [B, S, D] for the query "
                      f"{shape_str(query.shape)}: one D-vector per memory slot")
    if values.shape[:2] != keys.shape[:2]:
        raise OpError(f"values {shape_str(values.shape)} and keys {shape_str(keys.shape)} "
                      "must have the same slots [B, S, ...]")
    if len(ins) > 3 and ins[3].shape != keys.shape[:2]:
        raise OpError(f"the mask {shape_str(ins[3].shape)} must have the shape "
                      f"{shape_str(keys.shape[:2])}: one entry per memory slot",
                      hint="true where a slot holds a sentence, false for padding")
    return query.with_shape((query.shape[0], values.shape[2]))


def _read_flops(ins, outs, hp):
    """The scores and the weighted sum (multiply-adds) and a softmax per slot."""
    _, s, d = ins[1].shape
    v = ins[2].shape[2]
    if not all(isinstance(n, int) for n in (s, d, v)):
        return None
    return MULTIPLY_ADD * s * (d + v) + SOFTMAX_PER_ELEMENT * s


def _lower_read(ctx, node, xs):
    query, keys, values = xs[:3]
    scores = ctx.jnp.einsum("bsd,bd->bs", keys, query)
    keep = (xs[3] != 0) if len(xs) > 3 else None
    return ctx.jnp.einsum("bs,bsv->bv", masked_softmax(ctx, scores, keep), values)


_OPS = [
    OpDef("memory_read", "memory",
          "A memory network's read: softmax over the S slots of keys [B, S, D] . query [B, D], "
          "the weighted sum of values [B, S, V] -> [B, V]. `mask` [B, S] (true where a slot "
          "holds a sentence) gives padded slots exactly zero weight.",
          ("query", "keys", "values"), _read_shape, flops=_read_flops,
          keyword_inputs=(("mask", ()),), differentiable=(True, True, True, False)),
]

OPS = with_lowerings(_OPS, {"memory_read": _lower_read})
