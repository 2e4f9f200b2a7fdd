"""The commands that read a spec and never train: check, summary, render, gradcheck; and the
console and table every command prints with."""

from __future__ import annotations

import json
import sys

from rich import box
from rich.console import Console
from rich.table import Table

from nndsl.cli.pruning import lottery_summary, print_lottery
from nndsl.cli.rows import summary_rows
from nndsl.elab import Limits
from nndsl.elab.vocabulary import OPTIMIZER_SLOTS
from nndsl.fit.budget import check_split, needs_batch
from nndsl.ir import Graph
from nndsl.passes.cost import cost as cost_of
from nndsl.paths import human_size
from nndsl.precision import PRECISIONS, compute_dtypes
from nndsl.source import Diagnostic, Span, SpecError
from nndsl.spec import CheckReport, load

# Wide enough that no table or line wraps in a log; tables are as wide as their contents.
PLAIN_WIDTH = 1000


def _console(min_width: int = 0) -> Console:
    """Rich output on a terminal; in a pipe or a log file, plain lines that never wrap."""
    if sys.stdout.isatty():
        return Console(width=max(min_width, Console().width))
    return Console(soft_wrap=True, width=PLAIN_WIDTH)


def _table(title: str) -> Table:
    """A table drawn with box characters on a terminal and plain ASCII in a pipe or log."""
    return Table(title=title, box=box.HEAVY_HEAD if sys.stdout.isatty() else box.ASCII)


def _spec(args):
    from nndsl import paths

    paths.configure(args.data_roots, args.allow_outside_runs)
    return load(args.file, dict(args.overrides), Limits(max_params=args.max_params))


def _signature(graph: Graph) -> str:
    ins = ", ".join(f"{k}: {graph.type_of(r)}" for k, r in graph.inputs.items())
    outs = ", ".join(f"{k}: {graph.type_of(r)}" for k, r in graph.outputs.items())
    return f"{ins} → {outs}"


def check(args) -> int:
    """`nndsl check FILE...`: one line per network and train section, or every diagnostic;
    with `--format json`, one object per file (networks, trains, diagnostics)."""
    files = [args.file, *args.more]
    reports = [_check_file(args, path) for path in files]
    if args.format == "json":
        print(json.dumps([_check_json(path, report) for path, report in zip(files, reports)],
                         indent=2))
    else:
        for path, report in zip(files, reports):
            _print_check(report, args.gradients, path if len(files) > 1 else None)
    return 0 if all(report.ok for report in reports) else 1


def _check_file(args, path: str) -> CheckReport:
    """The check report of one file; a file that does not parse is a report of its errors."""
    args.file = path
    try:
        return _spec(args).check()
    except SpecError as exc:
        return CheckReport(diagnostics=exc.diagnostics)


def _print_check(report: CheckReport, gradients: bool, heading: str | None) -> None:
    if heading:
        print(f"{heading}:")
    for net in report.networks:
        print(f"{net.name}: {_signature(net.graph)}  ({net.params:,} parameters)")
    for plan in report.trains:
        _print_train(plan, gradients)
    for diagnostic in report.diagnostics:
        print(diagnostic.render(), file=sys.stderr)


def _check_json(path: str, report: CheckReport) -> dict:
    """What editors and CI read: each network's signature and count, each diagnostic with its
    code, severity, span, message, hint and notes."""
    return {
        "file": path, "ok": report.ok,
        "networks": [{"name": n.name, "params": n.params,
                      "inputs": {k: str(n.graph.type_of(r)) for k, r in n.graph.inputs.items()},
                      "outputs": {k: str(n.graph.type_of(r))
                                  for k, r in n.graph.outputs.items()}}
                     for n in report.networks],
        "trains": [{"name": plan.name, "model": plan.model, "data": plan.data.name}
                   for plan in report.trains],
        "diagnostics": [_diagnostic_json(d) for d in report.diagnostics],
    }


def _diagnostic_json(d: Diagnostic) -> dict:
    """A diagnostic's fields; the calls it was reached through are in `notes` as text and in
    `calls` with their call sites, innermost first."""
    return {"code": d.code, "severity": d.severity, "message": d.message, **_span_json(d.span),
            "hint": d.hint, "notes": d.notes + [str(call) for call in d.calls],
            "calls": [{"callee": call.callee, **_span_json(call.span)} for call in d.calls]}


def _span_json(span: Span) -> dict:
    return {"file": span.source.path if span.source else None,
            "line": span.line, "column": span.column,
            "end_line": span.end_line, "end_column": span.end_column}


