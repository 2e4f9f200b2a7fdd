"""Parameterised layers: dense, conv, conv_transpose, embed, positional."""

from __future__ import annotations

from itertools import product
from math import prod

from nndsl.ir import TensorType, dim_add, dim_mul
from nndsl.ops.base import (
    Hyper,
    OpDef,
    OpError,
    elements,
    need_float,
    need_rank,
    need_static,
    per_spatial,
    shape_str,
    spatial_positions,
    window_out,
    with_lowerings,
)
from nndsl.ops.facts import Indexes, spatial
from nndsl.ops.flops import MULTIPLY_ADD

_NORM = Hyper("norm", "word", "none", choices=("none", "weight"))
_BIAS = Hyper("bias", "bool", True)


_BIAS_NORM_INITS = ("zeros", "ones")


def _bias_and_norm(params: dict, hp, units: int) -> dict:
    if hp["bias"]:
        params["b"] = ((units,), "zeros")
    if hp["norm"] == "weight":
        params["g"] = ((units,), "ones")
    return params


# dense -----------------------------------------------------------------------------------------

def _dense_shape(ins, hp):
    x = ins[0]
    if x.rank < 2:
        raise OpError(f"expects at least [B, features], got {shape_str(x.shape)}")
    need_float(x, "dense")
    need_static(x.shape[-1], "the feature dimension of dense's input")
    return x.with_shape(x.shape[:-1] + (hp["units"],))


def _dense_params(ins, hp):
    return _bias_and_norm({"w": ((ins[0].shape[-1], hp["units"]), "glorot_uniform")}, hp,
                          hp["units"])


def _dense_flops(ins, outs, hp):
    positions = spatial_positions(outs[0]) if outs[0].rank > 2 else 1
    if positions is None:
        return None
    return positions * (MULTIPLY_ADD * ins[0].shape[-1] * hp["units"] +
                      (hp["units"] if hp["bias"] else 0))


DENSE = OpDef(
    "dense", "layer", "Fully connected layer on the last axis: x @ w + b.", ("x",),
    _dense_shape, (Hyper("units", "int", low=1), _BIAS, _NORM), _dense_params,
    flops=_dense_flops, inits=("glorot_uniform", *_BIAS_NORM_INITS))


# conv ------------------------------------------------------------------------------------------

_CONV_RANKS = (3, 4, 5)
_CONV_LAYOUTS = "[B, L, C], [B, H, W, C] or [B, D, H, W, C]"


def _conv_geometry(x: TensorType, hp):
    need_rank(x, _CONV_RANKS, _CONV_LAYOUTS)
    n = x.rank - 2
    return (n, per_spatial(hp["kernel"], n, "kernel"), per_spatial(hp["stride"], n, "stride"),
            per_spatial(hp["pad"], n, "pad"), per_spatial(hp["dilation"], n, "dilation"))


def _conv_shape(ins, hp):
    x = ins[0]
    n, kernel, stride, pad, dilation = _conv_geometry(x, hp)
    need_float(x, "conv")
    channels = need_static(x.shape[-1], "the channel dimension of conv's input")
    groups = hp["groups"]
    if channels % groups or hp["filters"] % groups:
        raise OpError(f"groups={groups} must divide both the input channels ({channels}) and "
                      f"the filters ({hp['filters']})")
    spatial = tuple(window_out(x.shape[1 + i], kernel[i], stride[i], pad[i], dilation[i])
                    for i in range(n))
    return x.with_shape((x.shape[0], *spatial, hp["filters"]))


def _conv_params(ins, hp):
    n, kernel, *_ = _conv_geometry(ins[0], hp)
    cin = ins[0].shape[-1] // hp["groups"]
    return _bias_and_norm({"w": ((*kernel, cin, hp["filters"]), "he_normal")}, hp,
                          hp["filters"])


