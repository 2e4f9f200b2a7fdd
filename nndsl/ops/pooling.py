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


def _pool_shape(ins, hp):
    x = ins[0]
    need_rank(x, (3, 4, 5), _LAYOUTS)
    n = x.rank - 2
    size = per_spatial(hp["size"], n, "size")
    stride = per_spatial(hp["stride"] if hp["stride"] is not None else hp["size"], n, "stride")
    pad = per_spatial(hp["pad"], n, "pad")
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
    n = x.ndim - 2
    size = per_spatial(hp["size"], n, "size")
    stride = per_spatial(hp["stride"] if hp["stride"] is not None else hp["size"], n, "stride")
    pad = lax_padding(per_spatial(hp["pad"], n, "pad"))
    if not isinstance(pad, str):
        pad = [(0, 0), *pad, (0, 0)]
    return (1, *size, 1), (1, *stride, 1), pad


def _lower_maxpool(ctx, node, xs):
    x = xs[0]
    dims, strides, pad = _window(x, node.attrs)
    return ctx.lax.reduce_window(x, -ctx.jnp.inf, ctx.lax.max, dims, strides, pad)


def _sum_pool(ctx, x, hp):
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
