"""Train and sweep sections → a checked training plan (graph of model + losses + metrics).

Everything here is static: data fields come from the data catalog, optimizers and schedules
are checked against their signatures, and each loss is run through the differentiability pass.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nndsl import ast
from nndsl.data import files as data_files
from nndsl.data.catalog import SOURCES
from nndsl.data.files import FILE_SOURCES
from nndsl.elaborate import Elaborator, Frame, ParamSet, Tensor, _describe, _source_text
from nndsl.ir import Graph, Ref, trainable_params
from nndsl.ops import HyperError, Word
from nndsl.ops.base import Hyper
from nndsl.passes import gradients
from nndsl.source import Diagnostic, Span, SpecError, did_you_mean, error
from nndsl.train.catalog import AUGMENTS, OPTIMIZERS, SCHEDULES, SETTINGS, STOPPING

CONFIG_FIELDS = ("model", "data", "loss", "metrics", "optimizer", "schedule", "augment",
                 "early_stopping", *SETTINGS)
STEP_FIELDS = ("loss", "optimizer", "schedule", "clip_grad_norm")
SWEEP_DISTRIBUTIONS = ("choice", "uniform", "loguniform", "int")


@dataclass
class Config:
    """A checked call such as `adam(lr=1e-3)`: its name and every argument's value."""

    name: str
    values: dict[str, Any]
    span: Span


@dataclass
class Objective:
    """One loss and the network whose parameters it updates (None: the whole model)."""

    network: str | None
    loss: Ref
    keys: list[str]
    optimizer: Config
    schedule: Config | None
    report: gradients.GradientReport


@dataclass
class TrainPlan:
    name: str | None
    graph: Graph
    data: Config
    model: str | None
    objectives: list[Objective]
    metrics: dict[str, Ref]
    settings: dict[str, Any]
    early_stopping: Config | None = None
    augment: Config | None = None
    warnings: list[Diagnostic] = field(default_factory=list)


def elaborate_train(el: Elaborator, train: ast.Train, model: str | None = None) -> TrainPlan:
    """Check one `train` section and build its graph; raise SpecError on the first problem.

    `model` replaces the section's `model` (`nndsl train --model Perceptron`)."""
    fields = _fields(train.fields)
    if model is not None:
        where = fields["model"].span if "model" in fields else train.span
        fields["model"] = ast.Field(where, ast.Ident(where, "model"), ast.Name(where, model))
    if "data" not in fields:
        raise error("E060", "`train` needs `data = ...` (e.g. digits())", train.span)
    data = _data_source(fields["data"].value, el)
    graph = Graph(f"train {train.name}" if train.name else "train")
    frame = Frame("train", "", "", path=("train",))
    el.graph, el.frame, el.total_params = graph, frame, 0
    for name, t in data.values["fields"].items():
        frame.env[name] = el.input_tensor(name, t, fields["data"].value.span)
    model = _model(el, fields.get("model"), frame, data)
    for f in train.fields:
        if f.name.id not in CONFIG_FIELDS:
            frame.env[f.name.id] = el.eval(f.value, frame)
            el.frame = frame
    objectives = _objectives(el, train, fields, frame, model)
    metrics = _metrics(el, fields.get("metrics"), frame)
    settings = {name: _setting(h, fields.get(name), el.constants)
                for name, h in SETTINGS.items()}
    plan = TrainPlan(train.name, graph, data, model, objectives, metrics, settings,
                     _optional(fields, "early_stopping", STOPPING, el.constants),
                     _optional(fields, "augment", AUGMENTS, el.constants))
    _check_monitor(plan)
    plan.warnings += _unused_local_warnings(train, fields)
    return plan


