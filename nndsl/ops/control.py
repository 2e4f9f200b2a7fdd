"""Structural nodes the elaborator creates: inputs, constants, repeated stages and scans."""

from __future__ import annotations

from nndsl.ir import TensorType
from nndsl.ops.base import OpDef, with_lowerings


def _scan_shape(ins, hp):
    """A scan stacks its step's output along the time axis of the sequence it reads."""
    step: TensorType = hp["step_out"]
    axis, length = hp["axis"], ins[0].shape[hp["axis"]]
    return step.with_shape(step.shape[:axis] + (length,) + step.shape[axis:])


OPS = [
    OpDef("input", "io", "A network input.", (), lambda ins, hp: hp["type"], kind="control",
          flops=lambda ins, outs, hp: 0),
    OpDef("const", "io", "A scalar constant.", (), lambda ins, hp: TensorType((), hp["dtype"]),
          kind="control", flops=lambda ins, outs, hp: 0),
    OpDef("repeat", "control",
          "`Stage * n`: n copies of a stage that keeps its input's type, one body with "
          "stacked parameters (one shared set for a `shared` stage).",
          ("x",), lambda ins, hp: ins[0], kind="control", flops=lambda ins, outs, hp: 0),
    OpDef("scan", "control",
          "Unfolds a cell over the time axis; its body is one step, states carried along.",
          ("*xs",), _scan_shape, kind="control", flops=lambda ins, outs, hp: 0),
]

OPS.append(OpDef(
    "param", "io", "A raw parameter declared with `param W: [..] = init`, used as a tensor.",
    (), lambda ins, hp: hp["type"], kind="control", flops=lambda ins, outs, hp: 0))

# The interpreter in nndsl/lower.py runs bodies; these entries say how each node reads its value.
OPS = with_lowerings(OPS, {
    "input": lambda ctx, node, xs: ctx.inputs[node.attrs["name"]],
    "const": lambda ctx, node, xs: ctx.jnp.asarray(
        node.attrs["value"], ctx.jnp.int32 if node.attrs["dtype"] == "i32" else ctx.jnp.float32),
    "param": lambda ctx, node, xs: ctx.params_of(node)["value"],
    "repeat": lambda ctx, node, xs: ctx.run_repeat(node, xs[0]),
    "scan": lambda ctx, node, xs: ctx.run_scan(node, xs),
})
