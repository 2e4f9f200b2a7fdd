"""Padding masks (issue 13): attention hides masked positions (composed with `causal`), and
losses and metrics count only the positions a mask holds."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.lower import Compiled
from tests.conftest import ROOT
from tests.test_indexing import assert_located

RNG = np.random.RandomState(5)
# Row 0 has two padded positions at each end, row 1 none, row 2 is padded after 2 tokens.
KEEP = np.array([[0, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]], np.int32)


def _compiled(write_spec, inputs: str, body: str):
    graph = nndsl.load(write_spec(f"network N {{\n{inputs}\n{body}\n}}\n")).network("N")
    compiled = Compiled(graph)
    params, state = compiled.init(0)
    return lambda **xs: {k: np.asarray(v) for k, v in compiled.apply(
        params, state, {k: jnp.asarray(v) for k, v in xs.items()})[0].items()}


@pytest.mark.parametrize("causal", ["false", "true"])
def test_masked_self_attention_leaks_nothing_from_padded_positions(write_spec, causal):
    """Padded inputs changed, however wildly: outputs at unpadded positions stay exactly."""
    run = _compiled(write_spec, "  input h: [B, T, 8]\n  input keep: [B, T] i32",
                    f"  output y = self_attention(h, 2, causal={causal}, mask=keep)")
    h = RNG.randn(3, 6, 8).astype(np.float32)
    other = np.where(KEEP[..., None] == 1, h, 1e3 * RNG.randn(3, 6, 8)).astype(np.float32)
    base, moved = run(h=h, keep=KEEP)["y"], run(h=other, keep=KEEP)["y"]
    kept = KEEP == 1
    np.testing.assert_array_equal(base[kept], moved[kept])
    assert np.isfinite(base).all() and np.isfinite(moved).all()
    # Without the mask the padded positions do reach the others (the test can fail).
    run_open = _compiled(write_spec, "  input h: [B, T, 8]",
                         f"  output y = self_attention(h, 2, causal={causal})")
    assert not np.array_equal(run_open(h=h)["y"][kept], run_open(h=other)["y"][kept])


def test_mask_composes_with_causal(write_spec):
    """With both, a position sees neither the future nor the padding: changing a later
    unpadded position leaves an earlier one exactly as it was."""
    run = _compiled(write_spec, "  input h: [B, T, 8]\n  input keep: [B, T] i32",
                    "  output y = self_attention(h, 2, causal=true, mask=keep)")
    h = RNG.randn(3, 6, 8).astype(np.float32)
    later = h.copy()
    later[1, 4:] += 5.0
    np.testing.assert_array_equal(run(h=h, keep=KEEP)["y"][1, :4],
                                  run(h=later, keep=KEEP)["y"][1, :4])


def test_a_mask_of_all_true_changes_nothing(write_spec):
    h = RNG.randn(3, 6, 8).astype(np.float32)
    outs = []
    for extra, inputs in ((", mask=keep", {"keep": np.ones((3, 6), np.int32)}), ("", {})):
        declared = "  input keep: [B, T] i32\n" if inputs else ""
        text = (f"network N {{\n  input h: [B, T, 8]\n{declared}"
                f"  output y = self_attention(h, 2, causal=true{extra})\n}}\n")
        compiled = Compiled(nndsl.load(write_spec(text)).network("N"))
        params, state = compiled.init(0)  # the same parameters: same names, same seed
        feed = {"h": jnp.asarray(h), **{k: jnp.asarray(v) for k, v in inputs.items()}}
        outs.append(np.asarray(compiled.apply(params, state, feed)[0]["y"]))
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("kind", ["dot", "additive"])
def test_masked_attention_over_a_memory_ignores_padded_memory(write_spec, kind):
    run = _compiled(write_spec, "  input q: [B, 4, 8]\n  input m: [B, S, 8]\n"
                    "  input keep: [B, S] i32",
                    f"  output y = attention(q, m, kind={kind}, heads=1, mask=keep)")
    q, m = RNG.randn(3, 4, 8).astype(np.float32), RNG.randn(3, 6, 8).astype(np.float32)
    other = np.where(KEEP[..., None] == 1, m, 1e3).astype(np.float32)
    np.testing.assert_array_equal(run(q=q, m=m, keep=KEEP)["y"],
                                  run(q=q, m=other, keep=KEEP)["y"])


def _log_softmax(v):
    v = v - v.max(-1, keepdims=True)
    return v - np.log(np.exp(v).sum(-1, keepdims=True))


def test_masked_cross_entropy_and_accuracy_average_over_kept_positions(write_spec):
    run = _compiled(write_spec, "  input logits: [B, T, 5]\n  input y: [B, T] i32",
                    "  output loss = cross_entropy(logits, y, mask=y != 0)\n"
                    "  output acc = accuracy(logits, y, mask=y != 0)\n"
                    "  output top = top_k(logits, y, k=2, mask=y != 0)\n"
                    "  output total = cross_entropy(logits, y, reduce=sum, mask=y != 0)\n"
                    "  output plain = accuracy(logits, y)")
    logits = RNG.randn(3, 6, 5).astype(np.float32)
    y = (RNG.randint(1, 5, size=(3, 6)) * KEEP).astype(np.int32)
    logits[0, 0, 0] = np.nan  # a padded position's NaN stays out of the masked loss
    out = run(logits=logits, y=y)
    kept = y != 0
    nll = -np.take_along_axis(_log_softmax(logits.astype(np.float64)), y[..., None], -1)[..., 0]
    np.testing.assert_allclose(out["loss"], nll[kept].mean(), rtol=1e-5)
    np.testing.assert_allclose(out["total"], np.where(kept, nll, 0).sum(1).mean(), rtol=1e-5)
    hits = logits.argmax(-1) == y
    np.testing.assert_allclose(out["acc"], hits[kept].mean(), rtol=1e-6)
    np.testing.assert_allclose(out["plain"], hits.mean(), rtol=1e-6)
    top2 = np.any(np.argsort(-logits, -1)[..., :2] == y[..., None], -1)
    np.testing.assert_allclose(out["top"], top2[kept].mean(), rtol=1e-6)


NET = ("network N {{\n  input ids: [B, T] i32\n  input h: [B, T, 8]\n  input img: [B, 4, 4, 2]\n"
       "  output y = {expr}\n}}\n")


@pytest.mark.parametrize("expr,where,code,phrase", [
    ("self_attention(h, 2, mask=0)", "5:35", "E020",
     "`self_attention` expects a tensor for `mask`"),
    ("self_attention(h, 2, mask=h)", "5:14", "E030",
     "the mask [B, T, 8] must have the shape [B, T] of the input's positions"),
    ("self_attention(h, 2, mask=ids, mask=ids)", "5:45", "E022", "`mask` is given twice"),
    ("cross_entropy(h, ids, mask=h)", "5:14", "E030",
     "the mask [B, T, 8] must have the shape [B, T] of the labels"),
    ("mse(h, h, mask=ids)", "5:24", "E022", "`mse` has no hyperparameter `mask`"),
    ("ids == h", "5:14", "E030", "cannot broadcast [B, T] and [B, T, 8]"),
    ("h -> self_attention(2, mask=ids) * 2", "5:37", "E162",
     "comes from outside the repeated stage or cell it is used in"),
])
def test_mask_errors_are_located(write_spec, capsys, expr, where, code, phrase):
    assert_located(write_spec(NET.format(expr=expr)), capsys, where, code, phrase)


SPEC = ROOT / "specs" / "reverse_padded.nn"


def test_the_padded_reversal_spec_checks(capsys):
    assert main(["check", str(SPEC)]) == 0
    out = capsys.readouterr().out
    assert "ReverseDecoder: x: [B, T] i32 → logits: [B, T, 10]  (72,458 parameters)" in out
    plan = nndsl.load(SPEC).plan()
    attention = [n for n in plan.graph if n.op == "self_attention"]
    assert len(attention) == 2 and all(n.attrs["causal"] and len(n.inputs) == 2 for n in attention)
    # The model's `x != 0` and the section's `y != 0` are both `compare` nodes made from
    # separate counters: each keeps its own node (one used to replace the other).
    masks = {n.inputs[1].node for n in attention}
    assert len(masks) == 1
    assert plan.graph.nodes[masks.pop()].inputs[0] == plan.graph.inputs["x"]
    losses = [n for n in plan.graph if n.op == "cross_entropy"]
    assert losses and len(losses[0].inputs) == 3


def test_the_padded_reversal_data_is_padded_with_zero_and_deterministic():
    from nndsl.data.sources import reverse_padded

    args = {"max_length": 5, "symbols": 4, "train": 50, "val": 5, "test": 5, "seed": 1}
    data = reverse_padded(args)["train"]
    np.testing.assert_array_equal(data["x"], reverse_padded(args)["train"]["x"])
    for x, y in zip(data["x"], data["y"]):
        n = int((y != 0).sum())
        assert 1 <= n <= 5 and (x[:5 - n] == 0).all() and (x[6 + n:] == 0).all()
        s = x[5 - n:5]
        assert x[5] == 5 and (x[6:6 + n] == s[::-1]).all() and (y[5:5 + n] == s[::-1]).all()
    assert len({int((y != 0).sum()) for y in data["y"]}) == 5  # every length occurs


@pytest.mark.slow
def test_the_padded_reversal_trains_to_99_percent_token_accuracy(tmp_path):
    """Token accuracy over the reversed (non-pad) tokens of the whole test split, computed
    from the trained network's predictions (the logged metric averages per batch)."""
    from nndsl.data.sources import reverse_padded

    out = tmp_path / "run"
    assert main(["train", str(SPEC), "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "results.json").read_text())["test"]["accuracy"] >= 0.99
    test = reverse_padded({"max_length": 8, "symbols": 8, "train": 20000, "val": 1000,
                           "test": 1000, "seed": 0})["test"]
    np.savez(tmp_path / "x.npz", x=test["x"])
    assert main(["predict", str(SPEC), "--run", str(out), "--input", str(tmp_path / "x.npz"),
                 "--output", str(tmp_path / "p.npz")]) == 0
    predicted = np.load(tmp_path / "p.npz")["logits"].argmax(-1)
    kept = test["y"] != 0
    accuracy = (predicted == test["y"])[kept].mean()
    print(f"\nreverse_padded token accuracy {accuracy:.4f} over {kept.sum()} tokens")
    assert accuracy >= 0.99