def _data_source(expr: ast.Node, el: Elaborator) -> Config:
    """A built-in data set or a user file; `values["fields"]` says what each field holds."""
    head = expr.func if isinstance(expr, ast.Call) else expr
    if not (isinstance(head, ast.Name) and head.id in FILE_SOURCES):
        catalog = {k: v.hypers for k, v in SOURCES.items()}
        config = _config(expr, {**catalog, **{f: () for f in FILE_SOURCES}}, "data source",
                         el.constants)
        config.values["fields"] = SOURCES[config.name].fields(config.values)
        return config
    call = expr if isinstance(expr, ast.Call) else ast.Call(expr.span, expr, (), ())
    if len(call.args) != 1 or not isinstance(call.args[0], ast.String):
        raise error("E086", f'{head.id} takes a file name: {head.id}("data.{head.id}", '
                    'x="images", y="labels")', expr.span)
    values = dict(data_files.OPTIONS)
    renames = {}
    for kw in call.kwargs:
        value = _literal(kw.value, el.constants)
        if kw.name in data_files.OPTIONS:
            values[kw.name] = value
        elif isinstance(value, str):
            renames[kw.name] = value
        else:
            raise error("E086", f"`{kw.name}=` renames a field: give the array or column name "
                        "as a string", kw.span)
    path = Path(call.args[0].span.source.path).parent / call.args[0].value
    try:
        values["fields"] = data_files.fields(head.id, path, renames)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise error("E086", f"cannot read {head.id} data {path}: "
                    f"{getattr(exc, 'strerror', None) or exc}", call.args[0].span) from None
    values.update(path=path, renames=renames)
    return Config(head.id, values, expr.span)


def _fields(items) -> dict[str, ast.Field]:
    seen: dict[str, ast.Field] = {}
    for f in items:
        if f.name.id in seen:
            raise error("E032", f"`{f.name.id}` is already set on line "
                        f"{seen[f.name.id].span.line}", f.name.span)
        seen[f.name.id] = f
    return seen


def _config(expr: ast.Node, catalog: dict[str, tuple[Hyper, ...]], what: str,
            constants: dict) -> Config:
    """Check a call like `adam(lr=1e-3)` against the signatures in `catalog`."""
    call = expr if isinstance(expr, ast.Call) else None
    head = call.func if call else expr
    if not isinstance(head, ast.Name):
        raise error("E063", f"expected a {what} such as {next(iter(catalog))}(...)", expr.span)
    if head.id not in catalog:
        raise error("E063", f"unknown {what} `{head.id}`", head.span,
                    hint=did_you_mean(head.id, catalog) or f"one of {', '.join(catalog)}")
    hypers = catalog[head.id]
    args = list(call.args) if call else []
    kwargs = {k.name: k for k in call.kwargs} if call else {}
    if len(args) > len(hypers):
        raise error("E021", f"`{head.id}` takes at most {len(hypers)} arguments", args[-1].span)
    values = {}
    given = {h.name: a for h, a in zip(hypers, args)}
    for name, kw in kwargs.items():
        if name not in {h.name for h in hypers}:
            raise error("E022", f"`{head.id}` has no argument `{name}`", kw.span,
                        hint=did_you_mean(name, [h.name for h in hypers]))
        given[name] = kw.value
    for h in hypers:
        if h.name not in given:
            if h.required:
                raise error("E023", f"`{head.id}` needs `{h.name}`", expr.span)
            values[h.name] = h.default
            continue
        node = given[h.name]
        try:
            values[h.name] = h.check(_literal(node, constants))
        except HyperError as exc:
            raise error("E024", f"{head.id}: {exc.message}", node.span, hint=exc.hint) from None
    return Config(head.id, values, expr.span)


def _literal(node: ast.Node, constants: dict):
    """Constant arguments of configuration calls: numbers, booleans, strings, `let` names and
    words."""
    if isinstance(node, (ast.Number, ast.Bool, ast.String)):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id, Word(node.id))
    if isinstance(node, ast.Unary) and node.op == "-" and isinstance(node.operand, ast.Number):
        return -node.operand.value
    raise error("E024", "expected a constant here", node.span)


