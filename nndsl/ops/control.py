"""Structural nodes the elaborator creates: inputs, constants, repeated stages and scans."""

from __future__ import annotations

from nndsl.init import INITIALISERS
from nndsl.ir import TensorType
from nndsl.ops.base import OpDef, with_lowerings
from nndsl.ops.facts import BodyRule


def _scan_shape(ins, hp):
    """A scan stacks its step's output along the time axis of the sequence it reads."""
    step: TensorType = hp["step_out"]
    axis, length = hp["axis"], ins[0].shape[hp["axis"]]
    return step.with_shape(step.shape[:axis] + (length,) + step.shape[axis:])


def _scan_steps(node, graph) -> int:
    """A cell's body runs once per time step (once when the length is symbolic)."""
    length = graph.type_of(node.inputs[0]).shape[node.attrs["axis"]]
    return length if isinstance(length, int) else 1


def _free(ins, outs, hp) -> int:
    return 0


_OPS = [
    OpDef("input", "io", "A network input.", (), lambda ins, hp: hp["type"], kind="control",
          flops=_free, label=lambda op, node: f"{node.attrs['name']}: {node.out}"),
    OpDef("const", "io", "A scalar constant.", (), lambda ins, hp: TensorType((), hp["dtype"]),
          kind="control", flops=_free, label=lambda op, node: str(node.attrs["value"])),
    OpDef("repeat", "control",
          "`Stage * n`: n copies of a stage that keeps its input's type, one body with "
          "stacked parameters (one shared set for a `shared` stage).",
          ("x",), lambda ins, hp: ins[0], kind="control", flops=_free,
          body=BodyRule(stacked=lambda node: not node.attrs["shared"],
                        runs=lambda node, graph: node.times)),
    OpDef("scan", "control",
          "Unfolds a cell over the time axis; its body is one step, states carried along.",
          ("*xs",), _scan_shape, kind="control", flops=_free,
          body=BodyRule(stacked=lambda node: False, runs=_scan_steps)),
    OpDef("param", "io", "A raw parameter declared with `param W: [..] = init`, used as a "
          "tensor, by as many ops as use its name (each use adds to its gradient).", (),
          lambda ins, hp: hp["type"], kind="control", flops=_free, inits=tuple(INITIALISERS),
          label=lambda op, node: f"param {node.label}: {node.out}"),
]

# The interpreter in nndsl/lower.py runs bodies; these entries say how each node reads its value.
OPS = with_lowerings(_OPS, {
    "input": lambda ctx, node, xs: ctx.inputs[node.attrs["name"]],
    "const": lambda ctx, node, xs: ctx.jnp.asarray(
        node.attrs["value"], ctx.jnp.int32 if node.attrs["dtype"] == "i32" else ctx.jnp.float32),
    "param": lambda ctx, node, xs: ctx.params_of(node)["value"],
    "repeat": lambda ctx, node, xs: ctx.run_repeat(node, xs[0]),
    "scan": lambda ctx, node, xs: ctx.run_scan(node, xs),
})
# Consumers that treat one of these specially compare registry entries with these, by identity.
INPUT, CONST, REPEAT, SCAN, PARAM = OPS
