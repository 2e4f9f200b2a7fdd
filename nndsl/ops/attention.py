"""Attention: multi-head self-attention and query-memory attention (dot or additive)."""

from __future__ import annotations

from nndsl.ops.base import Hyper, OpDef, OpError, need_float, need_rank, need_static, shape_str


def _self_shape(ins, hp):
    x = ins[0]
    need_rank(x, (3,), "[B, T, D]")
    need_float(x, "self_attention")
    d = need_static(x.shape[-1], "the feature dimension of self_attention's input")
    if d % hp["heads"]:
        raise OpError(f"{hp['heads']} heads must divide the feature dimension {d}")
    return x


def _self_params(ins, hp):
    d = ins[0].shape[-1]
    params = {}
    for proj in ("q", "k", "v", "o"):
        params[f"w{proj}"] = ((d, d), "glorot_uniform")
        params[f"b{proj}"] = ((d,), "zeros")
    return params


def _self_flops(ins, outs, hp):
    t, d = ins[0].shape[1], ins[0].shape[2]
    if not isinstance(t, int):
        return None
    return 4 * 2 * t * d * d + 2 * 2 * t * t * d


def _attn_shape(ins, hp):
    query, memory = ins
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
    return query.with_shape(query.shape[:-1] + (m,))


def _attn_params(ins, hp):
    query, memory = ins
    h, m = query.shape[-1], memory.shape[-1]
    if hp["kind"] == "dot":
        return {"wq": ((h, m), "glorot_uniform")}
    units = hp["units"] or h
    return {"wq": ((h, units), "glorot_uniform"), "wk": ((m, units), "glorot_uniform"),
            "v": ((units,), "glorot_uniform")}


def _attn_flops(ins, outs, hp):
    query, memory = ins
    s, m, h = memory.shape[1], memory.shape[2], query.shape[-1]
    if not isinstance(s, int):
        return None
    steps = query.shape[1] if query.rank == 3 else 1
    if not isinstance(steps, int):
        return None
    return steps * (2 * h * m + 4 * s * m)


OPS = [
    OpDef("self_attention", "attention",
          "Multi-head scaled dot-product self-attention over [B, T, D]; `causal` masks the "
          "future.", ("x",), _self_shape,
          (Hyper("heads", "int", 1, low=1), Hyper("causal", "bool", False)), _self_params,
          flops=_self_flops),
    OpDef("attention", "attention",
          "Attend from a query [B, H] (or [B, T, H]) over a memory [B, S, M]; returns the "
          "context [B, M] (or [B, T, M]). kind=dot (Luong) or additive (Bahdanau).",
          ("query", "memory"), _attn_shape,
          (Hyper("kind", "word", "dot", choices=("dot", "additive")),
           Hyper("heads", "int", 1, low=1), Hyper("units", "int", None, low=1)),
          _attn_params, flops=_attn_flops),
]
