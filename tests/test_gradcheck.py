"""Gradient checking: every differentiable op of the registry, every contract network, and a
deliberately wrong gradient that must be caught and named."""

import dataclasses

import jax
import pytest

import nndsl
from nndsl.cli import main
from nndsl.gradcheck import gradcheck
from nndsl.ops import REGISTRY, USER_OPS
from tests.conftest import CONTRACT

# For each op: the input shape and an expression over `h` and `g`, two tensors of that shape
# computed from `x` by parameterised layers, so that the op's gradient reaches parameters.
EXAMPLES = {
    "dense": ("[B, 4]", ["h -> dense(3)", "h -> dense(3, bias=false, norm=weight)"]),
    "conv": ("[B, 5, 5, 2]", ["h -> conv(2, 3)", "h -> conv(4, 3, stride=2, pad=same)",
                              "h -> conv(2, 2, dilation=2, pad=1)", "h -> conv(4, 3, groups=2)"]),
    "conv_transpose": ("[B, 3, 3, 2]", ["h -> conv_transpose(2, 3, stride=2)",
                                        "h -> conv_transpose(2, 3, pad=same)"]),
    "positional": ("[B, 3, 4]", ["h -> positional(5)"]),
    "batchnorm": ("[B, 4]", ["h -> batchnorm"]),
    "layernorm": ("[B, 3, 4]", ["h -> layernorm"]),
    "groupnorm": ("[B, 3, 3, 4]", ["h -> groupnorm(2)"]),
    "instancenorm": ("[B, 3, 3, 2]", ["h -> instancenorm"]),
    "self_attention": ("[B, 3, 4]", ["h -> self_attention(2)",
                                     "h -> self_attention(2, causal=true)",
                                     "h -> self_attention(2, causal=true, mask=x[..., 0] > 0)"]),
    "attention": ("[B, 3, 4]", ["attention(last(h), g)", "attention(h, g, kind=additive)",
                                "attention(h, g, heads=2)",
                                "attention(h, g, kind=additive, mask=x[..., 0] > 0)"]),
    "maxout": ("[B, 4]", ["h -> maxout(2)"]),
    "softmax": ("[B, 4]", ["h -> softmax"]), "log_softmax": ("[B, 4]", ["h -> log_softmax"]),
    "leaky_relu": ("[B, 4]", ["h -> leaky_relu(0.2)"]), "elu": ("[B, 4]", ["h -> elu"]),
    "gelu": ("[B, 4]", ["h -> gelu", "h -> gelu(approximate=true)"]),
    "prelu": ("[B, 4]", ["h -> prelu", "h -> prelu(per_channel=true)"]),
    "softplus": ("[B, 4]", ["h -> softplus", "h -> softplus(beta=3)"]),
    "clip": ("[B, 4]", ["h -> clip(-0.5, 0.5)"]),
    "grad_reverse": ("[B, 4]", ["h -> grad_reverse(0.5)"]),  # as identity; reversal: lowering
    "mod": ("[B, 3]", ["h % 5"]),
    "log": ("[B, 4]", ["log(square(h) + 1)"]), "sqrt": ("[B, 4]", ["sqrt(square(h) + 1)"]),
    "maxpool": ("[B, 4, 4, 2]", ["h -> maxpool(2)", "h -> maxpool(3, stride=2, pad=1)"]),
    "avgpool": ("[B, 4, 4, 2]", ["h -> avgpool(2)", "h -> avgpool(3, stride=1, pad=same)"]),
    "lppool": ("[B, 4, 4, 2]", ["abs(h) + 0.5 -> lppool(2, 2)"]),
    "global_avgpool": ("[B, 3, 3, 2]", ["h -> global_avgpool"]),
    "global_maxpool": ("[B, 3, 3, 2]", ["h -> global_maxpool"]),
    "flatten": ("[B, 2, 3]", ["h -> flatten"]),
    "reshape": ("[B, 2, 3]", ["h -> reshape([B, 3, 2])"]),
    "transpose": ("[B, 2, 3]", ["h -> transpose([0, 2, 1])"]),
    "concat": ("[B, 3]", ["concat(h, g)"]),
    "split": ("[B, 4]", ["a, b = split(h, 2)\n  output y = a * b"]),
    "upsample": ("[B, 2, 2, 2]", ["h -> upsample(2)"]),
    "pad": ("[B, 2, 2, 2]", ["h -> pad(1)"]), "last": ("[B, 3, 2]", ["h -> last"]),
    "expand": ("[B, 3]", ["h -> expand(1)"]), "squeeze": ("[B, 1, 3]", ["h -> squeeze(1)"]),
    "sum": ("[B, 3, 2]", ["h -> sum", "h -> sum(1)"]), "mean": ("[B, 3, 2]", ["h -> mean"]),
    "max": ("[B, 3, 2]", ["h -> max(-1)"]),
    "add": ("[B, 3]", ["h + g"]), "sub": ("[B, 3]", ["h - g"]), "mul": ("[B, 3]", ["h * g"]),
    "div": ("[B, 3]", ["h / (square(g) + 1)"]), "pow": ("[B, 3]", ["square(h) ** 1.5"]),
    "neg": ("[B, 3]", ["-h"]), "matmul": ("[B, 3]", ["expand(h, 2) @ expand(g, 1)"]),
    "minimum": ("[B, 3]", ["minimum(h, g)"]), "maximum": ("[B, 3]", ["maximum(h, g)"]),
    "dropout": ("[B, 4]", ["h -> dropout(0.5)"]), "noise": ("[B, 4]", ["h -> noise(0.1)"]),
    "sample_normal": ("[B, 3]", ["sample_normal(h, g)"]),
    # an RBM's results: the CD surrogate (its Gibbs samples fixed by the key), p(h|v), recon, pll
    "rbm": ("[B, 4]", [f"v, cd, r, pll = rbm(sigmoid(h), 3)\n  output {out}"
                       for out in ("cd", "v", "r", "pll")]),
    "bce": ("[B, 3]", ["bce(h, 1)", "bce(h, 0, reduce=sum)"]), "mse": ("[B, 3]", ["mse(h, g)"]),
    "mae": ("[B, 3]", ["mae(h, g)"]), "hinge": ("[B, 3]", ["hinge(h, 1)"]),
    "cross_entropy": ("[B, 4]", ["cross_entropy(h, softmax(g))",
                                 "cross_entropy(h, softmax(g), mask=x[:, 0] > 0)"]),
    "margin_ranking": ("[B, 3]", ["margin_ranking(h, g, 1)"]),
    "contrastive": ("[B, 3]", ["contrastive(h, g, 1)"]),
    "kl_normal": ("[B, 3]", ["kl_normal(h, g)"]),
    "distill": ("[B, 4]", ["distill(h, g, temperature=2)"]),
    "slice": ("[B, 3, 4]", ["h[:, 0]", "h[:, 1:-1]", "h[..., ::2]", "h[:, -2:, 1]"]),
    "set_pool": ("[B, 3, 4]", ["h -> set_pool", "h -> set_pool(kind=sum)",
                               "h -> set_pool(kind=mean, mask=x[..., 0] > 0)"]),
    "memory_read": ("[B, 3, 4]", ["memory_read(last(h), g, h)",
                                  "memory_read(last(h), g, h, mask=x[..., 0] > 0)"]),
    "crop": ("[B, 4, 4, 2]", ["crop(h, [2, 3])", "crop(h, [2, 2], top=2, left=1)",
                              "crop(h, like=g[:, 1:, :-1])"]),
}
ELEMENTWISE = ("relu", "relu6", "selu", "silu", "swish", "mish", "hard_sigmoid", "hard_swish",
               "sigmoid", "tanh", "abs", "exp", "square")
