"""Generate docs/ops.md, the op reference, from the registry: `python -m nndsl.docgen`."""

from __future__ import annotations

from pathlib import Path

from nndsl.ops import REQUIRED, USER_OPS
from nndsl.ops.base import OpDef


def _signature(op: OpDef) -> str:
    parts = [name for name in op.inputs]
    for h in op.hypers:
        default = "" if h.default is REQUIRED else f"={_value(h.default)}"
        parts.append(f"{h.name}{default}")
    parts += [f"{name}=tensor" for name, _ in op.keyword_inputs]
    return f"{op.name}({', '.join(parts)})"


def _value(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    return "none" if v is None else str(v)


def _gradient(op: OpDef) -> str:
    if op.differentiable is True:
        return "yes"
    if op.differentiable is False:
        return "**no**"
    names = [*op.inputs, *(name for name, _ in op.keyword_inputs)]
    return ", ".join(f"{n}: {'yes' if d else 'no'}" for n, d in zip(names, op.differentiable))


def render() -> str:
    """The op reference as Markdown, grouped by family."""
    lines = ["# Op reference", "",
             "Generated from the registry by `python -m nndsl.docgen`; do not edit by hand.",
             "Tensor inputs come first, then hyperparameters (with defaults).", ""]
    families: dict[str, list[OpDef]] = {}
    for op in USER_OPS.values():
        families.setdefault(op.family, []).append(op)
    for family, ops in families.items():
        lines += [f"## {family}", "", "| op | signature | gradient | what it does |",
                  "|---|---|---|---|"]
        lines += [f"| `{op.name}` | `{_signature(op)}` | {_gradient(op)} | {op.doc} |"
                  for op in ops]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "docs" / "ops.md"
    target.write_text(render())
    print(f"wrote {target}")
