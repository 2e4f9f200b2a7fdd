"""nndsl.interop: weights to and from PyTorch state dicts (docs/conventions.md).

The NumPy tests always run: round trips, the transforms against PyTorch's equations written
out in NumPy, and every error. The parity tests build the equivalent torch modules and compare
outputs; they skip when torch is not installed (it is an optional extra, `.[parity]`).
"""

import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import nndsl
from nndsl.interop import InteropError, from_torch, layers, to_torch
from nndsl.lower import Compiled

CNN = """
network CNN {
    input x: [B, 8, 8, 3]
    output y = x -> conv(4, 3, stride=2, pad=same) -> batchnorm -> relu
                 -> conv(6, 3, pad=1, groups=2) -> groupnorm(3) -> gelu
                 -> conv_transpose(3, 3, stride=2, pad=same)
                 -> conv_transpose(2, 4, stride=2, pad=same) -> instancenorm
                 -> avgpool(2) -> flatten -> dense(5) -> layernorm
}
"""
CNN_MAP = {"conv_0": "c1", "batchnorm_0": "bn", "conv_1": "c2", "groupnorm_0": "gn",
           "conv_transpose_0": "t1", "conv_transpose_1": "t2", "instancenorm_0": "inorm",
           "dense_0": "fc", "y": "ln"}

SEQ = """
network Seq {
    input ids: [B, 7] i32
    output y = ids -> embed(11, 4) -> scan(LSTM(5)) -> scan(GRU(3)) -> scan(RNN(4))
                   -> dense(2)
}
network Bi {
    input x: [B, 5, 3]
    output y = x -> bidirectional(LSTM(4)) -> self_attention(heads=2)
}
"""
SEQ_MAP = {"embed_0": "emb", "LSTM_0": "lstm", "GRU_0": "gru", "RNN_0": "rnn", "y": "fc"}
BI_MAP = {"biLSTM_0.fwd": "lstm", "biLSTM_0.bwd": "lstm:l0_reverse", "y": "mha"}


def _graph(write_spec, text, name):
    return nndsl.load(write_spec(text)).network(name)


def _random(graph, seed=0):
    """Parameters and state with every entry random (biases and norms included)."""
    params, state = Compiled(graph).init(seed)
    rng = np.random.RandomState(seed)

    def fill(tree, positive=False):
        return {layer: {k: rng.uniform(0.5, 1.5, v.shape).astype(np.float32) if positive
                        else rng.normal(size=v.shape).astype(np.float32)
                        for k, v in leaves.items()} for layer, leaves in tree.items()}

    return fill(params), fill(state, positive=True)


def _same_trees(a, b):
    assert a.keys() == b.keys()
    for layer in a:
        assert a[layer].keys() == b[layer].keys(), layer
        for leaf in a[layer]:
            np.testing.assert_allclose(np.asarray(a[layer][leaf]), b[layer][leaf], rtol=1e-6,
                                       atol=1e-6, err_msg=f"{layer}.{leaf}")


# NumPy: round trips and transforms -------------------------------------------------------------

@pytest.mark.parametrize("text,name,mapping", [(CNN, "CNN", CNN_MAP), (SEQ, "Seq", SEQ_MAP),
                                               (SEQ, "Bi", BI_MAP)])
def test_round_trip_through_a_state_dict(write_spec, text, name, mapping):
    graph = _graph(write_spec, text, name)
    params, state = _random(graph)
    state_dict = to_torch(graph, params, state, mapping)
    back_params, back_state = from_torch(graph, state_dict, mapping)
    _same_trees(params, back_params)
    _same_trees(state, back_state)


def test_layouts_of_the_state_dict(write_spec):
    graph = _graph(write_spec, CNN, "CNN")
    params, state = _random(graph)
    sd = to_torch(graph, params, state, CNN_MAP)
    assert sd["c1.weight"].shape == (4, 3, 3, 3)          # OIHW from HWIO
    np.testing.assert_array_equal(sd["c1.weight"][1, 2, 0, 1], params["conv_0"]["w"][0, 1, 2, 1])
    assert sd["c2.weight"].shape == (6, 2, 3, 3)          # groups: [out, in/groups, kh, kw]
    # conv_transpose: [in, out, kh, kw] and the kernel flipped in space
    np.testing.assert_array_equal(sd["t1.weight"][1, 2, 0, 0],
                                  params["conv_transpose_0"]["w"][2, 2, 1, 2])
    assert sd["bn.running_var"].shape == (4,) and sd["fc.weight"].shape == (5, 8 * 8 * 2)


