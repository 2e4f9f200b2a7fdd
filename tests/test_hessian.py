"""Second order (nndsl/hessian.py): `gradcheck --order 2` (Hessian-vector products against
differences of gradients) on the contract networks, a wrong custom second derivative caught,
and the top Hessian eigenvalues by Lanczos against the dense Hessian."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import nndsl
from nndsl.cli import main
from nndsl.gradcheck import projected_scalar
from nndsl.hessian import gradcheck_order2, top_eigenvalues
from nndsl.ops import REGISTRY
from tests.conftest import CONTRACT

SHRUNK_LSTM = {"T": 5, "hidden": 8}


@pytest.mark.parametrize("path, network, overrides", [
    ("perceptron_xor.nn", "XorMLP", None),
    pytest.param("lstm_adding.nn", "LSTMAdder", SHRUNK_LSTM, marks=pytest.mark.slow),
    pytest.param("lenet5.nn", "DigitsLeNet", None, marks=pytest.mark.slow),
])
def test_order_2_passes_on_contract_networks(path, network, overrides):
    graph = nndsl.load(CONTRACT / path, overrides).network(network)
    rows = gradcheck_order2(graph, directions=2)
    assert rows and all(r.ok for r in rows), [r for r in rows if not r.ok]


def _tanh_with_wrong_second_derivative(ctx, node, xs):
    @jax.custom_jvp
    def f(v):
        return ctx.jnp.tanh(v)

    # The first derivative is right; stop_gradient makes its own derivative (tanh'') zero:
    # a bug the first-order check cannot see.
    f.defjvp(lambda primals, tangents: (
        f(primals[0]),
        (1 - jax.lax.stop_gradient(ctx.jnp.tanh(primals[0])) ** 2) * tangents[0]))
    return f(xs[0])


def test_a_wrong_second_derivative_is_caught(monkeypatch, capsys):
    monkeypatch.setitem(REGISTRY, "tanh", dataclasses.replace(
        REGISTRY["tanh"], lower=_tanh_with_wrong_second_derivative))
    spec = str(CONTRACT / "perceptron_xor.nn")
    assert main(["gradcheck", spec, "--model", "XorMLP"]) == 0  # first order: right
    capsys.readouterr()
    assert main(["gradcheck", spec, "--model", "XorMLP", "--order", "2"]) == 1
    err = capsys.readouterr().err
    assert "gradcheck failed for dense_0.b, dense_0.w" in err


def test_lanczos_finds_the_top_eigenvalues_of_a_known_hessian():
    diagonal = jnp.asarray([5.0, -3.0, 2.0, 1.0, 0.5, 0.25])
    params = {"a": {"w": jnp.ones(4)}, "b": {"w": jnp.ones(2)}}

    def quadratic(p):
        flat = ravel_pytree(p)[0]
        return 0.5 * jnp.sum(diagonal * flat ** 2)

    assert np.allclose(top_eigenvalues(quadratic, params, top=3), [5.0, 2.0, 1.0])


@pytest.mark.slow
def test_lanczos_agrees_with_the_dense_hessian_of_a_network():
    graph = nndsl.load(CONTRACT / "perceptron_xor.nn").network("XorMLP")
    with jax.enable_x64(True):
        scalar, params = projected_scalar(graph, 0, np.random.RandomState(0))
        flat, unravel = ravel_pytree(params)
        dense = np.linalg.eigvalsh(np.asarray(jax.hessian(lambda v: scalar(unravel(v)))(flat)))
        found = top_eigenvalues(scalar, params, top=2, iterations=flat.size)
    assert np.allclose(found, sorted(dense)[::-1][:2], rtol=1e-6)
