"""Metrics are reported under readable names: the same `val_<name>` in monitors, metrics.csv
columns and results.json keys; the source of each stays in the plan."""

import csv
import json

import pytest

import nndsl
from nndsl.cli import main
from nndsl.source import SpecError
from tests.conftest import CONTRACT

NET = "network N { input x: [B, 8, 8, 1]; output logits = x -> flatten -> dense(10) }\n"


def _plan(write_spec, metrics: str, extra: str = ""):
    return nndsl.load(write_spec(
        NET + "train {\n  model = N; data = digits(); loss = cross_entropy(logits, y)\n"
        f"  optimizer = adam()\n{extra}  metrics = {metrics}\n}}\n")).plan()


def test_a_call_is_named_by_its_function_and_a_binding_by_its_name(write_spec):
    plan = _plan(write_spec, "[acc, top_k(logits, y, k=3)]", "  acc = accuracy(logits, y)\n")
    assert list(plan.metrics) == ["acc", "top_k"]
    assert plan.metric_expressions == {"acc": "acc", "top_k": "top_k(logits, y, k=3)"}


def test_calls_of_one_function_are_told_apart_by_their_first_argument():
    plan = nndsl.load(CONTRACT / "multitask.nn").plan()
    assert plan.metric_expressions == {"accuracy_digit": "accuracy(digit, y)",
                                       "accuracy_parity": "accuracy(parity, y % 2)"}
    dann = nndsl.load(CONTRACT / "dann.nn").plan()
    assert list(dann.metrics) == ["accuracy_src_label", "accuracy_tgt_label",
                                  "binary_accuracy_src_domain", "binary_accuracy_tgt_domain"]


def test_names_still_taken_get_a_number(write_spec):
    plan = _plan(write_spec, "[accuracy(logits, y), accuracy(logits, 3 - y)]")
    assert list(plan.metrics) == ["accuracy_logits", "accuracy_logits_2"]


def test_a_metric_never_takes_a_loss_column(write_spec):
    from nndsl.elab.train import metric_names

    spec = nndsl.load(write_spec(NET + "train {\n  model = N; data = digits()\n"
                                 "  loss = cross_entropy(logits, y); optimizer = adam()\n"
                                 "  metrics = [accuracy(logits, y)]\n}\n"))
    exprs = [f for f in spec.program.trains[0].fields if f.name.id == "metrics"][0].value.items
    assert metric_names(exprs) == ["accuracy"]
    assert metric_names(exprs, {"accuracy"}) == ["accuracy_2"]


def test_the_same_bound_metric_twice_is_an_error(write_spec):
    with pytest.raises(SpecError) as exc:
        _plan(write_spec, "[acc, acc]", "  acc = accuracy(logits, y)\n")
    d = exc.value.diagnostics[0]
    assert (d.code, d.message, d.span.line, d.span.column) == (
        "E140", "metric `acc` is listed twice", 6, 19)


def test_monitor_csv_columns_results_and_eval_keys_agree(tmp_path, write_spec, capsys):
    text = (CONTRACT / "perceptron_xor.nn").read_text().replace(
        "    seed      = 0", "    early_stopping = patience(50, monitor=val_binary_accuracy)")
    run = tmp_path / "run"
    assert main(["train", str(write_spec(text)), "--epochs", "3", "--out", str(run),
                 "--quiet"]) == 0
    with open(run / "metrics.csv") as f:
        columns = next(csv.reader(f))
    assert columns == ["epoch", "train_loss", "val_loss", "val_binary_accuracy", "seconds"]
    results = json.loads((run / "results.json").read_text())
    assert results["monitor"] == "val_binary_accuracy" and results["mode"] == "max"
    assert set(results["test"]) == {"loss", "binary_accuracy"}
    # config.json keeps each metric's expression beside its name.
    config = json.loads((run / "config.json").read_text())
    assert config["metrics"] == {"binary_accuracy": "binary_accuracy(logit, y)"}
    capsys.readouterr()
    assert main(["eval", str(run / "spec.nn"), "--run", str(run), "--format", "json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["split"] == "test" and evaluated["run"] == str(run)
    assert evaluated["results"] == pytest.approx(results["test"])


def test_a_monitor_in_the_old_spelling_is_refused_with_the_new_name(write_spec):
    with pytest.raises(SpecError, match="did you mean `val_accuracy`"):
        _plan(write_spec, "accuracy(logits, y)",
              "  early_stopping = patience(3, monitor=val_accuracy_)\n")