def _print_train(plan, gradients: bool) -> None:
    title = f"train {plan.name}" if plan.name else "train"
    data = f"{plan.data.name}()"
    for objective in plan.objectives:
        # Without `model` or steps, the loss trains every network the section calls.
        who = f"step {objective.network}" if objective.network else \
            plan.model or "its networks"
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
    graph = spec.network(name)
    cost = cost_of(graph)
    precision = _precision(args, spec, name)
    # Under bf16 each layer's compute dtype is a column (f32 runs keep the table as it was).
    dtypes = compute_dtypes(graph, precision) if precision != "f32" else None
    rows = summary_rows(graph, cost.layers, dtypes)
    slots = _optimizer_slots(spec, name)
    per_device = _per_device(cost, args.batch, args.devices, slots)
    lottery = lottery_summary(spec, name)
    if args.format == "json":
        data = _summary_json(name, cost, rows, args.batch, slots)
        if lottery is not None:
            data["lottery"] = lottery
        if per_device is not None:
            data["per_device"] = per_device
        if dtypes is not None:
            data["precision"] = precision
            for layer in data["layers"]:
                layer["dtype"] = dtypes[layer["name"]]
        print(json.dumps(data, indent=2))
        return 0
    console = _console(min_width=100)
    table = _table(f"{name}")
    columns = [("layer", "left"), ("op", "left"), ("output", "left"), ("params", "right"),
               ("FLOPs", "right")] + [("dtype", "left")] * (dtypes is not None)
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for row in rows:
        # A block or repeat opens a group (its call as written) that a subtotal row closes.
        params = f"{row.params:,}" if row.params or row.kind == "total" else ""
        cells = [row.dtype] if dtypes is not None else []
        table.add_row("  " * row.depth + row.name, row.op, row.shape, params,
                      _fmt(row.flops) if row.kind == "layer" else "", *cells,
                      style="bold" if row.kind == "total" else None)
    console.print(table)
    if dtypes is not None:
        console.print(f"precision {precision}: float32 parameters and optimizer state; each "
                      "layer computes in its dtype (docs/precision.md)")
    console.print(f"trainable parameters: {cost.params:,}")
    if cost.frozen_params:
        console.print(f"frozen parameters:    {cost.frozen_params:,}")
    console.print(f"non-trainable state:  {cost.state:,}")
    console.print(f"FLOPs per example:    {_fmt(cost.flops)} (a multiply-add counts 2; "
                  "docs/ops.md#cost-conventions)")
    console.print(f"activations/example:  {_bytes(cost.activation_bytes)}")
    if args.batch:
        console.print(f"training memory at batch {args.batch}: "
                      f"{_bytes(cost.training_bytes(args.batch, slots))} (parameters, "
                      "gradients, optimizer state, activations)")
    if per_device is not None:
        _print_per_device(console, per_device)
    if lottery is not None:
        print_lottery(console, lottery)
    return 0


def _per_device(cost, batch: int | None, devices: int | None, slots: int) -> dict | None:
    """Each device's memory on a data-parallel mesh of `devices` (None when not asked):
    parameters, gradients, optimizer and non-trainable state replicated, activations for
    the per-device batch (E181 when `batch` does not split, E185 without --batch)."""
    if devices is None:
        return None
    if batch is None:
        raise needs_batch(devices)
    local = check_split(batch, devices, devices, set_batch="--batch ")
    parts = cost.training_memory(local, slots)
    total = None if parts is None else sum(parts.values())
    return {"devices": devices, "batch": local, "bytes": parts, "total_bytes": total}


def _print_per_device(console: Console, per_device: dict) -> None:
    parts = per_device["bytes"]
    console.print(f"per device ({per_device['devices']} devices, batch {per_device['batch']} "
                  f"each): {_bytes(per_device['total_bytes'])}")
    if parts is not None:
        console.print("  " + ", ".join(f"{part} {_bytes(n)}" for part, n in parts.items() if n)
                      + " (all but the activations replicated)")


def _precision(args, spec, name: str) -> str:
    """--precision, else `--set precision=`, else the precision of the train section whose
    model is `name` (f32 when none says)."""
    if args.precision:
        return args.precision
    given = str(dict(args.overrides).get("precision"))
    if given in PRECISIONS:  # a bad value is `check`'s and `train`'s error (E024)
        return given
    for value in _section_values(spec, name, "precision"):
        if getattr(value, "id", None) in PRECISIONS:
            return value.id
    return "f32"


