"""Gradient checking: `jax.grad` of a scalar against central finite differences, in float64.

The scalar is a fixed random projection of the network's outputs, sum_k <out_k, R_k>, on
random small inputs shaped by the spec (the batch and other symbolic sizes bound small).
Stochastic ops run with a fixed key, so the function being differenced is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from nndsl.ir import Graph, Sym, walk
from nndsl.lower import Compiled
from nndsl.ops import REGISTRY

SMALL = 3  # every symbolic size (batch, time) is bound to this while checking
# Registry gradcheck modes (nndsl/ops/facts.py) under which the true gradient is not compared.
UNCHECKED = ("no_gradient", "as_identity")


@dataclass
class TensorCheck:
    """The worst disagreement over the sampled entries of one parameter tensor."""

    key: str
    checked: int
    max_abs: float
    max_rel: float
    ok: bool


def _random_inputs(graph: Graph, rng: np.random.RandomState) -> dict[str, np.ndarray]:
    inputs = {}
    for name, ref in graph.inputs.items():
        t = graph.type_of(ref)
        shape = tuple(SMALL if isinstance(d, Sym) else d for d in t.shape)
        # Integer inputs are labels or token ids: 0 and 1 are valid for any class count.
        inputs[name] = rng.randint(0, 2, shape).astype(np.int32) if t.dtype == "i32" else \
            rng.standard_normal(shape)
    return inputs


def non_differentiable_ops(graph: Graph) -> list[str]:
    """Nodes through which no gradient flows, or whose gradient is altered on purpose
    (grad_reverse is checked as the identity it computes): reported, never hidden."""
    return [f"{node.id} ({node.op}, line {node.span.line})" for node, _ in walk(graph)
            if REGISTRY[node.op].gradcheck in UNCHECKED]


def gradcheck(graph: Graph, samples: int = 4, tol: float = 1e-5, seed: int = 0,
              eps: float = 1e-6) -> list[TensorCheck]:
    """Compare analytic and numeric gradients on `samples` entries of every parameter tensor."""
    rng = np.random.RandomState(seed)
    with jax.enable_x64(True):
        scalar, params = projected_scalar(graph, seed, rng)
        analytic = jax.grad(scalar)(params)
        return [_check_tensor(scalar, params, analytic, layer, name, samples, tol, eps, rng)
                for layer in sorted(params) for name in sorted(params[layer])]


def projected_scalar(graph: Graph, seed: int, rng: np.random.RandomState):
    """The jitted function gradcheck differentiates (a random projection of the outputs on
    random inputs, float64: call it under `jax.enable_x64`) and the parameters at `seed`."""
    compiled = Compiled(graph, exact_gradients=True)
    params, state = compiled.init(seed)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
    state = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), state)
    inputs = {k: jnp.asarray(v) for k, v in _random_inputs(graph, rng).items()}
    key = jax.random.PRNGKey(seed)
    shapes = jax.eval_shape(lambda p: compiled.apply(p, state, inputs, key, True)[0], params)
    projections = {k: jnp.asarray(rng.standard_normal(s.shape)) for k, s in shapes.items()
                   if jnp.issubdtype(s.dtype, jnp.floating)}

    @jax.jit
    def scalar(p):
        outputs = compiled.apply(p, state, inputs, key, True)[0]
        return sum(jnp.vdot(outputs[k], r) for k, r in projections.items())

    return scalar, params


def _check_tensor(scalar, params, analytic, layer, name, samples, tol, eps, rng):
    value = np.asarray(params[layer][name])
    flat = value.ravel()
    picks = rng.choice(flat.size, size=min(samples, flat.size), replace=False)
    worst_abs = worst_rel = 0.0
    for index in picks:
        numeric = (_at(scalar, params, layer, name, flat, index, eps, value.shape) -
                   _at(scalar, params, layer, name, flat, index, -eps, value.shape)) / (2 * eps)
        exact = float(np.asarray(analytic[layer][name]).ravel()[index])
        error = abs(numeric - exact)
        worst_abs = max(worst_abs, error)
        worst_rel = max(worst_rel, error / max(abs(numeric), abs(exact), 1.0))
    return TensorCheck(f"{layer}.{name}", len(picks), worst_abs, worst_rel, worst_rel <= tol)


def _at(scalar, params, layer, name, flat, index, delta, shape) -> float:
    """The scalar with one parameter entry moved by `delta`."""
    moved = flat.copy()
    moved[index] += delta
    changed = {**params, layer: {**params[layer], name: jnp.asarray(moved.reshape(shape))}}
    return float(scalar(changed))
