"""`nndsl sample`: which mode fits which network, the pictures, and its located errors.

Runs here hold freshly initialised parameters (written as `nndsl train` writes them), so the
tests stay fast; tests/test_accept_semisup.py samples a trained cGAN."""

import json

import numpy as np
import pytest

import nndsl
from nndsl.cli import main, sample
from nndsl.fit import checkpoint
from nndsl.lower import Compiled
from tests.conftest import CONTRACT, ROOT

SPECS = ROOT / "specs"


def _run(tmp_path, spec: str, networks: list[str], folder=SPECS):
    """A run directory of `spec` holding its networks' initial parameters."""
    loaded = nndsl.load(folder / spec)
    params = {}
    for seed, name in enumerate(networks):
        initial, _ = Compiled(loaded.network(name)).init(seed)
        params.update({f"{name}.{layer}": leaves for layer, leaves in initial.items()})
    run = tmp_path / spec.removesuffix(".nn")
    run.mkdir()
    checkpoint.write(run / "best.ckpt", {"params": params, "state": {}, "epoch": 1})
    (run / "config.json").write_text(json.dumps({"spec": spec, "model": None}))
    return run


@pytest.mark.parametrize("path,network,mode", [
    (SPECS / "cgan.nn", "Generator", "points"), (SPECS / "cgan.nn", "Discriminator", None),
    (SPECS / "cvae.nn", "Decoder", "images"), (SPECS / "cvae.nn", "Encoder", None),
    (CONTRACT / "gan.nn", "Generator", "points"), (CONTRACT / "vae.nn", "VAE", None),
    (CONTRACT / "mlp_digits.nn", "MLP", None)])
def test_the_mode_table_picks_the_sampler_by_the_network(path, network, mode):
    found = sample.mode_for(nndsl.load(path).network(network))
    assert (found.name if found else None) == mode


def test_a_conditional_generator_knows_its_classes():
    inputs = sample.generator_inputs(nndsl.load(SPECS / "cvae.nn").network("Decoder"))
    assert (inputs.noise, inputs.width, inputs.condition, inputs.classes) == ("z", 2, "c", 10)
    plain = sample.generator_inputs(nndsl.load(CONTRACT / "gan.nn").network("Generator"))
    assert (plain.noise, plain.width, plain.condition, plain.classes) == ("z", 8, None, None)


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_sample_draws_a_row_per_class_by_default(tmp_path, capsys):
    run = _run(tmp_path, "cvae.nn", ["Encoder", "Decoder"])
    assert main(["sample", str(SPECS / "cvae.nn"), "--run", str(run), "-n", "4"]) == 0
    assert f"wrote {run / 'samples.png'}: 40 images of Decoder" in capsys.readouterr().out
    grid = _png_size(run / "samples.png")
    assert main(["sample", str(SPECS / "cvae.nn"), "--run", str(run), "--class", "3",
                 "-n", "4", "-o", str(tmp_path / "three.png")]) == 0
    one = _png_size(tmp_path / "three.png")
    assert grid[1] > 3 * one[1]  # ten rows against one


def test_sample_scatter_plots_points_of_every_class(tmp_path, capsys):
    run = _run(tmp_path, "cgan.nn", ["Generator", "Discriminator"])
    out = tmp_path / "ring.png"
    assert main(["sample", str(SPECS / "cgan.nn"), "--run", str(run), "-n", "50", "-o",
                 str(out)]) == 0
    assert "400 points of Generator" in capsys.readouterr().out
    assert _png_size(out)[0] > 200


def test_draw_gives_each_class_its_rows():
    graph = nndsl.load(SPECS / "cgan.nn").network("Generator")
    seen = {}

    def apply(feed):
        seen.update(feed)
        return {"x": np.zeros((len(feed["z"]), 2), np.float32)}

    request = sample.Request("Generator", graph, apply, None, 3, 7, None)
    points, classes = sample.draw(request, 500)
    assert points.shape == (24, 2) and list(classes) == [k for k in range(8) for _ in range(3)]
    np.testing.assert_array_equal(seen["z"], np.random.RandomState(7).standard_normal(
        (24, 8)).astype(np.float32))


@pytest.mark.parametrize("extra,code,where,phrase", [
    (["--model", "Discriminator"], "E246", "<command line>:1:9",
     "`Discriminator` (x: [B, 2], c: [B] i32) is not a network `sample` can draw from"),
    (["--class", "8"], "E247", "<command line>:1:9", "--class takes 0 to 7"),
    (["--class", "-1"], "E247", "<command line>:1:9", "--class takes 0 to 7"),
    (["--model", "Generator", "--class", "1", "--set", "modes=8"], None, None, None),
])
def test_sample_errors_are_located(tmp_path, capsys, extra, code, where, phrase):
    run = _run(tmp_path, "cgan.nn", ["Generator", "Discriminator"])
    result = main(["sample", str(SPECS / "cgan.nn"), "--run", str(run), "-n", "2",
                   "-o", str(tmp_path / "x.png"), *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code is None:
        assert result == 0, err
        return
    assert result == 1 and f"{where}: error[{code}]" in err and phrase in err, err


def test_an_unconditional_generator_takes_no_class_and_images_fit_a_row(tmp_path, capsys):
    gan = _run(tmp_path, "gan.nn", ["Generator", "Discriminator"], CONTRACT)
    assert main(["sample", str(CONTRACT / "gan.nn"), "--run", str(gan), "--class", "1"]) == 1
    err = capsys.readouterr().err
    assert "<command line>:1:9: error[E247]: `Generator` takes no class" in err, err
    assert main(["sample", str(CONTRACT / "gan.nn"), "--run", str(gan), "-n", "30"]) == 0
    assert "30 points of Generator" in capsys.readouterr().out
    vae = _run(tmp_path, "cvae.nn", ["Encoder", "Decoder"])
    assert main(["sample", str(SPECS / "cvae.nn"), "--run", str(vae), "-n", "65"]) == 1
    err = capsys.readouterr().err
    assert "<command line>:1:4: error[E248]" in err and "at most 64 images" in err, err
