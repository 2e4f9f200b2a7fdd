"""Sets: symmetric pooling over the element axis of [B, N, F] (PointNet's max over points,
a graph's readout over its nodes), with an optional mask for padded sets.

A shared per-element MLP needs no op of its own: `dense` acts on the last axis, so on a set
[B, N, F] it applies the same weights to every element.
"""

from __future__ import annotations

from nndsl.ops.base import (
    Hyper,
    OpDef,
    OpError,
    need_float,
    need_rank,
    shape_str,
    with_lowerings,
)

POOLS = ("max", "mean", "sum")


def _pool_shape(ins, hp):
    x = ins[0]
    need_rank(x, (3,), "a set [B, N, F]: N elements of F features")
    need_float(x, "set_pool")
    if len(ins) > 1 and ins[1].shape != x.shape[:2]:
        raise OpError(f"the mask {shape_str(ins[1].shape)} must have the shape "
                      f"{shape_str(x.shape[:2])}: one entry per element of the set",
                      hint="true where an element is real, false where it is padding: "
                           "`mask=nodes`")
    return x.with_shape((x.shape[0], x.shape[2]))


def _pool_flops(ins, outs, hp):
    return ins[0].elements_per_example()


def _pool_label(op, node) -> str:
    masked = " masked" if len(node.inputs) > 1 else ""
    return f"set_pool {node.attrs['kind']}{masked}"


_OPS = [
    OpDef("set_pool", "sets",
          "Symmetric pooling over the elements of a set [B, N, F] -> [B, F] (kind=max, mean "
          "or sum): the same result for any order of the N elements. `mask` [B, N] (true "
          "where an element is real) leaves padding out; an empty set pools to zeros.",
          ("x",), _pool_shape, (Hyper("kind", "word", "max", choices=POOLS),),
          flops=_pool_flops, label=_pool_label, keyword_inputs=(("mask", ()),),
          differentiable=(True, False)),
]


def masked_pool(jnp, x, keep, kind: str):
    """Pool x [B, N, F] over N where `keep` [B, N] (None: every element) is true; an empty
    set gives zeros (not -inf, not NaN)."""
    if keep is None:
        return {"max": jnp.max, "mean": jnp.mean, "sum": jnp.sum}[kind](x, axis=1)
    keep = (keep != 0)[..., None]
    if kind == "max":
        pooled = jnp.max(jnp.where(keep, x, -jnp.inf), axis=1)
        return jnp.where(jnp.any(keep, axis=1), pooled, 0.0).astype(x.dtype)
    total = jnp.sum(jnp.where(keep, x, 0.0), axis=1)
    if kind == "sum":
        return total
    return total / jnp.maximum(jnp.sum(keep, axis=1), 1).astype(x.dtype)


def _lower_set_pool(ctx, node, xs):
    return masked_pool(ctx.jnp, xs[0], xs[1] if len(xs) > 1 else None, node.attrs["kind"])


OPS = with_lowerings(_OPS, {"set_pool": _lower_set_pool})
