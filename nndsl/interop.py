"""Weights to and from PyTorch `state_dict`s, for the layers whose mapping is exact.

`from_torch(graph, state_dict, mapping)` gives nndsl `(params, state)` (nested dicts
`{layer: {name: array}}`, as `Compiled.init` makes them); `to_torch(graph, params, state,
mapping)` gives a flat `{key: array}` that `module.load_state_dict` accepts after
`torch.from_numpy`. `mapping` names, for each nndsl layer (the names `nndsl summary` prints),
the PyTorch module prefix: `{"conv_0": "features.0", "LSTM_0": "rnn"}`; a recurrent layer of
a multi-layer or bidirectional PyTorch RNN takes its parameter suffix after a colon:
`"rnn:l1"`, `"rnn:l0_reverse"` (default `l0`). Every transform, and the conventions that
differ beyond the weights, are in docs/conventions.md.

Pure NumPy: torch is never imported here (a state dict of torch tensors is read through
`.detach().cpu().numpy()`, one loaded with safetensors' numpy loader is used as is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nndsl.ir import Graph, Node, walk
from nndsl.ops import REGISTRY
from nndsl.paths import STD_DIR
from nndsl.source import did_you_mean

Arrays = dict[str, np.ndarray]
_IGNORED_TORCH_LEAVES = ("num_batches_tracked",)  # a counter nndsl does not keep


class InteropError(ValueError):
    """A mapping, name or shape that does not fit: the message says which and what was
    expected."""


@dataclass(frozen=True)
class Layer:
    """One mappable nndsl layer: its name, its kind, its node, the parameter shapes and, for a
    dense layer right after `flatten`, the channels-last shape that was flattened."""

    name: str
    kind: str
    node: Node
    shapes: dict[str, tuple[int, ...]]
    flattened: tuple[int, ...] | None = None

    def shape(self, param: str) -> tuple[int, ...]:
        return self.shapes[param]


# The torch -> nndsl and nndsl -> torch transforms, one pair per kind -------------------------
# `get(leaf, shape, layout)` reads `prefix.leaf` (`prefix.leaf_l0` for recurrent layers) and
# checks its shape; a `from` function returns nndsl leaves (params, state), a `to` function
# PyTorch leaves.

Get = Callable[[str, tuple[int, ...], str], np.ndarray]


def _bias_from(layer: Layer, get: Get, out: dict) -> dict:
    if "b" in layer.shapes:
        out["b"] = get("bias", layer.shape("b"), "[out]")
    return out


def _bias_to(p: Arrays, out: dict) -> dict:
    if "b" in p:
        out["bias"] = p["b"]
    return out


def _dense_from(layer: Layer, get: Get):
    n_in, n_out = layer.shape("w")
    w = get("weight", (n_out, n_in), "[out, in]").T
    if layer.flattened:
        w = _reorder_rows(w, layer.flattened, to_nndsl=True)
    return _bias_from(layer, get, {"w": w}), {}


def _dense_to(layer: Layer, p: Arrays, s: Arrays) -> Arrays:
    w = _reorder_rows(p["w"], layer.flattened, to_nndsl=False) if layer.flattened else p["w"]
    return _bias_to(p, {"weight": w.T})


def _reorder_rows(w: np.ndarray, flattened: tuple[int, ...], to_nndsl: bool) -> np.ndarray:
    """Rows of a dense kernel after `flatten`: PyTorch flattens [C, *spatial], nndsl
    [*spatial, C]."""
    *spatial, channels = flattened
    n = len(spatial)
    if to_nndsl:
        moved = w.reshape(channels, *spatial, -1).transpose(*range(1, n + 1), 0, n + 1)
    else:
        moved = w.reshape(*spatial, channels, -1).transpose(n, *range(n), n + 1)
    return moved.reshape(w.shape)


def _conv_from(layer: Layer, get: Get):
    *kernel, cin, cout = layer.shape("w")
    n = len(kernel)
    w = get("weight", (cout, cin, *kernel), "[out, in/groups, *kernel]")
    return _bias_from(layer, get, {"w": w.transpose(*range(2, n + 2), 1, 0)}), {}


def _conv_to(layer: Layer, p: Arrays, s: Arrays) -> Arrays:
    n = p["w"].ndim - 2
    return _bias_to(p, {"weight": p["w"].transpose(n + 1, n, *range(n))})


def _flip(w: np.ndarray, n: int) -> np.ndarray:
    """Reverse the n leading (spatial) axes: nndsl's transposed convolution does not flip its
    kernel, PyTorch's does."""
    return np.ascontiguousarray(w[(slice(None, None, -1),) * n])


