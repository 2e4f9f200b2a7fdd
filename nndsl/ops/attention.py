"""Attention: multi-head self-attention and query-memory attention (dot or additive)."""

from __future__ import annotations

from nndsl.ir import TensorType
from nndsl.ops.base import (
    Hyper,
    OpDef,
    OpError,
    need_float,
    need_rank,
    need_static,
    shape_str,
    with_lowerings,
)
from nndsl.ops.flops import MULTIPLY_ADD, SOFTMAX_PER_ELEMENT
from nndsl.ops.layers import dense_product


def _check_mask(ins, n_inputs: int, keys: TensorType, what: str) -> None:
    """A mask over the keys [B, S] (given after the `n_inputs` inputs, when given): true
    (non-zero) where a position may be attended to."""
    if len(ins) == n_inputs:
        return
    mask, want = ins[-1], keys.shape[:2]
    if mask.shape != want:
        raise OpError(f"the mask {shape_str(mask.shape)} must have the shape {shape_str(want)} "
                      f"of the {what}'s positions",
                      hint="one entry per position, true where it counts: `mask=ids != 0`")


def _self_shape(ins, hp):
    x = ins[0]
    need_rank(x, (3,), "[B, T, D]")
    need_float(x, "self_attention")
    d = need_static(x.shape[-1], "the feature dimension of self_attention's input")
    if d % hp["heads"]:
        raise OpError(f"{hp['heads']} heads must divide the feature dimension {d}")
    _check_mask(ins, 1, x, "input")
    return x


def _self_params(ins, hp):
    d = ins[0].shape[-1]
    params = {}
    for proj in ("q", "k", "v", "o"):
        params[f"w{proj}"] = ((d, d), "glorot_uniform")
        params[f"b{proj}"] = ((d,), "zeros")
    return params


def _self_flops(ins, outs, hp):
    """Four projections with biases, the scores and the weighted sum (t * t * d multiply-adds
    each, over all heads), and per score one scaling and a softmax (docs/ops.md)."""
    t, d = ins[0].shape[1], ins[0].shape[2]
    if not isinstance(t, int):
        return None
    projections = 4 * (MULTIPLY_ADD * t * d * d + t * d)
    products = 2 * MULTIPLY_ADD * t * t * d
    return projections + products + _per_score(hp["heads"] * t * t)


def _per_score(scores: int) -> int:
    """Scaling by 1 / sqrt(d) and the softmax, for each attention score."""
    return scores * (1 + SOFTMAX_PER_ELEMENT)


def _attn_shape(ins, hp):
    query, memory = ins[:2]
    need_rank(memory, (3,), "memory [B, S, M]")
    need_rank(query, (2, 3), "query [B, H] or [B, T, H]")
    need_float(query, "attention")
    m = need_static(memory.shape[-1], "the memory's feature dimension")
    need_static(query.shape[-1], "the query's feature dimension")
    if m % hp["heads"]:
        raise OpError(f"{hp['heads']} heads must divide the memory's dimension {m}")
    if query.shape[0] != memory.shape[0]:
        raise OpError(f"query {shape_str(query.shape)} and memory {shape_str(memory.shape)} "
                      "have different batch dimensions")
    _check_mask(ins, 2, memory, "memory")
    return query.with_shape(query.shape[:-1] + (m,))


def _attn_params(ins, hp):
    query, memory = ins[:2]
    h, m = query.shape[-1], memory.shape[-1]
    if hp["kind"] == "dot":
        return {"wq": ((h, m), "glorot_uniform")}
    units = hp["units"] or h
    return {"wq": ((h, units), "glorot_uniform"), "wk": ((m, units), "glorot_uniform"),
            "v": ((units,), "glorot_uniform")}


def _attn_flops(ins, outs, hp):
    """dot: the query's projection, scores and context (multiply-adds), scaling and softmax
    per score. additive: both projections, the add and tanh per hidden unit of each
    query-memory pair, its product with v, a softmax per score and the context."""
    query, memory = ins[:2]
    s, m, h = memory.shape[1], memory.shape[2], query.shape[-1]
    steps = query.shape[1] if query.rank == 3 else 1
    if not isinstance(s, int) or not isinstance(steps, int):
        return None
    context = MULTIPLY_ADD * steps * s * m
    if hp["kind"] == "dot":
        scores = MULTIPLY_ADD * steps * s * m
        return MULTIPLY_ADD * steps * h * m + scores + context + \
            _per_score(hp["heads"] * steps * s)
    units = hp["units"] or h
    projections = MULTIPLY_ADD * (steps * h + s * m) * units
    hidden = 2 * steps * s * units + MULTIPLY_ADD * steps * s * units
    return projections + hidden + steps * s * SOFTMAX_PER_ELEMENT + context


