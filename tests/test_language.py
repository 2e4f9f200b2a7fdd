"""Language features: constants, --set, imports, repetition, shared, cells, symbolic dims."""

import pytest

import nndsl
from nndsl.ir import count_params
from nndsl.source import SpecError


def net(write_spec, text, name="N", overrides=None):
    return nndsl.load(write_spec(text), overrides).network(name)


def out_type(graph, name="y"):
    return str(graph.type_of(graph.outputs[name]))


def test_set_overrides_a_let(write_spec):
    text = "let h = 8\nnetwork N {\n  input x: [B, 4]\n  output y = x -> dense(h)\n}\n"
    assert out_type(net(write_spec, text)) == "[B, 8]"
    assert out_type(net(write_spec, text, overrides={"h": 3})) == "[B, 3]"


def test_set_overrides_a_network_hyperparameter(write_spec):
    text = "network N(k = 2) {\n  input x: [B, 4]\n  output y = x -> dense(k)\n}\n"
    assert out_type(net(write_spec, text, overrides={"N.k": 5})) == "[B, 5]"


def test_constant_expressions_fold(write_spec):
    text = ("let a = 3\nnetwork N {\n  input x: [B, 2 * a + 1]\n"
            "  output y = x -> dense(a ** 2 // 2 % 3)\n}\n")
    g = net(write_spec, text)
    assert out_type(g) == "[B, 1]" and str(g.type_of(g.inputs["x"])) == "[B, 7]"


def test_symbolic_time_flows_through_flatten(write_spec):
    text = "network N {\n  input x: [B, T, 3]\n  output y = x -> flatten\n}\n"
    assert out_type(net(write_spec, text)) == "[B, 3*T]"


def test_repeated_stage_is_one_scanned_body(write_spec):
    text = ("block L(n) {\n  input x\n  output y = x -> dense(n) -> relu\n}\n"
            "network N {\n  input x: [B, 16]\n  output y = x -> L(16) * 5\n}\n")
    g = net(write_spec, text)
    repeats = [n for n in g if n.op == "repeat"]
    assert len(repeats) == 1 and repeats[0].times == 5
    assert count_params(g) == 5 * (16 * 16 + 16)


def test_shape_changing_repeat_is_unrolled(write_spec):
    text = "network N {\n  input x: [B, 16]\n  output y = x -> (dense(8) -> relu) * 3\n}\n"
    g = net(write_spec, text)
    assert count_params(g) == (16 * 8 + 8) + 2 * (8 * 8 + 8)
    assert "dense_0.0.dense_0" in g.nodes or any(".0." in k for k in g.nodes)


def test_shared_instance_counts_once(write_spec):
    text = ("block T {\n  input x\n  output e = x -> dense(4)\n}\n"
            "network N {\n  input a: [B, 3]\n  input b: [B, 3]\n  shared t = T()\n"
            "  output y = (a -> t) + (b -> t)\n}\n")
    assert count_params(net(write_spec, text)) == 16


def test_shared_repetition_shares_one_set(write_spec):
    text = ("block L {\n  input x\n  output y = x -> dense(8)\n}\n"
            "network N {\n  input x: [B, 8]\n  shared l = L()\n  output y = x -> l * 4\n}\n")
    assert count_params(net(write_spec, text)) == 72


def test_cell_counts_once_however_long(write_spec):
    for length in (5, 500):
        text = (f"network N {{\n  input x: [B, {length}, 3]\n"
                "  output y = x -> scan(LSTM(4)) -> last\n}\n")
        g = net(write_spec, text)
        assert count_params(g) == 3 * 16 + 16 + 4 * 16 and out_type(g) == "[B, 4]"


def test_bidirectional_concatenates(write_spec):
    text = "network N {\n  input x: [B, 7, 3]\n  output y = x -> bidirectional(GRU(5))\n}\n"
    assert out_type(net(write_spec, text)) == "[B, 7, 10]"


def test_compile_time_if_elaborates_one_branch(write_spec):
    text = ("block P(c) {\n  input x\n  output y = if dim(x, -1) != c then x -> dense(c) "
            "else x\n}\nnetwork N {\n  input x: [B, 4]\n  output y = x -> P(4) -> P(6)\n}\n")
    assert count_params(net(write_spec, text)) == 4 * 6 + 6


def test_raw_param(write_spec):
    text = "network N {\n  input x: [B, 4]\n  param W: [4, 3] = orthogonal\n  output y = x @ W\n}\n"
    g = net(write_spec, text)
    assert out_type(g) == "[B, 3]" and count_params(g) == 12


def test_member_selects_an_output(write_spec):
    text = ("network Two {\n  input x: [B, 4]\n  output a = x -> dense(2)\n"
            "  output b = x -> dense(3)\n}\n"
            "network N {\n  input x: [B, 4]\n  output y = Two(x).b\n}\n")
    assert out_type(net(write_spec, text)) == "[B, 3]"


def test_import_relative_and_cycle(tmp_path, capsys):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "b.nn").write_text(
        "block Lin {\n  input x\n  output y = x -> dense(2)\n}\n")
    main_file = tmp_path / "a.nn"
    main_file.write_text(
        'import "lib/b.nn"\nnetwork N {\n  input x: [B, 4]\n  output y = x -> Lin\n}\n')
    assert count_params(nndsl.load(main_file).network("N")) == 10
    (tmp_path / "lib" / "b.nn").write_text('import "../a.nn"\n')
    with pytest.raises(SpecError, match="import cycle"):
        nndsl.load(main_file)
    (tmp_path / "c.nn").write_text('import "missing.nn"\n')
    with pytest.raises(SpecError, match="cannot import"):
        nndsl.load(tmp_path / "c.nn")
    (tmp_path / "d.nn").write_text('import "x.py"\n')
    with pytest.raises(SpecError, match="only .nn"):
        nndsl.load(tmp_path / "d.nn")
