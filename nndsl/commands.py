"""What each command does with a loaded spec, and how it prints the result."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from nndsl.api import CheckReport, load
from nndsl.elaborate import Limits
from nndsl.ir import Graph
from nndsl.train.catalog import OPTIMIZER_SLOTS


def _spec(args):
    return load(args.file, dict(args.overrides), Limits(max_params=args.max_params))


def _signature(graph: Graph) -> str:
    ins = ", ".join(f"{k}: {graph.type_of(r)}" for k, r in graph.inputs.items())
    outs = ", ".join(f"{k}: {graph.type_of(r)}" for k, r in graph.outputs.items())
    return f"{ins} → {outs}"


def check(args) -> int:
    """`nndsl check`: one line per network and train section, or every diagnostic."""
    report = _spec(args).check()
    for net in report.networks:
        print(f"{net.name}: {_signature(net.graph)}  ({net.params:,} parameters)")
    for plan in report.trains:
        _print_train(plan, args.gradients)
    for diagnostic in report.diagnostics:
        print(diagnostic.render(), file=sys.stderr)
    return 0 if report.ok else 1


def _print_train(plan, gradients: bool) -> None:
    title = f"train {plan.name}" if plan.name else "train"
    data = f"{plan.data.name}()"
    for objective in plan.objectives:
        who = f"step {objective.network}" if objective.network else plan.model
        trained = len(objective.report.trained)
        print(f"{title}: {who} on {data}, {objective.optimizer.name}; loss trains "
              f"{trained} of {len(objective.keys)} parameter tensors")
        if gradients:
            for key in objective.report.trained:
                print(f"  trains  {key}")
            for key, why in objective.report.blocked.items():
                print(f"  frozen  {key}  ({why})")


def summary(args) -> int:
    """`nndsl summary`: per-layer table (or JSON) and totals for one network."""
    spec = _spec(args)
    name = spec.resolve(args.model)
    cost = spec.cost(name)
    slots = _optimizer_slots(spec, name)
    if args.format == "json":
        from nndsl.cli import print_json

        print_json(_summary_json(name, cost, args.batch, slots))
        return 0
    console = Console(width=max(100, Console().width))
    table = Table(title=f"{name}", show_lines=False)
    for column, justify in (("layer", "left"), ("op", "left"), ("output", "left"),
                            ("params", "right"), ("FLOPs", "right")):
        table.add_column(column, justify=justify)
    for layer in cost.layers:
        if layer.op == "input":
            continue
        indent = "  " * layer.depth
        table.add_row(indent + layer.name, layer.label if layer.op in ("repeat", "scan") else
                      layer.op, layer.shape, f"{layer.params:,}" if layer.params else "",
                      _fmt(layer.flops))
    console.print(table)
    console.print(f"trainable parameters: {cost.params:,}")
    if cost.frozen_params:
        console.print(f"frozen parameters:    {cost.frozen_params:,}")
    console.print(f"non-trainable state:  {cost.state:,}")
    console.print(f"FLOPs per example:    {_fmt(cost.flops)} (a multiply-add counts 2)")
    console.print(f"activations/example:  {_bytes(cost.activation_bytes)}")
    if args.batch:
        console.print(f"training memory at batch {args.batch}: "
                      f"{_bytes(cost.training_bytes(args.batch, slots))} (parameters, "
                      "gradients, optimizer state, activations)")
    return 0


def _optimizer_slots(spec, name: str) -> int:
    for train in spec.program.trains:
        fields = {f.name.id: f.value for f in train.fields}
        model = getattr(fields.get("model"), "id", None)
        opt = fields.get("optimizer")
        opt_name = getattr(getattr(opt, "func", opt), "id", None)
        if model == name and opt_name in OPTIMIZER_SLOTS:
            return OPTIMIZER_SLOTS[opt_name]
    return OPTIMIZER_SLOTS["adam"]


def _summary_json(name, cost, batch, slots) -> dict:
    data = {
        "network": name, "params": cost.params, "frozen_params": cost.frozen_params,
        "state": cost.state, "flops": cost.flops, "activation_bytes": cost.activation_bytes,
        "layers": [{"name": x.name, "op": x.op, "output": x.shape, "params": x.params,
                    "flops": x.flops, "depth": x.depth} for x in cost.layers],
    }
    if batch:
        data["training_bytes"] = cost.training_bytes(batch, slots)
    return data


def _fmt(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n) if n else ""


def _bytes(n: int | None) -> str:
    if n is None:
        return "? (a dimension is symbolic)"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


__all__ = ["check", "summary", "CheckReport"]
