"""The differentiability pass: what each loss trains, and where a gradient dies."""

import pytest

import nndsl
from tests.conftest import CONTRACT

TRAIN = ("train {{\n  model = N\n  data = digits()\n  loss = {loss}\n"
         "  optimizer = sgd(lr=0.1)\n}}\n")


def plan(write_spec, net_body, loss="cross_entropy(y_hat, y)"):
    text = "network N {\n  input x: [B, 8, 8, 1]\n" + net_body + "\n}\n" + \
        TRAIN.format(loss=loss)
    return nndsl.load(write_spec(text)).check()


def test_step_cuts_every_path_and_names_it(write_spec):
    report = plan(write_spec, "  h = x -> flatten -> dense(8) -> sign\n"
                              "  output y_hat = h -> dense(10)")
    assert not report.ok
    (diag,) = [d for d in report.diagnostics if d.code == "E050"]
    assert "`dense_0.w`" in diag.message and "`sign`" in diag.message
    assert (diag.span.line, diag.span.column) == (3, 35)
    # The binding names the layers: `h` is the sign, `y_hat` the last dense.
    assert "dense_0.w → dense_0 → h → y_hat" in diag.notes[0]


def test_one_differentiable_path_is_enough(write_spec):
    report = plan(write_spec, "  h = x -> flatten -> dense(8)\n"
                              "  output y_hat = (h -> round) + h -> dense(10)")
    assert report.ok, [d.render() for d in report.diagnostics]


def test_stop_gradient_is_intentional(write_spec):
    report = plan(write_spec, "  h = x -> flatten -> dense(8) -> stop_gradient\n"
                              "  output y_hat = h -> dense(10)")
    assert report.ok
    (objective,) = report.trains[0].objectives
    assert objective.report.trained == ["y_hat.w", "y_hat.b"]
    assert objective.report.blocked == {"dense_0.w": "cut by stop_gradient",
                                        "dense_0.b": "cut by stop_gradient"}


def test_labels_are_not_differentiated(write_spec):
    report = plan(write_spec, "  output y_hat = x -> flatten -> dense(10)",
                  loss="cross_entropy(y_hat, y) + 1e-4 * l2(params)")
    assert report.ok and report.trains[0].objectives[0].report.trained == ["y_hat.w",
                                                                          "y_hat.b"]


def test_unused_head_is_not_trained_but_not_an_error(write_spec):
    report = plan(write_spec, "  t = x -> flatten -> dense(8)\n  output y_hat = t -> dense(10)\n"
                              "  output other = t -> dense(2)")
    assert report.ok
    assert report.trains[0].objectives[0].report.blocked == {
        "other.w": "not used by this loss", "other.b": "not used by this loss"}


def test_gan_steps_train_only_their_network():
    report = nndsl.load(CONTRACT / "gan.nn").check()
    assert report.ok
    d_step, g_step = report.trains[0].objectives
    assert d_step.network == "Discriminator" and all(
        k.startswith("Discriminator.") for k in d_step.keys) and len(d_step.keys) == 6
    assert all(k.startswith("Generator.") for k in g_step.report.trained)
    assert len(g_step.report.trained) == 6


def test_distill_teacher_is_frozen_and_student_trains():
    report = nndsl.load(CONTRACT / "distill.nn").check()
    assert report.ok
    student = report.trains[1].objectives[0]
    assert all("Teacher" not in k for k in student.keys) and len(student.keys) == 4


def test_dann_trains_through_gradient_reversal():
    report = nndsl.load(CONTRACT / "dann.nn").check()
    (objective,) = report.trains[0].objectives
    assert len(objective.report.trained) == 8 and not objective.report.blocked


def test_metrics_may_be_non_differentiable(write_spec):
    text = ("network N {\n  input x: [B, 8, 8, 1]\n  output y_hat = x -> flatten -> dense(10)\n}\n"
            "train {\n  model = N\n  data = digits()\n  loss = cross_entropy(y_hat, y)\n"
            "  metrics = [accuracy(y_hat, y), top_k(y_hat, y, k=3)]\n  optimizer = adam()\n}\n")
    report = nndsl.load(write_spec(text)).check()
    assert report.ok and len(report.trains[0].metrics) == 2


@pytest.mark.parametrize("field,value,phrase", [
    ("optimizer", "adamm(lr=1e-3)", "did you mean `adam`"),
    ("optimizer", "sgd(lr=-1)", "`lr` must be in (0, inf]"),
    ("optimizer", "sgd(lr=0.1, momentun=0.9)", "did you mean `momentum`"),
    ("batch", "0", "`batch` must be in [1, inf]"),
    ("data", "digitz()", "did you mean `digits`"),
    ("schedule", "cosine(warmup=-1)", "`warmup` must be in"),
    ("early_stopping", "patience(3, monitor=val_acc)", "does not measure"),
])
def test_train_settings_are_checked(write_spec, field, value, phrase):
    fields = {"model": "N", "data": "digits()", "loss": "cross_entropy(y_hat, y)",
              "optimizer": "adam()", field: value}
    text = ("network N {\n  input x: [B, 8, 8, 1]\n  output y_hat = x -> flatten -> dense(10)\n}\n"
            "train {\n" + "".join(f"  {k} = {v}\n" for k, v in fields.items()) + "}\n")
    report = nndsl.load(write_spec(text)).check()
    rendered = "\n".join(d.render() for d in report.diagnostics)
    assert not report.ok and phrase in rendered, rendered


def test_sweep_names_must_be_lets(write_spec):
    text = ("let hidden = 4\nnetwork N {\n  input x: [B, 2]\n  output y = x -> dense(hidden)\n}\n"
            "sweep {\n  trials = 3\n  hiden = choice(2, 4)\n}\n")
    report = nndsl.load(write_spec(text)).check()
    assert not report.ok and "did you mean `hidden`" in report.diagnostics[0].render()
