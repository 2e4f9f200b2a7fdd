"""Every op's forward pass and gradient against independent NumPy references (registry-wide).

One table drives both: the forward value must match the NumPy reference, and `jax.grad` of the
lowering must match central differences of that NumPy reference (float64), for the inputs and
for every parameter, set to random values so that no zero-initialised table hides. Where the
registry says no gradient flows, the gradient must be zero. Random ops are checked by their
moments over many samples; regularisers by their exact values. Ops with a specific layout have
dedicated tests in test_lowering.py and test_recurrence.py; a test fails for any op covered
nowhere.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.lower import Compiled
from nndsl.ops import ALIASES, USER_OPS
from nndsl.passes.gradients import receives_gradient

RNG = np.random.RandomState(1)
_erf = np.vectorize(math.erf)


def _softmax(v, axis=-1):
    e = np.exp(v - v.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


# op → (expression over a and b, both [B, 3, 4] float, NumPy reference of (a, b) or of
# (a, b, params) for an op with parameters, params as {layer: {name: array}})
TABLE = {
    "leaky_relu": ("a -> leaky_relu(0.2)", lambda a, b: np.where(a > 0, a, 0.2 * a)),
    "elu": ("a -> elu", lambda a, b: np.where(a > 0, a, np.exp(a) - 1)),
    "selu": ("a -> selu", lambda a, b: 1.0507009873554805 * np.where(
        a > 0, a, 1.6732632423543772 * (np.exp(a) - 1))),
    "gelu": ("a -> gelu", lambda a, b: 0.5 * a * (1 + _erf(a / np.sqrt(2)))),
    "relu6": ("a * 4 -> relu6", lambda a, b: np.clip(a * 4, 0, 6)),
    "prelu": ("a -> prelu(per_channel=true)", lambda a, b, p: np.where(
        a > 0, a, p["y"]["slope"] * a)),
    "silu": ("a -> silu", lambda a, b: a * _sigmoid(a)),
    "swish": ("a -> swish", lambda a, b: a * _sigmoid(a)),
    "mish": ("a -> mish", lambda a, b: a * np.tanh(np.log1p(np.exp(a)))),
    "hard_sigmoid": ("a * 4 -> hard_sigmoid", lambda a, b: np.clip(a * 4 + 3, 0, 6) / 6),
    "hard_swish": ("a * 4 -> hard_swish", lambda a, b: 4 * a * np.clip(a * 4 + 3, 0, 6) / 6),
    "sigmoid": ("a -> sigmoid", lambda a, b: _sigmoid(a)),
    "tanh": ("a -> tanh", lambda a, b: np.tanh(a)),
    "softplus": ("a -> softplus(beta=2)", lambda a, b: np.log1p(np.exp(2 * a)) / 2),
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
    "minimum": ("minimum(a, b)", lambda a, b: np.minimum(a, b)),
    "maximum": ("maximum(a, b)", lambda a, b: np.maximum(a, b)),
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
    "instancenorm": ("a -> instancenorm", lambda a, b, p: _scaled(p["y"], (
        a - a.mean(1, keepdims=True)) / np.sqrt(a.var(1, keepdims=True) + 1e-5))),
    "groupnorm": ("a -> groupnorm(2)", lambda a, b, p: _scaled(p["y"],
                                                                _groupnorm(a, 2))),
    "positional": ("a -> positional(5)", lambda a, b, p: a + p["y"]["table"][:3]),
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
    "slice": ("a[:, -1, 1::2]", lambda a, b: a[:, -1, 1::2]),
    "compare": ("a > b", lambda a, b: (a > b).astype(float)),
    "set_pool": ("set_pool(a, kind=mean)", lambda a, b: a.mean(1)),
    "perplexity": ("perplexity(a, softmax(b))", lambda a, b: np.exp(np.mean(
        -(_softmax(b) * np.log(_softmax(a))).sum(-1)))),
}
# Covered by dedicated tests (test_lowering, test_recurrence, test_training).
ELSEWHERE = {"dense", "conv", "conv_transpose", "embed", "batchnorm", "layernorm",
             "self_attention", "attention", "relu", "softmax", "maxout", "maxpool", "avgpool",
             "global_avgpool", "global_maxpool", "flatten", "transpose", "concat", "split",
             "bce", "mse", "mae", "kl_normal", "distill", "accuracy", "crop",
             # against exact enumeration of a tiny RBM: tests/test_energy.py
             "rbm", "sample_bernoulli",
             # dense NumPy references in tests/test_structures_*.py
             "gcn_conv", "sage_conv", "memory_read"}


def _scaled(p, normalised):
    return normalised * p["scale"] + p["shift"]


def _groupnorm(a, groups):
    g = a.reshape(*a.shape[:-1], groups, -1)
    mean = g.mean((1, 3), keepdims=True)
    var = g.var((1, 3), keepdims=True)
    return ((g - mean) / np.sqrt(var + 1e-5)).reshape(a.shape)


def test_every_op_has_a_forward_reference():
    covered = set(TABLE) | set(STOCHASTIC) | set(REGULARISERS) | ELSEWHERE
    missing = sorted(set(USER_OPS) - covered)
    assert not missing, f"add NumPy references for {missing}"


def _graph(write_spec, op):
    expr = TABLE[op][0]
    text = (f"network N {{\n  input a: [B, 3, 4]\n  input b: [B, 3, 4]\n"
            f"  output y = {expr}\n}}\n")
    graph = nndsl.load(write_spec(text)).network("N")
    built = ALIASES.get(op, op)  # an alias builds the op it names
    assert any(node.op == built for node in graph), f"{expr} does not use {built}"
    return graph


def _random_params(compiled):
    """Random values for every parameter (a zero- or one-initialised tensor hides a bug)."""
    params, state = compiled.init(0)
    rng = np.random.RandomState(2)
    return ({layer: {k: rng.standard_normal(v.shape) for k, v in leaves.items()}
             for layer, leaves in params.items()}, state)


def _reference(op, a, b, params):
    reference = TABLE[op][1]
    return reference(a, b, params) if reference.__code__.co_argcount == 3 else reference(a, b)


@pytest.mark.parametrize("op", sorted(TABLE))
def test_forward_matches_numpy(write_spec, op):
    compiled = Compiled(_graph(write_spec, op))
    params, state = _random_params(compiled)
    a, b = RNG.randn(2, 3, 4), RNG.randn(2, 3, 4)
    got = compiled.apply(jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), params), state,
                         {"a": jnp.asarray(a, jnp.float32), "b": jnp.asarray(b, jnp.float32)})
    np.testing.assert_allclose(np.asarray(got[0]["y"], np.float64), _reference(op, a, b, params),
                               rtol=2e-4, atol=2e-4)


def _numeric_gradient(f, value: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar `f` with respect to every entry of `value`."""
    grad = np.zeros_like(value)
    for i in np.ndindex(value.shape):
        saved = value[i]
        value[i] = saved + eps
        up = f()
        value[i] = saved - eps
        down = f()
        value[i] = saved
        grad[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("op", sorted(TABLE))
def test_gradient_matches_numpy(write_spec, op):
    """jax.grad of the lowering against differences of the NumPy reference; zero where the
    registry says no gradient flows."""
    graph = _graph(write_spec, op)
    if graph.type_of(graph.outputs["y"]).dtype != "f32":
        pytest.skip(f"{op} computes integers: nothing to differentiate")
    # The training gradient, except for an op whose gradient is altered on purpose: that one
    # as the function it computes (its reversal is pinned in test_lowering.py).
    compiled = Compiled(graph, exact_gradients=USER_OPS[op].gradcheck == "as_identity")
    params, state = _random_params(compiled)
    inputs = {"a": RNG.randn(2, 3, 4), "b": RNG.randn(2, 3, 4)}
    upstream = RNG.randn(*np.shape(_reference(op, inputs["a"], inputs["b"], params)))
    reached = receives_gradient(graph, graph.outputs["y"])

    def numpy_scalar():
        return float(np.sum(_reference(op, inputs["a"], inputs["b"], params) * upstream))

    with jax.enable_x64(True):
        def scalar(p, xs):
            return jnp.sum(compiled.apply(p, state, xs)[0]["y"] * upstream)

        grad_p, grad_x = jax.grad(scalar, argnums=(0, 1))(
            jax.tree.map(jnp.asarray, params), {k: jnp.asarray(v) for k, v in inputs.items()})
        for name, value in inputs.items():
            flows = graph.inputs[name].node in reached
            want = _numeric_gradient(numpy_scalar, value) if flows else np.zeros_like(value)
            np.testing.assert_allclose(grad_x[name], want, rtol=1e-5, atol=1e-6, err_msg=name)
        for layer, leaves in params.items():
            for name, value in leaves.items():
                np.testing.assert_allclose(grad_p[layer][name],
                                           _numeric_gradient(numpy_scalar, value), rtol=1e-5,
                                           atol=1e-6, err_msg=f"{layer}.{name}")


def test_conv_transpose_matches_a_scatter_reference(write_spec):
    """Each input position scatters its kernel-weighted values into a strided output."""
    text = ("network N {\n  input x: [B, 4, 4, 2]\n"
            "  output y = x -> conv_transpose(3, 3, stride=2, bias=false)\n}\n")
    compiled = Compiled(nndsl.load(write_spec(text)).network("N"))
    params, state = compiled.init(0)
    w = np.asarray(params["y"]["w"], np.float64)
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
    add = {k: np.asarray(v, np.float64) for k, v in params["y"].items()}
    scores = np.tanh((q @ add["wq"])[:, None] + m @ add["wk"]) @ add["v"]
    np.testing.assert_allclose(out["y"], np.einsum("bs,bsm->bm", _softmax(scores), m),
                               rtol=1e-4, atol=1e-5)
    wq = np.asarray(params["z"]["wq"], np.float64)
    dot = np.einsum("bm,bsm->bs", q @ wq, m) / np.sqrt(6)
    np.testing.assert_allclose(out["z"], np.einsum("bs,bsm->bm", _softmax(dot), m),
                               rtol=1e-4, atol=1e-5)


def test_self_attention_matches_numpy(write_spec):
    text = "network N {\n  input x: [B, 3, 4]\n  output y = x -> self_attention(2)\n}\n"
    compiled = Compiled(nndsl.load(write_spec(text)).network("N"))
    params, state = compiled.init(0)
    x = RNG.randn(2, 3, 4)
    got = compiled.apply(params, state, {"x": jnp.asarray(x, jnp.float32)})[0]["y"]
    p = {k: np.asarray(v, np.float64) for k, v in params["y"].items()}
    q, k, v = ((x @ p[f"w{n}"] + p[f"b{n}"]).reshape(2, 3, 2, 2).transpose(0, 2, 1, 3)
               for n in "qkv")
    heads = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(2)) @ v
    want = heads.transpose(0, 2, 1, 3).reshape(2, 3, 4) @ p["wo"] + p["bo"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# Random ops: op → (expression over a [B, 64] and b [B, 64], check of the training-mode output
# y against the inputs over N = B * 64 samples). Tolerances are five standard errors.
N_BATCH, WIDTH = 100, 64
N = N_BATCH * WIDTH


def _moments(sample, mean, std):
    assert abs(sample.mean() - mean) < 5 * std / np.sqrt(N), sample.mean()
    assert abs(sample.std() - std) < 5 * std / np.sqrt(2 * N), sample.std()


def _dropout(y, a, b):
    zero = y == 0
    assert abs(zero.mean() - 0.3) < 5 * np.sqrt(0.3 * 0.7 / N), zero.mean()
    np.testing.assert_allclose(y[~zero], a[~zero] / 0.7, rtol=1e-5)


STOCHASTIC = {
    "noise": ("a -> noise(0.5)", lambda y, a, b: _moments(y - a, 0.0, 0.5)),
    "dropout": ("a -> dropout(0.3)", _dropout),
    "sample_normal": ("sample_normal(a, b)", lambda y, a, b: _moments(
        (y - a) / np.exp(b / 2), 0.0, 1.0)),
    "normal": (f"normal([B, {WIDTH}])", lambda y, a, b: _moments(y, 0.0, 1.0)),
}


@pytest.mark.parametrize("op", sorted(STOCHASTIC))
def test_random_op_moments(write_spec, op):
    expr, check = STOCHASTIC[op]
    text = (f"network N {{\n  input a: [B, {WIDTH}]\n  input b: [B, {WIDTH}]\n"
            f"  output y = {expr}\n}}\n")
    graph = nndsl.load(write_spec(text)).network("N")
    built = ALIASES.get(op, op)  # an alias builds the op it names
    assert any(node.op == built for node in graph), f"{expr} does not use {built}"
    compiled = Compiled(graph)
    params, state = compiled.init(0)
    a, b = RNG.randn(N_BATCH, WIDTH), RNG.randn(N_BATCH, WIDTH) * 0.5
    y = compiled.apply(params, state, {"a": jnp.asarray(a, jnp.float32),
                                       "b": jnp.asarray(b, jnp.float32)},
                       jax.random.PRNGKey(3), train=True)[0]["y"]
    assert y.shape == (N_BATCH, WIDTH)
    check(np.asarray(y, np.float64), a, b)


REGULARISERS = {"l1": (lambda w: np.abs(w).sum(), np.sign),
                "l2": (lambda w: 0.5 * (w * w).sum(), lambda w: w)}


@pytest.mark.parametrize("op", sorted(REGULARISERS))
def test_regulariser_values_and_gradients_are_exact(write_spec, op):
    text = ("network N {\n  input x: [B, 8, 8, 1]\n  output y = x -> flatten -> dense(3) -> "
            "dense(2)\n}\n"
            f"train {{\n  model = N\n  data = digits()\n  loss = {op}(params)\n"
            "  optimizer = sgd(lr=0.1)\n}\n")
    plan = nndsl.load(write_spec(text)).check().trains[0]
    compiled = Compiled(plan.graph)
    params, state = _random_params(compiled)
    value, gradient = REGULARISERS[op]
    leaves = [w for layer in params.values() for w in layer.values()]
    assert len(leaves) == 4

    inputs = {"x": jnp.ones((2, 8, 8, 1)), "y": jnp.zeros((2,), jnp.int32)}

    def loss(p):
        return compiled.evaluate(p, state, inputs, jax.random.PRNGKey(0),
                                 False, [plan.objectives[0].loss])[0][0]

    with jax.enable_x64(True):
        p = jax.tree.map(jnp.asarray, params)
        np.testing.assert_allclose(float(loss(p)), sum(value(w) for w in leaves), rtol=1e-12)
        grads = jax.grad(loss)(p)
        for layer, named in params.items():
            for name, w in named.items():
                np.testing.assert_allclose(grads[layer][name], gradient(w), rtol=1e-12)
