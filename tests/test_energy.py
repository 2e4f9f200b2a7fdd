"""The `rbm` op against exact enumeration of a tiny RBM (6 visible x 4 hidden units: 64 visible
and 16 hidden configurations, so the partition function is a sum), and its static checks."""

import itertools
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.ir import count_params
from nndsl.lower import Compiled
from nndsl.ops.energy import gibbs
from tests.conftest import ROOT

V_ALL = np.array(list(itertools.product([0, 1], repeat=6)), np.float64)   # [64, 6]
H_ALL = np.array(list(itertools.product([0, 1], repeat=4)), np.float64)   # [16, 4]
CTX = SimpleNamespace(jax=jax, jnp=jnp, lax=jax.lax, nn=jax.nn)
TINY = """
network Tiny {
    input v: [B, 6]
    h, cd, recon, pll = rbm(v, 4, k={k}, persistent={persistent}, chains=256)
    output h
    output cd
    output recon
    output pll
}
"""
# Three noisy 6-bit prototypes: the data the tiny RBM learns.
PROTOTYPES = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 0, 1, 0, 1, 0]], np.float64)


def data(n=60, seed=0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    x = PROTOTYPES[rng.randint(3, size=n)]
    return np.abs(x - (rng.rand(*x.shape) < 0.05)).astype(np.float32)


def tiny_params(seed=0, scale=1.0) -> dict:
    rng = np.random.RandomState(seed)
    return {"w": scale * rng.randn(6, 4), "b": 0.5 * rng.randn(4),
            "b_visible": 0.5 * rng.randn(6)}


def free_energy(v, p):
    return -v @ p["b_visible"] - np.sum(np.logaddexp(0, v @ p["w"] + p["b"]), axis=-1)


def exact_p(p) -> np.ndarray:
    """p(v) over all 64 visible vectors: exp(-F(v)) / Z, Z summed exactly."""
    logits = -free_energy(V_ALL, p)
    e = np.exp(logits - logits.max())
    return e / e.sum()


def exact_log_likelihood(p, x) -> float:
    """Mean log p(x) under the RBM, with the exact log partition function."""
    logits = -free_energy(V_ALL, p)
    log_z = logits.max() + np.log(np.sum(np.exp(logits - logits.max())))
    return float(np.mean(-free_energy(np.asarray(x, np.float64), p) - log_z))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def bernoulli_prob(units, probs):
    """p(units) for independent Bernoulli units with these probabilities (rows broadcast)."""
    return np.prod(np.where(units == 1, probs, 1 - probs), axis=-1)


def expected_cd1_gradient(p, x) -> dict:
    """d cd / d theta for CD-1 from the data, in expectation over the Gibbs step: the positive
    phase -<v sigma(vW + b)> on the data plus the negative phase on v1 ~ T(v1 | v), with
    T(v1 | v) = sum_h p(h | v) p(v1 | h) enumerated exactly."""
    ph = sigmoid(x @ p["w"] + p["b"])                                     # [N, 4]
    p_h = bernoulli_prob(H_ALL[None], ph[:, None])                        # [N, 16]
    pv_given_h = bernoulli_prob(V_ALL[None], sigmoid(H_ALL @ p["w"].T + p["b_visible"])[:, None])
    q = (p_h @ pv_given_h).mean(axis=0)                                   # [64]
    ph1 = sigmoid(V_ALL @ p["w"] + p["b"])
    return {"w": -(x.T @ ph) / len(x) + (V_ALL * q[:, None]).T @ ph1,
            "b": -ph.mean(0) + q @ ph1, "b_visible": -x.mean(0) + q @ V_ALL}


def tiny(write_spec, k=1, persistent="false"):
    text = TINY.replace("{k}", str(k)).replace("{persistent}", persistent)
    return Compiled(nndsl.load(write_spec(text)).network("Tiny"))


def as_params(p) -> dict:
    return {"rbm_0": {k: jnp.asarray(v, jnp.float32) for k, v in p.items()}}


def test_gibbs_samples_follow_the_exact_distribution():
    p = tiny_params(seed=1)
    start = (np.random.RandomState(0).rand(100_000, 6) < 0.5).astype(np.float32)
    jp = {k: jnp.asarray(v, jnp.float32) for k, v in p.items()}
    chain = jax.jit(lambda v, key: gibbs(CTX, v, jp, 50, key))
    samples = np.asarray(chain(jnp.asarray(start), jax.random.PRNGKey(0)))
    index = samples.astype(int) @ (2 ** np.arange(5, -1, -1))
    empirical = np.bincount(index, minlength=64) / len(index)
    exact = exact_p(p)
    assert 0.5 * np.abs(empirical - exact).sum() < 0.02
    # and the hidden units' statistics: E[h] under the model
    h_model = exact @ sigmoid(V_ALL @ p["w"] + p["b"])
    h_sampled = sigmoid(samples @ p["w"] + p["b"]).mean(0)
    assert np.allclose(h_sampled, h_model, atol=0.01)


def test_cd1_gradient_matches_its_exact_expectation(write_spec):
    compiled, p, x = tiny(write_spec), tiny_params(seed=2), data(4, seed=3)
    batch = jnp.asarray(np.tile(x, (5000, 1)))   # each example 5000 times: 5000 Gibbs draws

    def cd(params):
        out, _ = compiled.apply(params, {}, {"v": batch}, jax.random.PRNGKey(0), train=True)
        return out["cd"]

    grads = jax.jit(jax.grad(cd))(as_params(p))["rbm_0"]
    expected = expected_cd1_gradient(p, x.astype(np.float64))
    for name in ("w", "b", "b_visible"):
        assert np.allclose(np.asarray(grads[name]), expected[name], atol=0.02), name


def reference_cd1_step(p, v, key, lr):
    """A hand-written CD-1 update (Hinton 2002): <v h>_data - <v1 h1>, no nndsl involved."""
    kh, kv = jax.random.split(key)
    ph0 = jax.nn.sigmoid(v @ p["w"] + p["b"])
    h0 = jax.random.bernoulli(kh, ph0).astype(v.dtype)
    v1 = jax.random.bernoulli(kv, jax.nn.sigmoid(h0 @ p["w"].T + p["b_visible"])).astype(v.dtype)
    ph1 = jax.nn.sigmoid(v1 @ p["w"] + p["b"])
    n = v.shape[0]
    return {"w": p["w"] + lr * (v.T @ ph0 - v1.T @ ph1) / n,
            "b": p["b"] + lr * (ph0 - ph1).mean(0),
            "b_visible": p["b_visible"] + lr * (v - v1).mean(0)}


def test_reconstruction_and_pseudo_log_likelihood(write_spec):
    compiled, p = tiny(write_spec), tiny_params(seed=5)
    x = data(8)
    batch = np.tile(x, (4000, 1))
    out, _ = jax.jit(compiled.apply)(as_params(p), {}, {"v": jnp.asarray(batch)},
                                     jax.random.PRNGKey(0))
    ph = sigmoid(x @ p["w"] + p["b"])
    recon = sigmoid(ph @ p["w"].T + p["b_visible"])
    assert np.allclose(out["h"][:8], ph, atol=1e-5)
    assert np.isclose(float(out["recon"]), np.mean(np.sum((x - recon) ** 2, -1)), atol=1e-4)
    # E[pll] = sum_i log sigmoid(F(v with unit i flipped) - F(v)), averaged over the data
    flips = [np.abs(x - np.eye(6)[i]) for i in range(6)]
    expected = np.mean(sum(np.log(sigmoid(free_energy(f, p) - free_energy(x, p))) for f in flips))
    assert np.isclose(float(out["pll"]), expected, atol=0.1)


def test_persistent_chains_are_state_that_moves_only_while_training(write_spec):
    compiled = tiny(write_spec, persistent="true", k=3)
    params, state = compiled.init(0)
    assert state["rbm_0"]["chain"].shape == (256, 6)
    v = {"v": jnp.asarray(data(16))}
    apply = jax.jit(compiled.apply, static_argnames="train")
    _, evaluated = apply(params, state, v, jax.random.PRNGKey(0), train=False)
    assert np.array_equal(evaluated["rbm_0"]["chain"], state["rbm_0"]["chain"])
    _, trained = apply(params, state, v, jax.random.PRNGKey(0), train=True)
    assert not np.array_equal(trained["rbm_0"]["chain"], state["rbm_0"]["chain"])


def test_binarised_and_kept_digits():
    from nndsl.data.sources import digits

    args = {"val": 0.1, "test": 0.2, "seed": 0}
    full = digits({**args, "binary": False, "keep": 1.0})
    binary = digits({**args, "binary": True, "keep": 0.1})
    assert set(np.unique(binary["train"]["x"])) == {0.0, 1.0}
    assert len(binary["train"]["y"]) == round(0.1 * len(full["train"]["y"]))
    assert len(binary["test"]["y"]) == len(full["test"]["y"])
    assert np.array_equal(binary["test"]["x"], (full["test"]["x"] > 0.5).astype(np.float32))


@pytest.mark.parametrize("spec,counts", [
    ("rbm.nn", {"RBM": 4224}),
    ("dbn.nn", {"RBM1": 4224, "RBM2": 4224, "Classifier": 8970}),
])
def test_contract_parameter_counts(spec, counts):
    loaded = nndsl.load(ROOT / "specs" / spec)
    for network, count in counts.items():
        assert count_params(loaded.network(network)) == count


RBM_NET = "network R {{\n    input x: [B, {v}]\n    h, cd, recon, pll = rbm(x, 16{extra})\n" \
          "    output h\n}}\n"


@pytest.mark.parametrize("text,where,phrase", [
    (RBM_NET.format(v=64, extra=", visible=784"), "3:25", "rbm(visible=784) is given 64"),
    ("network R {\n    input x: [B, 8, 8, 1]\n    h, c, r, p = x -> rbm(16)\n    output h\n}\n",
     "3:23", "rbm takes visible units [B, V]"),
])
def test_energy_model_errors_are_located(write_spec, capsys, text, where, phrase):
    assert main(["check", str(write_spec(text))]) == 1
    err = capsys.readouterr().err
    assert f":{where}: error[E230]" in err and phrase in err and "Traceback" not in err


def test_gibbs_pictures_of_trained_rbm_layers_on_images(tmp_path):
    from nndsl.fit.gibbs_picture import write_gibbs_pictures

    loaded = nndsl.load(ROOT / "specs" / "dbn.nn")
    test = {"x": data(8, seed=1).repeat(11, axis=1)[:, :64].reshape(8, 8, 8, 1)}
    for train, drawn in (("rbm1", ["gibbs.png"]), ("rbm2", [])):
        graph = loaded.plan(train).graph
        params, _ = Compiled(graph).init(0)
        out = tmp_path / train
        out.mkdir()
        # rbm2's layer reads the frozen RBM1's features, not images: no picture
        assert [p.name for p in write_gibbs_pictures(graph, params, test, out)] == drawn
    assert (tmp_path / "rbm1" / "gibbs.png").stat().st_size > 5_000


def test_sample_bernoulli_draws_ones_with_probability_p(write_spec):
    text = "network S {\n    input x: [B, 3]\n    output y = sample_bernoulli(x)\n}\n"
    compiled = Compiled(nndsl.load(write_spec(text)).network("S"))
    probs = np.tile(np.array([[0.0, 0.3, 1.0]], np.float32), (20_000, 1))
    out, _ = jax.jit(compiled.apply)({}, {}, {"x": jnp.asarray(probs)}, jax.random.PRNGKey(0))
    assert set(np.unique(out["y"])) <= {0.0, 1.0}
    assert np.allclose(np.asarray(out["y"]).mean(0), [0.0, 0.3, 1.0], atol=0.01)
