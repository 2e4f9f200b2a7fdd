"""Checked graph → pure JAX functions: `init(rng)` and `apply(params, state, inputs, rng, train)`.

Parameters and state are nested dicts `{layer: {name: array}}` keyed by the hierarchical layer
names `summary` prints. A repeated stage (`Stage * n`) runs its one body under `lax.scan` over
parameters stacked along a leading axis of size n, so compile time does not grow with n, or
unrolled when n is small (nndsl/repeat_rule.py); a cell runs under `lax.scan` over time
with its states as the carry. Each op's arithmetic is its registry entry's `lower`.

With `precision="bf16"` (see nndsl/precision.py) each op's floating inputs and parameters are
cast at use to the dtype the policy gives it; parameters, state and the values `evaluate`
returns stay float32, so gradients land on float32 parameters.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from nndsl.init import initialise
from nndsl.ir import Graph, Node, ParamSpec, Ref, Sym, walk
from nndsl.ops import REGISTRY, OpDef
from nndsl.ops.facts import call_text
from nndsl.precision import compute_dtypes
from nndsl.repeat_rule import repeat_mode, unrolled

Params = dict[str, dict[str, jax.Array]]
_DTYPES = {"bf16": jnp.bfloat16, "f32": jnp.float32}


def split_key(key: str) -> tuple[str, str]:
    layer, _, name = key.rpartition(".")
    return layer, name


@dataclass(frozen=True)
class Slot:
    """A parameter or state tensor with the copies it is stacked over (`Stage * n`)."""

    spec: ParamSpec
    stack: tuple[int, ...]


def _slots(graph: Graph, stack: tuple[int, ...] = (), attr: str = "params") -> dict[str, Slot]:
    slots: dict[str, Slot] = {}
    for node in graph:
        for spec in getattr(node, attr).values():
            slots.setdefault(spec.key, Slot(spec, stack))
        if node.body is not None:
            stacked = REGISTRY[node.op].body_rule("lowering").stacked(node)
            inner = stack + (node.times,) if stacked else stack
            for key, slot in _slots(node.body, inner, attr).items():
                slots.setdefault(key, slot)
    return slots


def _stacked(init: str, seed: int, shape, stack: tuple[int, ...]) -> np.ndarray:
    """`stack` independent copies (a repeated stage's parameters), each from its own seed."""
    copies = int(np.prod(stack)) if stack else 1
    arrays = [initialise(init, np.random.RandomState([seed, i]), shape) for i in range(copies)]
    return np.stack(arrays).reshape(*stack, *shape).astype(np.float32)


def _nest(flat: dict[str, jax.Array]) -> Params:
    nested: Params = {}
    for key, value in flat.items():
        layer, name = split_key(key)
        nested.setdefault(layer, {})[name] = value
    return nested


class Compiled:
    """A graph ready to run: its parameter and state layout, `init` and `apply`."""

    def __init__(self, graph: Graph, exact_gradients: bool = False,
                 check_numerics: bool = False, precision: str = "f32",
                 platform: str | None = None, repeat: str | None = None):
        self.graph = graph
        # How `Stage * n` lowers: scanned, unrolled, or by the rule (nndsl/repeat_rule.py).
        self.repeat = repeat_mode(repeat)
        # The platform the graph runs on (`cpu`, `gpu`, `tpu`; None: JAX's default backend):
        # backend-specific lowerings (a convolution inside a scan) follow it.
        self.platform = platform
        # Under bf16, each node's compute dtype by id (nndsl/precision.py); None: no casts.
        self.dtypes = compute_dtypes(graph, precision) if precision != "f32" else None
        self.exact_gradients = exact_gradients
        # --check-numerics: every indexing op checks its indices and every op its output for
        # NaN with checkify.check (the caller checkifies); each check's message starts with
        # a key of `check_sites`, the node it is about.
        self.check_numerics = check_numerics
        self.check_sites: dict[str, Node] = {}
        self.param_slots = _slots(graph)
        self.state_slots = _slots(graph, attr="state")

    def init(self, seed: int) -> tuple[Params, Params]:
        """Fresh parameters and state, made on the host from `seed` and each tensor's name
        (device random number generators cost seconds of compilation for this)."""
        def make(slots):
            return _nest({key: jnp.asarray(_stacked(s.spec.init, _hash(f"{seed}:{key}"),
                                                    s.spec.shape, s.stack))
                          for key, s in slots.items()})

        return make(self.param_slots), make(self.state_slots)

    def evaluate(self, params: Params, state: Params, inputs: dict, rng, train: bool,
                 refs: list[Ref], tag=None) -> tuple[list[jax.Array], Params]:
        """The values of `refs` and the updated state (pure: jit and grad apply).
        `tag(run, node, xs, out)`, when given, sees each node's output and returns
        the value the graph continues with (kfac registers its layers so, fit/kfac.py)."""
        run = self._run(params, state, inputs, rng, train)
        run.tag = tag
        run.exact_gradients = self.exact_gradients
        run.check_sites = self.check_sites if self.check_numerics else None
        values = run.graph(self.graph, inputs)
        return [_to_f32(values[r]) for r in refs], _merge(state, run.new_state)

    def apply(self, params: Params, state: Params, inputs: dict, rng=None, train=False):
        """The network's named outputs and the updated state."""
        rng = jax.random.PRNGKey(0) if rng is None else rng
        names = list(self.graph.outputs)
        values, new_state = self.evaluate(params, state, inputs, rng, train,
                                          [self.graph.outputs[n] for n in names])
        return dict(zip(names, values)), new_state

    def trace_all(self, params, state, inputs, rng, train):
        """Every node's first output, in order (for locating the first non-finite value)."""
        values = self._run(params, state, inputs, rng, train).graph(self.graph, inputs)
        return [(node, values[Ref(node.id)]) for node in self.graph if Ref(node.id) in values]

    def _run(self, params, state, inputs, rng, train) -> _Run:
        run = _Run(params, state, rng, train, _batch_size(inputs))
        run.dtypes = self.dtypes
        run.platform = self.platform or jax.default_backend()
        run.repeat = self.repeat
        return run


def _to_f32(value: jax.Array) -> jax.Array:
    """The output dtype: a bfloat16 value leaves as float32 (f32 runs are untouched)."""
    return value.astype(jnp.float32) if value.dtype == jnp.bfloat16 else value


def _cast(value: jax.Array, dtype) -> jax.Array:
    """A floating value in `dtype`; integers (ids, labels) as they are."""
    return value.astype(dtype) if jnp.issubdtype(value.dtype, jnp.floating) else value


def _stochastic(graph: Graph) -> bool:
    """Whether any op in a body draws random numbers (else it needs no per-step keys)."""
    return any(REGISTRY[node.op].stochastic for node, _ in walk(graph))


def _hash(text: str) -> int:
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def _batch_size(inputs: dict) -> int:
    return next(iter(inputs.values())).shape[0] if inputs else 1


def _merge(base: Params, updates: Params) -> Params:
    merged = {layer: dict(values) for layer, values in base.items()}
    for layer, values in updates.items():
        merged.setdefault(layer, {}).update(values)
    return merged


class _Run:
    """One evaluation: the context every op's `lower` receives."""

    jax, jnp, lax, nn = jax, jnp, jax.lax, jax.nn

    def __init__(self, params: Params, state: Params, rng, train: bool, batch_size: int):
        self.params, self.state = params, state
        self.new_state: Params = {}
        self.rng, self.train, self.batch_size = rng, train, batch_size
        self.inputs: dict = {}
        # Inside lax.scan on the CPU platform, convolutions take a matmul form (see conv).
        self.slow_loop_conv = False
        self.platform = "cpu"
        self.repeat = "auto"
        # Set by gradcheck: gradient-altering ops (grad_reverse) act as what they compute.
        self.exact_gradients = False
        # Under --check-numerics, where each check's site is recorded (else None: no checks).
        self.check_sites: dict[str, Node] | None = None
        # Mixed precision: node id → compute dtype (None: float32 as written, no casts), and
        # the dtype the op being lowered reads its parameters in.
        self.dtypes: dict[str, str] | None = None
        self.param_dtype = None
        # Compiled.evaluate's `tag` (None: outputs as computed).
        self.tag = None

    # What ops read ----------------------------------------------------------------------------

    def stored_params_of(self, node: Node) -> dict[str, jax.Array]:
        """The node's parameters as stored (the leaves a gradient is taken with respect to)."""
        return {name: self.params[split_key(s.key)[0]][split_key(s.key)[1]]
                for name, s in node.params.items()}

    def params_of(self, node: Node) -> dict[str, jax.Array]:
        """The node's parameters, cast to its compute dtype (the cast's gradient is float32)."""
        values = self.stored_params_of(node)
        if self.param_dtype is None:
            return values
        return {name: _cast(v, self.param_dtype) for name, v in values.items()}

    def state_of(self, node: Node) -> dict[str, jax.Array]:
        return {name: self.state[split_key(s.key)[0]][split_key(s.key)[1]]
                for name, s in node.state.items()}

    def set_state(self, node: Node, values: dict) -> None:
        for name, s in node.state.items():
            layer, leaf = split_key(s.key)
            self.new_state.setdefault(layer, {})[leaf] = values[name]

    def key_of(self, node: Node):
        return jax.random.fold_in(self.rng, _hash(node.id))

    def params_in_scope(self, scope: str) -> list[jax.Array]:
        return [value for layer, leaves in self.params.items() for name, value in leaves.items()
                if f"{layer}.{name}".startswith(scope)]

    # Running graphs --------------------------------------------------------------------------

    def graph(self, graph: Graph, inputs: dict) -> dict[Ref, jax.Array]:
        saved, self.inputs = self.inputs, inputs
        values: dict[Ref, jax.Array] = {}
        for node in graph:
            op = REGISTRY[node.op]
            # The registry's differentiability is the contract: no gradient flows back through
            # an input it marks non-differentiable (labels, soft targets, a teacher's output),
            # except under gradcheck, which differentiates the function as computed.
            xs = [values[r] if self.exact_gradients or op.grad_through(i)
                  else jax.lax.stop_gradient(values[r]) for i, r in enumerate(node.inputs)]
            if self.check_sites is not None:
                self._check_indices(node, op, xs)
            xs = self._in_compute_dtype(node, xs)
            out = op.lower(self, node, xs)
            if self.tag is not None:
                out = self.tag(self, node, xs, out)
            outs = out if isinstance(out, (list, tuple)) else [out]
            if self.check_sites is not None:
                self._check_not_nan(node, outs)
            for i, value in enumerate(outs):
                values[Ref(node.id, i)] = value
        self.inputs = saved
        return values

    def _in_compute_dtype(self, node: Node, xs: list) -> list:
        """Under bf16, `xs` cast to the node's compute dtype, which its parameters take too;
        a body (repeat, scan) reads its inputs as they are."""
        if self.dtypes is None or node.body is not None:
            return xs
        self.param_dtype = _DTYPES.get(self.dtypes[node.id])
        return xs if self.param_dtype is None else [_cast(x, self.param_dtype) for x in xs]

    # --check-numerics ---------------------------------------------------------------------

    def _site(self, node: Node) -> str:
        where = f"{node.id} (`{call_text(node)}`, line {node.span.line})"
        self.check_sites[where] = node
        return where

    def _check_indices(self, node: Node, op: OpDef, xs: list) -> None:
        """Indices computed in the graph must lie in [low, size), as data is checked on entry."""
        for rule in op.indexes:
            ids = xs[rule.index]
            if jnp.issubdtype(ids.dtype, jnp.floating):
                continue  # soft targets index nothing
            size = rule.size(node.attrs, [x.shape for x in xs])
            bad = rule.out_of_range(ids, size).reshape(ids.shape[0], -1)
            first = jnp.argmax(bad.ravel())
            per = bad.shape[1]
            at = "example {example}" + (", position {position}" if per > 1 else "")
            checkify.check(~jnp.any(bad), f"{self._site(node)}: {rule.noun} hold {{value}} "
                           f"at {at}; {rule.expects(node, size)}",
                           value=ids.ravel()[first], example=first // per, position=first % per)

    def _check_not_nan(self, node: Node, outs: list) -> None:
        for value in outs:
            if jnp.issubdtype(value.dtype, jnp.floating):
                checkify.check(~jnp.any(jnp.isnan(value)),
                               f"{self._site(node)}: the output holds NaN")

    def _layers(self, body: Graph, attr: str) -> list[str]:
        return sorted({split_key(k)[0] for k in _slots(body, attr=attr)})

    def run_repeat(self, node: Node, x):
        """`Stage * n`: one body under lax.scan, over stacked parameters unless shared;
        unrolled (the same body, slices and keys) when the repeat rule says so."""
        body, shared = node.body, node.attrs["shared"]
        p_layers = [] if shared else self._layers(body, "params")
        s_layers = self._layers(body, "state")
        stacked = ({k: self.params[k] for k in p_layers}, {k: self.state[k] for k in s_layers},
                   jnp.arange(node.times))
        outer = (self.params, self.state, self.new_state, self.rng)
        random = _stochastic(body)

        def step(h, sliced):
            p_slice, s_slice, i = sliced
            self.params = {**outer[0], **p_slice}
            self.state, self.new_state = {**outer[1], **s_slice}, {}
            if random:
                self.rng = jax.random.fold_in(outer[3], i)
            # Under bf16 the carry keeps its dtype (a bf16 body after an f32 input).
            out = self.graph(body, {"x": h})[body.outputs["out"]].astype(h.dtype)
            new = {k: {**s_slice[k], **self.new_state.get(k, {})} for k in s_layers}
            return out, new

        unroll = unrolled(node.times, self.platform, self.repeat)
        saved_conv = self.slow_loop_conv
        # Unrolled, no loop is left: convolutions keep lax.conv (see conv in ops/layers.py).
        self.slow_loop_conv = saved_conv or (self.platform == "cpu" and not unroll)
        try:
            h, new_states = jax.lax.scan(step, x, stacked, unroll=unroll)
        finally:
            self.params, self.state, self.new_state, self.rng = outer
            self.slow_loop_conv = saved_conv
        if self.train:
            self.new_state.update(new_states)
        return h

    def run_scan(self, node: Node, xs: list):
        """A cell over time: states are the carry, every step's output is stacked."""
        body, hp = node.body, node.attrs
        statics = hp["statics"]
        seq_names = [n for n in body.inputs if not n.startswith("state:") and n not in statics]
        seqs = [jnp.moveaxis(s, hp["axis"], 0) for s in xs[:len(seq_names)]]
        static_values = dict(zip(statics, xs[len(seq_names):]))
        carry = {name: jnp.zeros(self._runtime(body.type_of(body.inputs[f"state:{name}"])))
                 for name in hp["states"]}
        outer_rng, outer_inputs = self.rng, self.inputs
        random = _stochastic(body)

        def step(states, sliced):
            x_t, t = sliced
            if random:
                self.rng = jax.random.fold_in(outer_rng, t)
            feed = {**dict(zip(seq_names, x_t)), **static_values,
                    **{f"state:{k}": v for k, v in states.items()}}
            values = self.graph(body, feed)
            # States are float32 carries, also under bf16 (precision.py).
            new = {k: values[body.outputs[f"state:{k}"]].astype(states[k].dtype)
                   for k in hp["states"]}
            return new, values[body.outputs["out"]]

        try:
            _, ys = jax.lax.scan(step, carry, (seqs, jnp.arange(seqs[0].shape[0])),
                                 reverse=hp["reverse"])
        finally:
            self.rng, self.inputs = outer_rng, outer_inputs
        return jnp.moveaxis(ys, 0, hp["axis"])

    def _runtime(self, t) -> tuple[int, ...]:
        return tuple(self.batch_size if isinstance(d, Sym) else d for d in t.shape)


__all__ = ["Compiled", "Params", "split_key", "Sym"]
