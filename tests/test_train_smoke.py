"""Every train section of every contract spec compiles and takes finite training steps that
move its parameters (and leave frozen ones alone)."""

import jax
import numpy as np
import pytest

import nndsl
from nndsl.fit import checkpoint
from nndsl.fit.loop import Trainer, frozen_params, load_data
from nndsl.lower import Compiled
from tests.conftest import CONTRACT, ROOT

# The contract specs, and the project's own specs beside them (specs/: the contract's copy
# plus the specs added since), each file once.
SPEC_FILES = sorted({p.name: p for p in [*(ROOT / "specs").glob("*.nn"),
                                         *CONTRACT.glob("*.nn")]}.values())
SECTIONS = [(p, t.name) for p in SPEC_FILES for t in nndsl.load(p).program.trains]


@pytest.mark.parametrize("path,section", SECTIONS,
                         ids=[f"{p.stem}-{s or 'train'}" for p, s in SECTIONS])
def test_one_training_step(path, section, tmp_path):
    plan = nndsl.load(path, {"T": 12} if "adding" in path.stem else None).plan(section)
    trainer = Trainer(plan, load_data(plan), 1)
    params, state, opt_states = trainer.init(0)
    loads = sorted({layer.split(".")[0] for layer in params if "@" in layer})
    for loaded in loads:
        # load(Teacher, "teacher"): stand in a run with the loaded network's fresh parameters.
        network, run = loaded.split("@", 1)
        run_dir = tmp_path / f"{path.stem}-{run}"
        run_dir.mkdir()
        fresh = Compiled(nndsl.load(path).network(network)).init(1)[0]
        checkpoint.write(run_dir / "best.ckpt", {"params": fresh})
    if loads:
        params = frozen_params(params, plan, tmp_path, path.stem)
    before = jax.tree.map(np.asarray, params)
    batch = {k: v[:trainer.batch] for k, v in trainer.device_data["train"].items()}
    # Two steps: a warm-up schedule starts at a learning rate of 0.
    for step in range(2):
        params, state, opt_states, losses, ok = trainer.step(params, state, opt_states, batch,
                                                              jax.random.PRNGKey(step))
        assert bool(ok) and np.all(np.isfinite(np.asarray(losses)))
    for objective in plan.objectives:
        changed = [k for k in objective.keys
                   if not np.array_equal(before[k.rpartition(".")[0]][k.rpartition(".")[2]],
                                         params[k.rpartition(".")[0]][k.rpartition(".")[2]])]
        assert changed, f"{objective.network or 'model'}: no parameter moved"
    frozen = [layer for layer in before if "@" in layer]
    for layer in frozen:
        for name in before[layer]:
            np.testing.assert_array_equal(before[layer][name], params[layer][name])
