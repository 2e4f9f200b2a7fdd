"""Loss landscapes and the Hessian of a trained run (nndsl/landscape.py, nndsl/hessian.py,
`nndsl landscape`, `nndsl hessian`): filter normalisation as Li et al. (2018) define it, the
grid's centre is the run's training loss, the line between runs, the top eigenvalues."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from nndsl.cli import main
from nndsl.landscape import axis, contour_levels, filter_normalised
from nndsl.runs import evaluate
from tests.conftest import CONTRACT

XOR = str(CONTRACT / "perceptron_xor.nn")


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("landscape") / "xor"
    assert main(["train", XOR, "--out", str(run), "--epochs", "5", "--quiet"]) == 0
    return run


def test_filter_normalisation_follows_the_paper():
    rng = np.random.RandomState(0)
    params = {"conv": {"w": jnp.asarray(rng.standard_normal((2, 2, 3, 5))),
                       "b": jnp.asarray(rng.standard_normal(5))},
              "dense": {"w": jnp.asarray(3.0 * rng.standard_normal((4, 6)))}}
    direction = {layer: {k: jnp.asarray(rng.standard_normal(v.shape)) for k, v in leaves.items()}
                 for layer, leaves in params.items()}
    normalised = filter_normalised(direction, params)
    for layer, name in (("conv", "w"), ("dense", "w")):
        d, theta, got = (np.asarray(t[layer][name]) for t in (direction, params, normalised))
        for j in range(theta.shape[-1]):  # filter j: output unit j, the last axis
            want = d[..., j] / np.linalg.norm(d[..., j]) * np.linalg.norm(theta[..., j])
            assert np.allclose(got[..., j], want)
    assert not np.asarray(normalised["conv"]["b"]).any()  # biases are not moved


def test_contour_levels_keep_losses_at_or_below_zero():
    """A loss that goes negative is contoured linearly over its own range, not clipped flat
    at a positive floor as a log scale would."""
    signed = contour_levels(np.array([-2.0, -0.5, 0.0, 3.0]))
    assert signed[0] == -2.0 and signed[-1] == 3.0
    assert np.allclose(np.diff(signed), 5.0 / 24)
    wide = contour_levels(np.array([0.01, 0.1, 5.0]))
    assert np.allclose(wide[[0, -1]], [0.01, 5.0])
    assert np.allclose(wide[1] / wide[0], wide[2] / wide[1])
    assert np.all(np.diff(contour_levels(np.array([0.7, 0.7]))) > 0)


def test_an_odd_axis_has_exactly_zero_at_its_middle():
    assert axis(7, 1.0)[3] == 0.0 and axis(7, 1.0)[0] == -1.0 and len(axis(6, 1.0)) == 6


@pytest.mark.parametrize("dims", [1, 2])
def test_the_centre_of_the_grid_is_the_runs_training_loss(xor_run, dims, capsys):
    assert main(["landscape", XOR, "--run", str(xor_run), "--dims", str(dims),
                 "--steps", "5"]) == 0
    grid = np.load(xor_run / f"landscape-{dims}d.npz")
    trained = evaluate(XOR, xor_run, "train")["loss"]
    assert grid["loss"].shape == (5,) * dims
    assert grid["loss"][(2,) * dims] == pytest.approx(trained, rel=1e-6)
    assert grid["loss"].min() < grid["loss"].max()  # the directions do move the loss
    assert (xor_run / f"landscape-{dims}d.png").stat().st_size > 0
    assert "training loss at the centre" in capsys.readouterr().out


def test_the_line_between_two_runs_passes_through_both(xor_run):
    assert main(["landscape", XOR, "--run", str(xor_run), "--to", str(xor_run),
                 "--steps", "5"]) == 0
    line = np.load(xor_run / "landscape-line.npz")
    assert list(line["t"]) == [-0.5, 0.0, 0.5, 1.0, 1.5]
    assert np.allclose(line["loss"], evaluate(XOR, xor_run, "train")["loss"], rtol=1e-6)


def test_hessian_gives_the_top_eigenvalues(xor_run, capsys):
    assert main(["hessian", XOR, "--run", str(xor_run), "--top", "2", "--iters", "17"]) == 0
    record = json.loads((xor_run / "hessian.json").read_text())
    values = record["eigenvalues"]
    assert len(values) == 2 and values[0] >= values[1]
    assert "λ1 = " in capsys.readouterr().out


def test_a_run_without_a_checkpoint_is_a_located_error(tmp_path, capsys):
    assert main(["landscape", XOR, "--run", str(tmp_path)]) == 1
    assert "error[E083]" in capsys.readouterr().err
