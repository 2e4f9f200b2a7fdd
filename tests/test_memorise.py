"""Memorisation data (docs/data.md): `labels=` and `pixels=` of the bundled classification
sets corrupt the data as a fixed function of the seed."""

import numpy as np
import pytest

from nndsl.cli import main
from nndsl.data.sources import LOADERS
from tests.conftest import ROOT

BASE = {"val": 0.1, "test": 0.2, "seed": 0, "labels": "original", "pixels": "original"}


def digits(**options):
    return LOADERS["digits"]({**BASE, **options})


def test_shuffled_labels_are_a_fixed_function_of_the_seed():
    true = digits()
    once, again = digits(labels="shuffled"), digits(labels="shuffled")
    other = digits(labels="shuffled", seed=1)
    assert np.array_equal(once["train"]["y"], again["train"]["y"])
    assert not np.array_equal(once["train"]["y"], true["train"]["y"])
    assert not np.array_equal(other["train"]["y"], digits(seed=1)["train"]["y"])
    # A permutation of the training labels: the class counts stay, most pairings go.
    assert np.array_equal(np.bincount(once["train"]["y"]), np.bincount(true["train"]["y"]))
    assert np.mean(once["train"]["y"] == true["train"]["y"]) < 0.2
    # The images, and the validation and test labels, are the true ones.
    assert np.array_equal(once["train"]["x"], true["train"]["x"])
    for split in ("val", "test"):
        assert np.array_equal(once[split]["y"], true[split]["y"])


def test_random_labels_are_uniform_draws_fixed_by_the_seed():
    once, again = digits(labels="random"), digits(labels="random")
    assert np.array_equal(once["train"]["y"], again["train"]["y"])
    assert once["train"]["y"].dtype == np.int32
    assert set(np.unique(once["train"]["y"])) == set(range(10))


def test_shuffled_pixels_are_one_permutation_for_every_image():
    true, shuffled = digits(), digits(pixels="shuffled")
    for split in ("train", "val", "test"):
        flat, moved = (d[split]["x"].reshape(len(d[split]["x"]), -1) for d in (true, shuffled))
        # One permutation of positions maps every image: each shuffled position, across all
        # the images, is some original position, and the positions move.
        columns = {flat[:, i].tobytes() for i in range(64)}
        assert all(moved[:, j].tobytes() in columns for j in range(64))
        assert not np.array_equal(flat, moved)
        assert np.array_equal(true[split]["y"], shuffled[split]["y"])
    assert np.array_equal(digits(pixels="shuffled")["train"]["x"], shuffled["train"]["x"])


def test_random_pixels_permute_each_image_on_its_own():
    true, moved = digits(), digits(pixels="random")
    flat = true["train"]["x"].reshape(-1, 64)
    other = moved["train"]["x"].reshape(-1, 64)
    assert np.array_equal(np.sort(flat, 1), np.sort(other, 1))
    assert not np.array_equal(flat, other)


def test_the_options_are_checked_and_documented_in_the_catalog(write_spec, capsys):
    text = (ROOT / "specs" / "memorise.nn").read_text().replace("labels=shuffled",
                                                                "labels=shufled")
    assert main(["check", str(write_spec(text))]) == 1
    err = capsys.readouterr().err
    assert "error[E024]" in err and "did you mean `shuffled`" in err and "Traceback" not in err


@pytest.mark.parametrize("source", ["digits", "waves"])
def test_the_classification_sources_take_the_options(source):
    from nndsl.data.catalog import SOURCES

    names = [h.name for h in SOURCES[source].hypers]
    assert "labels" in names and "pixels" in names


def test_the_memorisation_specs_parameter_count():
    import nndsl
    from nndsl.ir import count_params

    assert count_params(nndsl.load(ROOT / "specs" / "memorise.nn").network("WideMLP")) == \
        1_126_410
