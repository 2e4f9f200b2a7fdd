"""Acceptance for issue 17's semi-supervised and conditional specs (EXPECTED.md targets),
each next to its hand-written JAX reference (tests/semisup_reference.py), which confirms
the threshold is the method's and not an accident of nndsl.

Slow: `make accept` or `pytest -m slow`.
"""

import json

import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.fit import checkpoint
from nndsl.lower import Compiled
from tests import semisup_reference as reference
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
SPECS = ROOT / "specs"
SEEDS = (0, 1, 2)


def _train(spec: str, out, *extra) -> dict:
    args = ["train", str(SPECS / spec), "--runs", str(out.parent), "--out", str(out), "--quiet"]
    assert main([*args, *extra]) == 0
    return json.loads((out / "results.json").read_text())


def _accuracy(results: dict) -> float:
    return next(v for k, v in results["test"].items() if k.startswith("accuracy"))


def test_semi_supervised_beats_the_supervised_baseline_on_the_same_labels(tmp_path):
    nn = {section: [_accuracy(_train("semi_supervised.nn", tmp_path / f"{section}-{seed}",
                                     "--train", section, "--set", f"seed={seed}"))
                    for seed in SEEDS] for section in ("semi", "supervised")}
    ref = {"semi": [reference.semi_supervised(s, 30.0, 1.0) for s in SEEDS],
           "supervised": [reference.semi_supervised(s, 0.0, 0.0) for s in SEEDS]}
    for name, numbers in (("nndsl", nn), ("reference", ref)):
        print(f"\n{name}: test accuracy with 10% of the labels, seeds {SEEDS}: "
              f"semi {np.round(numbers['semi'], 4)} (mean {np.mean(numbers['semi']):.4f}), "
              f"supervised {np.round(numbers['supervised'], 4)} "
              f"(mean {np.mean(numbers['supervised']):.4f})")
    gain = np.mean(nn["semi"]) - np.mean(nn["supervised"])
    assert gain >= 0.01
    assert np.mean(ref["semi"]) - np.mean(ref["supervised"]) >= 0.01  # the method's own gain
    assert abs(np.mean(nn["semi"]) - np.mean(ref["semi"])) <= 0.02


def test_conditional_gan_draws_each_class_from_its_own_mode(tmp_path, capsys):
    run = tmp_path / "cgan"
    _train("cgan.nn", run)
    part = checkpoint.network_part(checkpoint.read(run / "best.ckpt"), "Generator")
    classes = np.repeat(np.arange(8, dtype=np.int32), 1000)
    z = np.random.RandomState(1).randn(len(classes), 8).astype(np.float32)
    compiled = Compiled(nndsl.load(SPECS / "cgan.nn").network("Generator"))
    points = np.asarray(compiled.apply(part["params"], {}, {"z": z, "c": classes})[0]["x"])
    fractions = reference.own_mode_fractions(points, classes)
    by_hand = reference.conditional_gan()
    print(f"\nnndsl cGAN, per mode, share of its points nearest it: {np.round(fractions, 3)}"
          f"\nreference cGAN: {np.round(by_hand, 3)}")
    assert fractions.min() >= 0.9 and by_hand.min() >= 0.9
    assert main(["sample", str(SPECS / "cgan.nn"), "--run", str(run), "-o",
                 str(tmp_path / "cgan.png")]) == 0
    assert (tmp_path / "cgan.png").stat().st_size > 10_000