def _conv_t_from(layer: Layer, get: Get):
    *kernel, cin, cout = layer.shape("w")
    n = len(kernel)
    w = get("weight", (cin, cout, *kernel), "[in, out, *kernel]")
    return _bias_from(layer, get, {"w": _flip(w.transpose(*range(2, n + 2), 0, 1), n)}), {}


def _conv_t_to(layer: Layer, p: Arrays, s: Arrays) -> Arrays:
    n = p["w"].ndim - 2
    return _bias_to(p, {"weight": _flip(p["w"], n).transpose(n, n + 1, *range(n))})


def _norm_from(layer: Layer, get: Get):
    c = layer.shape("scale")
    params = {"scale": get("weight", c, "[C]"), "shift": get("bias", c, "[C]")}
    if layer.kind != "batchnorm":
        return params, {}
    return params, {"mean": get("running_mean", c, "[C]"), "var": get("running_var", c, "[C]")}


def _norm_to(layer: Layer, p: Arrays, s: Arrays) -> Arrays:
    out = {"weight": p["scale"], "bias": p["shift"]}
    if layer.kind == "batchnorm":
        out.update(running_mean=s["mean"], running_var=s["var"])
    return out


def _attention_from(layer: Layer, get: Get):
    d = layer.shape("wq")[0]
    w = get("in_proj_weight", (3 * d, d), "[3 * D, D], rows q, k, v")
    b = get("in_proj_bias", (3 * d,), "[3 * D]")
    params = {f"w{n}": w[i * d:(i + 1) * d].T for i, n in enumerate("qkv")}
    params.update({f"b{n}": b[i * d:(i + 1) * d] for i, n in enumerate("qkv")})
    params["wo"] = get("out_proj.weight", (d, d), "[D, D]").T
    params["bo"] = get("out_proj.bias", (d,), "[D]")
    return params, {}


def _attention_to(layer: Layer, p: Arrays, s: Arrays) -> Arrays:
    return {"in_proj_weight": np.concatenate([p[f"w{n}"].T for n in "qkv"]),
            "in_proj_bias": np.concatenate([p[f"b{n}"] for n in "qkv"]),
            "out_proj.weight": p["wo"].T, "out_proj.bias": p["bo"]}


# Recurrent cells: PyTorch keeps two biases per gate, nndsl one (their sum, exact) ------------

def _weights(get: Get, layer: Layer, gates: int):
    n_in, h = layer.shape("dense_0.w")[0], layer.shape("dense_1.w")[0]
    rows = f"[{gates} * hidden, in]"
    return get("weight_ih", (gates * h, n_in), rows), get("weight_hh", (gates * h, h), rows), h


def _biases(get: Get, gates: int, h: int):
    return (get("bias_ih", (gates * h,), f"[{gates} * hidden]"),
            get("bias_hh", (gates * h,), f"[{gates} * hidden]"))


def _rnn_from(layer: Layer, get: Get):
    """RNN (one gate) and LSTM (gates i, f, g, o in both): the same row order; one bias."""
    gates = 4 if layer.kind == "LSTM" else 1
    w_ih, w_hh, h = _weights(get, layer, gates)
    b_ih, b_hh = _biases(get, gates, h)
    return {"dense_0.w": w_ih.T, "dense_0.b": b_ih + b_hh, "dense_1.w": w_hh.T}, {}


