"""Indexing and cropping: `slice` (what `x[:, 1:-1]` builds), `crop` and `compare` (`ids == 0`).

`slice` works on one non-batch axis; a subscript over several axes becomes one `slice` node
per axis it changes. Sizes may be symbolic: `x[:, 1:-1]` of [B, T, D] is [B, T - 2, D].
"""

from __future__ import annotations

from nndsl.ir import Dim, TensorType, dim_add, dim_floordiv, dim_sub, format_dim
from nndsl.ops.base import (
    Hyper,
    OpDef,
    OpError,
    broadcast,
    need_rank,
    normalise_axis,
    shape_str,
    with_lowerings,
)

# What `compare`'s `test` words mean, and the operator that builds each.
TESTS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
COMPARISONS = {symbol: word for word, symbol in TESTS.items()}


def _zero_flops(ins, outs, hp):
    return 0


# slice -------------------------------------------------------------------------------------------

def slice_text(hp: dict) -> str:
    """One axis's subscript as a spec writes it: `0`, `1:-1`, `::2`, `:64`."""
    if hp["index"] is not None:
        return str(hp["index"])
    start, stop = ("" if v is None else str(v) for v in (hp["start"], hp["stop"]))
    return f"{start}:{stop}" + (f":{hp['step']}" if hp["step"] != 1 else "")


def _slice_axis(x: TensorType, hp: dict) -> int:
    axis = normalise_axis(hp["axis"], x.rank)
    if axis == 0:
        raise OpError("cannot index the batch axis (axis 0)",
                      hint="index the other axes: `x[:, 0]` is the first step of every example")
    return axis


def _index_shape(x: TensorType, axis: int, index: int) -> TensorType:
    size = x.shape[axis]
    if isinstance(size, int) and not -size <= index < size:
        raise OpError(f"index {index} is out of range for axis {axis} of size {size} "
                      f"in {shape_str(x.shape)}",
                      hint=f"indices run from {-size} to {size - 1}")
    return x.with_shape(x.shape[:axis] + x.shape[axis + 1:])


def _bound(value: int | None, size: Dim, default: Dim) -> Dim:
    """A slice bound as a position: a negative one counts from the end of the axis."""
    if value is None:
        return default
    return dim_add(size, value) if value < 0 else value


def _sliced_length(size: Dim, start: int | None, stop: int | None, step: int) -> Dim:
    if isinstance(size, int):
        return len(range(*slice(start, stop, step).indices(size)))
    length = dim_sub(_bound(stop, size, size), _bound(start, size, 0))
    return dim_floordiv(dim_add(length, step - 1), step) if step > 1 else length


def _slice_shape(ins, hp):
    x = ins[0]
    axis = _slice_axis(x, hp)
    if hp["index"] is not None:
        return _index_shape(x, axis, hp["index"])
    length = _sliced_length(x.shape[axis], hp["start"], hp["stop"], hp["step"])
    if isinstance(length, int) and length <= 0:
        raise OpError(f"`{slice_text(hp)}` selects nothing from axis {axis} of size "
                      f"{format_dim(x.shape[axis])} in {shape_str(x.shape)}",
                      hint="a slice keeps at least one position")
    return x.with_shape(x.shape[:axis] + (length,) + x.shape[axis + 1:])


def _slice_label(op, node) -> str:
    """`slice [:, 1:-1]`: the subscript of the one axis the node changes."""
    axis = node.attrs["axis"] % (node.out.rank + (node.attrs["index"] is not None))
    return f"slice [{':, ' * axis}{slice_text(node.attrs)}]"


def _lower_slice(ctx, node, xs):
    hp = node.attrs
    x = xs[0]
    axis = hp["axis"] % x.ndim
    item = hp["index"] if hp["index"] is not None else slice(hp["start"], hp["stop"], hp["step"])
    return x[(slice(None),) * axis + (item,)]


# crop --------------------------------------------------------------------------------------------

