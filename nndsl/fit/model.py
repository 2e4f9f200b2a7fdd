"""A compiled network for Python users: `spec.compile("Net")` → `Model`, pure JAX functions.

`Model` is a thin, frozen view of `nndsl.lower.Compiled` (which does the work): `init`
makes parameters and state, `apply` runs the network. Both are pure, so `jax.jit`,
`jax.grad` and `jax.vmap` apply to them as to any JAX function.
"""

from __future__ import annotations

from dataclasses import dataclass

from nndsl.ir import Graph, count_params, count_state, format_dim
from nndsl.lower import Compiled, Params


@dataclass(frozen=True)
class Model:
    """Network `name` of a spec as pure JAX functions.

    Parameters and state are nested dicts `{layer: {name: array}}`, keyed by the layer names
    `nndsl summary` prints (`dense_0`, `block.conv_1`, ...)."""

    name: str
    compiled: Compiled

    @property
    def graph(self) -> Graph:
        """The checked graph the functions were compiled from."""
        return self.compiled.graph

    @property
    def input_shapes(self) -> dict[str, tuple]:
        """Each input's shape; symbolic dimensions (the batch `B`) are their names."""
        return {name: tuple(d if isinstance(d, int) else format_dim(d)
                            for d in self.graph.type_of(ref).shape)
                for name, ref in self.graph.inputs.items()}

    @property
    def input_dtypes(self) -> dict[str, str]:
        """Each input's dtype: `float32`, or `int32` for labels and token ids."""
        return {name: "int32" if self.graph.type_of(ref).dtype == "i32" else "float32"
                for name, ref in self.graph.inputs.items()}

    @property
    def output_names(self) -> tuple[str, ...]:
        """The names of the outputs `apply` returns, in the order the network declares them."""
        return tuple(self.graph.outputs)

    @property
    def param_count(self) -> int:
        """Trainable parameters, as `nndsl summary` counts them."""
        return count_params(self.graph)

    @property
    def state_count(self) -> int:
        """Non-trainable state elements (batch-norm statistics), as `nndsl summary` counts."""
        return count_state(self.graph)

    def init(self, seed: int = 0) -> tuple[Params, Params]:
        """Fresh `(params, state)` from `seed`: the values `nndsl train` starts from with
        the same seed."""
        return self.compiled.init(seed)

    def apply(self, params: Params, state: Params, inputs: dict, *, rng=None,
              train: bool = False) -> tuple[dict, Params]:
        """`(outputs, new_state)`: the named outputs for `inputs` (one array per input name,
        batch first). `train=True` turns on dropout and batch statistics; random ops draw
        from `rng` (a JAX key; pass a fresh one per step, the default is a fixed key). Under
        `jax.jit` make `train` static: `jax.jit(model.apply, static_argnames="train")`."""
        missing = [name for name in self.graph.inputs if name not in inputs]
        if missing:
            raise KeyError(f"{self.name} needs the input(s) {', '.join(missing)} "
                           f"(its inputs: {', '.join(self.input_shapes)})")
        feed = {name: inputs[name] for name in self.graph.inputs}
        return self.compiled.apply(params, state, feed, rng=rng, train=train)

    def __repr__(self) -> str:
        ins = ", ".join(f"{k}: {list(v)}" for k, v in self.input_shapes.items())
        return f"Model({self.name}: {ins} → {', '.join(self.output_names)}; " \
               f"{self.param_count:,} parameters)"
