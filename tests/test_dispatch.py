"""Several training steps per dispatch (nndsl.fit.dispatch): k steps per jitted call train
bit-identically to one step per call (same batches, same keys, the epoch's remainder
included), evaluation in few calls gives the per-batch loop's figures, `steps_per_dispatch`
is checked (E190), and an interrupted chunked run resumes to the uninterrupted result."""

from __future__ import annotations

import io

import jax
import numpy as np
import pytest
from rich.console import Console

import nndsl
from nndsl.fit import dispatch, run
from nndsl.fit.loop import Trainer, load_data
from nndsl.fit.report import Reporter
from nndsl.ops import Word
from nndsl.source import SpecError

# 1,258 training examples in batches of 64: 19 steps per epoch (k = 4 leaves 3), with
# dropout, so that a wrong key or a skipped batch changes the parameters.
TINY = """
network Tiny {
    input x: [B, 8, 8, 1]
    output logits = x -> flatten -> dense(12) -> relu -> dropout(0.2) -> dense(10)
}
train {
    model = Tiny
    data = digits(val=0.1, test=0.2, seed=0)
    loss = cross_entropy(logits, y)
    metrics = accuracy(logits, y)
    optimizer = adam(lr=0.01)
    batch = 64
    epochs = 2
}
"""


def _trainer(spec, setting) -> Trainer:
    plan = nndsl.load(spec, {"steps_per_dispatch": setting}).plan()
    return Trainer(plan, load_data(plan), epochs=2)


def _train(trainer: Trainer, tmp_path, per_step: bool = False):
    """Two epochs through run._epoch: the parameters and each epoch's mean losses."""
    trainer.dispatch.per_step = per_step  # one step per call, the batch gathered on the host
    params, state, opt_states = trainer.init(0)
    options = run.RunOptions(tmp_path, tmp_path / "spec.nn", tmp_path, progress=False)
    means = []
    with Reporter(Console(file=io.StringIO()), tmp_path, progress=False) as reporter:
        for epoch in (1, 2):
            params, state, opt_states, mean = run._epoch(trainer, params, state, opt_states, 0,
                                                         epoch, 2, options, reporter)
            means.append(mean)
    return jax.tree.map(np.asarray, params), means


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "tiny.nn"
    path.write_text(TINY)
    return path


def test_k_steps_per_call_train_bit_identically_to_one(tiny, tmp_path):
    reference, reference_means = _train(_trainer(tiny, 1), tmp_path, per_step=True)
    for setting in (1, 4, Word("auto")):
        trainer = _trainer(tiny, setting)
        params, means = _train(trainer, tmp_path)
        if setting != Word("auto"):
            assert trainer.dispatch.k == setting
        assert means == reference_means, setting
        equal = jax.tree.map(np.array_equal, params, reference)
        assert all(jax.tree.leaves(equal)), (setting, equal)


def test_the_remainder_of_an_epoch_trains_in_a_shorter_chunk(tiny, monkeypatch):
    trainer = _trainer(tiny, 4)
    assert trainer.steps_per_epoch == 19
    counts = []
    real = trainer.dispatch._steps

    def spy(*args):
        counts.append(int(args[8]))
        return real(*args)

    monkeypatch.setattr(trainer.dispatch, "_steps", spy)
    params, state, opt_states = trainer.init(0)
    steps = trainer.dispatch.epoch(0, 1)
    while not steps.finished:
        params, state, opt_states = steps.run(params, state, opt_states)
    # The run's first step alone (it compiles), then k, then what is left.
    assert counts == [1, 4, 4, 4, 4, 2] and steps.done == 19
    losses = steps.losses()
    assert losses.shape == (19, 1) and np.all(losses > 0)  # every step wrote its loss


def test_auto_chooses_k_from_the_timed_steps(tiny):
    trainer = _trainer(tiny, Word("auto"))
    chooser = trainer.dispatch
    chooser.calls = 1  # the compiling call is past
    chooser.timed(1, 0.001, compiled=False)  # a compiling call: no estimate
    assert chooser.k is None
    chooser.timed(2, 0.004, compiled=True)  # too short to time: a longer probe
    assert chooser.k is None and chooser.next_count(19) == 11
    chooser.timed(11, 0.055, compiled=True)  # 5 ms a step: 0.1 s is 20 steps, at most 19
    assert chooser.k == 19
    slow = _trainer(tiny, Word("auto")).dispatch
    slow.timed(4, 0.2, compiled=True)  # 50 ms a step: 2 per call
    assert slow.k == 2


