"""`nndsl render`: the DOT text matches the graph IR; every contract spec renders."""

import json
import re
import shutil
import xml.dom.minidom

import pytest

import nndsl
from nndsl.cli import main
from nndsl.render import render
from tests.conftest import CONTRACT

HAS_DOT = shutil.which("dot") is not None


def _nodes(source: str) -> list[tuple[str, str]]:
    """(node id, label) of every drawn node; graphviz quotes a label only when it must."""
    return [(m[0], m[1] or m[2]) for m in
            re.findall(r'^\s*(n\d+) \[label=(?:"([^"]*)"|(\w+))', source, re.M)]


def _edge_labels(source: str) -> list[str]:
    return re.findall(r'-> n\d+ \[label="([^"]*)"', source)


def test_every_op_is_a_node_and_every_edge_carries_its_shape():
    graph = nndsl.load(CONTRACT / "mlp_digits.nn").network("MLP")
    source = render(graph).source
    labels = [label for _, label in _nodes(source)]
    ops = [n for n in graph if n.op != "const"]
    assert len(labels) == len(ops) + len(graph.outputs)
    shapes = sorted([str(graph.type_of(r)) for n in ops for r in n.inputs] + ["[B, 10]"])
    assert sorted(_edge_labels(source)) == shapes


def test_repeated_stage_is_one_cluster_unless_expanded():
    graph = nndsl.load(CONTRACT / "resnet.nn").network("DigitsResNet")
    collapsed = render(graph).source
    assert collapsed.count("conv 32 3x3") == 1 + 2
    assert "Basic(32) × 24" in collapsed and "× depth" not in collapsed
    expanded = render(graph, expand=True).source
    assert expanded.count("conv 32 3x3") == 1 + 2 * 24


def test_depth_collapses_blocks_into_boxes():
    graph = nndsl.load(CONTRACT / "resnet.nn").network("ResNet18")
    source = render(graph, depth=0).source
    assert "conv 128 3x3" not in source
    assert "Basic(128, stride=2)\\n230,144 params" in source
    assert source.count("params\\n[B, ") >= 7


def test_scan_draws_state_edges_back():
    graph = nndsl.load(CONTRACT / "lstm_adding.nn").network("LSTMAdder")
    source = render(graph).source
    assert "scan(LSTM) over 100 steps" in source
    assert re.search(r'label="h \(next step\)".*style=dashed', source)
    assert re.search(r'label="c \(next step\)".*style=dashed', source)


def test_shared_instance_is_marked(write_spec):
    source = render(nndsl.load(CONTRACT / "siamese.nn").network("Siamese")).source
    assert source.count("(shared: tower)") == 2


def test_train_graph_marks_steps_and_blocked_gradients():
    plan = nndsl.load(CONTRACT / "gan.nn").plan()
    trained = {k: o.network for o in plan.objectives for k in o.keys}
    source = render(plan.graph, trained_by=trained).source
    assert "trained by Generator" in source and "trained by Discriminator" in source
    assert sum("bce" in label for _, label in _nodes(source)) == 3


def test_labels_are_escaped(write_spec, tmp_path, capsys):
    text = ('block Q(tag) {\n  input x\n  output y = x -> relu\n}\n'
            'network N {\n  input x: [B, 4]\n  output y = x -> Q("a\\"b\\\\n{x}<y>")\n}\n')
    out = tmp_path / "q.dot"
    assert main(["render", str(write_spec(text)), "-o", str(out)]) == 0
    assert 'Q(\\"a\\\\\\"b' in out.read_text()


@pytest.mark.parametrize("path", sorted(CONTRACT.glob("*.nn")), ids=lambda p: p.name)
def test_every_contract_network_renders(path, tmp_path):
    spec = nndsl.load(path)
    for name in spec.program.networks:
        out = tmp_path / f"{name}.{'svg' if HAS_DOT else 'dot'}"
        assert main(["render", str(path), "--model", name, "-o", str(out)]) == 0
        if HAS_DOT:
            xml.dom.minidom.parse(str(out))


