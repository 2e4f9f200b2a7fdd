"""Indexing and slicing (`x[:, 0]`, `x[:, 1:-1]`, `x[..., :64]`), `crop` and comparisons
(issue 13): shapes with symbolic sizes, values against NumPy, located errors."""

import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.ir import Sym, dim_sub
from nndsl.lower import Compiled

RNG = np.random.RandomState(3)
T = Sym.named("T")


def _network(write_spec, inputs: str, body: str):
    text = f"network N {{\n{inputs}\n{body}\n}}\n"
    return nndsl.load(write_spec(text)).network("N")


def _types(graph) -> dict:
    return {name: graph.type_of(ref).shape for name, ref in graph.outputs.items()}


def _run(graph, **inputs) -> dict:
    compiled = Compiled(graph)
    params, state = compiled.init(0)
    out = compiled.apply(params, state, {k: jnp.asarray(v) for k, v in inputs.items()})[0]
    return {k: np.asarray(v) for k, v in out.items()}


SUBSCRIPTS = {
    "a": ("x[:, 0]", lambda x: x[:, 0]),
    "b": ("x[:, 1:-1]", lambda x: x[:, 1:-1]),
    "c": ("x[..., :2]", lambda x: x[..., :2]),
    "d": ("x[:, ::2, -1]", lambda x: x[:, ::2, -1]),
    "e": ("x[:, -3:]", lambda x: x[:, -3:]),
    "f": ("x[:, 2, 1:3]", lambda x: x[:, 2, 1:3]),
}


def test_subscripts_on_a_symbolic_time_axis_keep_it_symbolic(write_spec):
    body = "\n".join(f"  output {k} = {expr}" for k, (expr, _) in SUBSCRIPTS.items())
    graph = _network(write_spec, "  input x: [B, T, 4]", body)
    B = Sym.named("B")
    assert _types(graph) == {"a": (B, 4), "b": (B, dim_sub(T, 2), 4), "c": (B, T, 2),
                             "d": (B, Sym.named("(T + 1)//2")), "e": (B, 3, 4),
                             "f": (B, 2)}
    assert str(graph.type_of(graph.outputs["b"])) == "[B, T - 2, 4]"


@pytest.mark.parametrize("length", [5, 9])
def test_subscripts_match_numpy_for_any_sequence_length(write_spec, length):
    body = "\n".join(f"  output {k} = {expr}" for k, (expr, _) in SUBSCRIPTS.items())
    graph = _network(write_spec, "  input x: [B, T, 4]", body)
    x = RNG.randn(2, length, 4).astype(np.float32)
    got = _run(graph, x=x)
    for name, (_, reference) in SUBSCRIPTS.items():
        np.testing.assert_array_equal(got[name], reference(x), err_msg=name)


def test_static_sizes_give_static_shapes(write_spec):
    graph = _network(write_spec, "  input x: [B, 10, 6]",
                     "  output a = x[:, 1:-1]\n  output b = x[:, ::3, -2]")
    B = Sym.named("B")
    assert _types(graph) == {"a": (B, 8, 6), "b": (B, 4)}


def test_a_pooler_on_the_first_token_works_for_any_length(write_spec):
    """BERT's pooler: the first token's vector, dense, tanh."""
    graph = _network(write_spec, "  input h: [B, T, 8]",
                     "  output pooled = h[:, 0] -> dense(8) -> tanh")
    compiled = Compiled(graph)
    params, state = compiled.init(0)
    first = None
    for length in (3, 7, 12):
        h = RNG.randn(2, length, 8).astype(np.float32)
        if first is None:
            first = h[:, 0]
        h[:, 0] = first  # the same first token: the same pooled vector at every length
        out = compiled.apply(params, state, {"h": jnp.asarray(h)})[0]["pooled"]
        p = params["dense_0"]
        np.testing.assert_allclose(out, np.tanh(first @ np.asarray(p["w"]) + np.asarray(p["b"])),
                                   rtol=1e-5, atol=1e-6)


def test_a_subscript_is_one_slice_node_per_changed_axis_labelled_as_written(write_spec):
    graph = _network(write_spec, "  input x: [B, T, 4, 6]", "  output y = x[:, 0, ..., 1:-1]")
    slices = [node for node in graph if node.op == "slice"]
    labels = sorted(nndsl.ops.REGISTRY["slice"].describe(node) for node in slices)
    assert labels == ["slice [:, 0]", "slice [:, :, :, 1:-1]"]