def _rnn_to(layer: Layer, p: Arrays, s: Arrays) -> Arrays:
    b = p["dense_0.b"]
    return {"weight_ih": p["dense_0.w"].T, "weight_hh": p["dense_1.w"].T,
            "bias_ih": b, "bias_hh": np.zeros_like(b)}


def _gru_from(layer: Layer, get: Get):
    """PyTorch rows are (r, z, n), nndsl's dense_0/dense_1 columns (z, r); the n gate's
    input and hidden halves are dense_2 and dense_3, whose bias stays inside `r * (...)`."""
    w_ih, w_hh, h = _weights(get, layer, 3)
    b_ih, b_hh = _biases(get, 3, h)
    r, z, n = slice(0, h), slice(h, 2 * h), slice(2 * h, 3 * h)
    return {"dense_0.w": np.concatenate([w_ih[z], w_ih[r]]).T,
            "dense_0.b": np.concatenate([b_ih[z] + b_hh[z], b_ih[r] + b_hh[r]]),
            "dense_1.w": np.concatenate([w_hh[z], w_hh[r]]).T,
            "dense_2.w": w_ih[n].T, "dense_2.b": b_ih[n],
            "dense_3.w": w_hh[n].T, "dense_3.b": b_hh[n]}, {}


def _gru_to(layer: Layer, p: Arrays, s: Arrays) -> Arrays:
    h = p["dense_3.w"].shape[0]
    z_ih, r_ih = p["dense_0.w"][:, :h].T, p["dense_0.w"][:, h:].T
    z_hh, r_hh = p["dense_1.w"][:, :h].T, p["dense_1.w"][:, h:].T
    b_zr = p["dense_0.b"]
    zeros = np.zeros(h, b_zr.dtype)
    return {"weight_ih": np.concatenate([r_ih, z_ih, p["dense_2.w"].T]),
            "weight_hh": np.concatenate([r_hh, z_hh, p["dense_3.w"].T]),
            "bias_ih": np.concatenate([b_zr[h:], b_zr[:h], p["dense_2.b"]]),
            "bias_hh": np.concatenate([zeros, zeros, p["dense_3.b"]])}


_CONVERTERS = {
    "dense": (_dense_from, _dense_to), "conv": (_conv_from, _conv_to),
    "conv_transpose": (_conv_t_from, _conv_t_to),
    **{k: (_norm_from, _norm_to) for k in ("batchnorm", "layernorm", "groupnorm",
                                           "instancenorm")},
    **{k: (lambda layer, get: ({"table": get("weight", layer.shape("table"), "[rows, dim]")},
                                {}),
           lambda layer, p, s: {"weight": p["table"]}) for k in ("embed", "positional")},
    "self_attention": (_attention_from, _attention_to),
    "RNN": (_rnn_from, _rnn_to), "LSTM": (_rnn_from, _rnn_to), "GRU": (_gru_from, _gru_to),
    # A raw `param` is one tensor: the mapping names its full PyTorch key, taken as is.
    "param": (lambda layer, get: ({"value": get("", layer.shape("value"), "as is")}, {}),
              lambda layer, p, s: {"": p["value"]}),
}
RECURRENT = ("RNN", "LSTM", "GRU")


# Finding the layers of a graph --------------------------------------------------------------

def layers(graph: Graph, channels_first_flatten: bool = True) -> dict[str, Layer]:
    """Every nndsl layer with parameters, by name. A layer whose `kind` has no converter
    (attention, weight-normalised, inside a stacked `Stage * n`) is listed but not mappable.

    With `channels_first_flatten`, a dense layer right after `flatten` of a [B, ..., C] tensor
    reorders its input rows as PyTorch's flatten of [B, C, ...] orders them.
    """
    found: dict[str, Layer] = {}
    _collect(graph, found, stacked=False, channels_first=channels_first_flatten)
    return found