_OPS = [
    OpDef("self_attention", "attention",
          "Multi-head scaled dot-product self-attention over [B, T, D]; `causal` masks the "
          "future, `mask` [B, T] (true where a position counts) hides padding.", ("x",),
          _self_shape, (Hyper("heads", "int", 1, low=1), Hyper("causal", "bool", False)),
          _self_params, flops=_self_flops, inits=("glorot_uniform", "zeros"),
          keyword_inputs=(("mask", ()),), differentiable=(True, False)),
    OpDef("attention", "attention",
          "Attend from a query [B, H] (or [B, T, H]) over a memory [B, S, M]; returns the "
          "context [B, M] (or [B, T, M]). kind=dot (Luong) or additive (Bahdanau); `mask` "
          "[B, S] (true where a memory position counts) hides padding.",
          ("query", "memory"), _attn_shape,
          (Hyper("kind", "word", "dot", choices=("dot", "additive")),
           Hyper("heads", "int", 1, low=1), Hyper("units", "int", None, low=1)),
          _attn_params, flops=_attn_flops, inits=("glorot_uniform",),
          keyword_inputs=(("mask", ()),), differentiable=(True, True, False)),
]


def _heads(x, heads):
    """[B, T, D] -> [B, T, heads, D / heads]: a reshape only (no transpose), so that the
    products below contract it in place (einsum) instead of copying it into [B, heads, T, .]."""
    b, t, d = x.shape
    return x.reshape(b, t, heads, d // heads)


def _scaled_scores(ctx, q, k):
    """Scores [B, heads, T, S] of queries [B, T, heads, d] against keys [B, S, heads, d],
    scaled by 1 / sqrt(d)."""
    return ctx.jnp.einsum("bqhd,bkhd->bhqk", q, k) / ctx.jnp.sqrt(q.shape[-1]).astype(q.dtype)


def _weighted(ctx, weights, values):
    """Weights [B, heads, T, S] over values [B, S, heads, d] -> [B, T, heads * d]."""
    out = ctx.jnp.einsum("bhqk,bkhd->bqhd", weights, values)
    return out.reshape(out.shape[:2] + (-1,))


def _key_mask(xs, n_inputs: int):
    """The mask input [B, S] (after the `n_inputs` inputs) as booleans [B, 1, 1, S] (true: may
    be attended to), or None when there is none."""
    return (xs[-1] != 0)[:, None, None, :] if len(xs) > n_inputs else None


def masked_softmax(ctx, scores, keep):
    """Softmax attention weights over the last axis, exactly zero where `keep` (None: keep
    all; else broadcasting to the scores) is false; a query that may see nothing gets no
    weights at all (zeros, not NaN and not a uniform average over hidden positions)."""
    jnp = ctx.jnp
    if keep is None:
        return ctx.nn.softmax(scores, axis=-1)
    hidden = jnp.where(keep, scores, jnp.finfo(scores.dtype).min)
    return jnp.where(keep, ctx.nn.softmax(hidden, axis=-1), 0)


def _lower_self_attention(ctx, node, xs):
    # Heads stay an axis of [B, T, heads, d] and the products are einsums: no transposed
    # copies of q, k, v or the context, in the forward pass or in the gradient
    # (docs/benchmarks.md, "The LeNet and transformer gap").
    x, hp, p = xs[0], node.attrs, ctx.params_of(node)
    jnp, heads = ctx.jnp, hp["heads"]
    q, k, v = (_heads(dense_product(ctx, x, p[f"w{n}"]) + p[f"b{n}"], heads) for n in "qkv")
    scores = _scaled_scores(ctx, q, k)
    keep = _key_mask(xs, 1)
    if hp["causal"]:
        t = x.shape[1]
        causal = jnp.tril(jnp.ones((t, t), bool))
        keep = causal if keep is None else keep & causal
    context = _weighted(ctx, masked_softmax(ctx, scores, keep), v)
    return dense_product(ctx, context, p["wo"]) + p["bo"]


def _lower_attention(ctx, node, xs):
    """Context vectors: a softmax over the memory's S positions, weighting the memory."""
    query, memory = xs[:2]
    hp, p, jnp = node.attrs, ctx.params_of(node), ctx.jnp
    single = query.ndim == 2
    q = query[:, None, :] if single else query                  # [B, T, H]
    keep = _key_mask(xs, 2)                                      # [B, 1, 1, S]
    if hp["kind"] == "additive":
        hidden = jnp.tanh((q @ p["wq"])[:, :, None, :] + (memory @ p["wk"])[:, None, :, :])
        scores = hidden @ p["v"]                                 # [B, T, S]
        weights = masked_softmax(ctx, scores, None if keep is None else keep[:, 0])
        context = weights @ memory
    else:
        heads = hp["heads"]
        qh = _heads(dense_product(ctx, q, p["wq"]), heads)       # [B, T, h, M/h]
        kh = _heads(memory, heads)                               # [B, S, h, M/h]
        context = _weighted(ctx, masked_softmax(ctx, _scaled_scores(ctx, qh, kh), keep), kh)
    return context[:, 0, :] if single else context


OPS = with_lowerings(_OPS, {"self_attention": _lower_self_attention,
                            "attention": _lower_attention})
