"""Shape operations: flatten, reshape, transpose, concat, split, upsample, pad, last, ..."""

from __future__ import annotations

from dataclasses import replace

from nndsl.ir import Dim, dim_add, dim_mul, dims_product
from nndsl.ops.base import (
    Hyper,
    OpDef,
    OpError,
    need_rank,
    normalise_axis,
    per_spatial,
    shape_str,
    with_lowerings,
)


def _zero_flops(ins, outs, hp):
    return 0


def _flatten(ins, hp):
    x = ins[0]
    if x.rank < 2:
        raise OpError(f"flatten needs at least [B, ...], got {shape_str(x.shape)}")
    return x.with_shape((x.shape[0], dims_product(x.shape[1:])))


def _reshape(ins, hp):
    x, target = ins[0], list(hp["shape"])
    if target.count(-1) > 1:
        raise OpError("reshape accepts at most one -1 in its target shape")
    have = dims_product(x.shape[1:])
    known = dims_product(d for d in target[1:] if d != -1)
    if -1 in target[1:]:
        if not (isinstance(have, int) and isinstance(known, int) and known and have % known == 0):
            raise OpError(f"cannot infer -1 when reshaping {shape_str(x.shape)} to "
                          f"{shape_str(target)}")
        target[target.index(-1)] = have // known
    elif have != known:
        raise OpError(f"cannot reshape {shape_str(x.shape)} ({have} elements per example) to "
                      f"{shape_str(target)} ({known} per example)")
    return x.with_shape((x.shape[0], *target[1:]))


def _transpose(ins, hp):
    x, perm = ins[0], hp["perm"]
    perm = (perm,) if isinstance(perm, int) else perm  # `ints` takes one int or a list
    if sorted(perm) != list(range(x.rank)):
        raise OpError(f"perm {list(perm)} is not a permutation of the {x.rank} axes of "
                      f"{shape_str(x.shape)}")
    # A parameter (and what is computed from parameters alone) has no batch axis to keep.
    if perm[0] != 0 and hp.get("batched", True):
        raise OpError("transpose must keep the batch axis first (perm[0] == 0)")
    return x.with_shape(tuple(x.shape[i] for i in perm))


def _concat(ins, hp):
    first = ins[0]
    axis = normalise_axis(hp["axis"], first.rank)
    total: Dim = 0
    for t in ins:
        same_rest = t.rank == first.rank and all(
            a == b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis)
        if not same_rest:
            raise OpError(f"concat along axis {hp['axis']} needs equal other dimensions, got "
                          + " and ".join(shape_str(u.shape) for u in ins))
        total = dim_add(total, t.shape[axis])
    return first.with_shape(first.shape[:axis] + (total,) + first.shape[axis + 1:])