def _model(el: Elaborator, f: ast.Field | None, frame: Frame, data: Config) -> str | None:
    if f is None:
        return None
    if not isinstance(f.value, ast.Name) or f.value.id not in el.program.definitions or \
            el.program.definitions[f.value.id].kind != "network":
        name = f.value.id if isinstance(f.value, ast.Name) else ""
        raise error("E064", f"`model` must name a network{f', not `{name}`' if name else ''}",
                    f.value.span, hint=did_you_mean(name, el.program.networks))
    definition = el.program.definitions[f.value.id]
    inputs = [s for s in definition.body if isinstance(s, ast.Input)]
    values = []
    for stmt in inputs:
        if stmt.name.id not in frame.env:
            raise error("E061", f"model input `{stmt.name.id}` of `{definition.name.id}` has no "
                        f"data field of that name; `{data.name}` gives "
                        f"{', '.join(data.values['fields'])}", f.value.span,
                        hint=did_you_mean(stmt.name.id, data.values["fields"]))
        values.append(frame.env[stmt.name.id])
    inner = Frame("network", "", "", path=(definition.name.id,))
    el._bind_hypers(inner, definition, [], [], f.value.span)
    outputs = el._run_body(definition, inner, values, f.value.span)
    el.frame = frame
    frame.env.update(outputs)
    return definition.name.id


def _trainable_keys(graph: Graph, scope: str) -> list[str]:
    return [k for k, (spec, _) in trainable_params(graph).items()
            if spec.trainable and k.startswith(scope)]


def _objectives(el, train: ast.Train, fields, frame: Frame, model) -> list[Objective]:
    if train.steps:
        if "loss" in fields:
            raise error("E065", "with `step` sections, each step has its own `loss`; remove "
                        "this one", fields["loss"].span)
        return [_step_objective(el, step, frame, fields) for step in train.steps]
    return [_objective(el, None, fields, frame, train.span)]


def _step_objective(el, step: ast.Step, frame: Frame, outer) -> Objective:
    name = step.network.id
    definition = el.program.definitions.get(name)
    if definition is None or definition.kind != "network":
        raise error("E066", f"`step {name}`: there is no network `{name}`", step.network.span,
                    hint=did_you_mean(name, el.program.networks))
    fields = _fields(step.fields)
    for key, f in fields.items():
        if key not in STEP_FIELDS:
            raise error("E067", f"a `step` sets only {', '.join(STEP_FIELDS)}; not `{key}`",
                        f.name.span, hint=did_you_mean(key, STEP_FIELDS))
    fields = {**{k: v for k, v in outer.items() if k in ("optimizer", "schedule")}, **fields}
    return _objective(el, name, fields, frame, step.span)


def _objective(el, network: str | None, fields, frame: Frame, span) -> Objective:
    """A loss and what it trains: a step's network, else every network the section uses."""
    for required in ("loss", "optimizer"):
        if required not in fields:
            raise error("E060", f"`{'step ' + network if network else 'train'}` needs "
                        f"`{required} = ...`", span)
    scope = f"{network}." if network else ""
    frame.env["params"] = ParamSet(scope)
    loss = _scalar(el, fields["loss"].value, frame, "loss")
    keys = _trainable_keys(el.graph, scope)
    label = _source_text(fields["loss"].value.span) or "loss"
    report = gradients.check(el.graph, loss.ref, keys, f"loss ({label})")
    if report.diagnostics:
        raise SpecError(report.diagnostics)
    optimizer = _config(fields["optimizer"].value, OPTIMIZERS, "optimizer", el.constants)
    schedule = _optional(fields, "schedule", SCHEDULES, el.constants)
    return Objective(network, loss.ref, keys, optimizer, schedule, report)


def _scalar(el, expr: ast.Node, frame: Frame, what: str) -> Tensor:
    value = el.eval(expr, frame)
    el.frame = frame
    if not isinstance(value, Tensor) or value.type.rank != 0:
        raise error("E062", f"a {what} must be a scalar (a loss or metric call), got "
                    f"{_describe(value)}", expr.span)
    return value


