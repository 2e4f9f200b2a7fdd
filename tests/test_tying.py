"""Shared parameters: one `param` used by `embed(ids, table=W)` and by a transposed LM head,
counted once, one checkpoint tensor, its gradient the sum of every use's; GPT-2 small."""

import re

import jax
import jax.numpy as jnp
import numpy as np

import nndsl
from nndsl.fit.checkpoint import spec_shapes
from nndsl.ir import count_params
from nndsl.lower import Compiled
from nndsl.render import render
from tests.conftest import ROOT

HEAD = "network N {\n  input ids: [B, 5] i32\n  param W: [10, 4] = normal\n"
TIED = HEAD + "  output y = (ids -> embed(table=W) -> dense(4)) @ transpose(W, [1, 0])\n}\n"
# The same model with a table of its own: equal to the tied one when the table equals W.
UNTIED = HEAD + "  output y = (ids -> embed(10, 4) -> dense(4)) @ transpose(W, [1, 0])\n}\n"


def _param_layer(graph) -> str:
    (node,) = [n for n in graph if n.op == "param"]
    return node.id


def _loss(compiled, ids, weights):
    def loss(params):
        out, _ = compiled.apply(params, {}, {"ids": ids}, jax.random.PRNGKey(0), False)
        return jnp.sum(out["y"] * weights)
    return loss


def test_tied_table_is_one_parameter(write_spec):
    graph = nndsl.load(write_spec(TIED)).network("N")
    assert count_params(graph) == 10 * 4 + 4 * 4 + 4
    layer = _param_layer(graph)
    # One parameter node with two users: the lookup and the transpose of the head.
    users = sorted(graph.nodes[n].op for n in graph.dag.successors(layer))
    assert users == ["embed", "transpose"]
    # A checkpoint holds the table once.
    assert spec_shapes(Compiled(graph)) == {
        "params/dense_0.w": (4, 4), "params/dense_0.b": (4,), f"params/{layer}.value": (10, 4)}


def test_a_tied_table_is_drawn_once_with_an_edge_to_each_user(write_spec):
    source = render(nndsl.load(write_spec(TIED)).network("N")).source
    (param,) = re.findall(r'^\s*(n\d+) \[label="W: param \[10, 4\]\\n40 params"', source, re.M)
    assert len(re.findall(rf"^\s*{param} -> n\d+", source, re.M)) == 2


def test_tied_gradient_is_the_sum_of_the_untied_ones(write_spec):
    tied = nndsl.load(write_spec(TIED, "tied.nn")).network("N")
    untied = nndsl.load(write_spec(UNTIED, "untied.nn")).network("N")
    layer = _param_layer(tied)
    tied_c, untied_c = Compiled(tied), Compiled(untied)
    p_tied, _ = tied_c.init(0)
    p_untied, _ = untied_c.init(1)
    table = p_tied[layer]["value"]
    p_untied[layer] = {"value": table}
    p_untied["embed_0"] = {"table": table}
    p_untied["dense_0"] = p_tied["dense_0"]
    rng = np.random.RandomState(0)
    ids = jnp.asarray(rng.randint(0, 10, (3, 5)), jnp.int32)
    weights = jnp.asarray(rng.randn(3, 5, 10), jnp.float32)
    tied_loss, untied_loss = _loss(tied_c, ids, weights), _loss(untied_c, ids, weights)
    np.testing.assert_allclose(tied_loss(p_tied), untied_loss(p_untied), rtol=1e-6)
    g_tied, g_untied = jax.grad(tied_loss)(p_tied), jax.grad(untied_loss)(p_untied)
    summed = g_untied["embed_0"]["table"] + g_untied[layer]["value"]
    # Both uses contribute: neither alone is the tied gradient.
    assert np.abs(g_untied["embed_0"]["table"]).max() > 1e-3
    assert np.abs(g_untied[layer]["value"]).max() > 1e-3
    np.testing.assert_allclose(g_tied[layer]["value"], summed, rtol=1e-5, atol=1e-6)


def test_transposing_a_parameter_has_no_batch_axis_to_keep(write_spec):
    text = HEAD + "  output y = (W * 2.0) -> transpose([1, 0])\n}\n"
    graph = nndsl.load(write_spec(text)).network("N")
    assert str(graph.type_of(graph.outputs["y"])) == "[4, 10]"


def test_transposing_a_batch_still_keeps_it_first(write_spec):
    text = HEAD + "  output y = ids -> embed(table=W) -> transpose([1, 0, 2])\n}\n"
    report = nndsl.load(write_spec(text)).check()
    (d,) = report.diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E030", 4, 39)
    assert "transpose must keep the batch axis first" in d.message


def test_a_fixed_batch_is_a_batch_axis_too(write_spec):
    # [4, 10] reads like a parameter's shape; what makes it batched is that it is an input's.
    text = "network N {\n  input x: [4, 10]\n  output y = (x * 2.0) -> transpose([1, 0])\n}\n"
    (d,) = nndsl.load(write_spec(text)).check().diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E030", 3, 27)


def test_table_errors(write_spec):
    cases = {
        "embed(table=3)": ("E020", "`embed` expects a tensor for `table`, got the number 3"),
        "embed(12, table=W)": ("E030", "embed: `table` is [10, 4] but vocab=12 and dim=4"),
        "embed(table=W, table=W)": ("E022", "`table` is given twice"),
    }
    for call, (code, message) in cases.items():
        text = HEAD + f"  output y = ids -> {call}\n}}\n"
        (d,) = nndsl.load(write_spec(text)).check().diagnostics
        assert (d.code, d.message, d.span.line) == (code, message, 4), d.render()


def test_gpt2_small_has_gpt2s_parameter_count():
    graph = nndsl.load(ROOT / "specs" / "zoo" / "gpt2_small.nn").network("GPT2")
    assert count_params(graph) == 124_439_808
    assert str(graph.type_of(graph.outputs["logits"])) == "[B, 1024, 50257]"
