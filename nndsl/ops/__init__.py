"""The op registry: every built-in operation, one `OpDef` each, looked up by name."""

from __future__ import annotations

from nndsl.ops import (
    activation,
    arith,
    attention,
    control,
    energy,
    graph,
    index,
    layers,
    loss,
    memory,
    norm,
    pooling,
    sets,
    shape,
    stochastic,
)
from nndsl.ops.base import REQUIRED, Hyper, HyperError, OpDef, OpError, Word

REGISTRY: dict[str, OpDef] = {}

for _module in (layers, norm, activation, pooling, shape, index, arith, attention, stochastic,
                loss, control, energy, sets, graph, memory):
    for _op in _module.OPS:
        assert _op.name not in REGISTRY, f"op {_op.name} registered twice"
        REGISTRY[_op.name] = _op

# Other names a user may call an op by (`swish` for `silu`): each builds the one entry.
ALIASES: dict[str, str] = dict(activation.ALIASES)
# Ops a user can call by name (the structural ones are created by the elaborator).
USER_OPS = {name: op for name, op in REGISTRY.items() if op.kind != "control"}
USER_OPS |= {alias: REGISTRY[name] for alias, name in ALIASES.items()}
# Operators in expressions map to these entries.
BINARY_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "%": "mod",
              "//": "floordiv", "@": "matmul"}

__all__ = ["REGISTRY", "USER_OPS", "ALIASES", "BINARY_OPS", "OpDef", "Hyper", "OpError",
           "HyperError", "Word", "REQUIRED"]