def _conv_flops(ins, outs, hp):
    positions = spatial_positions(outs[0])
    if positions is None:
        return None
    n, kernel, *_ = _conv_geometry(ins[0], hp)
    macs = prod(kernel) * (ins[0].shape[-1] // hp["groups"]) * hp["filters"]
    return positions * (MULTIPLY_ADD * macs + (hp["filters"] if hp["bias"] else 0))


def _conv_label(op, node) -> str:
    """`conv 64 3x3`, then ` /stride`, ` dil d`, ` groups g` where they are not 1."""
    hp = node.attrs
    text = f"{op.name} {hp['filters']} {'x'.join(map(str, spatial(hp['kernel'], node)))}"
    text += f" /{hp['stride']}" if hp["stride"] != 1 else ""
    text += f" dil {hp['dilation']}" if hp.get("dilation", 1) != 1 else ""
    return text + (f" groups {hp['groups']}" if hp.get("groups", 1) != 1 else "")


_WINDOW_HYPERS = (
    Hyper("kernel", "ints", low=1), Hyper("stride", "ints", 1, low=1),
    Hyper("pad", "pad", "valid"),
)

CONV = OpDef(
    "conv", "layer",
    "Convolution, 1-D/2-D/3-D by input rank (channels last); kernels are [k..., in, out].",
    ("x",), _conv_shape,
    (Hyper("filters", "int", low=1), *_WINDOW_HYPERS, Hyper("dilation", "ints", 1, low=1),
     Hyper("groups", "int", 1, low=1), _BIAS, _NORM),
    _conv_params, flops=_conv_flops, inits=("he_normal", *_BIAS_NORM_INITS), label=_conv_label)


def _conv_t_shape(ins, hp):
    x = ins[0]
    need_rank(x, _CONV_RANKS, _CONV_LAYOUTS)
    need_float(x, "conv_transpose")
    need_static(x.shape[-1], "the channel dimension of conv_transpose's input")
    n = x.rank - 2
    kernel = per_spatial(hp["kernel"], n, "kernel")
    stride = per_spatial(hp["stride"], n, "stride")
    pad = per_spatial(hp["pad"], n, "pad")
    spatial = []
    for i in range(n):
        grown = dim_mul(x.shape[1 + i], stride[i])
        if pad[i] == "same":
            spatial.append(grown)
        else:
            padding = pad[i] if isinstance(pad[i], int) else 0
            spatial.append(dim_add(grown, kernel[i] - stride[i] - 2 * padding))
    return x.with_shape((x.shape[0], *spatial, hp["filters"]))


def _conv_t_params(ins, hp):
    n = ins[0].rank - 2
    kernel = per_spatial(hp["kernel"], n, "kernel")
    return _bias_and_norm({"w": ((*kernel, ins[0].shape[-1], hp["filters"]), "he_normal")}, hp,
                          hp["filters"])


def _conv_t_flops(ins, outs, hp):
    """Each input position scatters its kernel-weighted values (the multiply-adds are per
    input position); the bias is added once per output element."""
    positions, out_positions = spatial_positions(ins[0]), spatial_positions(outs[0])
    if positions is None or out_positions is None:
        return None
    kernel = per_spatial(hp["kernel"], ins[0].rank - 2, "kernel")
    bias = out_positions * hp["filters"] if hp["bias"] else 0
    return positions * MULTIPLY_ADD * prod(kernel) * ins[0].shape[-1] * hp["filters"] + bias


CONV_TRANSPOSE = OpDef(
    "conv_transpose", "layer", "Transposed convolution (learned upsampling), channels last.",
    ("x",), _conv_t_shape,
    (Hyper("filters", "int", low=1), *_WINDOW_HYPERS, _BIAS, _NORM), _conv_t_params,
    flops=_conv_t_flops, inits=("he_normal", *_BIAS_NORM_INITS), label=_conv_label)


# embed, positional -----------------------------------------------------------------------------

def _embed_shape(ins, hp):
    ids = ins[0]
    if ids.is_float:
        raise OpError(f"embed looks up integer token ids, got {ids.dtype} {shape_str(ids.shape)}",
                      hint="declare the input as integer: `input src: [B, S] i32`")
    if len(ins) > 1:
        _check_table(ins[1], hp)
    return TensorType(ids.shape + (hp["dim"],), "f32")


def _check_table(table: TensorType, hp) -> None:
    """A table passed as `table=W` is [vocab, dim] and agrees with vocab and dim if written."""
    if table.rank != 2 or not table.is_float:
        raise OpError(f"`table` must be a float matrix [vocab, dim], got {table}",
                      hint="declare it as `param W: [vocab, dim] = normal`")
    if tuple(table.shape) != (hp["vocab"], hp["dim"]):
        raise OpError(f"`table` is {table} but vocab={hp['vocab']} and dim={hp['dim']}",
                      hint="leave vocab and dim out: the table's shape gives them")


EMBED = OpDef(
    "embed", "layer", "Embedding table lookup: integer ids [B, ...] -> [B, ..., dim]. With "
    "`table=W` (a `param W: [vocab, dim]`) it looks up in W, which other ops may also use "
    "(a tied LM head), and owns no parameters.", ("ids",),
    _embed_shape, (Hyper("vocab", "int", low=1), Hyper("dim", "int", low=1)),
    lambda ins, hp: {} if len(ins) > 1 else {"table": ((hp["vocab"], hp["dim"]), "normal")},
    # No gradient reaches the ids; a table passed as `table=W` receives one.
    differentiable=(False, True), flops=lambda ins, outs, hp: 0, inits=("normal",),
    # Ids index the rows of the table: out of range they give NaN rows (>= vocab) or wrap
    # round silently (< 0), so they are checked.
    indexes=(Indexes(0, "ids", "its table has {n} rows", hyper="vocab"),),
    keyword_inputs=(("table", ("vocab", "dim")),))


def _positional_shape(ins, hp):
    x = ins[0]
    need_rank(x, (3,), "[B, T, D]")
    need_static(x.shape[-1], "the feature dimension of positional's input")
    length = x.shape[1]
    if isinstance(length, int) and length > hp["max_len"]:
        raise OpError(f"the sequence has {length} positions but max_len is {hp['max_len']}")
    return x


POSITIONAL = OpDef(
    "positional", "layer", "Adds a learned position embedding (up to max_len positions).",
    ("x",), _positional_shape, (Hyper("max_len", "int", low=1),),
    lambda ins, hp: {"table": ((hp["max_len"], ins[0].shape[-1]), "zeros")},
    flops=lambda ins, outs, hp: elements(outs[0]), inits=("zeros",))

# Lowerings ---------------------------------------------------------------------------------------

def _weight(ctx, p):
    """The kernel, weight-normalised (w * g / |w| per output unit) when `norm=weight`."""
    w = p["w"]
    if "g" not in p:
        return w
    axes = tuple(range(w.ndim - 1))
    return w * (p["g"] / ctx.jnp.sqrt(ctx.jnp.sum(w * w, axis=axes, keepdims=True) + 1e-12))


def _add_bias(y, p):
    return y + p["b"] if "b" in p else y


def dense_product(ctx, x, w):
    """`x` [..., d] @ `w` [d, n]. On XLA:CPU, when `x` has more than one leading axis (a
    sequence), as an einsum over `w` viewed as [d, 2, n / 2]: XLA then computes w's gradient
    as a plain product YNNPACK takes, not as Eigen's doubly transposed one, 15-25% faster
    (docs/benchmarks.md, "The transformer gap"). The same sums: the same numbers up to
    rounding. Elsewhere (2-D inputs, GPU, TPU) the plain product is the faster one."""
    n = w.shape[-1]
    if ctx.platform != "cpu" or x.ndim < 3 or n % 2:
        return x @ w
    halves = ctx.jnp.einsum("...d,dhk->...hk", x, w.reshape(w.shape[0], 2, n // 2))
    return halves.reshape(*x.shape[:-1], n)


def _lower_dense(ctx, node, xs):
    p = ctx.params_of(node)
    return _add_bias(dense_product(ctx, xs[0], _weight(ctx, p)), p)


_CONV_DIMS = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"),
              3: ("NDHWC", "DHWIO", "NDHWC")}


def lax_padding(pad: tuple) -> str | list[tuple[int, int]]:
    """Our per-dimension padding (valid, same or an int) as lax's padding argument."""
    if all(p == "same" for p in pad):
        return "SAME"
    return [(0, 0) if p == "valid" else (p, p) for p in pad]


def _lower_conv(ctx, node, xs):
    x, hp = xs[0], node.attrs
    n = x.ndim - 2
    p = ctx.params_of(node)
    w = _weight(ctx, p).astype(x.dtype)
    stride = per_spatial(hp["stride"], n, "stride")
    pad = per_spatial(hp["pad"], n, "pad")
    dilation = per_spatial(hp["dilation"], n, "dilation")
    if ctx.slow_loop_conv and hp["groups"] == 1:
        return _add_bias(conv_by_matmul(ctx, x, w, stride, pad, dilation), p)
    y = ctx.lax.conv_general_dilated(
        x, w, stride, lax_padding(pad), rhs_dilation=dilation,
        dimension_numbers=_CONV_DIMS[n], feature_group_count=hp["groups"])
    return _add_bias(y, p)


def conv_by_matmul(ctx, x, w, stride, pad, dilation):
    """The same convolution as shifted strided slices and one matrix product (im2col).

    XLA's CPU backend runs convolutions (above all their gradients) far slower inside a loop
    body (jax-ml/jax#12868); a scanned `Stage * n` uses this form there instead.
    """
    lax, jnp = ctx.lax, ctx.jnp
    kernel, spatial = w.shape[:-2], x.shape[1:-1]
    widths, outs = [], []
    for length, k, s, p, d in zip(spatial, kernel, stride, pad, dilation):
        span = d * (k - 1) + 1
        if p == "same":
            out = -(-length // s)
            total = max((out - 1) * s + span - length, 0)
            widths.append((total // 2, total - total // 2))
        else:
            q = 0 if p == "valid" else p
            widths.append((q, q))
            out = (length + 2 * q - span) // s + 1
        outs.append(out)
    padded = jnp.pad(x, [(0, 0), *widths, (0, 0)])
    columns = []
    for offset in product(*(range(k) for k in kernel)):
        start = [0, *(o * d for o, d in zip(offset, dilation)), 0]
        limit = [x.shape[0], *(st + (o - 1) * s + 1 for st, o, s in
                               zip(start[1:], outs, stride)), x.shape[-1]]
        columns.append(lax.slice(padded, start, limit, [1, *stride, 1]))
    return jnp.concatenate(columns, -1) @ w.reshape(-1, w.shape[-1])


def _lower_conv_transpose(ctx, node, xs):
    x, hp = xs[0], node.attrs
    n = x.ndim - 2
    p = ctx.params_of(node)
    pad = per_spatial(hp["pad"], n, "pad")
    kernel = per_spatial(hp["kernel"], n, "kernel")
    padding = "SAME" if all(q == "same" for q in pad) else [
        (k - 1 - q, k - 1 - q) for k, q in zip(kernel, (0 if q == "valid" else q for q in pad))]
    y = ctx.lax.conv_transpose(x, _weight(ctx, p).astype(x.dtype),
                               per_spatial(hp["stride"], n, "stride"), padding,
                               dimension_numbers=_CONV_DIMS[n])
    return _add_bias(y, p)


def _lower_embed(ctx, node, xs):
    table = xs[1] if len(xs) > 1 else ctx.params_of(node)["table"]
    return ctx.jnp.take(table, xs[0], axis=0)


def _lower_positional(ctx, node, xs):
    x = xs[0]
    return x + ctx.params_of(node)["table"][: x.shape[1]]


OPS = with_lowerings([DENSE, CONV, CONV_TRANSPOSE, EMBED, POSITIONAL], {
    "dense": _lower_dense, "conv": _lower_conv, "conv_transpose": _lower_conv_transpose,
    "embed": _lower_embed, "positional": _lower_positional,
})
