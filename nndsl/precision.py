"""Mixed precision: the dtype each op computes in under a train section's `precision`.

`precision = bf16` is a small policy in the manner of `jmp`: parameters and optimizer state
stay float32 (param dtype), the matrix products compute in bfloat16 (compute dtype), and what
leaves the network is float32 (output dtype). The lowering (`nndsl.lower`) casts each op's
floating inputs and parameters to the dtype `compute_dtypes` gives it, so the gradients of the
casts land on the float32 parameters; `nndsl summary` shows the same table. Integer inputs
(ids, labels) are never cast. No JAX here: `summary` reads it.

Each op is one of three kinds:
- bf16: the matrix products and what feeds them a parameter (`BF16_OPS`);
- f32: ops where bfloat16's 8-bit mantissa is unsafe upcast their inputs (`UPCAST`, with why);
- every other op (elementwise arithmetic, activations, shapes, pooling by max, dropout)
  computes in the widest float dtype among its inputs (a constant such as the 2 of `x * 2`
  adopts the other input's), so a chain of them after a bf16 op stays bf16.
"""

from __future__ import annotations

import difflib

from nndsl.ir import Graph, Node, Ref

PRECISIONS = ("f32", "bf16")
# Other libraries' names for a precision, for the hint of a value nndsl does not take
# (`precision = fp8`: did you mean `bf16`?); float16 and fp8 need loss scaling nndsl lacks.
PRECISION_ALIASES = {
    "float32": "f32", "fp32": "f32", "full": "f32",
    "bfloat16": "bf16", "mixed_bf16": "bf16", "mixed_bfloat16": "bf16", "bf16_mixed": "bf16",
    "float16": "bf16", "fp16": "bf16", "f16": "bf16", "half": "bf16", "mixed_float16": "bf16",
    "fp8": "bf16", "f8": "bf16", "int8": "bf16",
}

BF16_OPS = frozenset({"dense", "conv", "conv_transpose", "matmul", "positional", "param"})

_LOSS = "a loss or metric: its sums and logarithms need float32, and the loss leaves in float32"
_STATS = "normalisation statistics (mean, variance; batchnorm's running averages) stay float32"
UPCAST: dict[str, str] = {
    "embed": "a lookup; its gradient adds many rows into the table, which bfloat16 would round",
    "softmax": "exponentials and their sum overflow and round in bfloat16",
    "log_softmax": "exponentials and their sum overflow and round in bfloat16",
    "self_attention": "its scores go through a softmax (the whole op computes in float32)",
    "attention": "its scores go through a softmax (the whole op computes in float32)",
    "sum": "a reduction: long sums lose their small terms in bfloat16",
    "mean": "a reduction: long sums lose their small terms in bfloat16",
    "avgpool": "an average (a sum) over each window",
    "global_avgpool": "an average (a sum) over the whole image",
    "lppool": "powers and a sum over each window",
    "noise": "its normal draws are float32, the same draws as an f32 run's",
    "sample_normal": "its normal draws are float32, the same draws as an f32 run's",
    **{op: _STATS for op in ("batchnorm", "layernorm", "groupnorm", "instancenorm")},
    **{op: _LOSS for op in ("cross_entropy", "bce", "mse", "mae", "hinge", "margin_ranking",
                            "contrastive", "kl_normal", "distill", "accuracy",
                            "binary_accuracy", "top_k", "l1", "l2")},
}



def precision_hint(word: object) -> str | None:
    """`did you mean `bf16`?` for another library's name of a precision."""
    names = {**PRECISION_ALIASES, **{p: p for p in PRECISIONS}}
    close = difflib.get_close_matches(str(word), sorted(names), n=1, cutoff=0.6)
    if not close:
        return None
    return (f"did you mean `{names[close[0]]}`? (nndsl computes in bf16 with float32 "
            "parameters, or in f32)")


# Ops whose inputs a body reads as they are (the body's own ops cast them).
_BODY_OPS = ("repeat", "scan")


def compute_dtypes(graph: Graph, precision: str) -> dict[str, str]:
    """Node id → the dtype it computes in (`bf16`, `f32`; `i32` for integer-only ops such as
    `argmax` of ids), for `graph` and every body in it."""
    dtypes: dict[str, str] = {}
    _graph_dtypes(graph, precision, {}, dtypes)
    return dtypes


def _graph_dtypes(graph: Graph, precision: str, feed: dict[str, str],
                  dtypes: dict[str, str]) -> dict[Ref, str | None]:
    """Fill `dtypes` for `graph`'s nodes; return each value's dtype (None: a weak constant)."""
    values: dict[Ref, str | None] = {}
    for node in graph:
        ins = [values[r] for r in node.inputs]
        if node.op == "input":
            compute = feed.get(node.attrs["name"], _declared(node.out.dtype))
        elif node.op in _BODY_OPS:
            compute = _body_dtype(node, ins, precision, dtypes)
        else:
            compute = op_dtype(node.op, ins, precision)
        dtypes[node.id] = compute or _declared(node.out.dtype)
        weak = node.op == "const"
        for i, t in enumerate(node.outs):
            values[Ref(node.id, i)] = None if weak and t.is_float else (
                compute or "f32" if t.is_float else "i32")
    return values


def _declared(dtype: str) -> str:
    return "f32" if dtype != "i32" else "i32"


def op_dtype(op: str, ins: list[str | None], precision: str) -> str | None:
    """The dtype op `op` computes in given its inputs' dtypes (None: a weak constant, or no
    float input at all, which leaves the op's own result as it is)."""
    if precision == "f32":
        return "f32"
    if op in BF16_OPS:
        return "bf16"
    if op in UPCAST:
        return "f32"
    floats = {d for d in ins if d in ("f32", "bf16")}
    if not floats:
        return None
    return "bf16" if floats == {"bf16"} else "f32"


def _body_dtype(node: Node, ins: list[str | None], precision: str,
                dtypes: dict[str, str]) -> str:
    """A repeat keeps its carry's dtype (each copy's output is cast back to it); a scan's
    states are float32 carries, and its output is what the body's output computes in."""
    body = node.body
    if node.op == "repeat":
        carry = ins[0] or "f32"
        _graph_dtypes(body, precision, {"x": carry}, dtypes)
        return carry
    statics = node.attrs["statics"]
    seqs = [n for n in body.inputs if not n.startswith("state:") and n not in statics]
    feed = {**dict(zip([*seqs, *statics], [d or "f32" for d in ins])),
            **{name: "f32" for name in body.inputs if name.startswith("state:")}}
    values = _graph_dtypes(body, precision, feed, dtypes)
    return values[body.outputs["out"]] or "f32"


__all__ = ["PRECISIONS", "PRECISION_ALIASES", "precision_hint", "BF16_OPS", "UPCAST",
           "compute_dtypes", "op_dtype"]