def _split(ins, hp):
    x, parts = ins[0], hp["parts"]
    axis = normalise_axis(hp["axis"], x.rank)
    size = x.shape[axis]
    if not isinstance(size, int) or size % parts:
        raise OpError(f"cannot split {shape_str(x.shape)} into {parts} equal parts along axis "
                      f"{hp['axis']}")
    piece = x.with_shape(x.shape[:axis] + (size // parts,) + x.shape[axis + 1:])
    return [piece] * parts


def _upsample(ins, hp):
    x = ins[0]
    need_rank(x, (3, 4, 5), "[B, L, C], [B, H, W, C] or [B, D, H, W, C]")
    factor = per_spatial(hp["factor"], x.rank - 2, "factor")
    spatial = tuple(dim_mul(d, f) for d, f in zip(x.shape[1:-1], factor))
    return x.with_shape((x.shape[0], *spatial, x.shape[-1]))


def _pad(ins, hp):
    x = ins[0]
    need_rank(x, (3, 4, 5), "[B, L, C], [B, H, W, C] or [B, D, H, W, C]")
    width = per_spatial(hp["width"], x.rank - 2, "width")
    spatial = tuple(dim_add(d, 2 * w) for d, w in zip(x.shape[1:-1], width))
    return x.with_shape((x.shape[0], *spatial, x.shape[-1]))


def _drop_axis(ins, hp):
    x = ins[0]
    axis = normalise_axis(hp["axis"], x.rank)
    if axis == 0:
        raise OpError("cannot remove the batch axis")
    return x.with_shape(x.shape[:axis] + x.shape[axis + 1:])


def _squeeze(ins, hp):
    x = ins[0]
    axis = normalise_axis(hp["axis"], x.rank)
    if x.shape[axis] != 1:
        raise OpError(f"squeeze(axis={hp['axis']}) needs a dimension of size 1, got "
                      f"{shape_str(x.shape)}")
    return _drop_axis(ins, hp)


def _expand(ins, hp):
    x = ins[0]
    axis = hp["axis"] % (x.rank + 1) if -x.rank - 1 <= hp["axis"] <= x.rank else None
    if axis is None:
        raise OpError(f"axis {hp['axis']} is out of range for expanding rank {x.rank}")
    return x.with_shape(x.shape[:axis] + (1,) + x.shape[axis:])


_AXIS = Hyper("axis", "axis", -1)


def _op(name, doc, rule, *hypers, inputs=("x",)):
    return OpDef(name, "shape", doc, inputs, rule, tuple(hypers), flops=_zero_flops)


_OPS = [
    _op("flatten", "[B, d1, d2, ...] -> [B, d1 * d2 * ...]", _flatten),
    _op("reshape", "Reshape to `shape` (batch dimension included, e.g. [B, 8, 8, 1]).",
        _reshape, Hyper("shape", "shape")),
    replace(_op("transpose", "Permute axes (`perm` over all axes, batch first; a parameter "
                "has no batch axis: `transpose(W, [1, 0])`).", _transpose,
                Hyper("perm", "ints", low=0)), sees_batch=True),
    _op("concat", "Concatenate tensors along `axis`.", _concat, _AXIS, inputs=("*xs",)),
    _op("split", "Split into `parts` equal tensors along `axis`.", _split,
        Hyper("parts", "int", low=1), _AXIS),
    _op("upsample", "Nearest-neighbour upsampling of spatial axes by `factor`.", _upsample,
        Hyper("factor", "ints", low=1)),
    _op("pad", "Zero-pad every spatial axis by `width` on both sides.", _pad,
        Hyper("width", "ints", low=0)),
    _op("last", "The last step along `axis` (time): [B, T, D] -> [B, D].", _drop_axis,
        Hyper("axis", "axis", 1)),
    _op("expand", "Insert an axis of size 1.", _expand, Hyper("axis", "axis")),
    _op("squeeze", "Remove an axis of size 1.", _squeeze, Hyper("axis", "axis")),
]


def _runtime_shape(x, target) -> tuple:
    """A declared target shape at run time: the batch from x, other symbolic sizes inferred."""
    return (x.shape[0], *(d if isinstance(d, int) else -1 for d in target[1:]))


def _lower_split(ctx, node, xs):
    return ctx.jnp.split(xs[0], node.attrs["parts"], axis=node.attrs["axis"])


def _lower_upsample(ctx, node, xs):
    x = xs[0]
    for axis, f in enumerate(per_spatial(node.attrs["factor"], x.ndim - 2, "factor"), 1):
        x = ctx.jnp.repeat(x, f, axis=axis)
    return x


def _lower_pad(ctx, node, xs):
    x = xs[0]
    width = per_spatial(node.attrs["width"], x.ndim - 2, "width")
    return ctx.jnp.pad(x, [(0, 0), *((w, w) for w in width), (0, 0)])


OPS = with_lowerings(_OPS, {
    "flatten": lambda ctx, node, xs: xs[0].reshape(xs[0].shape[0], -1),
    "reshape": lambda ctx, node, xs: xs[0].reshape(_runtime_shape(xs[0], node.attrs["shape"])),
    "transpose": lambda ctx, node, xs: ctx.jnp.transpose(xs[0], node.attrs["perm"]),
    "concat": lambda ctx, node, xs: ctx.jnp.concatenate(xs, axis=node.attrs["axis"]),
    "split": _lower_split,
    "upsample": _lower_upsample,
    "pad": _lower_pad,
    "last": lambda ctx, node, xs: ctx.jnp.take(xs[0], -1, axis=node.attrs["axis"]),
    "expand": lambda ctx, node, xs: ctx.jnp.expand_dims(xs[0], node.attrs["axis"]),
    "squeeze": lambda ctx, node, xs: ctx.jnp.squeeze(xs[0], node.attrs["axis"]),
})
