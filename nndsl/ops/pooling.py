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
)

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


def _pool(name, doc, *extra):
    return OpDef(name, "pooling", doc, ("x",), _pool_shape, (*extra, *_WINDOW),
                 flops=_pool_flops)


OPS = [
    _pool("maxpool", "Maximum over each window (stride defaults to the size)."),
    _pool("avgpool", "Mean over each window (stride defaults to the size)."),
    _pool("lppool", "Lp norm over each window.", Hyper("p", "float", low=0, low_open=True)),
    OpDef("global_avgpool", "pooling", "Mean over all spatial axes: [B, ..., C] -> [B, C].",
          ("x",), _global_shape, flops=_global_flops),
    OpDef("global_maxpool", "pooling", "Maximum over all spatial axes: [B, ..., C] -> [B, C].",
          ("x",), _global_shape, flops=_global_flops),
]
