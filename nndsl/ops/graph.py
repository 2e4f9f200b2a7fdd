"""Message passing over graphs given as data: node features [B, N, F] and an edge list
[B, E, 2] of (source, target) node ids per example.

Messages flow from source to target; an undirected graph lists each edge both ways. Edges
holding -1 are padding (a batch of graphs of different sizes is padded to N nodes and E
edges) and carry nothing; padded nodes send nothing to real ones, so a real node's result
does not depend on the padding. The node and edge counts may be symbolic. Aggregation is a
`jax.ops.segment_sum` over the batch's B * N nodes.

- gcn_conv (Kipf & Welling 2017): D^-1/2 (A + I) D^-1/2 X W + b, with D the degrees of
  A + I (each node's incoming edges plus its self-loop).
- sage_conv (Hamilton et al. 2017, mean aggregator): X W_self + mean_{j -> i} X_j W_neigh + b;
  a node without incoming edges gets no neighbour term.
"""

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
from nndsl.ops.facts import Indexes
from nndsl.ops.flops import MULTIPLY_ADD


def check_graph_inputs(x: TensorType, edges: TensorType, op: str) -> None:
    """x [B, N, F] floats and edges [B, E, 2] integers with the same batch dimension."""
    need_rank(x, (3,), "node features [B, N, F]")
    need_float(x, op)
    need_static(x.shape[-1], f"the feature dimension of {op}'s nodes")
    if edges.rank != 3 or edges.shape[-1] != 2 or edges.is_float:
        raise OpError(f"{op}'s edges must be an integer edge list [B, E, 2] of (source, "
                      f"target) node ids, got {edges}",
                      hint="declare it as `input edges: [B, E, 2] i32`; -1 marks padding")
    if edges.shape[0] != x.shape[0]:
        raise OpError(f"nodes {shape_str(x.shape)} and edges {shape_str(edges.shape)} have "
                      "different batch dimensions")


def _conv_shape(ins, hp, op: str):
    x, edges = ins
    check_graph_inputs(x, edges, op)
    return x.with_shape((x.shape[0], x.shape[1], hp["units"]))


def _gcn_params(ins, hp):
    return {"w": ((ins[0].shape[-1], hp["units"]), "glorot_uniform"),
            "b": ((hp["units"],), "zeros")}


def _sage_params(ins, hp):
    f, units = ins[0].shape[-1], hp["units"]
    return {"w_self": ((f, units), "glorot_uniform"), "w_neigh": ((f, units), "glorot_uniform"),
            "b": ((units,), "zeros")}


def _flops(projections: int):
    """`projections` [N, F] x [F, U] products, one scaled add per message and per self term
    (E + N multiply-adds of U values) and the bias; unknown while N or E is symbolic."""
    def flops(ins, outs, hp):
        n, f = ins[0].shape[1], ins[0].shape[2]
        e, units = ins[1].shape[1], hp["units"]
        if not isinstance(n, int) or not isinstance(e, int):
            return None
        return projections * MULTIPLY_ADD * n * f * units + \
            MULTIPLY_ADD * (e + n) * units + n * units

    return flops


_UNITS = (Hyper("units", "int", low=1),)
# Edges name nodes: ids in [-1, N), checked on entry like embed's ids (E081).
_NODE_IDS = (Indexes(1, "node ids", "x has {n} nodes; -1 pads", into=0, axis=1, low=-1),)
_OPS = [
    OpDef("gcn_conv", "graph",
          "Graph convolution (Kipf & Welling): symmetric-normalised sum over each node's "
          "incoming edges and itself, D^-1/2 (A + I) D^-1/2 X W + b. x [B, N, F], edges "
          "[B, E, 2] (source, target; -1 is padding) -> [B, N, units].",
          ("x", "edges"), lambda ins, hp: _conv_shape(ins, hp, "gcn_conv"), _UNITS,
          _gcn_params, flops=_flops(1), inits=("glorot_uniform", "zeros"),
          differentiable=(True, False), indexes=_NODE_IDS),
    OpDef("sage_conv", "graph",
          "GraphSAGE with the mean aggregator: X W_self + (mean over incoming neighbours) "
          "W_neigh + b. x [B, N, F], edges [B, E, 2] (-1 is padding) -> [B, N, units].",
          ("x", "edges"), lambda ins, hp: _conv_shape(ins, hp, "sage_conv"), _UNITS,
          _sage_params, flops=_flops(2), inits=("glorot_uniform", "zeros"),
          differentiable=(True, False), indexes=_NODE_IDS),
]


def flat_edges(jnp, edges, nodes: int):
    """Edges [B, E, 2] as flat ids into the batch's B * nodes nodes: (source, target, valid).
    A padding edge (or one outside [0, nodes)) gets target B * nodes, which segment_sum
    drops, and source 0, masked by `valid`."""
    batch = edges.shape[0]
    src, dst = edges[..., 0], edges[..., 1]
    valid = (src >= 0) & (dst >= 0) & (src < nodes) & (dst < nodes)
    offset = (jnp.arange(batch) * nodes)[:, None]
    total = batch * nodes
    return (jnp.where(valid, src + offset, 0).reshape(-1),
            jnp.where(valid, dst + offset, total).reshape(-1), valid.reshape(-1))


def aggregate(ctx, values, edges, nodes: int, weights=None):
    """Sum over each node's incoming edges of values[source] (times `weights` per edge):
    values [B * nodes, D] -> [B * nodes, D]."""
    src, dst, valid = flat_edges(ctx.jnp, edges, nodes)
    scale = valid.astype(values.dtype) if weights is None else weights
    return ctx.jax.ops.segment_sum(values[src] * scale[:, None], dst, num_segments=values.shape[0])


def in_degrees(ctx, edges, nodes: int, dtype):
    """How many (real) edges end at each of the B * nodes nodes."""
    src, dst, valid = flat_edges(ctx.jnp, edges, nodes)
    return ctx.jax.ops.segment_sum(valid.astype(dtype), dst, num_segments=edges.shape[0] * nodes)


def _lower_gcn(ctx, node, xs):
    x, edges = xs
    p, jnp = ctx.params_of(node), ctx.jnp
    batch, nodes = x.shape[:2]
    xw = (x @ p["w"]).reshape(batch * nodes, -1)
    degree = in_degrees(ctx, edges, nodes, x.dtype) + 1  # the self-loop
    src, dst, valid = flat_edges(jnp, edges, nodes)
    inv_sqrt = jnp.concatenate([1 / jnp.sqrt(degree), jnp.zeros((1,), x.dtype)])
    weights = inv_sqrt[src] * inv_sqrt[dst] * valid
    out = aggregate(ctx, xw, edges, nodes, weights) + xw / degree[:, None]
    return out.reshape(batch, nodes, -1) + p["b"]


def _lower_sage(ctx, node, xs):
    x, edges = xs
    p, jnp = ctx.params_of(node), ctx.jnp
    batch, nodes = x.shape[:2]
    flat = x.reshape(batch * nodes, -1)
    degree = in_degrees(ctx, edges, nodes, x.dtype)
    mean = aggregate(ctx, flat, edges, nodes) / jnp.maximum(degree, 1)[:, None]
    out = flat @ p["w_self"] + mean @ p["w_neigh"]
    return out.reshape(batch, nodes, -1) + p["b"]


OPS = with_lowerings(_OPS, {"gcn_conv": _lower_gcn, "sage_conv": _lower_sage})