def test_missing_dot_is_explained(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    spec = str(CONTRACT / "mlp_digits.nn")
    assert main(["render", spec, "-o", str(tmp_path / "x.svg")]) == 1
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert main(["render", spec, "-o", str(tmp_path / "x.dot")]) == 0
    assert main(["check", spec]) == 0


def _figures(source: str) -> list[int]:
    """Every trainable-parameter figure in a node label (`1,234 params`, `2 × 9 = 18 params`)."""
    return [int(m.replace(",", "")) for _, label in _nodes(source)
            for m in re.findall(r"([\d,]+) params", label)]


def test_named_layers_are_labelled_and_every_box_has_a_tooltip():
    source = render(nndsl.load(CONTRACT / "multitask.nn").network("TwoHeads")).source
    labels = dict(_nodes(source))
    assert sorted(label for label in labels.values() if ": dense" in label) == [
        "digit: dense 10\\n650 params", "parity: dense 2\\n130 params"]
    assert "trunk: relu" in labels.values() and "dense 64\\n4,160 params" in labels.values()
    assert 'tooltip="digit\\nop: dense(units=10, bias=True, norm=none)\\noutput: [B, 10]' \
           '\\n650 params"' in source
    assert source.count("tooltip=") == len(labels) - 2   # not on the two output ellipses


def test_a_repeated_layer_shows_its_total_over_the_copies():
    graph = nndsl.load(CONTRACT / "resnet.nn").network("DigitsResNet")
    assert "24 × 9,216 = 221,184 params" in render(graph).source
    expanded = render(graph, expand=True).source
    labels = [label for _, label in _nodes(expanded)]
    assert sum("9,216 params (1 of 24 copies)" in label for label in labels) == 2 * 24


def test_depth_folds_a_scanned_cell_into_one_box():
    graph = nndsl.load(CONTRACT / "lstm_adding.nn").network("LSTMAdder")
    source = render(graph, depth=0).source
    assert "sigmoid" not in source and "next step" not in source
    assert "scan(LSTM) over 100 steps\\n17,152 params\\n[B, 100, 2] → [B, 100, 64]" in source


def _edges(source: str) -> list[tuple[str, str, str]]:
    return re.findall(r"^\s*(n\d+) -> (n\d+) \[label=\"([^\"]*)\"", source, re.M)


@pytest.mark.parametrize("depth", [0, 1])
def test_folded_blocks_are_joined_once_per_tensor(depth):
    graph = nndsl.load(CONTRACT / "resnet.nn").network("ResNet18")
    edges = _edges(render(graph, depth=depth).source)
    pairs = [(a, b) for a, b, _ in edges]
    assert len(pairs) == len(set(pairs))   # every block passes one tensor on
    # depth 0: image, 4 stem ops, Basic(64) × 2, 6 blocks, pool, dense, output in a chain.
    assert len(edges) == {0: 14, 1: 69}[depth]


@pytest.mark.parametrize("path", sorted(CONTRACT.glob("*.nn")), ids=lambda p: p.stem)
def test_render_and_summary_count_the_same_parameters(path, capsys):
    spec = nndsl.load(path)
    for name in spec.program.networks:
        assert main(["summary", str(path), "--model", name, "--format", "json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        graph = spec.network(name)
        for depth, expand in ((None, False), (0, False), (None, True)):
            source = render(graph, depth=depth, expand=expand).source
            assert sum(_figures(source)) == summary["params"], (name, depth, expand)
            assert f"{summary['params']:,} trainable parameters" in source
        outer = [r for r in summary["blocks"] if r["depth"] == 0]
        grouped = {r["name"] for r in outer}
        loose = [x["params"] for x in summary["layers"] if x["depth"] == 0 and
                 not any(x["name"].startswith(g + ".") or x["name"] == g for g in grouped)]
        assert sum(r["params"] for r in outer) + sum(loose) == summary["params"], name