def test_dense_after_flatten_matches_a_channels_first_flatten(write_spec):
    text = """network F { input x: [B, 2, 3, 4]
                          output y = x -> flatten -> dense(5) }"""
    graph = _graph(write_spec, text, "F")
    assert layers(graph)["y"].flattened == (2, 3, 4)
    rng = np.random.RandomState(1)
    weight, bias = rng.normal(size=(5, 24)), rng.normal(size=5)
    x = rng.normal(size=(3, 2, 3, 4)).astype(np.float32)
    expected = x.transpose(0, 3, 1, 2).reshape(3, -1) @ weight.T + bias   # PyTorch's way
    params, state = from_torch(graph, {"fc.weight": weight, "fc.bias": bias}, {"y": "fc"})
    out, _ = Compiled(graph).apply(params, state, {"x": jnp.asarray(x)})
    np.testing.assert_allclose(out["y"], expected, rtol=1e-5, atol=1e-5)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _torch_lstm(x, sd, p):
    """PyTorch's LSTM equations (gates i, f, g, o; two biases)."""
    h = np.zeros((x.shape[0], sd[f"{p}.weight_hh_l0"].shape[1]))
    c, out = np.zeros_like(h), []
    for t in range(x.shape[1]):
        g = (x[:, t] @ sd[f"{p}.weight_ih_l0"].T + sd[f"{p}.bias_ih_l0"]
             + h @ sd[f"{p}.weight_hh_l0"].T + sd[f"{p}.bias_hh_l0"])
        i, f, gg, o = np.split(g, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(gg)
        h = _sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, 1)


def _torch_gru(x, sd, p):
    """PyTorch's GRU equations (rows r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)))."""
    h, out = np.zeros((x.shape[0], sd[f"{p}.weight_hh_l0"].shape[1])), []
    for t in range(x.shape[1]):
        gi = x[:, t] @ sd[f"{p}.weight_ih_l0"].T + sd[f"{p}.bias_ih_l0"]
        gh = h @ sd[f"{p}.weight_hh_l0"].T + sd[f"{p}.bias_hh_l0"]
        (ir, iz, in_), (hr, hz, hn) = np.split(gi, 3, -1), np.split(gh, 3, -1)
        r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
        n = np.tanh(in_ + r * hn)
        h = (1 - z) * n + z * h
        out.append(h)
    return np.stack(out, 1)


@pytest.mark.parametrize("cell,reference", [("LSTM", _torch_lstm), ("GRU", _torch_gru)])
def test_recurrent_cells_match_pytorch_equations(write_spec, cell, reference):
    text = f"network R {{ input x: [B, 6, 3]\n output y = x -> scan({cell}(4)) }}"
    graph = _graph(write_spec, text, "R")
    gates = {"LSTM": 4, "GRU": 3}[cell]
    rng = np.random.RandomState(2)
    sd = {"r.weight_ih_l0": rng.normal(size=(gates * 4, 3)),
          "r.weight_hh_l0": rng.normal(size=(gates * 4, 4)),
          "r.bias_ih_l0": rng.normal(size=gates * 4), "r.bias_hh_l0": rng.normal(size=gates * 4)}
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    params, state = from_torch(graph, sd, {f"{cell}_0": "r"})
    out, _ = Compiled(graph).apply(params, state, {"x": jnp.asarray(x)})
    np.testing.assert_allclose(out["y"], reference(x, sd, "r"), rtol=1e-5, atol=1e-5)
    # nndsl -> PyTorch puts the folded bias in bias_ih: the same function again
    again = to_torch(graph, params, state, {f"{cell}_0": "r"})
    np.testing.assert_allclose(reference(x, again, "r"), out["y"], rtol=1e-5, atol=1e-5)