def test_evaluation_in_few_calls_matches_the_batch_loop(tiny):
    trainer = _trainer(tiny, Word("auto"))
    params, state, _ = trainer.init(0)
    key = jax.random.PRNGKey(0)
    for split in ("train", "val", "test"):  # 4 full batches of 256 and 234; none and 126; ...
        totals, count = 0.0, 0
        for batch, n in trainer.batches(split, trainer.eval_size()):
            totals, count = totals + trainer._eval(params, state, batch, key) * n, count + n
        expected = np.asarray(totals) / count
        got = trainer.evaluate(params, state, split)
        assert list(got) == ["loss", "accuracy"]
        np.testing.assert_allclose(list(got.values()), expected, rtol=1e-6, atol=1e-6)


def test_sharded_and_checked_runs_send_one_step_per_call(tiny):
    plan = nndsl.load(tiny).plan()
    checked = Trainer(plan, load_data(plan), epochs=1, check_numerics=True)
    assert checked.dispatch.per_step and checked.dispatch.k == 1

    class Sharded:  # what Dispatch reads of a trainer with a placement
        placement, compiled = object(), checked.compiled

    assert dispatch.Dispatch(Sharded(), "auto").per_step


def test_a_k_that_a_checked_run_cannot_honour_is_said(tiny, tmp_path, capsys):
    from nndsl.cli import main

    args = ["train", str(tiny), "--log-format", "plain", "--epochs", "1", "--check-numerics"]
    assert main([*args, "--set", "steps_per_dispatch=4", "--out", str(tmp_path / "a")]) == 0
    said = capsys.readouterr()
    assert "steps_per_dispatch = 4: --check-numerics sends one step per call" in \
        said.out + said.err
    assert main([*args, "--out", str(tmp_path / "b")]) == 0  # auto: nothing to say
    said = capsys.readouterr()
    assert "steps_per_dispatch" not in said.out + said.err


@pytest.mark.parametrize("value,shown", [("0", "0"), ("2.5", "2.5"), ("fast", "`fast`")])
def test_a_bad_steps_per_dispatch_is_e190_at_its_value(write_spec, value, shown):
    line = f"    steps_per_dispatch = {value}\n"
    spec = write_spec(TINY.replace("    epochs = 2\n", "    epochs = 2\n" + line))
    with pytest.raises(SpecError) as exc:
        nndsl.load(spec).plan()
    diagnostic = exc.value.diagnostics[0]
    assert diagnostic.code == "E190"
    assert diagnostic.message == ("`steps_per_dispatch` must be `auto` or a whole number "
                                  f">= 1, got {shown}")
    assert f"{diagnostic.span.line}:{diagnostic.span.column}" == "14:26"


def test_set_steps_per_dispatch_is_checked_at_the_train_section(tiny):
    with pytest.raises(SpecError) as exc:
        nndsl.load(tiny, {"steps_per_dispatch": -3}).plan()
    diagnostic = exc.value.diagnostics[0]
    assert diagnostic.code == "E190" and diagnostic.message.startswith(
        "--set steps_per_dispatch=-3: `steps_per_dispatch` must be `auto` or a whole number")
    assert f"{diagnostic.span.line}:{diagnostic.span.column}" == "6:1"
    assert nndsl.load(tiny, {"steps_per_dispatch": Word("auto")}).plan().settings[
        "steps_per_dispatch"] == "auto"
    assert nndsl.load(tiny, {"steps_per_dispatch": 8}).plan().settings[
        "steps_per_dispatch"] == 8


def test_a_run_stopped_mid_epoch_resumes_to_the_uninterrupted_result(tiny, tmp_path,
                                                                     monkeypatch):
    from nndsl.cli import main
    from nndsl.fit import checkpoint, rundir

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    args = ["train", str(tiny), "--quiet", "--set", "steps_per_dispatch=4"]
    assert main([*args, "--out", str(whole)]) == 0
    real, sent = dispatch.EpochSteps.run, []

    def stop_in_epoch_two(self, *trees):
        sent.append(self.first_step)
        if self.first_step > 0 and self.done == 8:  # two chunks into epoch 2
            rundir.request_stop(2)
        return real(self, *trees)

    monkeypatch.setattr(dispatch.EpochSteps, "run", stop_in_epoch_two)
    assert main([*args, "--out", str(cut)]) == 128 + 2
    assert sent.count(0) == 6 and sent.count(19) == 3  # stopped before the third chunk
    assert checkpoint.read(cut / "last.ckpt").meta["epoch"] == 1
    assert not (cut / "results.json").exists()
    monkeypatch.setattr(dispatch.EpochSteps, "run", real)
    # Resumed with another k: it changes no result, so the run's fingerprint ignores it.
    assert main(["train", str(tiny), "--quiet", "--resume", str(cut), "--set",
                 "steps_per_dispatch=3"]) == 0
    saved, resumed = (checkpoint.read(run / "last.ckpt") for run in (whole, cut))
    assert saved.tensors.keys() == resumed.tensors.keys()
    for name, value in saved.tensors.items():
        assert np.array_equal(value, resumed.tensors[name]), name