def _optimizer_slots(spec, name: str) -> int:
    for opt in _section_values(spec, name, "optimizer"):
        opt_name = getattr(getattr(opt, "func", opt), "id", None)
        if opt_name in OPTIMIZER_SLOTS:
            return OPTIMIZER_SLOTS[opt_name]
    return OPTIMIZER_SLOTS["adam"]


def _section_values(spec, name: str, setting: str):
    """The written value (AST) of `setting` in each train section whose model is `name`:
    summary reads them without elaborating the sections."""
    for train in spec.program.trains:
        fields = {f.name.id: f.value for f in train.fields}
        if getattr(fields.get("model"), "id", None) == name:
            yield fields.get(setting)


def _summary_json(name, cost, rows, batch, slots) -> dict:
    data = {
        "network": name, "params": cost.params, "frozen_params": cost.frozen_params,
        "state": cost.state, "flops": cost.flops, "activation_bytes": cost.activation_bytes,
        "layers": [{"name": x.name, "op": x.op, "output": x.shape, "params": x.params,
                    "flops": x.flops, "depth": x.depth} for x in cost.layers],
        "blocks": [{"name": r.name.removesuffix(" total"), "label": r.op, "params": r.params,
                    "depth": r.depth} for r in rows if r.kind == "total"],
    }
    if batch:
        data["training_bytes"] = cost.training_bytes(batch, slots)
        data["training_activation_bytes"] = cost.training_activation_bytes
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
    return human_size(n, decimals=2)




def render(args) -> int:
    """`nndsl render`: draw a network (or, with --train, a training graph) with graphviz."""
    import shutil
    from pathlib import Path

    from nndsl.render import render as draw

    spec = _spec(args)
    if args.train is not None:
        plan = spec.plan(args.train or None)
        trained_by = {k: o.network or plan.model or "the loss" for o in plan.objectives
                      for k in o.keys}
        ends = {f"loss of {o.network}" if o.network else "loss": o.loss
                for o in plan.objectives}
        picture = draw(plan.graph, args.depth, args.expand, trained_by,
                       {**ends, **plan.metrics})
        name = plan.name or "train"
    else:
        name = spec.resolve(args.model)
        picture = draw(spec.network(name), args.depth, args.expand)
    out = Path(args.output or f"{Path(args.file).stem}-{name}.svg")
    fmt = out.suffix.lstrip(".") or "svg"
    if fmt == "dot":
        out.write_text(picture.source)
    elif shutil.which("dot") is None:
        print("nndsl render: graphviz's `dot` program is not installed, so only .dot output is "
              "possible. Install it (Debian/Ubuntu: apt-get install graphviz; macOS: brew "
              f"install graphviz) or write `-o {out.with_suffix('.dot')}`.", file=sys.stderr)
        return 1
    elif fmt not in ("svg", "png", "pdf"):
        print(f"nndsl render: cannot write .{fmt}; use .svg, .png, .pdf or .dot",
              file=sys.stderr)
        return 1
    else:
        out.write_bytes(picture.pipe(format=fmt))
    print(f"wrote {out}")
    return 0


def gradcheck(args) -> int:
    """`nndsl gradcheck`: analytic against numeric gradients per parameter tensor, float64."""
    from nndsl.gradcheck import gradcheck as check_gradients
    from nndsl.gradcheck import non_differentiable_ops
    from nndsl.hessian import gradcheck_order2

    spec = _spec(args)
    name = spec.resolve(args.model)
    graph = spec.network(name)
    if args.order == 2:
        rows = gradcheck_order2(graph, args.samples, args.tol, args.seed)
        title, counted = "Hessian-vector products against differences of gradients", \
            "directions"
    else:
        rows = check_gradients(graph, args.samples, args.tol, args.seed)
        title, counted = "jax.grad against central differences", "entries"
    table = _table(f"{name}: {title} (float64)")
    for column in ("parameter tensor", counted, "max abs error", "max rel error", ""):
        table.add_column(column, justify="left" if column == "parameter tensor" else "right")
    for row in rows:
        table.add_row(row.key, str(row.checked), f"{row.max_abs:.2e}", f"{row.max_rel:.2e}",
                      "ok" if row.ok else "[red]FAIL[/red]")
    console = _console(min_width=100)
    console.print(table)
    for blocked in non_differentiable_ops(graph):
        console.print(f"no gradient through {blocked}: reported, not differenced")
    failed = [row.key for row in rows if not row.ok]
    if failed:
        print(f"gradcheck failed for {', '.join(failed)} (tolerance {args.tol:g})",
              file=sys.stderr)
        return 1
    console.print(f"all {len(rows)} parameter tensors agree within {args.tol:g}")
    return 0


