"""Lottery tickets (docs/prune.md): masks made by magnitude with an exact count per round,
held at exactly zero by the jitted step, rewinding bit-identical, and bad `lottery(...)`
arguments refused with located errors."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.elab.prune import remaining
from nndsl.fit import lottery
from nndsl.fit.loop import Trainer, load_data
from nndsl.fit.masks import apply_masks, full, load, prune, save, sparsity
from nndsl.source import SpecError
from tests.conftest import ROOT

SPEC = ROOT / "specs" / "lottery.nn"


@pytest.fixture(scope="module")
def plan():
    return nndsl.load(SPEC).plan(None, None)


def _init(plan):
    from nndsl.lower import Compiled

    params, _ = Compiled(plan.graph).init(plan.settings["seed"])
    return jax.tree.map(np.asarray, params)


def test_the_default_prunes_the_weight_matrices_not_the_biases(plan):
    assert plan.prune.values["sizes"] == {"dense_0.w": 64 * 128, "dense_1.w": 128 * 128,
                                          "logits.w": 128 * 10}


def test_each_round_prunes_exactly_round_rate_times_the_weights_left(plan):
    params = _init(plan)
    masks = full(params, plan.prune.values["sizes"])
    rate, rng = 0.42, np.random.RandomState(0)
    for r in range(1, 4):
        # Weights with many equal magnitudes: the count stays exact through the ties.
        noisy = jax.tree.map(lambda v: np.round(rng.randn(*v.shape), 1), params)
        before = sparsity(masks)
        masks = prune(noisy, masks, rate)
        for key, left in sparsity(masks).items():
            alive = before[key]["remaining"]
            assert left["remaining"] == alive - int(round(rate * alive))
            assert left["remaining"] == remaining(left["size"], rate, r)[r]
    # Only weights still kept are pruned, smallest first.
    w = np.asarray(params["dense_0"]["w"])
    one = prune(params, full(params, ["dense_0.w"]), 0.5)["dense_0"]["w"]
    assert np.abs(w[one]).min() >= np.abs(w[~one]).max()


def test_masked_weights_are_exactly_zero_after_every_step(plan):
    data = load_data(plan)
    params = _init(plan)
    masks = prune(params, full(params, plan.prune.values["sizes"]), 0.6)
    trainer = Trainer(plan, data, epochs=1, masks=masks)
    params, state, opt_states = trainer.init(0)
    params = apply_masks(params, masks)
    order = trainer.epoch_order(0, 1)
    for i, (batch, _) in enumerate(trainer.batches("train", trainer.batch, order)):
        params, state, opt_states, _, _ = trainer.step(params, state, opt_states, batch,
                                                       jax.random.PRNGKey(i))
        for key in plan.prune.values["sizes"]:
            layer, name = key.split(".")
            value = np.asarray(params[layer][name])
            pruned = value[~masks[layer][name]]
            assert np.all(pruned == 0) and not np.any(np.signbit(pruned)), (i, key)
            assert np.count_nonzero(value[masks[layer][name]]) > 0
        if i == 4:
            break
    # The biases are not pruned: they train.
    assert np.count_nonzero(np.asarray(params["dense_0"]["b"])) > 0


def test_rewinding_restores_the_saved_weights_bit_identically(plan, tmp_path):
    params = _init(plan)
    lottery._keeper(tmp_path, 0)(0, jax.tree.map(jnp.asarray, params))
    rewound = lottery._rewind_params(tmp_path, 0)
    for layer, leaves in params.items():
        for name, value in leaves.items():
            assert rewound[layer][name].dtype == value.dtype
            assert rewound[layer][name].tobytes() == value.tobytes()
    # Another epoch than the rewind point writes nothing.
    lottery._keeper(tmp_path / "none", 3)(2, params)
    assert not (tmp_path / "none").exists()


def test_masks_survive_the_run_directory(plan, tmp_path):
    params = _init(plan)
    masks = prune(params, full(params, plan.prune.values["sizes"]), 0.3)
    save(tmp_path / "round-1.ckpt", masks, 1)
    again = load(tmp_path / "round-1.ckpt")
    for layer, leaves in masks.items():
        for name, mask in leaves.items():
            assert again[layer][name].dtype == bool
            assert np.array_equal(again[layer][name], mask)


PRUNE_LINE = "    prune     = lottery(rounds=3, rate=0.42, rewind=0)"


@pytest.mark.parametrize("call,code,where,phrase", [
    ("lottery(rate=1.5)", "E024", "27:25", "`rate` must be in (0, 1)"),
    ("lottery(rate=0)", "E024", "27:25", "`rate` must be in (0, 1)"),
    ("lottery(rounds=1000)", "E024", "27:25", "`rounds` must be in [1, 100]"),
    ("lottery(rounds=10, rate=0.9)", "E215", "27:17",
     "prunes every weight of `dense_0.w` (8,192) by round 5"),
    ("lottery(layers=[dense_9])", "E216", "27:17", "did you mean `dense_"),
    ("lottery(layers=[dropout_0])", "E216", "27:17", "the model has no layer `dropout_0`"),
    ("lottery(layers=[dense_0, 3])", "E024", "27:25", "a list of names"),
    ("lottery(rewind=101)", "E217", "27:17", "after the last one (100)"),
    ("lotery(rounds=2)", "E063", "27:17", "did you mean `lottery`?"),
])
def test_bad_lottery_arguments_are_located(write_spec, capsys, call, code, where, phrase):
    path = write_spec(SPEC.read_text().replace(PRUNE_LINE, f"    prune     = {call}"))
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"error[{code}]" in err and f":{where}" in err and phrase in err, err


def test_a_bias_is_pruned_only_when_named_and_a_layer_without_weights_is_refused(write_spec):
    text = SPEC.read_text().replace(PRUNE_LINE, "    prune = lottery(layers=[dense_0, logits.b])")
    sizes = nndsl.load(write_spec(text)).plan(None, None).prune.values["sizes"]
    assert sizes == {"dense_0.w": 8192, "logits.b": 10}
    text = SPEC.read_text().replace("-> dense(10)", "-> dense(10) -> layernorm")
    text = text.replace(PRUNE_LINE, "    prune = lottery(layers=[logits])")
    with pytest.raises(SpecError) as caught:
        nndsl.load(write_spec(text)).plan(None, None)
    assert caught.value.diagnostics[0].code == "E218"


def test_the_lottery_is_settable_from_the_command_line(write_spec):
    spec = nndsl.load(SPEC, overrides={"prune.rounds": 2, "prune.layers": "dense_0,dense_1"})
    values = spec.plan(None, None).prune.values
    assert values["rounds"] == 2 and list(values["sizes"]) == ["dense_0.w", "dense_1.w"]


def test_resuming_another_run_as_a_lottery_is_refused(plan, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"settings": {}}))
    options = type("Options", (), {"run_dir": tmp_path, "overrides": []})
    with pytest.raises(SpecError) as caught:
        lottery._check_lottery(plan, options)
    assert caught.value.diagnostics[0].code == "E219"
    assert "not a lottery run" in caught.value.diagnostics[0].message


def test_a_dense_run_that_stopped_before_the_rewind_epoch_is_reported(tmp_path):
    (tmp_path / "round-0").mkdir()
    (tmp_path / "round-0" / "results.json").write_text(json.dumps({"epochs_run": 4}))
    with pytest.raises(SpecError) as caught:
        lottery._rewind_params(tmp_path, 9)
    assert caught.value.diagnostics[0].code == "E220"
    assert "stopped after epoch 4, before the rewind epoch 9" in \
        caught.value.diagnostics[0].message


def test_the_lottery_specs_parameter_count():
    from nndsl.ir import count_params

    assert count_params(nndsl.load(SPEC).network("MLP")) == 26_122


def test_summary_prints_the_sparsity_each_round_leaves_without_jax():
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom nndsl.cli import main\n"
            f"main(['summary', {str(SPEC)!r}])\n"
            f"main(['summary', {str(SPEC)!r}, '--format', 'json'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'optax')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    lines = out.stdout.splitlines()
    assert lines[-1] == "[]"
    assert any("dense_1.w" in line and "16,384 → 9,503 → 5,512 → 3,197" in line
               and "sparsity 80.5%" in line for line in lines), out.stdout
    data = json.loads(out.stdout[out.stdout.index("\n{") + 1:out.stdout.rindex("}") + 1])
    assert data["lottery"]["schedule"][-1]["remaining"] == 5044


def test_a_bad_set_value_for_the_lottery_is_located_at_the_spec(capsys):
    assert main(["check", str(SPEC), "--set", "prune.rate=1.5"]) == 1
    err = capsys.readouterr().err
    assert "lottery.nn:27:17: error[E024]: --set prune.rate=1.5: `rate` must be in (0, 1)" \
        in err, err
    assert "Traceback" not in err
