"""Recurrent cells: the standard library's LSTM and GRU against the textbook equations in
NumPy, step by step; back-propagation through time against finite differences (float64,
through `nndsl.gradcheck`)."""

import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.gradcheck import gradcheck
from nndsl.lower import Compiled

RNG = np.random.RandomState(0)
T, D, H, BATCH = 6, 3, 4, 2


def _cell_net(write_spec, cell: str):
    text = f"network N {{\n  input x: [B, {T}, {D}]\n  output y = x -> scan({cell}({H}))\n}}\n"
    compiled = Compiled(nndsl.load(write_spec(text)).network("N"))
    params, state = compiled.init(0)
    return compiled, params, state


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def test_lstm_matches_the_textbook(write_spec):
    compiled, p, s = _cell_net(write_spec, "LSTM")
    x = RNG.randn(BATCH, T, D)
    wx, b = np.asarray(p["LSTM_0.dense_0"]["w"]), np.asarray(p["LSTM_0.dense_0"]["b"])
    wh = np.asarray(p["LSTM_0.dense_1"]["w"])
    h, c, outs = np.zeros((BATCH, H)), np.zeros((BATCH, H)), []
    for t in range(T):
        z = x[:, t] @ wx + b + h @ wh
        i, f, g, o = np.split(z, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outs.append(h)
    got = compiled.apply(p, s, {"x": jnp.asarray(x, jnp.float32)})[0]["y"]
    np.testing.assert_allclose(got, np.stack(outs, 1), rtol=1e-5, atol=1e-5)


def test_gru_matches_the_textbook(write_spec):
    compiled, p, s = _cell_net(write_spec, "GRU")
    x = RNG.randn(BATCH, T, D)
    w = {k: {n: np.asarray(v) for n, v in p[f"GRU_0.{k}"].items()}
         for k in ("dense_0", "dense_1", "dense_2", "dense_3")}
    h, outs = np.zeros((BATCH, H)), []
    for t in range(T):
        gates = _sigmoid(x[:, t] @ w["dense_0"]["w"] + w["dense_0"]["b"] + h @ w["dense_1"]["w"])
        z, r = np.split(gates, 2, axis=-1)
        n = np.tanh(x[:, t] @ w["dense_2"]["w"] + w["dense_2"]["b"] +
                    r * (h @ w["dense_3"]["w"] + w["dense_3"]["b"]))
        h = (1 - z) * n + z * h
        outs.append(h)
    got = compiled.apply(p, s, {"x": jnp.asarray(x, jnp.float32)})[0]["y"]
    np.testing.assert_allclose(got, np.stack(outs, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_gradient_through_time_matches_finite_differences(write_spec, cell):
    text = f"network N {{\n  input x: [B, {T}, {D}]\n  output y = x -> scan({cell}({H}))\n}}\n"
    rows = gradcheck(nndsl.load(write_spec(text)).network("N"), samples=4, tol=1e-6)
    assert len(rows) >= 3 and all(r.ok for r in rows), rows
