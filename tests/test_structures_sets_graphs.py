"""Sets and graphs (issue 18): set pooling, message passing against dense NumPy references,
padding that changes nothing, and the point-cloud and graph data sources."""

import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.data import graphs, point_clouds
from nndsl.lower import Compiled
from tests.conftest import ROOT

RNG = np.random.RandomState(7)


def _run_network(path, name):
    compiled = Compiled(nndsl.load(path).network(name))
    params, state = compiled.init(0)

    def run(**xs):
        out, _ = compiled.apply(params, state, {k: jnp.asarray(v) for k, v in xs.items()})
        return {k: np.asarray(v) for k, v in out.items()}

    return run, {layer: {k: np.asarray(v) for k, v in leaves.items()}
                 for layer, leaves in params.items()}


def _compiled(write_spec, inputs: str, body: str):
    return _run_network(write_spec(f"network N {{\n{inputs}\n{body}\n}}\n"), "N")


def _dense_adjacency(edges: np.ndarray, n: int) -> np.ndarray:
    """A[target, source] = number of (real) edges source -> target."""
    a = np.zeros((n, n))
    for s, t in edges:
        if s >= 0 and t >= 0:
            a[t, s] += 1
    return a


def _random_graph(n, e):
    return RNG.randn(n, 4).astype(np.float32), RNG.randint(n, size=(e, 2)).astype(np.int32)


GRAPH_INPUTS = "  input x: [B, N, 4]\n  input edges: [B, E, 2] i32"


def test_gcn_conv_equals_the_dense_normalised_adjacency(write_spec):
    run, params = _compiled(write_spec, GRAPH_INPUTS, "  output y = gcn_conv(x, edges, 3)")
    graphs_ = [_random_graph(6, 9), _random_graph(6, 9)]
    x = np.stack([g[0] for g in graphs_])
    edges = np.stack([g[1] for g in graphs_])
    w = params["y"]["w"]
    got = run(x=x, edges=edges)["y"]
    for i, (xi, ei) in enumerate(graphs_):
        a_hat = _dense_adjacency(ei, 6) + np.eye(6)
        d = 1 / np.sqrt(a_hat.sum(1))
        want = (d[:, None] * a_hat * d[None, :]) @ xi @ w + params["y"]["b"]
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-5)


