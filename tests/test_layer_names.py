"""Layer names: `name=`, names from bindings, and where they show (keys, summary, errors)."""

import pytest

import nndsl
from nndsl.lower import Compiled
from tests.conftest import CONTRACT


def _graph(write_spec, body, extra=""):
    text = extra + "network N {\n  input x: [B, 6]\n" + body + "\n}\n"
    return nndsl.load(write_spec(text)).network("N")


def _keys(graph):
    params, state = Compiled(graph).init(0)
    return sorted(f"{layer}.{k}" for layer, leaves in params.items() for k in leaves)


def test_bound_outputs_name_their_layers_in_keys_and_counts():
    graph = nndsl.load(CONTRACT / "multitask.nn").network("TwoHeads")
    assert _keys(graph) == ["dense_0.b", "dense_0.w", "digit.b", "digit.w", "parity.b",
                            "parity.w"]
    assert graph.nodes["trunk"].op == "relu" and graph.nodes["digit"].op == "dense"
    assert nndsl.load(CONTRACT / "multitask.nn").check().networks[0].params == 4_940


def test_name_keyword_names_a_layer_in_a_network_and_in_a_block(write_spec):
    block = "block B {\n  input x\n  output y = x -> dense(6, name=inner) -> relu\n}\n"
    graph = _graph(write_spec, "  h = x -> dense(4, name=head)\n  output y = x -> B -> B",
                   extra=block)
    assert _keys(graph) == ["B_0.inner.b", "B_0.inner.w", "B_1.inner.b", "B_1.inner.w",
                            "head.b", "head.w"]


def test_name_keyword_wins_over_the_binding_and_a_rebinding_keeps_the_first(write_spec):
    graph = _graph(write_spec, "  h = x -> dense(4)\n  h = h -> dense(4)\n"
                               "  output y = h -> dense(3, name=fc)")
    assert list(graph.nodes) == ["input_0", "h", "dense_1", "fc"]


def test_generated_names_skip_a_name_already_given(write_spec):
    graph = _graph(write_spec, "  a = x -> dense(4, name=dense_1) -> dense(4) -> dense(4) "
                               "-> relu\n  output y = a")
    assert [n for n in graph.nodes if n.startswith("dense")] == ["dense_1", "dense_0",
                                                                 "dense_2"]


def test_a_raw_parameter_is_named_by_its_declaration(write_spec):
    graph = _graph(write_spec, "  param W: [6, 2] = zeros\n  output y = x @ W")
    assert _keys(graph) == ["W.value"]


def test_a_duplicate_name_is_an_error_with_both_positions(write_spec):
    with pytest.raises(nndsl.SpecError) as caught:
        _graph(write_spec, "  h = x -> dense(4, name=fc)\n  output y = h -> dense(3, name=fc)")
    (diag,) = caught.value.diagnostics
    assert diag.code == "E120" and "two layers are named `fc`" in diag.message
    assert (diag.span.line, diag.span.column) == (4, 28)
    assert diag.notes == [f"`fc` is already dense(4, name=fc) at {diag.span.source.path}:3:12"]


def test_a_name_given_to_a_bound_layer_cannot_be_given_again(write_spec):
    with pytest.raises(nndsl.SpecError) as caught:
        _graph(write_spec, "  h = x -> dense(4)\n  output y = h -> dense(3, name=h)")
    assert caught.value.diagnostics[0].code == "E120"
    assert caught.value.diagnostics[0].notes[0].endswith(":3:12")


@pytest.mark.parametrize("written", ['"fc"', "3", "2.5"])
def test_a_name_is_an_identifier(write_spec, written):
    with pytest.raises(nndsl.SpecError) as caught:
        _graph(write_spec, f"  output y = x -> dense(3, name={written})")
    (diag,) = caught.value.diagnostics
    assert diag.code == "E121" and (diag.span.line, diag.span.column) == (3, 28)
    assert diag.hint == ("write `name=fc`" if written == '"fc"' else
                         "letters, digits and `_`, not starting with a digit: `name=head`")


def test_gradient_messages_name_the_layer(write_spec):
    text = ("network N {\n  input x: [B, 8, 8, 1]\n  h = x -> flatten -> dense(8, name=enc) "
            "-> sign\n  output y_hat = h -> dense(10)\n}\ntrain {\n  model = N\n"
            "  data = digits()\n  loss = cross_entropy(y_hat, y)\n  optimizer = sgd(lr=0.1)\n}\n")
    (diag,) = [d for d in nndsl.load(write_spec(text)).check().diagnostics if d.code == "E050"]
    assert "`enc.w`" in diag.message and "enc.w → enc → h → y_hat" in diag.notes[0]
