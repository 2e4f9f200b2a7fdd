"""Several networks in one training: steps update only their own network, shared instances
sum their gradients, `load` freezes and checks, sweeps are reproducible and resume."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.fit.loop import Trainer, frozen_params, load_data
from nndsl.fit.trials import plan_trials
from nndsl.lower import Compiled
from nndsl.source import SpecError
from tests.conftest import CONTRACT


@pytest.mark.parametrize("step,moved,still", [(0, "Discriminator", "Generator"),
                                              (1, "Generator", "Discriminator")])
def test_a_step_updates_only_its_network(step, moved, still):
    plan = nndsl.load(CONTRACT / "gan.nn").plan()
    plan = dataclasses.replace(plan, objectives=[plan.objectives[step]])
    trainer = Trainer(plan, load_data(plan), 1)
    params, state, opt_states = trainer.init(0)
    before = jax.tree.map(np.asarray, params)
    batch = {k: v[:trainer.batch] for k, v in trainer.device_data["train"].items()}
    params, *_ = trainer.step(params, state, opt_states, batch, jax.random.PRNGKey(0))
    for layer in before:
        same = all(np.array_equal(before[layer][n], params[layer][n]) for n in before[layer])
        assert same == layer.startswith(still), layer
    assert any(layer.startswith(moved) for layer in before)


def test_shared_gradient_is_the_sum_over_uses(write_spec):
    block = "block T {\n  input x\n  output e = x -> dense(3) -> tanh\n}\n"
    both = nndsl.load(write_spec(block + "network N {\n  input a: [B, 4]\n  input b: [B, 4]\n"
                                 "  shared t = T()\n  output y = (a -> t) + (b -> t)\n}\n",
                                 "both.nn")).network("N")
    one = nndsl.load(write_spec(block + "network N {\n  input a: [B, 4]\n  shared t = T()\n"
                                "  output y = a -> t\n}\n", "one.nn")).network("N")
    params, _ = Compiled(both).init(0)
    assert set(params) == {"t.dense_0"}
    a, b = (jnp.asarray(np.random.RandomState(i).randn(2, 4), jnp.float32) for i in (1, 2))

    def total(model, inputs):
        return jax.grad(lambda p: jnp.sum(Compiled(model).apply(p, {}, inputs)[0]["y"]))(params)

    together = total(both, {"a": a, "b": b})["t.dense_0"]["w"]
    apart = total(one, {"a": a})["t.dense_0"]["w"] + total(one, {"a": b})["t.dense_0"]["w"]
    np.testing.assert_allclose(together, apart, rtol=1e-5)


def test_load_needs_the_run_and_matching_shapes(tmp_path):
    from nndsl.fit import checkpoint

    plan = nndsl.load(CONTRACT / "distill.nn").plan("student")
    params, _ = Compiled(plan.graph).init(0)
    with pytest.raises(SpecError, match='load\\(Teacher, "teacher"\\): no run `teacher`'):
        frozen_params(params, plan, tmp_path, "distill")
    run = tmp_path / "distill-teacher"
    run.mkdir()
    teacher = Compiled(nndsl.load(CONTRACT / "distill.nn").network("Teacher")).init(0)[0]
    teacher["dense_0"]["w"] = np.zeros((64, 128), np.float32)
    checkpoint.write(run / "best.ckpt", {"params": teacher})
    with pytest.raises(SpecError, match=r"tensor `dense_0.w` is \[64, 128\] in the run but "
                       r"\[64, 256\] in this spec"):
        frozen_params(params, plan, tmp_path, "distill")


def test_sweep_draws_are_reproducible_and_grid_enumerates(write_spec, tmp_path):
    spec = nndsl.load(CONTRACT / "mlp_digits.nn")
    entries = spec.sweep_entries()
    first = [t.values for t in plan_trials(entries, 5, 0, tmp_path)]
    assert first == [t.values for t in plan_trials(entries, 5, 0, tmp_path)]
    assert first != [t.values for t in plan_trials(entries, 5, 1, tmp_path)]
    assert all(v["hidden"] in (64, 128, 256) and 1e-4 <= v["lr"] <= 1e-2 for v in first)
    text = ("let a = 1\nlet b = 2\nnetwork N {\n  input x: [B, 2]\n  output y = x -> dense(a)\n}\n"
            "sweep {\n  method = grid\n  a = choice(1, 2, 3)\n  b = choice(4, 5)\n}\n")
    grid = nndsl.load(write_spec(text))
    trials = plan_trials(grid.sweep_entries(), 0, 0, tmp_path)
    assert sorted((t.values["a"], t.values["b"]) for t in trials) == [
        (a, b) for a in (1, 2, 3) for b in (4, 5)]


def test_sweep_runs_ranks_and_resumes(tmp_path, capsys):
    args = ["sweep", str(CONTRACT / "mlp_digits.nn"), "--trials", "2", "--epochs", "1",
            "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "ranked by val_loss" in out and "best: --set hidden=" in out
    assert (tmp_path / "trial-000" / "results.json").is_file()
    assert main(args) == 0
    assert capsys.readouterr().out.count("done (earlier)") >= 2


def test_sweep_trials_inherit_the_command_line(tmp_path, capsys):
    # --set values reach every trial (the trial's own draw of a swept name comes after them).
    args = ["sweep", str(CONTRACT / "mlp_digits.nn"), "--trials", "1", "--epochs", "1",
            "--out", str(tmp_path), "--set", "rate=0.3", "--set", "hidden=7", "--seed", "0"]
    assert main(args) == 0
    capsys.readouterr()
    config = json.loads((tmp_path / "trial-000" / "config.json").read_text())
    assert config["set"]["rate"] == 0.3 and config["set"]["hidden"] != 7


def test_sweep_trials_inherit_the_device_options():
    from nndsl.cli.parser import build_parser
    from nndsl.cli.trained import _trial_args

    args = build_parser().parse_args(["sweep", "spec.nn", "--devices", "2", "--device", "cpu"])
    extra = _trial_args(args)
    assert extra[extra.index("--devices") + 1] == "2"
    assert extra[extra.index("--device") + 1] == "cpu"
    assert "--devices" not in _trial_args(build_parser().parse_args(["sweep", "spec.nn"]))
