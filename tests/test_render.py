"""`nndsl render`: the DOT text matches the graph IR; every contract spec renders."""

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
    assert "Basic(32) × depth" in collapsed
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
    assert source.count("bce") == 3


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