def _metrics(el, f: ast.Field | None, frame: Frame) -> dict[str, Ref]:
    if f is None:
        return {}
    exprs = f.value.items if isinstance(f.value, ast.ListExpr) else (f.value,)
    metrics: dict[str, Ref] = {}
    for expr in exprs:
        name = _source_text(expr.span) or f"metric_{len(metrics)}"
        metrics[name] = _scalar(el, expr, frame, "metric").ref
    return metrics


def _setting(h: Hyper, f: ast.Field | None, constants: dict):
    if f is None:
        return h.default
    try:
        return h.check(_literal(f.value, constants))
    except HyperError as exc:
        raise error("E024", exc.message, f.value.span) from None


def _optional(fields, name, catalog, constants) -> Config | None:
    return _config(fields[name].value, catalog, name.replace("_", " "), constants) \
        if name in fields else None


def _check_monitor(plan: TrainPlan) -> None:
    if plan.early_stopping is None:
        return
    monitor = plan.early_stopping.values["monitor"]
    names = [f"{split}_{m}" for split in ("val", "train") for m in
             ("loss", *(_metric_stem(k) for k in plan.metrics))]
    if monitor not in names:
        raise error("E068", f"early stopping monitors `{monitor}`, which this training does not "
                    "measure", plan.early_stopping.span,
                    hint=did_you_mean(monitor, names) or f"one of {', '.join(names)}")


def _metric_stem(source: str) -> str:
    return source.split("(")[0]


def _unused_local_warnings(train: ast.Train, fields) -> list[Diagnostic]:
    """A local binding that looks like a misspelt setting is most likely one."""
    warnings = []
    for name, f in fields.items():
        if name in CONFIG_FIELDS:
            continue
        hint = did_you_mean(name, [c for c in CONFIG_FIELDS if c not in fields])
        if hint:
            warnings.append(Diagnostic("W001", f"`{name}` is not a setting; it is bound as a "
                                       "local name", f.name.span, hint, severity="warning"))
    return warnings


# Sweeps ----------------------------------------------------------------------------------------

def check_sweep(el: Elaborator, sweep: ast.Sweep) -> dict[str, Config]:
    """Each sweep entry names a `let` constant (or `Net.param`) and a distribution."""
    entries = {}
    for f in sweep.fields:
        name = f.name.id
        if name in ("trials", "method"):
            entries[name] = Config(name, {"value": _literal(f.value, {})}, f.span)
            continue
        if name not in el.program.lets:
            raise error("E069", f"sweep over `{name}`, which is not a `let` constant",
                        f.name.span, hint=did_you_mean(name, el.program.lets))
        entries[name] = _distribution(f.value)
    trials = entries.get("trials")
    if trials is not None and (not isinstance(trials.values["value"], int) or
                               isinstance(trials.values["value"], bool) or
                               trials.values["value"] < 1):
        raise error("E024", "`trials` must be a whole number >= 1", trials.span)
    return entries


def _distribution(expr: ast.Node) -> Config:
    if not isinstance(expr, ast.Call) or not isinstance(expr.func, ast.Name) or \
            expr.func.id not in SWEEP_DISTRIBUTIONS:
        raise error("E069", "a sweep entry is a distribution: " +
                    ", ".join(f"{d}(...)" for d in SWEEP_DISTRIBUTIONS), expr.span,
                    hint=did_you_mean(expr.func.id, SWEEP_DISTRIBUTIONS)
                    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) else None)
    values = [_literal(a, {}) for a in expr.args]
    if not values or (expr.func.id != "choice" and len(values) != 2):
        raise error("E069", f"`{expr.func.id}` needs "
                    f"{'at least one value' if expr.func.id == 'choice' else 'low and high'}",
                    expr.span)
    if expr.func.id == "loguniform" and min(values) <= 0:
        raise error("E069", "loguniform bounds must be positive", expr.span)
    return Config(expr.func.id, {"values": values}, expr.span)


__all__ = ["elaborate_train", "check_sweep", "TrainPlan", "Objective", "Config"]
