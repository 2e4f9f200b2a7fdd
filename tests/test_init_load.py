"""`init = load(Net, "run")`: a model that starts from an earlier run and trains on; a frozen
`load(...)` beside it stays bit-identical. Mismatches are located errors (E231 static,
E232 against the run's checkpoint)."""

import jax
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.fit import checkpoint
from tests.conftest import CONTRACT

SPEC = """
let width = 8

network Net {
    input x: [B, 8, 8, 1]
    output logits = x -> flatten -> dense(width) -> relu -> dense(10)
}

network Other {
    input x: [B, 8, 8, 1]
    output logits = x -> flatten -> dense(5) -> relu -> dense(10)
}

train base {
    model     = Net
    data      = digits(keep=0.05, seed=0)
    loss      = cross_entropy(logits, y)
    optimizer = adam(lr=1e-2)
    batch     = 32
    epochs    = 1
    seed      = 0
}

train tuned {
    model     = Net
    INIT
    data      = digits(keep=0.05, seed=0)
    soft      = load(Net, "base")(x).logits                 # frozen
    loss      = cross_entropy(logits, y) + distill(logits, soft)
    optimizer = adam(lr=1e-2)
    batch     = 32
    epochs    = 1
    seed      = 1
}
"""


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A spec with a trained `base` run under its runs root."""
    root = tmp_path_factory.mktemp("init")
    path = root / "spec.nn"
    path.write_text(SPEC.replace("INIT", 'init      = load(Net, "base")'))
    assert main(["train", str(path), "--train", "base", "--runs", str(root / "runs"),
                 "--quiet"]) == 0
    return path, root / "runs"


def without_frozen(text: str) -> str:
    return text.replace('    soft      = load(Net, "base")(x).logits                 # frozen\n',
                        "").replace(" + distill(logits, soft)", "")


def _saved(runs):
    return checkpoint.read(runs / "spec-base" / "best.ckpt").tensors


def test_trainable_load_starts_from_the_run_and_trains_while_a_frozen_one_stays(base_run):
    path, runs = base_run
    task = nndsl.load(path).training("tuned", runs=runs)
    params, state = task.init()
    saved = _saved(runs)
    for layer in ("dense_0", "logits"):
        for name in ("w", "b"):
            loaded = np.asarray(saved[f"params/{layer}.{name}"])
            assert np.array_equal(np.asarray(params[layer][name]), loaded)
            assert np.array_equal(np.asarray(params[f"Net@base.{layer}"][name]), loaded)
    before = jax.tree.map(np.asarray, params)
    batch = {k: v[:32] for k, v in task.data()["train"].items()}
    params, *_ = task.train_step(params, state, task.init_opt(params), batch,
                                 jax.random.PRNGKey(0))
    for layer in ("dense_0", "logits"):
        for name in ("w", "b"):
            assert not np.array_equal(np.asarray(params[layer][name]), before[layer][name])
            assert np.array_equal(np.asarray(params[f"Net@base.{layer}"][name]),
                                  before[f"Net@base.{layer}"][name])


def test_a_run_whose_shapes_differ_is_a_located_error(base_run, capsys):
    path, runs = base_run
    # Without the frozen load, which would refuse the run first (E082).
    alone = path.with_name("alone.nn")
    alone.write_text(without_frozen(path.read_text()))
    (runs / "alone-base").symlink_to(runs / "spec-base")
    code = main(["train", str(alone), "--train", "tuned", "--runs", str(runs), "--quiet",
                 "--set", "width=9"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert ":26:17: error[E232]" in err
    assert "tensor `dense_0.w` is [64, 8] in the run but [64, 9] for layer `dense_0`" in err


@pytest.mark.parametrize("init,where,phrase", [
    ('init      = load(Other, "base")', "26:17",
     "layer `dense_0` of Net does not fit layer `dense_0` of Other: `dense_0.w` is [64, 8] "
     "but `dense_0.w` is [64, 5]"),
    ('init      = load(Nett, "base")', "26:22", "`Nett` is not a network"),
    ('init      = Net', "26:17", '`init` takes load(Net, "run"), or a list'),
    ('init      = [load(Net, "base"), load(Net, "base")]', "26:37",
     "Net has 2 parameterised layers but Net has only 0 left"),
])
def test_init_that_does_not_fit_the_model_is_a_static_located_error(write_spec, capsys, init,
                                                                     where, phrase):
    assert main(["check", str(write_spec(SPEC.replace("INIT", init)))]) == 1
    err = capsys.readouterr().err
    assert f":{where}: error[E231]" in err and phrase in err and "Traceback" not in err


def test_init_of_a_run_that_does_not_exist(write_spec, tmp_path, capsys):
    path = write_spec(without_frozen(SPEC.replace("INIT", 'init      = load(Net, "missing")')))
    assert main(["train", str(path), "--train", "tuned", "--runs", str(tmp_path / "runs"),
                 "--quiet"]) == 1
    err = capsys.readouterr().err
    assert ":26:17: error[E232]" in err and "no run `missing`" in err


CRITIC = """
let latent = 8

network Generator {
    input z: [B, latent]
    output x = z -> dense(128) -> relu -> dense(128) -> relu -> dense(2)
}

network Critic {
    input x: [B, 2]
    output s = x -> dense(2)
}

train {
    model     = Critic
    data      = ring(modes=8, radius=2.0, std=0.02, train=256, seed=0)
    z         = normal([B, latent])
    fake      = load(Generator, "gan")(z).x
    loss      = mse(s, fake)
    optimizer = adam(lr=1e-2)
    batch     = 64
    epochs    = 1
}
"""


def test_a_frozen_load_takes_its_network_out_of_a_run_of_several(tmp_path):
    """`load(Generator, "gan")` of a GAN's run (two networks in one checkpoint) reads the
    Generator's own tensors, as `init = load(...)` does."""
    gan = (CONTRACT / "gan.nn").read_text().replace("epochs = 60", "epochs = 1")
    (tmp_path / "gan.nn").write_text(gan.replace("train=10000", "train=256"))
    (tmp_path / "critic.nn").write_text(CRITIC)
    runs = tmp_path / "runs"
    assert main(["train", str(tmp_path / "gan.nn"), "--out", str(runs / "gan"), "--quiet"]) == 0
    assert main(["train", str(tmp_path / "critic.nn"), "--runs", str(runs), "--out",
                 str(runs / "critic"), "--quiet"]) == 0
    trained = checkpoint.read(runs / "gan" / "best.ckpt")
    loaded = checkpoint.read(runs / "critic" / "best.ckpt")
    assert np.array_equal(loaded.tensors["params/Generator@gan.dense_0.w"],
                          trained.tensors["params/Generator.dense_0.w"])
