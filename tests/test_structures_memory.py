"""Memory networks (issue 18): the read masks padded sentences exactly, the bAbI-style
stories answer their question, and a story longer than the memory is a located error."""

import jax.numpy as jnp
import numpy as np

import nndsl
from nndsl.cli import main
from nndsl.data import babi
from nndsl.lower import Compiled
from tests.conftest import ROOT

RNG = np.random.RandomState(3)
ARGS = dict(people=4, places=6, sentences=6, memory=8, train=200, val=1, test=1, seed=1)


def _read(write_spec):
    path = write_spec("network N {\n  input u: [B, 4]\n  input k: [B, S, 4]\n"
                      "  input v: [B, S, 3]\n  input keep: [B, S]\n"
                      "  output r = memory_read(u, k, v, mask=keep)\n}\n")
    compiled = Compiled(nndsl.load(path).network("N"))
    params, state = compiled.init(0)
    return lambda **xs: np.asarray(compiled.apply(
        params, state, {k: jnp.asarray(v) for k, v in xs.items()})[0]["r"])


def test_memory_read_is_the_softmax_weighted_sum_over_real_slots(write_spec):
    read = _read(write_spec)
    u, k, v = RNG.randn(2, 4), RNG.randn(2, 5, 4), RNG.randn(2, 5, 3)
    keep = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    got = read(u=u.astype("f4"), k=k.astype("f4"), v=v.astype("f4"), keep=keep)
    for b in range(2):
        real = keep[b] == 1
        scores = k[b, real] @ u[b]
        p = np.exp(scores - scores.max())
        np.testing.assert_allclose(got[b], (p / p.sum()) @ v[b, real], rtol=1e-5, atol=1e-5)


def test_padded_sentences_get_exactly_zero_weight(write_spec):
    """Whatever the padded slots hold (huge keys, huge values), the read is bit-identical."""
    read = _read(write_spec)
    u, k, v = (RNG.randn(*s).astype("f4") for s in ((2, 4), (2, 5, 4), (2, 5, 3)))
    keep = np.array([[1, 1, 0, 0, 0], [1, 0, 1, 0, 1]], np.float32)
    wild_k = np.where(keep[..., None] == 1, k, 1e4 * RNG.randn(2, 5, 4)).astype("f4")
    wild_v = np.where(keep[..., None] == 1, v, 1e4 * RNG.randn(2, 5, 3)).astype("f4")
    base = read(u=u, k=k, v=v, keep=keep)
    np.testing.assert_array_equal(read(u=u, k=wild_k, v=wild_v, keep=keep), base)
    assert not np.array_equal(read(u=u, k=wild_k, v=wild_v, keep=np.ones_like(keep)), base)


def test_stories_answer_with_the_last_place_of_the_person_asked_about():
    data = babi.single_fact(ARGS)["train"]
    words = babi.vocabulary(4, 6)
    for i in range(50):
        asked = words[data["question"][i, 2]]
        real = int(data["slots"][i].sum())
        assert 2 <= real <= 6 and not data["story"][i, real:].any()
        # Slot 0 is the most recent sentence: the first that names the person.
        latest = next(s for s in data["story"][i, :real] if words[s[0]] == asked)
        assert words[data["answer"][i]] == words[latest[latest > 0][-1]]


def test_a_story_longer_than_the_memory_is_a_located_error(write_spec, capsys):
    text = (ROOT / "specs" / "memnet.nn").read_text().replace(
        "sentences=memory, memory=memory", "sentences=12, memory=memory")
    assert main(["check", str(write_spec(text))]) != 0
    err = capsys.readouterr().err
    line = text[:text.index("single_fact(")].count("\n") + 1
    assert f"spec.nn:{line}:" in err and "E260" in err and "longer than the memory" in err
    assert "Traceback" not in err