def test_sage_conv_equals_the_dense_mean_of_neighbours(write_spec):
    run, params = _compiled(write_spec, GRAPH_INPUTS, "  output y = sage_conv(x, edges, 3)")
    x, edges = _random_graph(7, 10)
    got = run(x=x[None], edges=edges[None])["y"][0]
    a = _dense_adjacency(edges, 7)
    mean = (a / np.maximum(a.sum(1, keepdims=True), 1)) @ x
    p = params["y"]
    np.testing.assert_allclose(got, x @ p["w_self"] + mean @ p["w_neigh"] + p["b"],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("conv", ["gcn_conv", "sage_conv"])
def test_padded_graphs_pool_to_the_unpadded_result(write_spec, conv):
    """The same graph alone and padded (3 more nodes, 5 more edges of -1, in a batch with
    another graph, after it): every real node and the masked pooled readout agree."""
    body = (f"  h = {conv}(x, edges, 5) -> relu\n  h = {conv}(h, edges, 5)\n"
            "  output h\n  output g = set_pool(h, kind=mean, mask=nodes)\n"
            "  output m = set_pool(h, kind=max, mask=nodes)\n")
    run, _ = _compiled(write_spec, GRAPH_INPUTS + "\n  input nodes: [B, N]", body)
    x, edges = _random_graph(5, 8)
    alone = run(x=x[None], edges=edges[None], nodes=np.ones((1, 5), np.float32))
    px = np.concatenate([x, 100 * RNG.randn(3, 4).astype(np.float32)])
    pe = np.concatenate([edges, np.full((5, 2), -1, np.int32)])
    other_x, other_e = _random_graph(8, 13)
    # Second in the batch: a padding edge taken for a real one would reach the first.
    padded = run(x=np.stack([other_x, px]), edges=np.stack([other_e, pe]),
                 nodes=np.stack([np.ones(8), np.r_[np.ones(5), np.zeros(3)]]).astype("f4"))
    np.testing.assert_allclose(padded["h"][1, :5], alone["h"][0], rtol=1e-5, atol=1e-5)
    for name in ("g", "m"):
        np.testing.assert_allclose(padded[name][1], alone[name][0], rtol=1e-5, atol=1e-5)
    other = run(x=other_x[None], edges=other_e[None], nodes=np.ones((1, 8), np.float32))
    np.testing.assert_allclose(padded["h"][0], other["h"][0], rtol=1e-5, atol=1e-5)


def test_set_pool_masks_padding_and_an_empty_set_gives_zeros(write_spec):
    run, _ = _compiled(write_spec, "  input x: [B, N, 2]\n  input keep: [B, N]",
                       "  output a = set_pool(x, kind=max, mask=keep)\n"
                       "  output b = set_pool(x, kind=mean, mask=keep)\n"
                       "  output c = set_pool(x, kind=sum, mask=keep)")
    x = np.array([[[1, -5], [3, 2], [99, 99]], [[7, 7], [8, 8], [9, 9]]], np.float32)
    keep = np.array([[1, 1, 0], [0, 0, 0]], np.float32)
    out = run(x=x, keep=keep)
    np.testing.assert_array_equal(out["a"], [[3, 2], [0, 0]])
    np.testing.assert_array_equal(out["b"], [[2, -1.5], [0, 0]])
    np.testing.assert_array_equal(out["c"], [[4, -3], [0, 0]])


def test_pointnet_outputs_are_the_same_for_any_order_of_the_points():
    run, _ = _run_network(ROOT / "specs" / "pointnet.nn", "PointNet")
    x = RNG.randn(4, 128, 3).astype(np.float32)
    base = run(x=x)["logits"]
    for seed in range(5):
        order = np.random.RandomState(seed).permutation(128)
        np.testing.assert_allclose(run(x=x[:, order])["logits"], base, rtol=1e-6, atol=1e-6)
    # A change of one point does reach the output (the check can fail).
    moved = x.copy()
    moved[:, 0] += 5
    assert not np.allclose(run(x=moved)["logits"], base)


def test_graph_ops_check_their_inputs(write_spec, capsys):
    from nndsl.cli import main

    path = write_spec("network N {\n  input x: [B, N, 4]\n  input edges: [B, E, 2]\n"
                      "  output y = gcn_conv(x, edges, 3)\n}\n")
    assert main(["check", str(path)]) != 0
    err = capsys.readouterr().err
    assert "spec.nn:4:" in err and "integer edge list" in err and "Traceback" not in err


def test_point_clouds_are_seeded_balanced_and_in_the_unit_ball():
    args = dict(points=32, noise=0.0, rotate=True, train=200, val=10, test=10, seed=3)
    a, b = point_clouds.point_clouds(args), point_clouds.point_clouds(args)
    np.testing.assert_array_equal(a["train"]["x"], b["train"]["x"])
    assert a["train"]["x"].shape == (200, 32, 3)
    assert np.linalg.norm(a["train"]["x"], axis=-1).max() <= 1 + 1e-6
    assert set(np.unique(a["train"]["y"])) == set(range(len(point_clouds.SHAPES)))


def test_karate_scores_labelled_members_in_train_and_the_others_in_test():
    splits = graphs.karate({"labelled": 1, "seed": 0})
    edges, y = graphs.karate_graph()
    assert edges.shape == (156, 2) and y.shape == (34,) and set(y) == {0, 1}
    train, test = splits["train"]["mask"][0], splits["test"]["mask"][0]
    assert train.sum() == 2 and set(y[train == 1]) == {0, 1}
    np.testing.assert_array_equal(train + test, np.ones(34))


def test_colored_graphs_are_padded_with_minus_one_and_classes_share_colour_counts():
    args = dict(min_nodes=6, max_nodes=9, colors=3, same=0.9, train=300, val=1, test=1, seed=0)
    data = graphs.colored_graphs(args)["train"]
    n_real = data["nodes"].sum(1).astype(int)
    n_edges = (data["edges"][..., 0] >= 0).sum(1)
    np.testing.assert_array_equal(n_edges, 4 * n_real)
    assert data["edges"].max() < 9 and (data["edges"][..., 0] < n_real[:, None]).all()
    share = [data["x"][data["y"] == c].sum((0, 1)) / data["nodes"][data["y"] == c].sum()
             for c in (0, 1)]
    np.testing.assert_allclose(share[0], share[1], atol=0.08)


GRAPH_SPEC = """network G {
  input x: [B, N, 4]
  input edges: [B, E, 2] i32
  output logits = gcn_conv(x, edges, 2)
}
train {
  model = G
  data = npz("graphs.npz")
  loss = cross_entropy(logits, y)
  optimizer = adam(lr=0.01)
  batch = 2
  epochs = 1
}
"""


def test_edges_naming_nodes_that_do_not_exist_are_a_located_error(write_spec, tmp_path,
                                                                     capsys):
    from nndsl.cli import main

    x, edges = RNG.randn(10, 5, 4).astype("f4"), RNG.randint(5, size=(10, 6, 2))
    edges[:, -1] = -1  # padding is fine
    y = RNG.randint(2, size=(10, 5))
    spec = write_spec(GRAPH_SPEC)
    np.savez(tmp_path / "graphs.npz", x=x, edges=edges.astype("i4"), y=y.astype("i4"))
    assert main(["train", str(spec), "--out", str(tmp_path / "ok"), "--quiet"]) == 0
    edges[3, 2, 1] = 7  # graph 3's third edge names node 7 of 5
    np.savez(tmp_path / "graphs.npz", x=x, edges=edges.astype("i4"), y=y.astype("i4"))
    capsys.readouterr()
    assert main(["train", str(spec), "--out", str(tmp_path / "bad"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "spec.nn:4:" in err and "E081" in err and "hold 7" in err
    assert "node ids in [-1, 5)" in err and "Traceback" not in err


@pytest.mark.parametrize("conv", ["gcn_conv", "sage_conv"])
def test_graph_op_gradients_match_finite_differences(write_spec, conv):
    from nndsl.gradcheck import gradcheck

    text = (f"network N {{\n{GRAPH_INPUTS}\n  h = x -> dense(4)\n"
            f"  output y = {conv}(h, edges, 3)\n}}\n")
    rows = gradcheck(nndsl.load(write_spec(text)).network("N"), samples=3, tol=1e-6)
    assert rows and all(r.ok for r in rows), [r for r in rows if not r.ok]