# Checked elsewhere: `embed` needs integer ids (lstm/seq2seq specs); l1/l2 need a train section;
# the graph ops need an integer edge list (tests/test_structures_sets_graphs.py).
ELSEWHERE = ("embed", "l1", "l2", "normal", "gcn_conv", "sage_conv")


def differentiable_ops():
    return sorted(name for name, op in USER_OPS.items()
                  if not op.blocks_gradient and op.kind != "metric" and name not in ELSEWHERE)


def test_every_differentiable_op_has_an_example():
    missing = [name for name in differentiable_ops()
               if name not in EXAMPLES and name not in ELEMENTWISE]
    assert not missing, f"add gradcheck examples for {missing}"


def _cases():
    for name in differentiable_ops():
        shape, exprs = EXAMPLES.get(name, ("[B, 4]", [f"h -> {name}"]))
        for expr in exprs:
            yield pytest.param(shape, expr, id=f"{name}: {expr}")


def _pre(shape: str) -> str:
    dims = shape.strip("[]").split(", ")
    return f"dense({dims[-1]})" if len(dims) <= 3 else f"conv({dims[-1]}, 1)"


@pytest.mark.parametrize("shape,expr", list(_cases()))
def test_op_gradient_matches_finite_differences(write_spec, shape, expr):
    pre = _pre(shape)
    body = expr if "output" in expr else f"output y = {expr}"
    text = (f"network N {{\n  input x: {shape}\n  h = x -> {pre}\n  g = x -> {pre}\n"
            f"  {body}\n}}\n")
    rows = gradcheck(nndsl.load(write_spec(text)).network("N"), samples=3, tol=1e-6)
    assert rows and all(r.ok for r in rows), [r for r in rows if not r.ok]


NETWORKS = [(p, n) for p in sorted(CONTRACT.glob("*.nn"))
            for n in nndsl.load(p).program.networks if n != "ResNet18"]
SMALLER = {"lstm_adding": {"T": 4}, "elman": {"T": 4}, "resnet": {"depth": 2}}


@pytest.mark.parametrize("path,network", NETWORKS, ids=[f"{p.stem}-{n}" for p, n in NETWORKS])
def test_contract_networks_pass(path, network):
    graph = nndsl.load(path, SMALLER.get(path.stem)).network(network)
    rows = gradcheck(graph, samples=2, tol=1e-5)
    assert all(r.ok for r in rows), [r for r in rows if not r.ok]


def test_a_wrong_gradient_is_caught_and_named(monkeypatch, capsys):
    def wrong_tanh(ctx, node, xs):
        @jax.custom_vjp
        def f(v):
            return ctx.jnp.tanh(v)

        # Twice the true derivative: a bug gradcheck must catch.
        f.defvjp(lambda v: (ctx.jnp.tanh(v), v),
                 lambda v, g: (2.0 * g * (1 - ctx.jnp.tanh(v) ** 2),))
        return f(xs[0])

    monkeypatch.setitem(REGISTRY, "tanh", dataclasses.replace(REGISTRY["tanh"], lower=wrong_tanh))
    assert main(["gradcheck", str(CONTRACT / "perceptron_xor.nn"), "--model", "XorMLP"]) == 1
    captured = capsys.readouterr()
    assert "gradcheck failed for dense_0.b, dense_0.w" in captured.err
    assert "logit.w" not in captured.err  # the layer after tanh (`output logit = ...`)