def _crop_size(ins, hp) -> tuple[Dim, Dim]:
    if len(ins) > 1:  # like=
        if hp["size"] is not None:
            raise OpError("give crop either a `size` or a tensor to match (`like=`), not both")
        like = ins[1]
        need_rank(like, (4,), "`like`, an image [B, H, W, C]")
        return like.shape[1], like.shape[2]
    if hp["size"] is None:
        raise OpError("crop needs a `size` [h, w] or a tensor to match (`like=`)",
                      hint="e.g. crop(x, [24, 24]) or crop(skip, like=up)")
    size = hp["size"] if isinstance(hp["size"], tuple) else (hp["size"],) * 2
    if len(size) != 2:
        raise OpError(f"crop's size has {len(size)} values; an image crop takes [h, w]")
    return size


def _check_fits(length: Dim, want: Dim, at: int | None, what: str, x: TensorType) -> None:
    """The window [at, at + want) must lie inside an axis of `length` (checked when known)."""
    if not isinstance(length, int) or not isinstance(want, int):
        return
    if want > length:
        raise OpError(f"a crop {what} of {want} is larger than the input's {length} "
                      f"({shape_str(x.shape)})", hint="crop to at most the input's size")
    if at is not None and at + want > length:
        where = "top" if what == "height" else "left"
        raise OpError(f"a crop of {what} {want} at {where}={at} runs past the input's "
                      f"{what} {length} ({shape_str(x.shape)})",
                      hint=f"{where} is at most {length - want}")


def _crop_shape(ins, hp):
    x = ins[0]
    need_rank(x, (4,), "an image [B, H, W, C]")
    h, w = _crop_size(ins, hp)
    _check_fits(x.shape[1], h, hp["top"], "height", x)
    _check_fits(x.shape[2], w, hp["left"], "width", x)
    return x.with_shape((x.shape[0], h, w, x.shape[3]))


def _crop_label(op, node) -> str:
    out = node.out.shape
    at = [f"{k}={node.attrs[k]}" for k in ("top", "left") if node.attrs[k] is not None]
    return " ".join(["crop", f"{format_dim(out[1])}x{format_dim(out[2])}", *at])


def _lower_crop(ctx, node, xs):
    x, hp = xs[0], node.attrs
    h, w = (xs[1].shape[1:3] if len(xs) > 1 else node.out.shape[1:3])
    top = (x.shape[1] - h) // 2 if hp["top"] is None else hp["top"]
    left = (x.shape[2] - w) // 2 if hp["left"] is None else hp["left"]
    return x[:, top:top + h, left:left + w, :]


# compare -----------------------------------------------------------------------------------------

def _compare_shape(ins, hp):
    return TensorType(broadcast(ins[0], ins[1]), "bool")


def _lower_compare(ctx, node, xs):
    a, b = xs
    return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b,
            "ge": a >= b}[node.attrs["test"]]


_OPS = [
    OpDef("slice", "shape",
          "One non-batch axis indexed (`index`, the axis dropped) or sliced (`start`, `stop`, "
          "`step`, as in Python); what `x[:, 0]` and `x[:, 1:-1]` build.",
          ("x",), _slice_shape,
          (Hyper("axis", "axis", 1), Hyper("index", "int", None), Hyper("start", "int", None),
           Hyper("stop", "int", None), Hyper("step", "int", 1, low=1)),
          flops=_zero_flops, label=_slice_label),
    OpDef("crop", "shape",
          "Crop an image [B, H, W, C] to `size` [h, w] (centred unless `top`/`left` are "
          "given), or to the size of `like`, another image (U-Net skips).",
          ("x",), _crop_shape,
          (Hyper("size", "ints", None, low=1), Hyper("top", "int", None, low=0),
           Hyper("left", "int", None, low=0)),
          flops=_zero_flops, label=_crop_label, keyword_inputs=(("like", ()),),
          differentiable=(True, False)),
    OpDef("compare", "math",
          "Elementwise comparison, a bool tensor (`ids == 0` builds test=eq); no gradient.",
          ("a", "b"), _compare_shape,
          (Hyper("test", "word", choices=tuple(TESTS)),), differentiable=False,
          label=lambda op, node: f"compare {TESTS[node.attrs['test']]}"),
]

OPS = with_lowerings(_OPS, {"slice": _lower_slice, "crop": _lower_crop,
                            "compare": _lower_compare})