def test_crop_centres_places_and_matches(write_spec):
    graph = _network(write_spec, "  input x: [B, 7, 6, 2]\n  input u: [B, 3, 4, 5]",
                     "  output c = crop(x, [3, 2])\n"
                     "  output e = crop(x, [2, 4], top=5, left=0)\n"
                     "  output m = crop(x, like=u)\n"
                     "  output s = crop(x, 4)")
    B = Sym.named("B")
    assert _types(graph) == {"c": (B, 3, 2, 2), "e": (B, 2, 4, 2), "m": (B, 3, 4, 2),
                             "s": (B, 4, 4, 2)}
    x = RNG.randn(2, 7, 6, 2).astype(np.float32)
    got = _run(graph, x=x, u=np.zeros((2, 3, 4, 5), np.float32))
    np.testing.assert_array_equal(got["c"], x[:, 2:5, 2:4])
    np.testing.assert_array_equal(got["e"], x[:, 5:7, 0:4])
    np.testing.assert_array_equal(got["m"], x[:, 2:5, 1:5])
    np.testing.assert_array_equal(got["s"], x[:, 1:5, 1:5])


def test_crop_like_lets_the_original_unet_concatenate_its_skips(write_spec):
    """U-Net (572 x 572): the first skip [568, 568, 64] is centre-cropped to the upsampled
    [392, 392, 64] before the concatenation."""
    graph = _network(write_spec, "  input skip: [B, 568, 568, 64]\n  input up: [B, 392, 392, 64]",
                     "  output y = concat(crop(skip, like=up), up)")
    assert _types(graph)["y"] == (Sym.named("B"), 392, 392, 128)


def test_compare_builds_a_bool_mask(write_spec):
    graph = _network(write_spec, "  input ids: [B, T] i32",
                     "  output pad = ids == 0\n  output keep = 0 < ids")
    assert str(graph.type_of(graph.outputs["pad"])) == "[B, T] bool"
    ids = np.array([[3, 1, 0, 0], [2, 0, 5, 0]], np.int32)
    got = _run(graph, ids=ids)
    np.testing.assert_array_equal(got["pad"], ids == 0)
    np.testing.assert_array_equal(got["keep"], ids > 0)
    labels = sorted(nndsl.ops.REGISTRY["compare"].describe(n) for n in graph if n.op == "compare")
    assert labels == ["compare <", "compare =="]


def test_crop_labels_say_the_size_and_the_place(write_spec):
    graph = _network(write_spec, "  input x: [B, 7, 6, 2]",
                     "  output a = crop(x, [3, 2])\n  output b = crop(x, [2, 4], top=5)")
    crop = nndsl.ops.REGISTRY["crop"]
    assert sorted(crop.describe(n) for n in graph if n.op == "crop") == \
        ["crop 2x4 top=5", "crop 3x2"]


NET = "network N {{\n  input x: [B, 10, 4]\n  input img: [B, 8, 8, 3]\n  output y = {expr}\n}}\n"


@pytest.mark.parametrize("expr,where,code,phrase", [
    ("x[:, 10]", "4:19", "E030", "index 10 is out of range for axis 1 of size 10"),
    ("x[:, -11]", "4:19", "E030", "indices run from -10 to 9"),
    ("x[:, 5:2]", "4:19", "E030", "`5:2` selects nothing from axis 1 of size 10"),
    ("x[0]", "4:16", "E161", "cannot index the batch axis"),
    ("x[:, 0, 0, 0]", "4:25", "E161", "too many indices: 4 for a tensor of rank 3"),
    ("x[..., 0, ...]", "4:24", "E161", "at most one `...`"),
    ("x[:, 1.5]", "4:19", "E161", "an index must be a whole number"),
    ("x[:, ::0]", "4:21", "E161", "step must be positive, got 0"),
    ("x[:, x]", "4:19", "E161", "got a tensor [B, 10, 4]"),
    ("dense[0]", "4:14", "E160", "only a tensor can be indexed"),
    ("crop(img, [9, 4])", "4:14", "E030", "a crop height of 9 is larger than the input's 8"),
    ("crop(img, [4, 4], left=5)", "4:14", "E030",
     "a crop of width 4 at left=5 runs past the input's width 8"),
    ("crop(img)", "4:14", "E030", "crop needs a `size` [h, w] or a tensor to match"),
    ("crop(img, 2, like=img)", "4:14", "E030", "either a `size` or a tensor to match"),
    ("crop(img, like=3)", "4:24", "E020", "`crop` expects a tensor for `like`"),
    ("crop(x, 2)", "4:14", "E030", "expects an input of rank 4"),
])
def test_indexing_errors_are_located(write_spec, capsys, expr, where, code, phrase):
    assert_located(write_spec(NET.format(expr=expr)), capsys, where, code, phrase)


def assert_located(path, capsys, where: str, code: str, phrase: str) -> None:
    """`check` fails with `code` at line:column `where`, saying `phrase`."""
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{where}: error[{code}]" in err, err
    assert phrase in err, err


def test_an_out_of_range_index_on_a_symbolic_axis_is_not_refused(write_spec):
    """With a symbolic size nothing is known to be out of range (documented)."""
    graph = _network(write_spec, "  input x: [B, T, 4]", "  output y = x[:, 100]")
    assert _types(graph)["y"] == (Sym.named("B"), 4)