def test_interop_imports_neither_torch_nor_jax():
    code = ("import sys, nndsl.interop; "
            "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_an_empty_prefix_is_a_bare_module(write_spec):
    graph = _graph(write_spec, SEQ, "Seq")
    params, state = _random(graph)
    sd = to_torch(graph, params, state, {"LSTM_0": "", "y": ""})
    assert sorted(sd) == ["bias", "bias_hh_l0", "bias_ih_l0", "weight", "weight_hh_l0",
                          "weight_ih_l0"]


# NumPy: errors -------------------------------------------------------------------------------

def _cnn_dict(write_spec):
    graph = _graph(write_spec, CNN, "CNN")
    params, state = _random(graph)
    return graph, to_torch(graph, params, state, CNN_MAP)


def test_an_unknown_layer_name_suggests_the_closest(write_spec):
    graph, sd = _cnn_dict(write_spec)
    with pytest.raises(InteropError, match=r"no nndsl layer `conv0`.*did you mean `conv_0`"):
        from_torch(graph, sd, {"conv0": "c1"}, strict=False)


def test_a_shape_that_does_not_fit_names_key_and_layout(write_spec):
    graph, sd = _cnn_dict(write_spec)
    sd["c1.weight"] = np.zeros((4, 3, 5, 5))
    with pytest.raises(InteropError, match=r"`c1.weight` has shape \[4, 3, 5, 5\].*"
                                           r"needs \[4, 3, 3, 3\] \[out, in/groups, \*kernel\]"):
        from_torch(graph, sd, CNN_MAP)


def test_a_missing_key_is_named(write_spec):
    graph, sd = _cnn_dict(write_spec)
    del sd["bn.running_var"]
    with pytest.raises(InteropError, match=r"`bn.running_var` \(for nndsl `batchnorm_0`"):
        from_torch(graph, sd, CNN_MAP)


def test_strict_wants_every_layer_and_every_key(write_spec):
    graph, sd = _cnn_dict(write_spec)
    partial = {k: v for k, v in CNN_MAP.items() if k != "y"}
    with pytest.raises(InteropError, match="not in the mapping: y"):
        from_torch(graph, sd, partial)
    with pytest.raises(InteropError, match="keys no nndsl layer takes: head.bias, head.weight"):
        from_torch(graph, {**sd, "head.weight": sd["fc.weight"], "head.bias": sd["fc.bias"]},
                   CNN_MAP)
    params, _ = from_torch(graph, sd, partial, strict=False)
    assert "y" not in params and "conv_0" in params
    params, _ = from_torch(graph, {**sd, "bn.num_batches_tracked": np.array(3)}, CNN_MAP)
    assert set(params) == set(CNN_MAP)


def test_unmappable_layers_say_why(write_spec):
    text = """block Res(c) { input x
                             output y = x + (x -> conv(c, 3, pad=same)) }
              network S { input x: [B, 4, 4, 2]
                          output y = x -> Res(2) * 3 -> flatten -> dense(3, norm=weight) }"""
    graph = _graph(write_spec, text, "S")
    with pytest.raises(InteropError, match=r"`Res_0.conv_0` \(stacked\).*Stage \* n"):
        from_torch(graph, {}, {"Res_0.conv_0": "c"}, strict=False)
    with pytest.raises(InteropError, match=r"`y` \(dense with norm=weight\)"):
        from_torch(graph, {}, {"y": "fc"}, strict=False)

    graph, sd = _cnn_dict(write_spec)
    with pytest.raises(InteropError, match="only recurrent layers take a `:suffix`"):
        from_torch(graph, sd, {"conv_0": "c1:l1"}, strict=False)


def test_a_cell_of_ones_own_named_lstm_is_not_taken_for_the_standard_one(write_spec):
    text = """cell LSTM(hidden) { input x
                                  state h: [B, hidden]
                                  h = tanh(dense(x, hidden) + dense(h, hidden))
                                  output h }
              network R { input x: [B, 6, 3]
                          output y = x -> scan(LSTM(4)) }"""
    found = layers(_graph(write_spec, text, "R"))
    assert "LSTM_0" not in found and found["LSTM_0.dense_0"].kind == "dense"


def test_to_torch_names_a_missing_or_misshapen_parameter(write_spec):
    graph = _graph(write_spec, CNN, "CNN")
    params, state = _random(graph)
    with pytest.raises(InteropError, match="`conv_0.b` is missing"):
        to_torch(graph, {**params, "conv_0": {"w": params["conv_0"]["w"]}}, state, CNN_MAP)
    with pytest.raises(InteropError, match=r"`conv_0.w` has shape \[3, 3\]"):
        to_torch(graph, {**params, "conv_0": {**params["conv_0"], "w": np.zeros((3, 3))}},
                 state, CNN_MAP)


# PyTorch parity (optional: skipped without torch) ----------------------------------------------

def _torch_modules():
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional

    class CNNTorch(nn.Module):
        """CNN above, written the PyTorch way: NCHW, and each padding mapped."""

        def __init__(self):
            super().__init__()
            self.c1, self.bn = nn.Conv2d(3, 4, 3, stride=2), nn.BatchNorm2d(4)
            self.c2, self.gn = nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.GroupNorm(3, 6)
            self.t1 = nn.ConvTranspose2d(6, 3, 3, stride=2)             # k - s = 1: slice
            self.t2 = nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1)  # k - s = 2: padding 1
            self.inorm = nn.InstanceNorm2d(2, affine=True)
            self.fc, self.ln = nn.Linear(128, 5), nn.LayerNorm(5)

        def forward(self, x):
            x = x.permute(0, 3, 1, 2)
            x = F.relu(self.bn(self.c1(F.pad(x, (0, 1, 0, 1)))))   # XLA SAME on 8, stride 2
            x = F.gelu(self.gn(self.c2(x)))                          # both exact (erf)
            x = self.t1(x)[:, :, :8, :8]                           # SAME crops (0, 1)
            x = F.avg_pool2d(self.inorm(self.t2(x)), 2)
            return self.ln(self.fc(x.flatten(1)))

    class SeqTorch(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 4)
            self.lstm = nn.LSTM(4, 5, batch_first=True)
            self.gru = nn.GRU(5, 3, batch_first=True)
            self.rnn = nn.RNN(3, 4, batch_first=True)
            self.fc = nn.Linear(4, 2)

        def forward(self, ids):
            h = self.gru(self.lstm(self.emb(ids))[0])[0]
            return self.fc(self.rnn(h)[0])

    class BiTorch(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
            self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            h = self.lstm(x)[0]
            return self.mha(h, h, h, need_weights=False)[0]

    return torch, {"CNN": CNNTorch, "Seq": SeqTorch, "Bi": BiTorch}


_PARITY = [(CNN, "CNN", CNN_MAP, "x", (3, 8, 8, 3)), (SEQ, "Seq", SEQ_MAP, "ids", (3, 7)),
           (SEQ, "Bi", BI_MAP, "x", (3, 5, 3))]


def _input(shape):
    rng = np.random.RandomState(3)
    if len(shape) == 2:
        return rng.randint(0, 11, size=shape).astype(np.int32)
    return rng.normal(size=shape).astype(np.float32)


def _compare(torch, module, graph, params, state, name, shape):
    module.eval()   # batchnorm on its running statistics, as nndsl's apply(train=False)
    x = _input(shape)
    with torch.no_grad():
        expected = module(torch.from_numpy(x).long() if x.dtype == np.int32
                          else torch.from_numpy(x)).numpy()
    out, _ = Compiled(graph).apply(params, state, {name: jnp.asarray(x)})
    np.testing.assert_allclose(np.asarray(out["y"]), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("text,net,mapping,name,shape", _PARITY)
def test_torch_weights_give_torch_outputs(write_spec, text, net, mapping, name, shape):
    torch, modules = _torch_modules()
    torch.manual_seed(0)
    module = modules[net]()
    for m in module.modules():   # running statistics worth mapping, not the fresh 0 and 1
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    graph = _graph(write_spec, text, net)
    params, state = from_torch(graph, module.state_dict(), mapping)
    _compare(torch, module, graph, params, state, name, shape)


@pytest.mark.parametrize("text,net,mapping,name,shape", _PARITY)
def test_nndsl_weights_load_into_torch(write_spec, text, net, mapping, name, shape):
    torch, modules = _torch_modules()
    module = modules[net]()
    graph = _graph(write_spec, text, net)
    params, state = _random(graph)
    sd = to_torch(graph, params, state, mapping)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    _compare(torch, module, graph, params, state, name, shape)
