"""Registry-wide rules: every op fact lives in its `OpDef`, and every op states each one."""

import dataclasses

import numpy as np
import pytest

import nndsl
from nndsl.init import INITIALISERS, initialise
from nndsl.ir import walk
from nndsl.ops import REGISTRY
from nndsl.ops.facts import DIRECTIONS, GRADCHECK, MissingRule
from nndsl.passes.cost import cost
from tests.conftest import CONTRACT

NETWORKS = [(p, n) for p in sorted(CONTRACT.glob("*.nn"))
            for n in nndsl.load(p).program.networks if n != "ResNet18"]


def _contract_nodes():
    for path, network in NETWORKS:
        for node, _ in walk(nndsl.load(path).network(network)):
            yield node


def test_every_initialiser_an_op_uses_is_one_it_declares():
    used = {}
    for node in _contract_nodes():
        for spec in [*node.params.values(), *node.state.values()]:
            used.setdefault(node.op, set()).add(spec.init)
    assert used, "no parameters found"
    for op, inits in used.items():
        assert inits <= set(REGISTRY[op].inits), f"{op} uses {inits - set(REGISTRY[op].inits)}"


def test_a_misspelt_initialiser_fails_when_the_op_is_built():
    with pytest.raises(ValueError, match="op `dense` names unknown initialisers.*glorot_unifrom"):
        dataclasses.replace(REGISTRY["dense"], inits=("glorot_unifrom", "zeros"))


def test_an_unknown_initialiser_is_refused_not_guessed():
    with pytest.raises(KeyError, match="unknown initialiser `he_norml`"):
        initialise("he_norml", np.random.RandomState(0), (3, 4))
    assert set(INITIALISERS) >= {"zeros", "ones", "he_normal", "glorot_uniform", "orthogonal"}


NAMED = """
network N { input x: [B, 8, 8, 1]; output logits = x -> flatten -> dense(10) }
train {
  model = N; data = digits(); loss = cross_entropy(logits, y); optimizer = adam()
  digit_acc = accuracy(logits, y)
  metrics = [digit_acc, accuracy(logits, y)]
  early_stopping = patience(3, monitor=val_digit_acc STOPPING)
}
"""


def _plan(write_spec, stopping=""):
    return nndsl.load(write_spec(NAMED.replace("STOPPING", stopping))).plan()


def test_every_metric_states_its_direction_and_early_stopping_follows_it(write_spec):
    from nndsl.fit.loop import monitor_mode

    metrics = [op for op in REGISTRY.values() if op.kind == "metric"]
    assert metrics and all(op.direction in DIRECTIONS for op in metrics)
    plan = _plan(write_spec)
    assert monitor_mode(plan, "val_digit_acc") == "max"  # bound to a name: still accuracy
    assert monitor_mode(plan, "val_accuracy") == "max"
    assert monitor_mode(plan, "train_accuracy") == "max"
    assert monitor_mode(plan, "val_loss") == "min"
    assert monitor_mode(_plan(write_spec, ", mode=min"), "val_digit_acc") == "min"


def test_a_metric_that_goes_down_is_minimised(write_spec, monkeypatch):
    from nndsl.fit.loop import monitor_mode

    error_rate = dataclasses.replace(REGISTRY["accuracy"], direction="min")
    monkeypatch.setitem(REGISTRY, "accuracy", error_rate)
    assert monitor_mode(_plan(write_spec), "val_digit_acc") == "min"


def test_min_delta_is_a_margin():
    from nndsl.fit.loop import improved

    assert improved("max", 0.905, 0.9) and not improved("max", 0.905, 0.9, min_delta=0.01)
    assert improved("min", 0.8, 0.9, min_delta=0.05) and not improved("min", 0.9, 0.9)


def test_a_metric_without_a_direction_fails_when_it_is_built():
    with pytest.raises(ValueError, match="op `f1`: a metric.*direction=max or min"):
        dataclasses.replace(REGISTRY["accuracy"], name="f1", direction=None)
    with pytest.raises(ValueError, match="op `relu`: a metric, and only a metric"):
        dataclasses.replace(REGISTRY["relu"], direction="max")


def test_every_op_has_a_known_gradcheck_mode_and_label_rule():
    for op in REGISTRY.values():
        assert op.gradcheck in GRADCHECK, op.name
        assert callable(op.label), op.name
        if op.stochastic and not op.blocks_gradient:
            assert op.gradcheck == "fixed_key", op.name
    assert REGISTRY["grad_reverse"].gradcheck == "as_identity"
    with pytest.raises(ValueError, match="op `relu`: gradcheck must be one of"):
        dataclasses.replace(REGISTRY["relu"], gradcheck="skip")


def test_contract_nodes_are_labelled_by_their_own_rule():
    for node in _contract_nodes():
        op = REGISTRY[node.op]
        text = op.describe(node)
        assert text and "\n" not in text, node.id
        if op.kind != "control":
            assert text.split()[0] == op.name, (node.id, text)


def test_only_ops_that_cut_the_gradient_can_cut_it_on_purpose():
    assert [op.name for op in REGISTRY.values() if op.intentional_cut] == ["stop_gradient"]
    with pytest.raises(ValueError, match="op `relu` cuts the gradient on purpose"):
        dataclasses.replace(REGISTRY["relu"], intentional_cut=True)


def test_a_body_without_a_rule_fails_naming_the_op_and_the_transform(monkeypatch):
    graph = nndsl.load(CONTRACT / "resnet.nn", {"depth": 2}).network("DigitsResNet")
    with_bodies = {node.op for node, _ in walk(graph) if node.body is not None}
    assert with_bodies and all(REGISTRY[op].body is not None for op in with_bodies)
    monkeypatch.setitem(REGISTRY, "repeat", dataclasses.replace(REGISTRY["repeat"], body=None))
    with pytest.raises(MissingRule, match="op `repeat` has no body rule, needed by cost"):
        cost(graph)
