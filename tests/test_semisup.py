"""Semi-supervised data and losses, conditional generators and `nndsl sample` (issue 17).

The training targets are in tests/test_accept_semisup.py (slow)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.data.catalog import SOURCES
from nndsl.data.sources import LOADERS
from nndsl.ir import count_params
from nndsl.lower import Compiled
from tests.conftest import ROOT

SPECS = ROOT / "specs"
DIGITS = {"val": 0.1, "test": 0.2, "seed": 0}


@pytest.mark.parametrize("spec,network,count", [
    ("semi_supervised.nn", "SemiNet", 17_866), ("cgan.nn", "Generator", 19_010),
    ("cgan.nn", "Discriminator", 18_113), ("cvae.nn", "Encoder", 9_940),
    ("cvae.nn", "Decoder", 9_744)])
def test_parameter_counts_match_expected(spec, network, count):
    assert count_params(nndsl.load(SPECS / spec).network(network)) == count


def test_labels_keep_the_same_fraction_of_every_class_and_hide_the_rest():
    full = LOADERS["digits"]({**DIGITS, "labelled": None})
    part = LOADERS["digits"]({**DIGITS, "labelled": 0.1})
    keep = part["train"]["labelled"] == 1
    np.testing.assert_array_equal(part["train"]["x"], full["train"]["x"])
    np.testing.assert_array_equal(part["train"]["y"][keep], full["train"]["y"][keep])
    assert (part["train"]["y"][~keep] == 0).all()
    for c in range(10):
        members = full["train"]["y"] == c
        assert keep[members].sum() == max(1, round(0.1 * members.sum()))
    for split in ("val", "test"):  # evaluation sees every label
        np.testing.assert_array_equal(part[split]["y"], full[split]["y"])
        assert (part[split]["labelled"] == 1).all()
    again = LOADERS["digits"]({**DIGITS, "labelled": 0.1})
    np.testing.assert_array_equal(again["train"]["labelled"], part["train"]["labelled"])


def test_without_labels_a_source_has_no_labelled_field():
    assert "labelled" not in SOURCES["digits"].fields({**DIGITS, "labelled": None})
    assert "labelled" not in LOADERS["digits"]({**DIGITS, "labelled": None})["train"]
    assert SOURCES["digits"].fields({**DIGITS, "labelled": 0.5})["labelled"].dtype == "f32"


def test_the_ring_gives_each_point_its_mode_index():
    ring = LOADERS["ring"]({"modes": 8, "radius": 2.0, "std": 0.02, "train": 500, "seed": 0,
                            "labelled": None})["train"]
    angles = 2 * np.pi * np.arange(8) / 8
    modes = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    nearest = np.linalg.norm(ring["x"][:, None] - modes[None], axis=-1).argmin(1)
    np.testing.assert_array_equal(nearest, ring["y"])
    assert ring["y"].dtype == np.int32


SPEC = """network N {{
    input x: [B, 8, 8, 1]
    output logits = x -> flatten -> dense(16) -> relu -> dense(10)
}}
train {{
    model = N
    data = digits(labelled={labels}, seed=0)
    loss = cross_entropy(logits, y, mask=labelled)
    optimizer = adam(lr=1e-3)
}}
"""


@pytest.mark.parametrize("labels", ["0", "1.5", "-0.1", "2"])
def test_a_labels_fraction_outside_0_1_is_a_located_error(write_spec, capsys, labels):
    path = write_spec(SPEC.format(labels=labels))
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:7:19: error[E245]" in err and "not a fraction in (0, 1]" in err, err
    assert "Traceback" not in err


def test_labels_of_one_keep_every_label(write_spec, capsys):
    assert main(["check", str(write_spec(SPEC.format(labels="1")))]) == 0
    keep = LOADERS["digits"]({**DIGITS, "labelled": 1.0})["train"]["labelled"]
    assert (keep == 1).all()


def _masked_loss(write_spec):
    """The masked cross-entropy of a small network, and its gradient in the parameters and
    the inputs."""
    graph = nndsl.load(write_spec(
        "network N {\n  input x: [B, 6]\n  input y: [B] i32\n  input labelled: [B]\n"
        "  logits = x -> dense(12) -> tanh -> dense(4)\n"
        "  output loss = cross_entropy(logits, y, mask=labelled)\n}\n")).network("N")
    compiled = Compiled(graph)
    params, state = compiled.init(0)

    def loss(p, x, y, keep):
        return compiled.apply(p, state, {"x": x, "y": y, "labelled": keep})[0]["loss"]

    return params, jax.jit(jax.grad(loss, argnums=(0, 1)))


def test_masked_loss_gradient_from_unlabelled_examples_is_exactly_zero(write_spec):
    params, grad = _masked_loss(write_spec)
    rng = np.random.RandomState(0)
    x = rng.randn(16, 6).astype(np.float32)
    y = rng.randint(4, size=16).astype(np.int32)
    keep = (rng.rand(16) < 0.3).astype(np.float32)
    keep[0] = 1
    g_params, g_x = grad(params, x, y, keep)
    assert (np.asarray(g_x)[keep == 0] == 0).all()  # exactly, not approximately
    assert np.abs(np.asarray(g_x)[keep == 1]).sum() > 0
    # Whatever the unlabelled examples hold, the parameters' gradient is bit-identical.
    x2, y2 = x.copy(), y.copy()
    x2[keep == 0] = 100 * rng.randn(int((keep == 0).sum()), 6)
    y2[keep == 0] = (y2[keep == 0] + 1) % 4
    g_other, _ = grad(params, x2, y2, keep)
    for a, b in zip(jax.tree_util.tree_leaves(g_params), jax.tree_util.tree_leaves(g_other)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # and it is the gradient of the labelled examples alone.
    rows = keep == 1
    g_alone, _ = grad(params, x[rows], y[rows], keep[rows])
    for a, b in zip(jax.tree_util.tree_leaves(g_params), jax.tree_util.tree_leaves(g_alone)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_a_batch_without_labels_gives_a_zero_gradient_not_nan(write_spec):
    params, grad = _masked_loss(write_spec)
    x = jnp.ones((8, 6))
    g_params, _ = grad(params, x, jnp.zeros(8, jnp.int32), jnp.zeros(8))
    assert all((np.asarray(g) == 0).all() for g in jax.tree_util.tree_leaves(g_params))


def test_the_gradient_pass_reaches_parameters_through_a_masked_loss():
    """A network reached only through the masked cross-entropy is trained: at run time a
    batch may hold no labelled example, but statically the logits carry the gradient."""
    spec = nndsl.load(SPECS / "semi_supervised.nn")
    semi = spec.plan("semi").objectives[0].report
    assert len(semi.trained) == 6 and not semi.blocked
    supervised = spec.plan("supervised").objectives[0].report
    assert sorted(supervised.trained) == ["dense_0.b", "dense_0.w", "logits.b", "logits.w"]
    assert set(supervised.blocked.values()) == {"not used by this loss"}
    assert not supervised.diagnostics


def test_parameters_reached_only_through_a_mask_are_named_so(write_spec, capsys):
    path = write_spec(
        "network Net {\n  input x: [B, 8, 8, 1]\n  output logits = x -> flatten -> dense(10)\n}\n"
        "network Gate {\n  input x: [B, 8, 8, 1]\n"
        "  output score = x -> flatten -> dense(1) -> squeeze(1)\n}\n"
        "train {\n  data = digits(labelled=0.1)\n  keep = sigmoid(Gate(x))\n"
        "  loss = cross_entropy(Net(x), y, mask=keep)\n  optimizer = adam(lr=1e-3)\n}\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:12:10: error[E050]" in err, err
    assert "enters `cross_entropy` through `mask`, which carries no gradient" in err, err


def test_an_unmasked_loss_on_partly_hidden_labels_is_a_located_error(write_spec, capsys):
    path = write_spec(SPEC.format(labels="0.1").replace(", mask=labelled", ""))
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:8:12: error[E249]: `cross_entropy` reads `y` of a source with labelled=0.1 " \
           "without a mask" in err, err
    assert main(["check", str(write_spec(SPEC.format(labels="0.1"), "masked.nn"))]) == 0


def test_a_train_section_without_model_or_steps_renders_and_checks(tmp_path, capsys):
    """Its loss trains every network it calls: named so, not `None` (nor a crash)."""
    spec = str(SPECS / "semi_supervised.nn")
    assert main(["render", spec, "--train", "semi", "-o", str(tmp_path / "semi.dot")]) == 0
    assert "trained by the loss" in (tmp_path / "semi.dot").read_text()
    assert main(["check", spec]) == 0
    assert "train semi: its networks on digits()" in capsys.readouterr().out
