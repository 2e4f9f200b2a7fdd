"""Energy-based models: the restricted Boltzmann machine trained by contrastive divergence.

`rbm(v, hidden)` is a Bernoulli-Bernoulli RBM over the visible units `v` [B, V]. Its energy is
E(v, h) = -v.a - h.b - v W h, so its free energy is F(v) = -v.a - sum_j softplus(b_j + v W_j).
Every training step is the gradient of a loss, so the op gives contrastive divergence as a
surrogate whose gradient is the CD-k gradient (Hinton 2002):

    cd = mean F(v) - mean F(stop_gradient(v_k))

where v_k ends a k-step Gibbs chain started at the data, or (persistent=true, Tieleman 2008)
at the chains kept as the op's state, which then move on by k steps every training batch.
Its four results: `h` = p(h = 1 | v) [B, H] (the features a deep belief net stacks), `cd`,
`recon` (squared reconstruction error per example, mean-field, averaged over the batch) and
`pll` (a stochastic pseudo-log-likelihood estimate: V log sigmoid(F(v~) - F(v)), v~ = v with
one random unit flipped). Parameters: `w` [V, H], `b` [H] (the hidden bias: a `dense(H)` can
start from `w` and `b`) and `b_visible` [V].
"""

from __future__ import annotations

from nndsl.ir import SCALAR, TensorType
from nndsl.ops.base import Hyper, OpDef, OpError, need_float, need_static, shape_str, with_lowerings
from nndsl.ops.flops import MULTIPLY_ADD

# E230: an energy model whose visible units do not fit what it is given.
VISIBLE_CODE = "E230"


def _visible(v: TensorType, hp) -> int:
    """The visible size: the last axis of v [B, V], equal to `visible=` when it is stated."""
    if v.rank != 2:
        raise OpError(f"rbm takes visible units [B, V], got {shape_str(v.shape)}",
                      hint="flatten images first: `x -> flatten -> rbm(64)`", code=VISIBLE_CODE)
    need_float(v, "rbm")
    size = need_static(v.shape[-1], "the number of visible units")
    if hp.get("visible") is not None and hp["visible"] != size:
        raise OpError(f"rbm(visible={hp['visible']}) is given {size} visible units "
                      f"({shape_str(v.shape)})",
                      hint="the visible size is the input's last axis: make them agree, or "
                      "leave `visible=` out", code=VISIBLE_CODE)
    return size


def _rbm_shape(ins, hp):
    v = ins[0]
    _visible(v, hp)
    return [TensorType((v.shape[0], hp["hidden"])), SCALAR, SCALAR, SCALAR]


def _rbm_params(ins, hp):
    size = _visible(ins[0], hp)
    return {"w": ((size, hp["hidden"]), "glorot_uniform"), "b": ((hp["hidden"],), "zeros"),
            "b_visible": ((size,), "zeros")}


def _rbm_state(ins, hp):
    if not hp["persistent"]:
        return {}
    return {"chain": ((hp["chains"], _visible(ins[0], hp)), "zeros")}


def _rbm_flops(ins, outs, hp):
    """Multiply-adds of v W or h W^T: p(h|v) once, the reconstruction twice, two per Gibbs
    step, the two free energies and the flipped free energy of the estimate."""
    size = ins[0].shape[-1]
    if not isinstance(size, int):
        return None
    return MULTIPLY_ADD * size * hp["hidden"] * (2 * hp["k"] + 6)


def _bernoulli_shape(ins, hp):
    need_float(ins[0], "sample_bernoulli")
    return ins[0]


_OPS = [
    OpDef("rbm", "energy",
          "Bernoulli restricted Boltzmann machine with `hidden` units over v [B, V]: results "
          "h = p(h|v), cd (the contrastive-divergence surrogate loss, CD-`k`; persistent "
          "chains with `persistent=true`), recon (reconstruction error) and pll "
          "(pseudo-log-likelihood). See docs/energy.md.",
          ("v",), _rbm_shape,
          (Hyper("hidden", "int", low=1), Hyper("k", "int", 1, low=1, high=1000),
           Hyper("persistent", "bool", False), Hyper("chains", "int", 100, low=1),
           Hyper("visible", "int", None, low=1)),
          _rbm_params, state=_rbm_state, flops=_rbm_flops, stochastic=True,
          inits=("glorot_uniform", "zeros")),
    OpDef("sample_bernoulli", "energy",
          "1 with probability p, else 0 (elementwise, drawn anew every batch; no gradient).",
          ("p",), _bernoulli_shape, differentiable=False, stochastic=True),
]


# Lowering -------------------------------------------------------------------------------------

def free_energy(ctx, v, p):
    """F(v) = -v.a - sum_j softplus(b_j + v W_j), one value per row of v."""
    return -v @ p["b_visible"] - ctx.jnp.sum(ctx.nn.softplus(v @ p["w"] + p["b"]), axis=-1)


def gibbs(ctx, v, p, k: int, key):
    """k steps of block Gibbs sampling v -> h -> v, every unit a Bernoulli sample."""
    def step(i, v):
        kh, kv = ctx.jax.random.split(ctx.jax.random.fold_in(key, i))
        h = ctx.jax.random.bernoulli(kh, ctx.nn.sigmoid(v @ p["w"] + p["b"])).astype(v.dtype)
        return ctx.jax.random.bernoulli(
            kv, ctx.nn.sigmoid(h @ p["w"].T + p["b_visible"])).astype(v.dtype)

    return ctx.lax.fori_loop(0, k, step, v)


def _negative_phase(ctx, node, v, p, key):
    """The chain's end: from the data, or from the persistent chains (moved on in training)."""
    hp = node.attrs
    if not hp["persistent"]:
        return gibbs(ctx, v, p, hp["k"], key)
    chains = gibbs(ctx, ctx.state_of(node)["chain"], p, hp["k"], key)
    if ctx.train:
        ctx.set_state(node, {"chain": chains})
    return chains


def _pseudo_log_likelihood(ctx, v, p, key):
    """V log sigmoid(F(v~) - F(v)) per example, v~ flipping one uniformly chosen unit."""
    size = v.shape[-1]
    flip = ctx.nn.one_hot(ctx.jax.random.randint(key, v.shape[:1], 0, size), size, dtype=v.dtype)
    flipped = v + flip * (1 - 2 * v)
    return size * ctx.nn.log_sigmoid(free_energy(ctx, flipped, p) - free_energy(ctx, v, p))


def _lower_rbm(ctx, node, xs):
    v, p = xs[0], ctx.params_of(node)
    jnp, nn = ctx.jnp, ctx.nn
    k_chain, k_pll = ctx.jax.random.split(ctx.key_of(node))
    h = nn.sigmoid(v @ p["w"] + p["b"])
    negative = ctx.lax.stop_gradient(_negative_phase(ctx, node, v, p, k_chain))
    cd = jnp.mean(free_energy(ctx, v, p)) - jnp.mean(free_energy(ctx, negative, p))
    reconstruction = nn.sigmoid(h @ p["w"].T + p["b_visible"])
    recon = jnp.mean(jnp.sum((v - reconstruction) ** 2, axis=-1))
    pll = jnp.mean(_pseudo_log_likelihood(ctx, v, p, k_pll))
    return [h, cd, recon, pll]


def _lower_sample_bernoulli(ctx, node, xs):
    p = xs[0]
    return ctx.jax.random.bernoulli(ctx.key_of(node), p).astype(p.dtype)


OPS = with_lowerings(_OPS, {"rbm": _lower_rbm, "sample_bernoulli": _lower_sample_bernoulli})
