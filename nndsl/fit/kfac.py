"""K-FAC (Martens & Grosse 2015) on kfac-jax (DeepMind), its layers registered from nndsl's
graph: `optimizer = kfac(lr, damping, ema, inverse_every)`.

kfac-jax approximates the Fisher by one Kronecker-factored block A ⊗ G per layer (A over the
layer's inputs, G over the gradients at its outputs). Its pattern matching is switched off
(`auto_register_tags=False`): nndsl knows every layer, so the model function used for the
curvature evaluates the graph with a `tag` hook (Compiled.evaluate) that wraps each trained
dense layer's output in `kfac_jax.register_dense` and each 2-D conv's in
`kfac_jax.register_conv2d`, with that layer's own input and parameters, and registers the
logits of the loss's one softmax cross-entropy with `register_softmax_cross_entropy_loss`.
Which layers can be registered is checked statically (E292, nndsl/elab/second_order.py).

Inside the one jitted training step, for the gradient g of the objective's whole loss:
  1. kfac-jax's `BlockDiagonalCurvature` updates the factors with this batch's statistics in
     its `fisher_exact` mode (the expectation over the model's own labels, as
     natural_gradient's Fisher) as a running average: A ← (ema·w·A + A_batch) / (ema·w + 1)
     (kfac-jax's weighted moving average, w the past weight; the first step takes the
     batch's factors exactly, ema = 0 keeps the batch's alone);
  2. every `inverse_every` steps (and at the first) the damped inverses of the factors are
     computed and cached, with factored Tikhonov damping: (A + π√damping I)⁻¹ and
     (G + √damping/π I)⁻¹, π = sqrt(tr A / dim A ÷ tr G / dim G) (kfac-jax's pi-adjusted
     inverse, Martens & Grosse §6.3) — the costly part, amortised as in the paper;
  3. the direction is (A ⊗ G)⁻¹ g per layer with those inverses, which optax's SGD then
     steps by lr.
The factors, their cached inverses and the step count are the state kfac carries beside
optax's (fit/natural.py's split_state), so they are checkpointed, resumed and sent through
steps_per_dispatch like any optimizer state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp

from nndsl.elab.second_order import kfac_layers
from nndsl.fit import kfac_compat
from nndsl.ir import Graph, Node, Ref
from nndsl.ops.base import per_spatial
from nndsl.ops.layers import lax_padding
from nndsl.source import error


def import_kfac_jax(span):
    """kfac_jax, patched for this JAX (fit/kfac_compat.py); not installed: E293."""
    try:
        return kfac_compat.load()
    except ImportError:
        raise error("E293", "optimizer kfac runs on kfac-jax, which is not installed", span,
                    hint="pip install 'nndsl[second-order]'") from None


class Kfac:
    """kfac's preconditioner of one objective; `evaluate(part, context, refs, tag)` evaluates
    the graph as the step does (see fit/natural.py's NaturalGradient)."""

    stateful: ClassVar[bool] = True

    def __init__(self, kfac_jax, layers: list[Node], logits: Ref, values: dict,
                 evaluate: Callable):
        self.kfac_jax, self.logits, self.evaluate = kfac_jax, logits, evaluate
        self.layers = {node.id: node for node in layers}
        self.damping, self.ema = float(values["damping"]), float(values["ema"])
        self.inverse_every = int(values["inverse_every"])
        self.estimator = kfac_jax.BlockDiagonalCurvature(
            func=self._model, default_estimation_mode="fisher_exact",
            auto_register_tags=False, distributed_multiplies=False,
            distributed_cache_updates=False)

    @classmethod
    def for_objective(cls, graph: Graph, objective, logits: Ref, evaluate: Callable) -> Kfac:
        """The preconditioner for an objective whose optimizer is `kfac(...)`."""
        return cls(import_kfac_jax(objective.optimizer.span), kfac_layers(graph, objective),
                   logits, objective.optimizer.values, evaluate)

    def _model(self, part, params, state, batch, key):
        """The model function kfac-jax traces: the logits with every layer and the loss
        registered (func_args[0], `part`, holds the parameters it preconditions). Its value
        is not used: fisher_exact needs the registered logits alone."""
        logits = self.evaluate(part, (params, state, batch, key), [self.logits],
                               self._register)[0]
        self.kfac_jax.register_softmax_cross_entropy_loss(logits)
        return jnp.mean(jax.nn.logsumexp(logits, axis=-1))

    def _register(self, run, node: Node, xs: list, out):
        """A layer's output, tagged for kfac-jax with its input and parameters."""
        if node.id not in self.layers:
            return out
        p = run.stored_params_of(node)
        if node.op == "dense":
            # On [B, ..., d] inputs the same weights act at every position: kfac-jax's
            # repeated_dense block averages the factors over them.
            variant = "repeated_dense" if xs[0].ndim > 2 else "dense"
            return self.kfac_jax.register_dense(out, xs[0], p["w"], p.get("b"),
                                                variant=variant)
        return self.kfac_jax.register_conv2d(out, xs[0], p["w"], p.get("b"),
                                             **_conv_params(node, xs[0], p["w"]))

    def init(self, part, context):
        """(steps taken, the factors' state with room for their inverses); `context` may be
        abstract (shapes and dtypes)."""
        return jnp.zeros((), jnp.int32), self.estimator.init(
            jax.random.PRNGKey(0), (part, *context), exact_powers_to_cache=None,
            approx_powers_to_cache=-1)

    def direction(self, grads, part, context, carried):
        """(the K-FAC direction for the gradient `grads`, the updated carried state)."""
        steps, factors = carried
        batch, key = context[2], context[3]
        factors = self.estimator.update_curvature_matrix_estimate(
            factors, ema_old=self.ema, ema_new=1.0, identity_weight=self.damping,
            batch_size=next(iter(batch.values())).shape[0], rng=key,
            func_args=(part, *context))
        factors = jax.lax.cond(steps % self.inverse_every == 0, self._inverses,
                               lambda f: f, factors)
        step = self.estimator.multiply_inverse(factors, grads, identity_weight=self.damping,
                                               exact_power=False, use_cached=True,
                                               pmap_axis_name=None)
        return step, (steps + 1, factors)

    def _inverses(self, factors):
        """The factors' damped (pi-adjusted) inverses, cached until the next renewal."""
        return self.estimator.update_cache(factors, identity_weight=self.damping,
                                           exact_powers=None, approx_powers=-1,
                                           eigenvalues=False, pmap_axis_name=None)


def _conv_params(node: Node, x, w) -> dict:
    """The `conv_general_dilated` parameters of a 2-D conv node, as kfac-jax's conv2d block
    reads them (window, padding pairs, layout)."""
    stride = per_spatial(node.attrs["stride"], 2, "stride")
    padding = lax_padding(per_spatial(node.attrs["pad"], 2, "pad"))
    if isinstance(padding, str):
        padding = jax.lax.padtype_to_pads(x.shape[1:3], w.shape[:2], stride, padding)
    return dict(window_strides=tuple(stride), padding=tuple(tuple(p) for p in padding),
                lhs_dilation=(1, 1), rhs_dilation=(1, 1),
                dimension_numbers=jax.lax.conv_dimension_numbers(
                    x.shape, w.shape, ("NHWC", "HWIO", "NHWC")),
                feature_group_count=1, batch_group_count=1, precision=None,
                preferred_element_type=None)
