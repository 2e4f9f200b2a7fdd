"""Second-order derivatives: Hessian-vector products checked against finite differences of
gradients (`nndsl gradcheck --order 2`), and the top eigenvalues of a trained run's loss
Hessian (`nndsl hessian`: Lanczos on Hessian-vector products), the sharpness of its minimum.

A Hessian-vector product is forward-over-reverse, `jvp(grad f)(p; v)`: it differentiates the
derivative rules themselves, so a custom derivative whose first order is right but whose own
derivative is wrong passes the first-order check and fails this one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from nndsl.gradcheck import TensorCheck, projected_scalar
from nndsl.ir import Graph
from nndsl.landscape import moved, random_direction


def hvp(f, params, vector):
    """H(p) v for a scalar function f of a parameter tree, forward over reverse."""
    return jax.jvp(jax.grad(f), (params,), (vector,))[1]


def hvp_check(f, params, directions: int = 2, tol: float = 1e-5, eps: float = 1e-7,
              seed: int = 0) -> list[TensorCheck]:
    """Per parameter tensor, the worst disagreement between H v and the central difference
    (grad f(p + eps v) - grad f(p - eps v)) / 2 eps over `directions` random v (every entry
    compared; relative to max(|numeric|, |exact|, 1), as the first-order check)."""
    rng = np.random.RandomState(seed)
    grad = jax.jit(jax.grad(f))
    product = jax.jit(lambda p, v: hvp(f, p, v))
    worst: dict[str, list[float]] = {}
    for _ in range(directions):
        v = random_direction(params, rng)
        exact = product(params, v)
        ahead, behind = grad(moved(params, [(eps, v)])), grad(moved(params, [(-eps, v)]))
        for layer in sorted(params):
            for name in sorted(params[layer]):
                numeric = (np.asarray(ahead[layer][name]) -
                           np.asarray(behind[layer][name])) / (2 * eps)
                analytic = np.asarray(exact[layer][name])
                error = np.abs(numeric - analytic)
                scale = np.maximum(np.maximum(np.abs(numeric), np.abs(analytic)), 1.0)
                row = worst.setdefault(f"{layer}.{name}", [0.0, 0.0])
                row[0] = max(row[0], float(error.max(initial=0.0)))
                row[1] = max(row[1], float((error / scale).max(initial=0.0)))
    return [TensorCheck(key, directions, a, r, r <= tol) for key, (a, r) in worst.items()]


def gradcheck_order2(graph: Graph, directions: int = 2, tol: float = 1e-5,
                     seed: int = 0) -> list[TensorCheck]:
    """`gradcheck --order 2`: Hessian-vector products of gradcheck's scalar (a random
    projection of the outputs on random small inputs, float64) against differences of its
    gradients."""
    with jax.enable_x64(True):
        scalar, params = projected_scalar(graph, seed, np.random.RandomState(seed))
        return hvp_check(scalar, params, directions, tol, seed=seed)


def top_eigenvalues(f, params, top: int = 3, iterations: int = 30,
                    seed: int = 0) -> list[float]:
    """The `top` largest eigenvalues of the Hessian of f at `params` by Lanczos iteration
    on Hessian-vector products (full reorthogonalisation, so the Ritz values do not repeat),
    largest first."""
    flat, unravel = ravel_pytree(params)
    product = jax.jit(lambda v: ravel_pytree(hvp(f, params, unravel(v)))[0])
    size = flat.size
    basis = np.zeros((min(iterations, size), size))
    alphas, betas = [], []
    q = np.random.RandomState(seed).standard_normal(size)
    q /= np.linalg.norm(q)
    for j in range(len(basis)):
        basis[j] = q
        w = np.array(product(jnp.asarray(q, flat.dtype)), np.float64)
        alphas.append(float(q @ w))
        w -= basis[:j + 1].T @ (basis[:j + 1] @ w)  # against every earlier vector
        beta = float(np.linalg.norm(w))
        if beta < 1e-10 * max(1.0, abs(alphas[-1])):  # an invariant subspace: exact
            break
        betas.append(beta)
        q = w / beta
    count = len(alphas)
    tridiagonal = np.diag(alphas) + np.diag(betas[:count - 1], 1) + \
        np.diag(betas[:count - 1], -1)
    return sorted(np.linalg.eigvalsh(tridiagonal).tolist(), reverse=True)[:top]
