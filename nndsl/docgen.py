"""Generate docs/ops.md, the op reference, from the registry: `python -m nndsl.docgen`."""

from __future__ import annotations

from pathlib import Path

from nndsl.hyper import signature
from nndsl.ops import ALIASES, REGISTRY
from nndsl.ops.base import OpDef
from nndsl.ops.flops import CONVENTIONS


def _signature(op: OpDef) -> str:
    return signature(op.name, op.inputs, op.hypers, [name for name, _ in op.keyword_inputs])


def _gradient(op: OpDef) -> str:
    if op.differentiable is True:
        return "yes"
    if op.differentiable is False:
        return "**no**"
    names = [*op.inputs, *(name for name, _ in op.keyword_inputs)]
    return ", ".join(f"{n}: {'yes' if d else 'no'}" for n, d in zip(names, op.differentiable))


def _aliases(op: OpDef) -> str:
    """` (alias `swish`)` after an op other names also call."""
    names = [f"`{alias}`" for alias, name in ALIASES.items() if name == op.name]
    return f" (alias {', '.join(names)})" if names else ""


def render() -> str:
    """The op reference as Markdown, grouped by family."""
    lines = ["# Op reference", "",
             "Generated from the registry by `python -m nndsl.docgen`; do not edit by hand.",
             "Tensor inputs come first, then hyperparameters (with defaults).", ""]
    families: dict[str, list[OpDef]] = {}
    for op in REGISTRY.values():
        if op.kind != "control":
            families.setdefault(op.family, []).append(op)
    for family, ops in families.items():
        lines += [f"## {family}", "", "| op | signature | gradient | what it does |",
                  "|---|---|---|---|"]
        lines += [f"| `{op.name}`{_aliases(op)} | `{_signature(op)}` | "
                  f"{_gradient(op)} | {op.doc} |" for op in ops]
        lines.append("")
    return "\n".join(lines + _cost_conventions())


def _cost_conventions() -> list[str]:
    """How `nndsl summary` counts FLOPs and memory (the rows come from nndsl/ops/flops.py)."""
    return [
        "## Cost conventions", "",
        "`nndsl summary` counts FLOPs per example (the batch axis excluded) for the forward "
        "pass as training runs it; a layer repeated `* n` counts once per copy, a scanned "
        "cell once per time step. Each op's rule follows this table:", "",
        "| what | FLOPs |", "|---|---|",
        *(f"| {what} | {count} |" for what, count in CONVENTIONS), "",
        "Memory: *activations/example* is every node's output (the inputs included) at its "
        "dtype's size (4 bytes for f32 and i32); *training memory at batch N* (`--batch N`) "
        "is 4 bytes per parameter for the parameters, their gradients and each optimizer "
        "slot (adam, adamw, rmsprop: 2; sgd, adagrad: 1), 4 bytes per element of "
        "non-trainable state, and N times what a training step holds per example: each "
        "op's output, a gradient buffer beside the output of layers, normalisations, "
        "attention, pooling and copying shape ops (views cost nothing; none beside a layer "
        "read only by activations, a node no parameter reaches, or a pool whose windows "
        "tile its input), dropout's mask, an overlapping or padded maxpool's gradient "
        "index maps and attention's queries, keys, values and scores "
        "(nndsl/passes/trainmem.py; within 20% of XLA's measured peak, "
        "docs/benchmarks.md#memory).", ""]


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "docs" / "ops.md"
    target.write_text(render())
    print(f"wrote {target}")
