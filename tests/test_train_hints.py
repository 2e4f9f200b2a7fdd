"""Train-section mistakes a daily user makes get the name they meant, at the exact place."""

import pytest

import nndsl
from nndsl.source import SpecError

SPEC = """network N { input x: [B, 8, 8, 1]; output logits = x -> flatten -> dense(10) }
train {
  model = N; data = digits(); loss = cross_entropy(logits, y)
  LINE
}
"""


def _plan_error(write_spec, line: str):
    with pytest.raises(SpecError) as exc:
        nndsl.load(write_spec(SPEC.replace("LINE", line))).plan()
    d = exc.value.diagnostics[0]
    return d.code, d.span.line, d.span.column, d.message, d.hint


@pytest.mark.parametrize("line,expected", [
    ("optimizer = adam(learning_rate=0.1)",
     ("E022", 4, 20, "`adam` has no argument `learning_rate`",
      "did you mean `lr`? (nndsl's name for `learning_rate`)")),
    ("optimizer = adam(lr=0.1, momentum=0.9)",
     ("E022", 4, 28, "`adam` has no argument `momentum`",
      "`momentum` is an argument of sgd, rmsprop, sgd_hd; `adam` takes lr, b1, b2, eps")),
    ("optimizer = adam(); early_stopping = patience(patience=3)",
     ("E022", 4, 49, "`patience` has no argument `patience`",
      "did you mean `epochs`? (nndsl's name for `patience`)")),
    ("optimiser = adam(lr=0.1)",
     ("E141", 4, 3, "unknown setting `optimiser`; `adam` is an optimizer",
      "did you mean `optimizer`? set it with `optimizer = adam(...)`")),
    ("optimizer = adam(); lr_schedule = cosine()",
     ("E141", 4, 23, "unknown setting `lr_schedule`; `cosine` is a learning-rate schedule",
      "did you mean `schedule`? set it with `schedule = cosine(...)`")),
    ("optimizer = adam(); sched = cosin()",
     ("E012", 4, 31, "unknown name `cosin`",
      "did you mean `cosine`? (a learning-rate schedule: `schedule = cosine(...)`; the "
      "others: constant, step, exponential)")),
    ("optimizer = adam(); stop = patience(3)",
     ("E141", 4, 23, "unknown setting `stop`; `patience` is an early-stopping rule",
      "set it with `early_stopping = patience(...)`")),
])
def test_the_hint_names_what_was_meant(write_spec, line, expected):
    assert _plan_error(write_spec, line) == expected


def test_a_local_name_that_is_an_op_or_a_binding_is_left_alone(write_spec):
    # `step` is a schedule and an op: bound locally, it is the op.
    text = SPEC.replace("LINE", "optimizer = adam(); s = step(logits); metrics = accuracy(s, y)")
    assert nndsl.load(write_spec(text)).plan().metrics


def test_a_binding_close_to_a_scalar_setting_warns(write_spec):
    plan = nndsl.load(write_spec(SPEC.replace("LINE", "optimizer = adam(); batchsize = 3"))).plan()
    (w,) = plan.warnings
    assert (w.code, w.span.line, w.span.column, w.hint) == ("W001", 4, 23,
                                                            "did you mean `batch`?")


def test_the_train_reference_is_current_and_complete():
    from nndsl.elab.vocabulary import ALIASES, CALLS, SETTINGS
    from nndsl.traindoc import TARGET, rewrite

    text = TARGET.read_text()
    assert text == rewrite(text), "run python -m nndsl.traindoc"
    for field, catalog in CALLS.items():
        for name, hypers in catalog.items():
            assert f"### `{name}(" in text
            assert all(f"`{field}.{h.name}`" in text for h in hypers)
    assert all(f"| `{name}` |" in text for name in [*SETTINGS, *ALIASES])
