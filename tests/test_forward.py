"""Every op's forward pass against an independent NumPy reference (registry-wide).

Ops with parameters or a specific layout have dedicated tests in test_lowering.py and
test_recurrence.py; this table covers the rest, and a test fails for any op covered nowhere.
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.lower import Compiled
from nndsl.ops import USER_OPS

RNG = np.random.RandomState(1)
_erf = np.vectorize(math.erf)


def _softmax(v, axis=-1):
    e = np.exp(v - v.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


# op → (expression over a and b, both [B, 3, 4] float unless given, NumPy reference)
TABLE = {
    "leaky_relu": ("a -> leaky_relu(0.2)", lambda a, b: np.where(a > 0, a, 0.2 * a)),
    "elu": ("a -> elu", lambda a, b: np.where(a > 0, a, np.exp(a) - 1)),
    "selu": ("a -> selu", lambda a, b: 1.0507009873554805 * np.where(
        a > 0, a, 1.6732632423543772 * (np.exp(a) - 1))),
    "gelu": ("a -> gelu", lambda a, b: 0.5 * a * (1 + np.tanh(
        np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))),
    "swish": ("a -> swish", lambda a, b: a * _sigmoid(a)),
    "sigmoid": ("a -> sigmoid", lambda a, b: _sigmoid(a)),
    "tanh": ("a -> tanh", lambda a, b: np.tanh(a)),
    "softplus": ("a -> softplus", lambda a, b: np.log1p(np.exp(a))),
    "abs": ("a -> abs", lambda a, b: np.abs(a)),
    "log_softmax": ("a -> log_softmax(1)", lambda a, b: np.log(_softmax(a, 1))),
    "exp": ("a -> exp", lambda a, b: np.exp(a)),
    "log": ("log(abs(a) + 1)", lambda a, b: np.log(np.abs(a) + 1)),
    "sqrt": ("sqrt(abs(a))", lambda a, b: np.sqrt(np.abs(a))),
    "square": ("a -> square", lambda a, b: a * a),
    "clip": ("a -> clip(-0.5, 0.3)", lambda a, b: np.clip(a, -0.5, 0.3)),
    "step": ("a -> step", lambda a, b: (a > 0).astype(float)),
    "sign": ("a -> sign", lambda a, b: np.sign(a)),
    "round": ("a * 3 -> round", lambda a, b: np.round(a * 3)),
    "argmax": ("a -> argmax", lambda a, b: a.argmax(-1)),
    "stop_gradient": ("a -> stop_gradient", lambda a, b: a),
    "grad_reverse": ("a -> grad_reverse(2)", lambda a, b: a),
    "add": ("a + b", lambda a, b: a + b), "sub": ("a - b", lambda a, b: a - b),
    "mul": ("a * b", lambda a, b: a * b), "div": ("a / (abs(b) + 1)", lambda a, b: a / (
        np.abs(b) + 1)),
    "pow": ("abs(a) ** 1.5", lambda a, b: np.abs(a) ** 1.5),
    "mod": ("a % 0.7", lambda a, b: np.mod(a, 0.7)),
    "floordiv": ("a // 0.5", lambda a, b: np.floor_divide(a, 0.5)),
    "neg": ("-a", lambda a, b: -a),
    "matmul": ("a @ transpose(b, [0, 2, 1])", lambda a, b: a @ b.transpose(0, 2, 1)),
    "minimum": ("minimum(a, b)", np.minimum), "maximum": ("maximum(a, b)", np.maximum),
    "sum": ("a -> sum(1)", lambda a, b: a.sum(1)), "mean": ("a -> mean", lambda a, b:
                                                            a.mean((1, 2))),
    "max": ("a -> max(-1)", lambda a, b: a.max(-1)),
    "reshape": ("a -> reshape([B, 2, 6])", lambda a, b: a.reshape(-1, 2, 6)),
    "last": ("a -> last", lambda a, b: a[:, -1]),
    "expand": ("a -> expand(1)", lambda a, b: a[:, None]),
    "squeeze": ("expand(a, 1) -> squeeze(1)", lambda a, b: a),
    "pad": ("a -> pad(1)", lambda a, b: np.pad(a, ((0, 0), (1, 1), (0, 0)))),
    "upsample": ("a -> upsample(2)", lambda a, b: a.repeat(2, 1)),
    "lppool": ("a -> lppool(2, 3)", lambda a, b: np.sqrt((a ** 2).sum(1, keepdims=True))),
    "instancenorm": ("a -> instancenorm", lambda a, b: (a - a.mean(1, keepdims=True)) /
                     np.sqrt(a.var(1, keepdims=True) + 1e-5)),
    "groupnorm": ("a -> groupnorm(2)", lambda a, b: _groupnorm(a, 2)),
    "positional": ("a -> positional(5)", lambda a, b: a),  # a zero-initialised table
    "hinge": ("hinge(a, 1)", lambda a, b: np.maximum(0, 1 - a).mean()),
    "margin_ranking": ("margin_ranking(a, b, 1)", lambda a, b: np.maximum(
        0, -(a - b) + 1).mean()),
    "contrastive": ("contrastive(a, b, 0, margin=10)", lambda a, b: np.mean(np.maximum(
        10 - np.sqrt(((a - b) ** 2).sum((1, 2))), 0) ** 2)),
    "binary_accuracy": ("binary_accuracy(a, b -> step)", lambda a, b: ((a > 0) == (b > 0))
                        .mean()),
    "top_k": ("top_k(a, argmax(b), k=2)", lambda a, b: np.mean(
        np.any(np.argsort(-a, -1)[..., :2] == b.argmax(-1)[..., None], -1))),
    "cross_entropy": ("cross_entropy(a, softmax(b), reduce=sum)", lambda a, b: np.mean(
        -(_softmax(b) * np.log(_softmax(a))).sum((1, 2)))),
}
# Covered by dedicated tests (test_lowering, test_recurrence, test_training).
ELSEWHERE = {"dense", "conv", "conv_transpose", "embed", "batchnorm", "layernorm",
             "self_attention", "attention", "relu", "softmax", "maxout", "maxpool", "avgpool",
             "global_avgpool", "global_maxpool", "flatten", "transpose", "concat", "split",
             "dropout", "noise", "sample_normal", "normal", "bce", "mse", "mae", "kl_normal",
             "distill", "accuracy", "l1", "l2"}


def _groupnorm(a, groups):
    g = a.reshape(*a.shape[:-1], groups, -1)
    mean = g.mean((1, 3), keepdims=True)
    var = g.var((1, 3), keepdims=True)
    return ((g - mean) / np.sqrt(var + 1e-5)).reshape(a.shape)


def test_every_op_has_a_forward_reference():
    missing = sorted(set(USER_OPS) - set(TABLE) - ELSEWHERE)
    assert not missing, f"add NumPy references for {missing}"


@pytest.mark.parametrize("op", sorted(TABLE))
def test_forward_matches_numpy(write_spec, op):
    expr, reference = TABLE[op]
    text = (f"network N {{\n  input a: [B, 3, 4]\n  input b: [B, 3, 4]\n"
            f"  output y = {expr}\n}}\n")
    graph = nndsl.load(write_spec(text)).network("N")
    assert any(node.op == op for node in graph), f"{expr} does not use {op}"
    a, b = RNG.randn(2, 3, 4), RNG.randn(2, 3, 4)
    compiled = Compiled(graph)
    params, state = compiled.init(0)
    got = compiled.apply(params, state, {"a": jnp.asarray(a, jnp.float32),
                                         "b": jnp.asarray(b, jnp.float32)})[0]["y"]
    np.testing.assert_allclose(np.asarray(got, np.float64), reference(a, b), rtol=2e-4,
                               atol=2e-4)


def test_conv_transpose_matches_a_scatter_reference(write_spec):
    """Each input position scatters its kernel-weighted values into a strided output."""
    text = ("network N {\n  input x: [B, 4, 4, 2]\n"
            "  output y = x -> conv_transpose(3, 3, stride=2, bias=false)\n}\n")
    compiled = Compiled(nndsl.load(write_spec(text)).network("N"))
    params, state = compiled.init(0)
    w = np.asarray(params["conv_transpose_0"]["w"], np.float64)
    x = RNG.randn(1, 4, 4, 2)
    got = compiled.apply(params, state, {"x": jnp.asarray(x, jnp.float32)})[0]["y"]
    k, s = 3, 2
    want = np.zeros((1, (4 - 1) * s + k, (4 - 1) * s + k, 3))
    for i in range(4):
        for j in range(4):
            for di in range(k):
                for dj in range(k):
                    want[0, i * s + k - 1 - di, j * s + k - 1 - dj] += x[0, i, j] @ w[di, dj]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_attention_matches_numpy(write_spec):
    text = ("network N {\n  input q: [B, 4]\n  input m: [B, 5, 6]\n"
            "  output y = attention(q, m, kind=additive, units=3)\n"
            "  output z = attention(q, m)\n}\n")
    compiled = Compiled(nndsl.load(write_spec(text)).network("N"))
    params, state = compiled.init(0)
    q, m = RNG.randn(2, 4), RNG.randn(2, 5, 6)
    out = compiled.apply(params, state, {"q": jnp.asarray(q, jnp.float32),
                                         "m": jnp.asarray(m, jnp.float32)})[0]
    add = {k: np.asarray(v, np.float64) for k, v in params["attention_0"].items()}
    scores = np.tanh((q @ add["wq"])[:, None] + m @ add["wk"]) @ add["v"]
    np.testing.assert_allclose(out["y"], np.einsum("bs,bsm->bm", _softmax(scores), m),
                               rtol=1e-4, atol=1e-5)
    wq = np.asarray(params["attention_1"]["wq"], np.float64)
    dot = np.einsum("bm,bsm->bs", q @ wq, m) / np.sqrt(6)
    np.testing.assert_allclose(out["z"], np.einsum("bs,bsm->bm", _softmax(dot), m),
                               rtol=1e-4, atol=1e-5)


def test_self_attention_matches_numpy(write_spec):
    text = "network N {\n  input x: [B, 3, 4]\n  output y = x -> self_attention(2)\n}\n"
    compiled = Compiled(nndsl.load(write_spec(text)).network("N"))
    params, state = compiled.init(0)
    x = RNG.randn(2, 3, 4)
    got = compiled.apply(params, state, {"x": jnp.asarray(x, jnp.float32)})[0]["y"]
    p = {k: np.asarray(v, np.float64) for k, v in params["self_attention_0"].items()}
    q, k, v = ((x @ p[f"w{n}"] + p[f"b{n}"]).reshape(2, 3, 2, 2).transpose(0, 2, 1, 3)
               for n in "qkv")
    heads = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(2)) @ v
    want = heads.transpose(0, 2, 1, 3).reshape(2, 3, 4) @ p["wo"] + p["bo"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
