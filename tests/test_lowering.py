"""Each op's JAX lowering against an independent NumPy reference, and structural equivalences
(a scanned `* n` stack equals the unrolled one, in outputs and gradients)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.lower import Compiled

jax.config.update("jax_enable_x64", False)
RNG = np.random.RandomState(0)


def compile_net(write_spec, body: str, inputs: str = "input x: [B, 6]", extra: str = ""):
    text = f"{extra}\nnetwork N {{\n  {inputs}\n  {body}\n}}\n"
    graph = nndsl.load(write_spec(text)).network("N")
    compiled = Compiled(graph)
    params, state = compiled.init(0)
    return compiled, params, state


def run(compiled, params, state, train=False, **inputs):
    out, _ = compiled.apply(params, state, {k: jnp.asarray(v) for k, v in inputs.items()},
                            jax.random.PRNGKey(1), train)
    return np.asarray(out["y"])


def test_dense(write_spec):
    c, p, s = compile_net(write_spec, "output y = x -> dense(3)")
    x = RNG.randn(4, 6).astype(np.float32)
    w, b = np.asarray(p["y"]["w"]), np.asarray(p["y"]["b"])
    np.testing.assert_allclose(run(c, p, s, x=x), x @ w + b, rtol=1e-5, atol=1e-5)


def _conv2d_reference(x, w, stride, pad, dilation=1, groups=1):
    kh, kw, cin_g, cout = w.shape
    if pad == "same":
        out_h = -(-x.shape[1] // stride)
        total = max((out_h - 1) * stride + dilation * (kh - 1) + 1 - x.shape[1], 0)
        x = np.pad(x, ((0, 0), (total // 2, total - total // 2),
                       (total // 2, total - total // 2), (0, 0)))
    else:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    eh, ew = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    oh, ow = (x.shape[1] - eh) // stride + 1, (x.shape[2] - ew) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, cout), np.float64)
    per_group = cout // groups
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + eh:dilation, j * stride:j * stride + ew:dilation]
            for g in range(groups):
                sl = patch[..., g * cin_g:(g + 1) * cin_g]
                wg = w[..., g * per_group:(g + 1) * per_group]
                out[:, i, j, g * per_group:(g + 1) * per_group] = np.einsum(
                    "bhwc,hwco->bo", sl, wg)
    return out


@pytest.mark.parametrize("args,stride,pad,dilation,groups", [
    ("4, 3", 1, 0, 1, 1), ("4, 3, stride=2", 2, 0, 1, 1), ("4, 3, pad=same", 1, "same", 1, 1),
    ("4, 3, pad=1, stride=2", 2, 1, 1, 1), ("4, 3, dilation=2", 1, 0, 2, 1),
    ("4, 3, groups=2", 1, 0, 1, 2),
])
def test_conv2d(write_spec, args, stride, pad, dilation, groups):
    c, p, s = compile_net(write_spec, f"output y = x -> conv({args}, bias=false)",
                          "input x: [B, 7, 7, 2]")
    x = RNG.randn(2, 7, 7, 2).astype(np.float32)
    want = _conv2d_reference(x, np.asarray(p["y"]["w"]), stride, pad, dilation, groups)
    np.testing.assert_allclose(run(c, p, s, x=x), want, rtol=1e-4, atol=1e-4)


def test_conv1d_matches_a_2d_reference(write_spec):
    c, p, s = compile_net(write_spec, "output y = x -> conv(3, 2, bias=false)",
                          "input x: [B, 5, 2]")
    x = RNG.randn(2, 5, 2).astype(np.float32)
    w = np.asarray(p["y"]["w"])
    want = _conv2d_reference(x[:, :, None, :], w[:, None], 1, 0)[:, :, 0, :]
    np.testing.assert_allclose(run(c, p, s, x=x), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("body,reference", [
    ("maxpool(2)", lambda x: x.reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4))),
    ("avgpool(2)", lambda x: x.reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4))),
    ("maxpool(3, stride=2, pad=1)", lambda x: np.stack([np.stack([
        np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)[
            :, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2)) for j in range(2)], 1)
        for i in range(2)], 1)),
    ("global_avgpool", lambda x: x.mean(axis=(1, 2))),
    ("global_maxpool", lambda x: x.max(axis=(1, 2))),
    ("upsample(2)", lambda x: x.repeat(2, 1).repeat(2, 2)),
    ("flatten", lambda x: x.reshape(2, -1)),
    ("relu", lambda x: np.maximum(x, 0)),
    ("softmax", lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    ("layernorm", lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(
        x.var(-1, keepdims=True) + 1e-5)),
    ("batchnorm", lambda x: x / np.sqrt(1 + 1e-5)),
    ("maxout(3)", lambda x: x.max(-1, keepdims=True)),
    ("transpose([0, 2, 1, 3])", lambda x: x.transpose(0, 2, 1, 3)),
])
def test_parameter_free_ops(write_spec, body, reference):
    c, p, s = compile_net(write_spec, f"output y = x -> {body}", "input x: [B, 4, 4, 3]")
    x = RNG.randn(2, 4, 4, 3).astype(np.float32)
    np.testing.assert_allclose(run(c, p, s, x=x), reference(x.astype(np.float64)),
                               rtol=1e-4, atol=1e-5)


def test_batchnorm_uses_batch_statistics_while_training(write_spec):
    c, p, s = compile_net(write_spec, "output y = x -> batchnorm", "input x: [B, 3]")
    x = RNG.randn(8, 3).astype(np.float32) * 3 + 1
    out, new_state = c.apply(p, s, {"x": jnp.asarray(x)}, jax.random.PRNGKey(0), True)
    want = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    np.testing.assert_allclose(np.asarray(out["y"]), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(new_state["y"]["mean"]), 0.1 * x.mean(0),
                               rtol=1e-5)


def test_embed_split_concat(write_spec):
    c, p, s = compile_net(write_spec, "a, b = split(ids -> embed(5, 4), 2)\n"
                          "  output y = concat(b, a)", "input ids: [B, 3] i32")
    ids = np.array([[0, 4, 2], [1, 1, 3]], np.int32)
    table = np.asarray(p["embed_0"]["table"])
    e = table[ids]
    np.testing.assert_allclose(run(c, p, s, ids=ids), np.concatenate([e[..., 2:], e[..., :2]],
                                                                     -1))


@pytest.mark.parametrize("loss,reference", [
    ("mse(a, b)", lambda a, b: ((a - b) ** 2).mean()),
    ("mae(a, b, reduce=sum)", lambda a, b: np.abs(a - b).sum(1).mean()),
    ("kl_normal(a, b)", lambda mu, lv: (-0.5 * (1 + lv - mu ** 2 - np.exp(lv))).sum(1).mean()),
    ("bce(a, b)", lambda z, t: np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))),
    ("distill(a, b, temperature=2)", lambda s, t: 4 * np.mean(-(
        np.exp(t / 2) / np.exp(t / 2).sum(1, keepdims=True) *
        (s / 2 - np.log(np.exp(s / 2).sum(1, keepdims=True)))).sum(1))),
])
def test_losses(write_spec, loss, reference):
    text = f"network N {{\n input a: [B, 3]\n input b: [B, 3]\n output y = {loss}\n}}\n"
    graph = nndsl.load(write_spec(text)).network("N")
    a, b = RNG.randn(4, 3).astype(np.float32), RNG.rand(4, 3).astype(np.float32)
    out, _ = Compiled(graph).apply({}, {}, {"a": jnp.asarray(a), "b": jnp.asarray(b)})
    np.testing.assert_allclose(float(out["y"]), reference(a.astype(np.float64), b), rtol=1e-4)


def test_cross_entropy_and_accuracy_on_token_logits(write_spec):
    text = ("network N {\n input z: [B, 2, 3]\n input t: [B, 2] i32\n"
            " output ce = cross_entropy(z, t)\n output acc = accuracy(z, t)\n}\n")
    graph = nndsl.load(write_spec(text)).network("N")
    z = RNG.randn(4, 2, 3).astype(np.float32)
    t = RNG.randint(3, size=(4, 2)).astype(np.int32)
    out, _ = Compiled(graph).apply({}, {}, {"z": jnp.asarray(z), "t": jnp.asarray(t)})
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    want = -np.take_along_axis(logp, t[..., None], -1).mean()
    np.testing.assert_allclose(float(out["ce"]), want, rtol=1e-5)
    np.testing.assert_allclose(float(out["acc"]), (z.argmax(-1) == t).mean())


def test_repeat_scan_equals_unrolled(write_spec):
    block = "block L(n) {\n  input x\n  output y = x + (x -> dense(n) -> tanh)\n}\n"
    scanned, p, s = compile_net(write_spec, "output y = x -> L(6) * 3", extra=block)
    unrolled, _, _ = compile_net(write_spec, "output y = x -> L(6) -> L(6) -> L(6)",
                                 extra=block)
    stacked = p["L_0.dense_0"]
    p_unrolled = {f"L_{i}.dense_0": {k: v[i] for k, v in stacked.items()} for i in range(3)}
    x = jnp.asarray(RNG.randn(5, 6).astype(np.float32))

    def loss(model, params):
        return jnp.sum(model.apply(params, {}, {"x": x})[0]["y"] ** 2)

    np.testing.assert_allclose(loss(scanned, p), loss(unrolled, p_unrolled), rtol=1e-5)
    g_scan = jax.grad(lambda q: loss(scanned, q))(p)["L_0.dense_0"]["w"]
    g_unrolled = jax.grad(lambda q: loss(unrolled, q))(p_unrolled)
    for i in range(3):
        np.testing.assert_allclose(g_scan[i], g_unrolled[f"L_{i}.dense_0"]["w"], rtol=1e-4,
                                   atol=1e-6)


@pytest.mark.parametrize("op,factor", [("grad_reverse(0.3)", -0.3), ("stop_gradient", 0.0)])
def test_gradient_control(write_spec, op, factor):
    c, p, s = compile_net(write_spec, f"output y = x -> {op}")
    x = jnp.asarray(RNG.randn(2, 6).astype(np.float32))
    upstream = jnp.asarray(RNG.randn(2, 6).astype(np.float32))
    grad = jax.grad(lambda v: jnp.sum(c.apply(p, s, {"x": v})[0]["y"] * upstream))(x)
    np.testing.assert_allclose(grad, factor * upstream, rtol=1e-6)


def test_causal_self_attention_leaks_nothing_from_the_future(write_spec):
    c, p, s = compile_net(write_spec, "output y = x -> self_attention(2, causal=true)",
                          "input x: [B, 5, 4]")
    x = RNG.randn(1, 5, 4).astype(np.float32)
    later = x.copy()
    later[:, 3:] += 10.0
    a, b = run(c, p, s, x=x), run(c, p, s, x=later)
    np.testing.assert_allclose(a[:, :3], b[:, :3], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[:, 3:], b[:, 3:])


@pytest.mark.parametrize("shape,body,window", [
    ((2, 6, 3), "maxpool(2)", (1, 2, 1)),
    ((2, 4, 4, 3), "maxpool(2)", (1, 2, 2, 1)),
    ((2, 4, 4, 3), "maxpool(2, pad=same)", (1, 2, 2, 1)),
    ((2, 4, 6, 3), "maxpool([2, 3])", (1, 2, 3, 1)),
    ((2, 2, 4, 6, 2), "maxpool([1, 2, 3])", (1, 1, 2, 3, 1)),
])
def test_tiling_maxpool_matches_reduce_window_at_first_and_second_order(write_spec, shape,
                                                                        body, window):
    # Windows that tile the input are pooled by a reshape (faster on XLA:CPU); the gradient
    # must still go to each window's first maximum, as reduce_window's and PyTorch's do, and
    # so must its derivative (a Hessian-vector product), on inputs full of ties.
    dims = ", ".join(map(str, shape[1:]))
    c, p, s = compile_net(write_spec, f"output y = x -> {body}", f"input x: [B, {dims}]")
    rng = np.random.RandomState(5)
    x = jnp.asarray(rng.randint(0, 2, shape).astype(np.float32))
    t = jnp.asarray(rng.randn(*shape).astype(np.float32))
    weights = jnp.asarray(rng.randn(*c.apply(p, s, {"x": x})[0]["y"].shape))

    def ours(v):
        return jnp.sum(c.apply(p, s, {"x": v})[0]["y"] ** 2 * weights)

    def reference(v):
        pooled = jax.lax.reduce_window(v, -jnp.inf, jax.lax.max, window, window, "VALID")
        return jnp.sum(pooled ** 2 * weights)

    assert "reduce_window" not in str(jax.make_jaxpr(ours)(x))
    np.testing.assert_array_equal(jax.grad(ours)(x), jax.grad(reference)(x))
    np.testing.assert_allclose(jax.jvp(jax.grad(ours), (x,), (t,))[1],
                               jax.jvp(jax.grad(reference), (x,), (t,))[1], atol=1e-6)


@pytest.mark.parametrize("body", ["maxpool(2, stride=1)", "maxpool(3, stride=2, pad=1)"])
def test_overlapping_or_padded_windows_keep_reduce_window(write_spec, body):
    c, p, s = compile_net(write_spec, f"output y = x -> {body}", "input x: [B, 4, 4, 3]")
    x = jnp.zeros((2, 4, 4, 3))
    assert "reduce_window" in str(jax.make_jaxpr(lambda v: c.apply(p, s, {"x": v})[0]["y"])(x))


def test_tiling_maxpool_propagates_nan(write_spec):
    c, p, s = compile_net(write_spec, "output y = x -> maxpool(2)", "input x: [B, 4, 4, 3]")
    x = RNG.randn(2, 4, 4, 3).astype(np.float32)
    x[0, 1, 1, 0] = np.nan
    y = np.asarray(c.apply(p, s, {"x": jnp.asarray(x)})[0]["y"])
    assert np.isnan(y[0, 0, 0, 0]) and np.isfinite(np.delete(y.ravel(), 0)).all()


def test_dropout_only_while_training(write_spec):
    c, p, s = compile_net(write_spec, "output y = x -> dropout(0.5)")
    x = np.ones((64, 6), np.float32)
    np.testing.assert_array_equal(run(c, p, s, x=x), x)
    trained = run(c, p, s, train=True, x=x)
    assert set(np.unique(trained)) <= {0.0, 2.0} and 0.3 < (trained == 0).mean() < 0.7


def test_random_shift_moves_content_by_at_most_the_given_pixels():
    from nndsl.fit.augment import random_shift

    image = np.zeros((16, 5, 5, 1), np.float32)
    image[:, 2, 2, 0] = 1.0
    shifted = np.asarray(random_shift(jnp.asarray(image), jax.random.PRNGKey(0), 1))
    rows, cols = np.nonzero(shifted[..., 0])[1:]
    assert shifted.shape == image.shape and shifted.sum() == 16
    assert set(rows) <= {1, 2, 3} and set(cols) <= {1, 2, 3} and len(set(zip(rows, cols))) > 3


@pytest.mark.parametrize("kernel,stride,pad,dilation", [
    ((3, 3), (1, 1), ("same", "same"), (1, 1)), ((3, 3), (2, 2), (1, 1), (1, 1)),
    ((2, 3), (1, 2), ("valid", "valid"), (2, 1)), ((3, 3), (2, 2), ("same", "same"), (1, 1)),
])
def test_conv_by_matmul_equals_lax_conv(kernel, stride, pad, dilation):
    from nndsl.lower import _Run
    from nndsl.ops.layers import conv_by_matmul, lax_padding

    ctx = _Run({}, {}, None, False, 2)
    x = jnp.asarray(RNG.randn(2, 7, 6, 3).astype(np.float32))
    w = jnp.asarray(RNG.randn(*kernel, 3, 4).astype(np.float32))
    want = jax.lax.conv_general_dilated(x, w, stride, lax_padding(pad), rhs_dilation=dilation,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(conv_by_matmul(ctx, x, w, stride, pad, dilation), want,
                               rtol=1e-4, atol=1e-4)


def test_initialisers_have_the_textbook_scale():
    from nndsl.init import initialise

    rng = np.random.RandomState(0)
    w = initialise("glorot_uniform", rng, (3, 3, 64, 128))
    limit = np.sqrt(6 / (9 * 64 + 9 * 128))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    assert abs(initialise("he_normal", rng, (512, 256)).std() - np.sqrt(2 / 512)) < 0.003
    q = initialise("orthogonal", rng, (16, 8))
    np.testing.assert_allclose(q.T @ q, np.eye(8), atol=1e-6)


@pytest.mark.parametrize("platform,direct", [("cpu", False), ("gpu", True), ("tpu", True)])
def test_a_convolution_inside_a_scan_follows_the_runs_platform(write_spec, platform, direct):
    # The matmul (im2col) form is for XLA:CPU only; the run's devices choose it, not the
    # process's default backend (`--device cpu` on a GPU machine, or the reverse).
    graph = nndsl.load(write_spec("network N {\n  input x: [B, 6, 6, 4]\n"
                                  "  output y = x -> (conv(4, 3, pad=same) -> relu) * 2\n}\n")
                       ).network("N")
    # Scanned (`* 2` alone would be unrolled by the repeat rule, leaving no loop).
    compiled = Compiled(graph, platform=platform, repeat="scan")
    params, state = compiled.init(0)
    jaxpr = jax.make_jaxpr(lambda x: compiled.apply(params, state, {"x": x})[0]["y"])(
        jnp.zeros((2, 6, 6, 4)))
    assert ("conv_general_dilated" in str(jaxpr)) == direct