def _collect(graph: Graph, found: dict[str, Layer], stacked: bool, channels_first: bool):
    for node in graph:
        cell = node.attrs.get("cell") if node.op == "scan" else None
        if cell in RECURRENT and _from_std(node.body):
            shapes = {s.key[len(node.id) + 1:]: s.shape for n, _ in walk(node.body)
                      for s in n.params.values()}
            found[node.id] = Layer(node.id, "stacked" if stacked else cell, node, shapes)
            continue
        if node.params:
            name = next(iter(node.params.values())).key.rpartition(".")[0]
            found.setdefault(name, _layer(graph, node, name, stacked, channels_first))
        if node.body is not None:
            inner = stacked or REGISTRY[node.op].body_rule("lowering").stacked(node)
            _collect(node.body, found, inner, channels_first)


def _layer(graph: Graph, node: Node, name: str, stacked: bool, channels_first: bool) -> Layer:
    shapes = {leaf: spec.shape for leaf, spec in node.params.items()}
    kind = node.op
    if stacked:
        kind = "stacked"
    elif "g" in shapes:
        kind = f"{node.op} with norm=weight"
    flattened = None
    if node.op == "dense" and channels_first:
        source = graph.nodes[node.inputs[0].node]
        if source.op == "flatten":
            dims = graph.type_of(source.inputs[0]).shape[1:]
            if len(dims) >= 2 and all(isinstance(d, int) for d in dims):
                flattened = tuple(dims)
    return Layer(name, kind, node, shapes, flattened)


def _from_std(body: Graph) -> bool:
    """Whether a cell's body is the standard library's (a same-named cell of the user's own
    may compute something else)."""
    return all(Path(node.span.source.path).resolve().parent == STD_DIR for node in body
               if node.span.source is not None)


def _mappable(found: dict[str, Layer], name: str) -> Layer:
    if name not in found:
        hint = did_you_mean(name, found) or f"layers: {', '.join(found) or 'none'}"
        raise InteropError(f"no nndsl layer `{name}` with parameters; {hint}")
    layer = found[name]
    if layer.kind not in _CONVERTERS:
        why = ("it lies inside a stacked `Stage * n` (one array holds every copy); unroll the "
               "stage or map the stacked arrays by hand" if layer.kind == "stacked"
               else "it has no exact PyTorch counterpart here")
        raise InteropError(f"nndsl layer `{name}` ({layer.kind}) is not mapped: {why}")
    return layer


def _target(layer: Layer, target: str) -> tuple[str, str]:
    """The PyTorch prefix and, for a recurrent layer, its parameter suffix (`_l0`)."""
    prefix, _, suffix = target.partition(":")
    if layer.kind in RECURRENT:
        return prefix, f"_{suffix or 'l0'}"
    if suffix:
        raise InteropError(f"`{target}`: only recurrent layers take a `:suffix`, and nndsl "
                           f"`{layer.name}` is a {layer.kind}")
    return prefix, ""


def _torch_key(prefix: str, leaf: str, suffix: str) -> str:
    """`prefix.leaf_suffix`; an empty prefix is the top-level module (a bare `nn.LSTM`)."""
    return ".".join(part for part in (prefix, f"{leaf}{suffix}" if leaf else "") if part)


