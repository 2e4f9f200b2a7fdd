"""Acceptance for lottery tickets and memorisation (issue 16; docs/prune.md, docs/data.md).

Slow (minutes): `make accept` or `pytest -m slow`. The numbers measured are in
specs/EXPECTED.md, "Lottery tickets and memorisation".
"""

import json
import os

import jax
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.fit import checkpoint
from nndsl.fit.masks import load
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

LOTTERY = ROOT / "specs" / "lottery.nn"
MEMORISE = ROOT / "specs" / "memorise.nn"


@pytest.fixture(scope="module")
def lottery_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lottery") / "run"
    assert main(["train", str(LOTTERY), "--out", str(out), "--quiet"]) == 0
    return out


def test_the_rewound_ticket_at_20_percent_matches_the_dense_network(lottery_run):
    table = json.loads((lottery_run / "lottery.json").read_text())
    rows = table["rounds"]
    print("\n" + (lottery_run / "lottery.csv").read_text())
    dense, last = rows[0]["ticket"]["accuracy"], rows[-1]
    assert last["fraction"] <= 0.20
    assert abs(last["ticket"]["accuracy"] - dense) <= 0.01, rows
    # The comparison: the same masks from a fresh initialisation, reported beside it.
    assert all(row["reinit"] is not None for row in rows[1:])
    results = json.loads((lottery_run / "results.json").read_text())
    assert results["lottery"]["sparsity"]["dense_1.w"]["remaining"] == 3197
    assert (lottery_run / "lottery.png").stat().st_size > 10_000
    # The lottery's directory stands for its last ticket.
    assert (lottery_run / "best.ckpt").read_bytes() == \
        (lottery_run / "round-3" / "best.ckpt").read_bytes()
    assert (lottery_run / "lottery.csv").read_text().startswith(
        "round,remaining,fraction,ticket_test_accuracy,reinit_test_accuracy")


def test_tickets_start_from_the_rewound_init_and_keep_their_pruned_weights_at_zero(lottery_run):
    from nndsl.lower import Compiled

    plan = nndsl.load(LOTTERY).plan(None, None)
    init, _ = Compiled(plan.graph).init(plan.settings["seed"])
    rewound = checkpoint.read(lottery_run / "rewind.ckpt").group("params")
    for layer, leaves in jax.tree.map(np.asarray, init).items():
        for name, value in leaves.items():
            assert rewound[layer][name].tobytes() == value.tobytes()
    previous = None
    for r in (1, 2, 3):
        masks = load(lottery_run / "masks" / f"round-{r}.ckpt")
        for run in (f"round-{r}", f"round-{r}-reinit"):
            best = checkpoint.read(lottery_run / run / "best.ckpt").group("params")
            for layer, leaves in masks.items():
                for name, mask in leaves.items():
                    assert np.all(best[layer][name][~mask] == 0), (run, layer, name)
                    if previous is not None:  # a round prunes only weights still kept
                        assert not np.any(mask & ~previous[layer][name])
        previous = masks


def test_resuming_a_lottery_retrains_only_its_unfinished_trainings(lottery_run):
    before = json.loads((lottery_run / "lottery.json").read_text())["rounds"]
    kept = (lottery_run / "round-1" / "best.ckpt").stat().st_mtime_ns
    os.remove(lottery_run / "round-3-reinit" / "results.json")
    assert main(["train", str(LOTTERY), "--resume", str(lottery_run), "--quiet"]) == 0
    after = json.loads((lottery_run / "lottery.json").read_text())["rounds"]
    assert (lottery_run / "round-1" / "best.ckpt").stat().st_mtime_ns == kept
    assert [row["ticket"] for row in after] == [row["ticket"] for row in before]
    # Retrained from the same masks and seed: the same result.
    assert after[3]["reinit"] == before[3]["reinit"]


def test_rewinding_to_an_epoch_keeps_that_epochs_weights(tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(LOTTERY), "--out", str(out), "--quiet", "--epochs", "3",
                 "--set", "prune.rewind=2", "--set", "prune.rounds=1",
                 "--set", "prune.reinit=false"]) == 0
    assert checkpoint.read(out / "rewind.ckpt")["epoch"] == 2
    rows = json.loads((out / "lottery.json").read_text())["rounds"]
    assert len(rows) == 2 and rows[1]["reinit"] is None
    assert not (out / "round-1-reinit").exists()


def test_a_wide_mlp_memorises_shuffled_labels_and_stays_at_chance(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(MEMORISE), "--out", str(out), "--quiet"]) == 0
    test = json.loads((out / "results.json").read_text())["test"]["accuracy"]
    capsys.readouterr()
    assert main(["eval", str(MEMORISE), "--run", str(out), "--split", "train",
                 "--format", "json"]) == 0
    train = json.loads(capsys.readouterr().out)["results"]["accuracy"]
    print(f"\nmemorisation: train accuracy {train:.4f}, test accuracy {test:.4f}")
    assert train >= 0.95
    assert abs(test - 0.10) <= 0.05


def test_a_hand_written_jax_lottery_makes_the_same_claim():
    from tests.reference_lottery import lottery

    rows = lottery()
    print("\nhand-written JAX lottery:", rows)
    assert rows[-1]["fraction"] <= 0.20
    assert abs(rows[-1]["ticket"] - rows[0]["ticket"]) <= 0.01
