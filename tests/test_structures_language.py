"""Language models (issue 18): the Markov source's exact entropy rate, text files as data
(located errors for an unknown encoding or undecodable bytes), perplexity, sampling and
embedding neighbours."""

import numpy as np
import pytest

from nndsl import sampling_text
from nndsl.cli import main
from nndsl.data import markov, text

ARGS = dict(symbols=5, concentration=0.3, context=24, train=3000, val=1, test=1, seed=2)


def test_the_stationary_distribution_is_stationary_and_the_rate_matches_the_samples():
    p = markov.transitions(ARGS)
    pi = markov.stationary(p)
    moved = np.einsum("ab,abc->bc", pi, p)  # (a, b) -> (b, c)
    np.testing.assert_allclose(moved, pi, atol=1e-10)
    data = markov.markov_text(ARGS)["train"]
    s = np.concatenate([data["x"], data["y"][:, -1:]], 1)
    nll = -np.log(p[s[:, :-2], s[:, 1:-1], s[:, 2:]]).mean()
    assert abs(nll - markov.entropy_rate(ARGS)) < 0.02
    np.testing.assert_array_equal(data["x"][:, 1:], data["y"][:, :-1])
    assert data["scored"][0, 0] == 0 and data["scored"][0, 1:].all()


def test_a_uniform_chain_has_the_entropy_rate_log_symbols():
    args = dict(ARGS, concentration=1e6)
    assert markov.entropy_rate(args) == pytest.approx(np.log(5), abs=1e-3)


def test_text_ids_follow_frequency_and_rare_characters_share_id_0():
    options = {"context": 3, "vocab": 3, "encoding": "utf-8"}
    arrays, enc = text.load("aaabbc" * 2 + "a", options)
    assert enc.labels["x"] == [text.RARE, "a", "b"]
    np.testing.assert_array_equal(arrays["x"][0], [1, 1, 1])
    np.testing.assert_array_equal(arrays["y"][1], [2, 0, 1])  # b c a: c is rare
    assert arrays["x"].shape == (4, 3)


TEXT_SPEC = """network LM {{
    input x: [B, 8] i32
    output logits = x -> embed(16, 8) -> dense(16)
}}
train {{
    model = LM
    data = text("{file}", context=8, vocab=16, encoding="{encoding}")
    loss = cross_entropy(logits, y)
    optimizer = adam(lr=0.01)
}}
"""


@pytest.mark.parametrize("file,encoding,code,phrase", [
    ("corpus.txt", "klingon", "E262", "unknown encoding 'klingon'"),
    ("latin.txt", "utf-8", "E263", "latin.txt is not utf-8 text: byte 3"),
])
def test_bad_text_files_are_located_errors(write_spec, tmp_path, capsys, file, encoding,
                                           code, phrase):
    (tmp_path / "corpus.txt").write_text("the cat sat on the mat. " * 10)
    (tmp_path / "latin.txt").write_bytes("café naïve ".encode("latin-1") * 10)
    spec = write_spec(TEXT_SPEC.format(file=file, encoding=encoding))
    assert main(["check", str(spec)]) != 0
    err = capsys.readouterr().err
    assert f"spec.nn:7:17: error[{code}]" in err and phrase in err and "Traceback" not in err
    # The same file in its own encoding reads (the error is the file's, not the source's).
    good = write_spec(TEXT_SPEC.format(file=file, encoding="latin-1"), "good.nn")
    assert main(["check", str(good)]) == 0


class _Bigram:
    """A stand-in language model: after token t, token (t + 1) % 4 is certain."""

    tokens = ["a", "b", "c", "d"]

    def logits(self, ids):
        out = np.full(4, -50.0)
        out[(ids[-1] + 1) % 4] = 50.0
        return out

    def encode(self, prompt):
        return [self.tokens.index(c) for c in prompt]


def test_sampling_continues_the_prompt_from_the_model_predictions():
    assert sampling_text.sample(_Bigram(), 6, prompt="c") == "cdabcda"
    assert sampling_text.sample(_Bigram(), 5, seed=3) in {"abcda", "bcdab", "cdabc", "dabcd"}


def test_nearest_neighbours_by_cosine_similarity():
    table = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], np.float32)
    near = sampling_text.nearest(table, 2)
    assert [j for j, _ in near[0]] == [1, 2] and [j for j, _ in near[2]] == [1, 0]
    assert near[3][0][1] == pytest.approx(np.dot([-1, 0], [0, 1]))


def test_perplexity_is_the_exp_of_the_masked_cross_entropy(write_spec):
    import jax.numpy as jnp

    import nndsl
    from nndsl.lower import Compiled

    path = write_spec("network N {\n  input z: [B, T, 3]\n  input y: [B, T] i32\n"
                      "  input m: [B, T]\n  output p = perplexity(z, y, mask=m)\n}\n")
    compiled = Compiled(nndsl.load(path).network("N"))
    z = np.random.RandomState(0).randn(2, 4, 3).astype("f4")
    y = np.array([[0, 1, 2, 0], [2, 2, 1, 0]], np.int32)
    m = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], np.float32)
    out = compiled.apply(*compiled.init(0), {"z": jnp.asarray(z), "y": jnp.asarray(y),
                                             "m": jnp.asarray(m)})[0]["p"]
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, y[..., None], -1)[..., 0]
    assert float(out) == pytest.approx(np.exp((nll * m).sum() / m.sum()), rel=1e-5)


@pytest.mark.parametrize("body", ["output logits = x -> embed(6, 4) -> dense(6)",
                                  "param w: [6, 4] = normal\n  output logits = x -> "
                                  "embed(table=w) -> dense(6)"])
def test_the_embedding_table_is_found_owned_or_passed_as_a_param(write_spec, body):
    from types import SimpleNamespace

    import nndsl

    model = nndsl.load(write_spec(f"network N {{\n  input x: [B, 5] i32\n  {body}\n}}\n")
                       ).compile("N")
    params, _ = model.init(0)
    table = sampling_text.embedding_table(SimpleNamespace(model=model, params=params))
    leaves = [v for layer in params.values() for v in layer.values() if v.shape == (6, 4)]
    assert len(leaves) == 1 and np.array_equal(table, leaves[0])


def test_a_temperature_of_zero_or_an_empty_length_is_refused():
    for kwargs in ({"temperature": 0.0}, {"temperature": -1.0}):
        with pytest.raises(ValueError, match="temperature must be above 0"):
            sampling_text.sample(_Bigram(), 3, **kwargs)
    with pytest.raises(ValueError, match="length at least 1"):
        sampling_text.sample(_Bigram(), 0)