def _numpy(value) -> np.ndarray:
    """An array from a numpy array or a torch tensor (without importing torch)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


# The two directions ---------------------------------------------------------------------------

def from_torch(graph: Graph, state_dict: dict, mapping: dict[str, str], *, strict: bool = True,
               channels_first_flatten: bool = True) -> tuple[dict, dict]:
    """nndsl `(params, state)` for the mapped layers, from a PyTorch `state_dict`.

    `mapping` maps nndsl layer names to PyTorch module prefixes (see the module docstring).
    With `strict`, every nndsl layer with parameters must be mapped and every key of the state
    dict used (`num_batches_tracked` aside); else only the mapped layers are returned, to merge
    into `Compiled.init`'s. Raises InteropError for a name or shape that does not fit.
    """
    found = layers(graph, channels_first_flatten)
    arrays = {key: _numpy(value) for key, value in state_dict.items()}
    used: set[str] = set()
    params: dict = {}
    state: dict = {}
    for name, target in mapping.items():
        layer = _mappable(found, name)
        prefix, suffix = _target(layer, target)
        p, s = _CONVERTERS[layer.kind][0](layer, _reader(arrays, prefix, suffix, layer, used))
        _nest_into(params, name, p)
        _nest_into(state, name, s)
    if strict:
        _check_complete(found, mapping, set(arrays) - used)
    return params, state


def _reader(arrays: Arrays, prefix: str, suffix: str, layer: Layer, used: set[str]) -> Get:
    def get(leaf: str, shape: tuple[int, ...], layout: str) -> np.ndarray:
        key = _torch_key(prefix, leaf, suffix)
        if key not in arrays:
            hint = did_you_mean(key, arrays) or "check the mapping's prefix"
            raise InteropError(f"PyTorch key `{key}` (for nndsl `{layer.name}`, {layer.kind}) "
                               f"is not in the state dict; {hint}")
        value = arrays[key]
        if tuple(value.shape) != tuple(shape):
            raise InteropError(f"PyTorch `{key}` has shape {list(value.shape)}, but nndsl "
                               f"`{layer.name}` ({layer.kind}) needs {list(shape)} {layout}")
        used.add(key)
        return value.astype(np.float32)
    return get


def _nest_into(tree: dict, name: str, leaves: Arrays) -> None:
    for leaf, value in leaves.items():
        layer, _, last = f"{name}.{leaf}".rpartition(".")
        tree.setdefault(layer, {})[last] = np.ascontiguousarray(value)


def _check_complete(found: dict[str, Layer], mapping: dict, unused: set[str]) -> None:
    missing = [name for name in found if name not in mapping]
    unused = sorted(k for k in unused if k.rpartition(".")[2] not in _IGNORED_TORCH_LEAVES)
    if missing:
        raise InteropError(f"nndsl layers not in the mapping: {', '.join(missing)} "
                           "(strict=False loads only the mapped ones)")
    if unused:
        raise InteropError(f"PyTorch keys no nndsl layer takes: {', '.join(unused)} "
                           "(strict=False ignores them)")


def to_torch(graph: Graph, params: dict, state: dict, mapping: dict[str, str], *,
             channels_first_flatten: bool = True) -> dict[str, np.ndarray]:
    """A PyTorch `state_dict` (of numpy arrays) for the mapped layers: the inverse of
    `from_torch`. A recurrent layer's two biases come out as (nndsl's bias, zeros)."""
    found = layers(graph, channels_first_flatten)
    out: dict[str, np.ndarray] = {}
    for name, target in mapping.items():
        layer = _mappable(found, name)
        prefix, suffix = _target(layer, target)
        p = {leaf: _leaf(params, name, leaf, shape) for leaf, shape in layer.shapes.items()}
        s = {leaf: _leaf(state, name, leaf, layer.shape("scale"))
             for leaf in ("mean", "var")} if layer.kind == "batchnorm" else {}
        for leaf, value in _CONVERTERS[layer.kind][1](layer, p, s).items():
            out[_torch_key(prefix, leaf, suffix)] = np.ascontiguousarray(np.asarray(value))
    return out


def _leaf(tree: dict, name: str, leaf: str, shape: tuple[int, ...]) -> np.ndarray:
    layer, _, last = f"{name}.{leaf}".rpartition(".")
    value = tree.get(layer, {}).get(last)
    if value is None:
        raise InteropError(f"nndsl `{layer}.{last}` is missing from the parameters given")
    value = np.asarray(value)
    if value.shape != tuple(shape):
        raise InteropError(f"nndsl `{layer}.{last}` has shape {list(value.shape)}, but the "
                           f"graph declares {list(shape)}")
    return value
