"""Learned learning rates (nndsl/fit/hypergrad.py): hypergradient descent's update (Baydin et
al. 2018), the rate in metrics.csv and curves.png, and no schedule with a learned rate."""

import csv
import io

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nndsl.cli import main
from nndsl.fit.hypergrad import HypergradientState, hypergradient, learned_rates
from tests.conftest import CONTRACT

XOR = (CONTRACT / "perceptron_xor.nn").read_text()


def test_the_rate_follows_the_agreement_of_successive_gradients():
    rule = hypergradient(optax.identity(), lr=0.1, hyper_lr=0.5)  # SGD-HD
    params = {"w": jnp.asarray([1.0, -2.0])}
    state = rule.init(params)
    g0, g1 = {"w": jnp.asarray([1.0, 1.0])}, {"w": jnp.asarray([2.0, -1.0])}
    updates, state = rule.update(g0, state)  # no previous direction: the rate stays
    assert float(state.lr) == pytest.approx(0.1)
    assert np.allclose(updates["w"], [-0.1, -0.1])
    updates, state = rule.update(g1, state)  # alpha + beta * g1 . g0 = 0.1 + 0.5 * 1
    assert float(state.lr) == pytest.approx(0.6)
    assert np.allclose(updates["w"], [-1.2, 0.6])


def test_a_rate_too_small_rises_on_a_quadratic():
    rule = hypergradient(optax.scale_by_adam(), lr=1e-4, hyper_lr=1e-4)  # Adam-HD
    params = {"w": jnp.full(10, 5.0)}
    state = rule.init(params)
    for _ in range(50):
        updates, state = rule.update({"w": params["w"]}, state)  # grad of |w|^2 / 2
        params = optax.apply_updates(params, updates)
    assert float(state.lr) > 1e-3


def test_learned_rates_are_found_in_chained_states():
    inner = HypergradientState(jnp.asarray(0.25), {}, ())
    states = [(optax.EmptyState(), inner), (optax.EmptyState(),)]
    assert learned_rates(["loss_G", "loss_D"], states) == {"lr_G": 0.25}
    assert learned_rates(["loss"], [inner]) == {"lr": 0.25}


def test_training_logs_the_learned_rate(write_spec, tmp_path):
    spec = write_spec(XOR.replace("optimizer = sgd(lr=0.5, momentum=0.9)",
                                  "optimizer = sgd_hd(lr=0.05, hyper_lr=0.01)"))
    run = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(run), "--epochs", "3", "--quiet"]) == 0
    rows = list(csv.DictReader(io.StringIO((run / "metrics.csv").read_text())))
    rates = [float(r["lr"]) for r in rows]
    assert len(rates) == 3 and rates[0] != 0.05  # the rate moved
    assert (run / "curves.png").stat().st_size > 0


def test_a_learned_rate_with_a_schedule_is_refused(write_spec, capsys):
    spec = write_spec(XOR.replace("optimizer = sgd(lr=0.5, momentum=0.9)",
                                  "optimizer = adam_hd(lr=0.01)\n    schedule = cosine()"))
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "error[E283]: `adam_hd` learns its learning rate" in err and ":21:16:" in err


@pytest.mark.slow
def test_a_rate_ten_times_too_small_catches_up_with_the_tuned_run(tmp_path):
    """mlp_digits: Adam-HD from lr 3e-4 reaches the best validation loss of Adam at its
    tuned 3e-3 within 20% more epochs (measured: epoch 23 against 28)."""
    import json

    from bench.hypergradient import RUNS, START, TUNED, reached, rows, train

    tuned_name, learned_name = f"adam lr={TUNED} (tuned)", f"adam_hd from lr={START}"
    runs = {name: train(tmp_path, name, RUNS[name]) for name in (tuned_name, learned_name)}
    tuned = json.loads((runs[tuned_name] / "results.json").read_text())
    learned = rows(runs[learned_name])
    assert learned[0]["lr"] > float(TUNED)  # within epoch 1 the rate rose past the tuned one
    epoch = reached(learned, tuned["best"])
    assert epoch is not None and epoch <= 1.2 * tuned["best_epoch"]
