"""Pooling: windowed max/avg/Lp pooling and global pooling over spatial axes."""

from __future__ import annotations

from math import prod

from nndsl.ops.base import (
    Hyper,
    OpDef,
    need_rank,
    per_spatial,
    spatial_positions,
    window_out,
    with_lowerings,
)
from nndsl.ops.facts import spatial
from nndsl.ops.layers import lax_padding

_LAYOUTS = "[B, L, C], [B, H, W, C] or [B, D, H, W, C]"


def _geometry(n: int, hp: dict) -> tuple:
    """Per spatial dimension of n: window size, stride (the size unless given), padding."""
    size = per_spatial(hp["size"], n, "size")
    stride = per_spatial(hp["stride"] if hp["stride"] is not None else hp["size"], n, "stride")
    return size, stride, per_spatial(hp["pad"], n, "pad")


def _pool_shape(ins, hp):
    x = ins[0]
    need_rank(x, (3, 4, 5), _LAYOUTS)
    n = x.rank - 2
    size, stride, pad = _geometry(n, hp)
    spatial = tuple(window_out(x.shape[1 + i], size[i], stride[i], pad[i], what="pooling window")
                    for i in range(n))
    return x.with_shape((x.shape[0], *spatial, x.shape[-1]))


def _pool_flops(ins, outs, hp):
    positions = spatial_positions(outs[0])
    if positions is None:
        return None
    size = per_spatial(hp["size"], ins[0].rank - 2, "size")
    return positions * outs[0].shape[-1] * prod(size)


def _global_shape(ins, hp):
    x = ins[0]
    need_rank(x, (3, 4, 5), _LAYOUTS)
    return x.with_shape((x.shape[0], x.shape[-1]))


def _global_flops(ins, outs, hp):
    return ins[0].elements_per_example()


_WINDOW = (Hyper("size", "ints", low=1), Hyper("stride", "ints", None, low=1),
           Hyper("pad", "pad", "valid"))


def _pool_label(op, node) -> str:
    """`maxpool 2x2`, with ` /s` when the stride is not the window size."""
    hp = node.attrs
    stride = hp["stride"] if hp["stride"] is not None else hp["size"]
    return (f"{op.name} {'x'.join(map(str, spatial(hp['size'], node)))}" +
            (f" /{stride}" if stride != hp["size"] else ""))


def _pool(name, doc, *extra):
    return OpDef(name, "pooling", doc, ("x",), _pool_shape, (*extra, *_WINDOW),
                 flops=_pool_flops, label=_pool_label)


_OPS = [
    _pool("maxpool", "Maximum over each window (stride defaults to the size)."),
    _pool("avgpool", "Mean over each window (stride defaults to the size)."),
    _pool("lppool", "Lp norm over each window.", Hyper("p", "float", low=0, low_open=True)),
    OpDef("global_avgpool", "pooling", "Mean over all spatial axes: [B, ..., C] -> [B, C].",
          ("x",), _global_shape, flops=_global_flops),
    OpDef("global_maxpool", "pooling", "Maximum over all spatial axes: [B, ..., C] -> [B, C].",
          ("x",), _global_shape, flops=_global_flops),
]


def _window(x, hp):
    size, stride, pad = _geometry(x.ndim - 2, hp)
    pad = lax_padding(pad)
    if not isinstance(pad, str):
        pad = [(0, 0), *pad, (0, 0)]
    return (1, *size, 1), (1, *stride, 1), pad


def tiling_window(spatial: tuple, hp: dict) -> tuple | None:
    """The window size when a pooling op's windows tile its input's `spatial` lengths exactly
    (stride = size, no padding, every length a multiple of the size), else None. Such a pool
    is lowered by a reshape (below); passes/trainmem.py counts its memory accordingly."""
    size, stride, pad = _geometry(len(spatial), hp)
    exact = all(k == s and p in ("valid", "same", 0) and isinstance(length, int)
                and length % k == 0 for k, s, p, length in zip(size, stride, pad, spatial))
    return size if exact else None


def _tiled(x, size) -> tuple:
    """`x` [B, H, W, C] as [B, H/kh, kh, W/kw, kw, C], and the window axes (2, 4)."""
    shape = [x.shape[0]]
    for length, k in zip(x.shape[1:-1], size):
        shape += [length // k, k]
    return x.reshape(*shape, x.shape[-1]), tuple(range(2, 2 * len(size) + 1, 2))


def _tiled_max(ctx, x, size):
    """Maximum over windows that tile `x`, by a reshape and a plain reduction: on CPU about
    20% faster than reduce_window, whose gradient XLA lowers to a scatter
    (docs/benchmarks.md). The gradient goes to the first maximum of each window in row-major
    order, as reduce_window's and PyTorch's do (a plain max would split it between ties), at
    every order of differentiation. A window holding a NaN gets no gradient (reduce_window's
    goes to one of its elements; the loss is not finite then anyway). A custom JVP, not a VJP,
    so that forward mode (Hessian-vector products) keeps working."""
    jnp, lax = ctx.jnp, ctx.lax

    @ctx.jax.custom_jvp
    def pool(v):
        tiles, axes = _tiled(v, size)
        return jnp.max(tiles, axis=axes)

    def jvp(primals, tangents):
        out = pool(primals[0])  # differentiated again by this rule, not by jnp.max's
        tiles, axes = _tiled(primals[0], size)
        top = jnp.expand_dims(lax.stop_gradient(out), axes)
        order = sum(lax.broadcasted_iota(jnp.int32, tiles.shape, axis) * prod(size[i + 1:])
                    for i, axis in enumerate(axes))
        first = jnp.min(jnp.where(tiles == top, order, prod(size)), axis=axes, keepdims=True)
        moved, _ = _tiled(tangents[0], size)
        return out, jnp.sum(jnp.where(order == first, moved, 0), axis=axes)

    pool.defjvp(jvp)
    return pool(x)


def _lower_maxpool(ctx, node, xs):
    x = xs[0]
    size = tiling_window(x.shape[1:-1], node.attrs)
    if size is not None:
        return _tiled_max(ctx, x, size)
    dims, strides, pad = _window(x, node.attrs)
    return ctx.lax.reduce_window(x, -ctx.jnp.inf, ctx.lax.max, dims, strides, pad)


def _sum_pool(ctx, x, hp):
    size = tiling_window(x.shape[1:-1], hp)
    if size is not None:
        tiles, axes = _tiled(x, size)
        return ctx.jnp.sum(tiles, axis=axes), prod(size)
    dims, strides, pad = _window(x, hp)
    return ctx.lax.reduce_window(x, 0.0, ctx.lax.add, dims, strides, pad), prod(dims)


def _lower_avgpool(ctx, node, xs):
    total, count = _sum_pool(ctx, xs[0], node.attrs)
    return total / count


def _lower_lppool(ctx, node, xs):
    p = node.attrs["p"]
    total, _ = _sum_pool(ctx, ctx.jnp.abs(xs[0]) ** p, node.attrs)
    return total ** (1.0 / p)


OPS = with_lowerings(_OPS, {
    "maxpool": _lower_maxpool, "avgpool": _lower_avgpool, "lppool": _lower_lppool,
    "global_avgpool": lambda ctx, node, xs: ctx.jnp.mean(xs[0], axis=tuple(
        range(1, xs[0].ndim - 1))),
    "global_maxpool": lambda ctx, node, xs: ctx.jnp.max(xs[0], axis=tuple(
        range(1, xs[0].ndim - 1))),
})
