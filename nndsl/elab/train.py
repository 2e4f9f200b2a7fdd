"""Train sections → a checked training plan (graph of model + losses + metrics).

Everything here is static: data fields come from the data catalog, optimizers and schedules
are bound against their signatures in `vocabulary`, and each loss is run through the
differentiability pass. The section's local names run through the one body runner.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nndsl import ast
from nndsl.data import files as data_files
from nndsl.data import semisup
from nndsl.data.catalog import SOURCES, SPLITS
from nndsl.data.files import FILE_SOURCES
from nndsl.data.table import DataError
from nndsl.elab.builder import Frame
from nndsl.elab.config import Config, argument, config, literal
from nndsl.elab.definitions import run_network
from nndsl.elab.init_load import InitLoad, pretrained_inits
from nndsl.elab.interp import Elaborator
from nndsl.elab.learned import check_learned_rate
from nndsl.elab.prune import check_prune
from nndsl.elab.second_order import check_second_order
from nndsl.elab.settable import STEP_CALLS, set_call, set_setting, setting_hint
from nndsl.elab.train_hints import check_local_calls, unused_local_warnings
from nndsl.elab.values import ParamSet, Tensor, describe, source_text
from nndsl.elab.vocabulary import CALLS, CONFIG_FIELDS, SETTING_CODES, SETTINGS
from nndsl.ir import Graph, Ref, trainable_params
from nndsl.ops import HyperError
from nndsl.ops.base import Hyper
from nndsl.passes import gradients
from nndsl.paths import PathRefused
from nndsl.source import Diagnostic, SpecError, did_you_mean, error

STEP_FIELDS = ("loss", "optimizer", "schedule", "clip_grad_norm")


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
    # Metrics by their reported name (`accuracy`, `digit_acc`), and the source each came from.
    metrics: dict[str, Ref]
    settings: dict[str, Any]
    early_stopping: Config | None = None
    augment: Config | None = None
    # `prune = lottery(...)`: its checked call; values["sizes"] the parameters it masks.
    prune: Config | None = None
    adversarial: Config | None = None
    warnings: list[Diagnostic] = field(default_factory=list)
    metric_expressions: dict[str, str] = field(default_factory=dict)
    # `init = load(Net, "run")`: the model's layers that start from earlier runs.
    inits: list[InitLoad] = field(default_factory=list)


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
    with el.builder.building(graph, frame):
        for name, t in data.values["fields"].items():
            frame.env[name] = el.builder.input_tensor(name, t, fields["data"].value.span)
        model = _model(el, fields.get("model"), data)
        locals_ = _local_bindings(train)
        check_local_calls(el, locals_)
        el.run_body(locals_, {})
        objectives = _objectives(el, train, fields, model)
        metrics = _metrics(el, fields.get("metrics"), objectives)
    settings = {name: _setting(h, fields.get(name), el, train.span)
                for name, h in SETTINGS.items()}
    plan = TrainPlan(train.name, graph, data, model, objectives,
                     {name: ref for name, (ref, _) in metrics.items()}, settings,
                     _optional(fields, "early_stopping", el),
                     _optional(fields, "augment", el), _optional(fields, "prune", el),
                     _optional(fields, "adversarial", el),
                     metric_expressions={name: text for name, (_, text) in metrics.items()})
    _check_monitor(plan)
    _check_adversarial(plan, el)
    semisup.check_masked(plan.graph, data.values)
    if plan.prune is not None:
        plan.prune.values["sizes"] = check_prune(graph, plan.prune, settings["epochs"])
    plan.inits = pretrained_inits(el, fields.get("init"), model, graph)
    plan.warnings += unused_local_warnings(train, fields)
    return plan


def _data_source(expr: ast.Node, el: Elaborator) -> Config:
    """A built-in data set or a user file; `values["fields"]` says what each field holds."""
    head = expr.func if isinstance(expr, ast.Call) else expr
    if not (isinstance(head, ast.Name) and head.id in FILE_SOURCES):
        catalog = {k: v.hypers for k, v in SOURCES.items()}
        source = config(expr, {**catalog, **{f: () for f in FILE_SOURCES}}, "data source",
                        el.constants)
        semisup.check_fraction(source.values, expr)
        try:
            source.values["fields"] = SOURCES[source.name].fields(source.values)
        except DataError as exc:  # options that do not fit together (a story over memory)
            raise error(exc.code, str(exc), expr.span, hint=exc.hint) from None
        if SPLITS[0] in SOURCES[source.name].hypers:  # fractions (others count examples)
            _check_splits(source.values, source.span)
        return source
    call = expr if isinstance(expr, ast.Call) else ast.Call(expr.span, expr, (), ())
    if len(call.args) != 1 or not isinstance(call.args[0], ast.String):
        raise error("E086", f"{head.id} takes a file name: {data_files.EXAMPLES[head.id]}",
                    expr.span)
    values = {**data_files.OPTIONS, **data_files.SOURCE_OPTIONS[head.id]}
    renames = {}
    for kw in call.kwargs:
        value = argument(kw.value, el.constants)
        if kw.name in values:
            values[kw.name] = value
        elif isinstance(value, str):
            renames[kw.name] = value
        else:
            raise error("E086", f"`{kw.name}=` renames a field: give the array or column name "
                        "as a string", kw.span)
    path = Path(call.args[0].span.source.path).parent / call.args[0].value
    try:
        values["fields"] = data_files.fields(head.id, path, renames, values,
                                             call.args[0].value)
    except PathRefused as exc:
        raise error(exc.code, str(exc), call.args[0].span) from None
    except DataError as exc:
        raise error(exc.code, str(exc), call.args[0].span, hint=exc.hint) from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise error("E086", f"cannot read {head.id} data {path}: "
                    f"{getattr(exc, 'strerror', None) or exc}", call.args[0].span) from None
    values.update(path=path, renames=renames, file=call.args[0].value)
    _check_splits(values, expr.span)
    return Config(head.id, values, expr.span)


def _check_splits(values: dict, span) -> None:
    """The split options of any source: `val` and `test` fractions that leave a training set,
    a whole-number `seed` (the built-in sources' signatures check each one alone)."""
    for h in SPLITS:
        try:
            values[h.name] = h.check(values[h.name])
        except HyperError as exc:
            raise error("E024", f"data: {exc.message}", span, hint=exc.hint) from None
    if values["val"] + values["test"] >= 1:
        raise error("E024", f"data: val={values['val']} and test={values['test']} leave no "
                    "examples to train on", span, hint="keep val + test below 1, e.g. val=0.1, "
                    "test=0.2")


def _fields(items) -> dict[str, ast.Field]:
    seen: dict[str, ast.Field] = {}
    for f in items:
        if f.name.id in seen:
            raise error("E032", f"`{f.name.id}` is already set on line "
                        f"{seen[f.name.id].span.line}", f.name.span)
        seen[f.name.id] = f
    return seen


def _model(el: Elaborator, f: ast.Field | None, data: Config) -> str | None:
    """Run the section's `model` network on the data fields of the same names."""
    if f is None:
        return None
    if not isinstance(f.value, ast.Name) or f.value.id not in el.program.definitions or \
            el.program.definitions[f.value.id].kind != "network":
        name = f.value.id if isinstance(f.value, ast.Name) else ""
        raise error("E064", f"`model` must name a network{f', not `{name}`' if name else ''}",
                    f.value.span, hint=did_you_mean(name, el.program.networks))
    definition = el.program.definitions[f.value.id]
    env = el.builder.frame.env
    values = []
    for stmt in definition.body:
        if not isinstance(stmt, ast.Input):
            continue
        if stmt.name.id not in env:
            raise error("E061", f"model input `{stmt.name.id}` of `{definition.name.id}` has no "
                        f"data field of that name; `{data.name}` gives "
                        f"{', '.join(data.values['fields'])}", f.value.span,
                        hint=did_you_mean(stmt.name.id, data.values["fields"]))
        values.append(env[stmt.name.id])
    env.update(run_network(el, definition, values, f.value.span))
    return definition.name.id


def _local_bindings(train: ast.Train) -> list[ast.Assign]:
    """The section's fields that are not settings: local names, bound in order."""
    return [ast.Assign(f.span, (f.name,), f.value) for f in train.fields
            if f.name.id not in CONFIG_FIELDS]


def _trainable_keys(graph: Graph, scope: str) -> list[str]:
    return [k for k, (spec, _) in trainable_params(graph).items()
            if spec.trainable and k.startswith(scope)]


def _objectives(el, train: ast.Train, fields, model) -> list[Objective]:
    if train.steps:
        if "loss" in fields:
            raise error("E065", "with `step` sections, each step has its own `loss`; remove "
                        "this one", fields["loss"].span)
        return [_step_objective(el, step, fields) for step in train.steps]
    return [_objective(el, None, fields, train.span)]


def _step_objective(el, step: ast.Step, outer) -> Objective:
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
    inherited = {k: v for k, v in outer.items() if k in STEP_CALLS and k not in fields}
    return _objective(el, name, {**inherited, **fields}, step.span, tuple(inherited))


def _objective(el, network: str | None, fields, span, inherited=()) -> Objective:
    """A loss and what it trains: a step's network, else every network the section uses."""
    for required in ("loss", "optimizer"):
        if required not in fields:
            raise error("E060", f"`{'step ' + network if network else 'train'}` needs "
                        f"`{required} = ...`", span)
    scope = f"{network}." if network else ""
    el.builder.frame.env["params"] = ParamSet(scope)
    loss = _scalar(el, fields["loss"].value, "loss")
    keys = _trainable_keys(el.builder.graph, scope)
    label = source_text(fields["loss"].value.span) or "loss"
    report = gradients.check(el.builder.graph, loss.ref, keys, f"loss ({label})")
    if report.diagnostics:
        raise SpecError(report.diagnostics)
    optimizer = _optional(fields, "optimizer", el, network, inherited)
    schedule = _optional(fields, "schedule", el, network, inherited)
    check_learned_rate(optimizer, schedule)
    objective = Objective(network, loss.ref, keys, optimizer, schedule, report)
    check_second_order(el.builder.graph, objective)
    return objective


def _scalar(el, expr: ast.Node, what: str) -> Tensor:
    value = el.eval(expr)
    if not isinstance(value, Tensor) or value.type.rank != 0:
        raise error("E062", f"a {what} must be a scalar (a loss or metric call), got "
                    f"{describe(value)}", expr.span)
    return value


def _metrics(el, f: ast.Field | None, objectives: list[Objective]) -> dict[str, tuple[Ref, str]]:
    """Each metric by its readable name (see `metric_names`), with its value and source."""
    if f is None:
        return {}
    exprs = f.value.items if isinstance(f.value, ast.ListExpr) else (f.value,)
    taken = {_loss_name(o) for o in objectives}
    return {name: (_scalar(el, expr, "metric").ref, source_text(expr.span) or name)
            for name, expr in zip(metric_names(exprs, taken), exprs)}


def _loss_name(objective: Objective) -> str:
    """The loss's column name: `loss`, or `loss_<network>` per step."""
    return f"loss_{objective.network}" if objective.network else "loss"


def metric_names(exprs, taken=frozenset()) -> list[str]:
    """The names metrics are reported under (columns `val_<name>`, results keys, monitors):
    a bound name as it is bound (`digit_acc`), a call by its function (`accuracy`); calls of
    the same function are told apart by their first argument (`accuracy_digit`), and any
    name still taken gets a number (`accuracy_2`). The same bound name twice is an error."""
    bases = [_metric_base(e) for e in exprs]
    names = []
    for expr, base in zip(exprs, bases):
        if isinstance(expr, ast.Name) and base in names:
            raise error("E140", f"metric `{base}` is listed twice", expr.span)
        if isinstance(expr, ast.Call) and bases.count(base) > 1:
            base = "_".join(filter(None, (base, _identifier(expr.args[0].span)
                                          if expr.args else "")))
        name, n = base, 1
        while name in names or name in taken:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def _metric_base(expr: ast.Node) -> str:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        return expr.func.id
    return "metric"


def _identifier(span) -> str:
    """Source text as a column-friendly name: `src.label` → `src_label`."""
    return re.sub(r"\W+", "_", source_text(span)).strip("_")


def _setting(h: Hyper, f: ast.Field | None, el, span):
    """A scalar setting: its `--set` value, else the spec's, else the default."""
    if f is None:
        return set_setting(h, el.program.overrides, span, h.default)
    value = literal(f.value, el.constants)
    try:
        value = h.check(value)
    except HyperError as exc:
        raise error(SETTING_CODES.get(h.name, "E024"), exc.message, f.value.span,
                    hint=setting_hint(h, value, exc)) from None
    return set_setting(h, el.program.overrides, f.value.span, value)


def _optional(fields, key, el, network: str | None = None, inherited=()) -> Config | None:
    """The call of field `key` (`optimizer`, `schedule`, ...) checked against its catalog,
    with the `--set` values for it: `key.arg` for the section's own line (a step inherits
    it), `Net.key.arg` for step Net's."""
    if key not in fields:
        return None
    call = config(fields[key].value, CALLS[key], key.replace("_", " "), el.constants)
    prefixes = [""] if network is None or key in inherited else []
    prefixes += [f"{network}."] if network else []
    return set_call(call, key, tuple(prefixes), el.program.overrides)


def _check_adversarial(plan: TrainPlan, el: Elaborator) -> None:
    """`adversarial = ...` perturbs the model's floating-point inputs, never its targets or
    masks (nndsl/fit/adversarial.py reads them from values["fields"]): E207 for a section
    without a `model`, or whose model reads integer ids only (tokens)."""
    if plan.adversarial is None:
        return
    if plan.model is None:
        raise error("E207", "`adversarial` perturbs the inputs of the section's `model`, and "
                    "this section names none", plan.adversarial.span,
                    hint="name the network it trains: model = Net")
    network = el.network(plan.model)
    fields = tuple(name for name, ref in network.inputs.items()
                   if network.type_of(ref).dtype != "i32")
    if not fields:
        raise error("E207", "`adversarial` perturbs floating-point inputs, and this section's "
                    f"model `{plan.model}` reads integer ids only", plan.adversarial.span,
                    hint="adversarial training needs real-valued inputs (images, features)")
    plan.adversarial.values["fields"] = fields


def _check_monitor(plan: TrainPlan) -> None:
    if plan.early_stopping is None:
        return
    monitor = plan.early_stopping.values["monitor"]
    # Metrics are measured on the validation split only; losses on both.
    names = ["val_loss", "train_loss", *(f"val_{name}" for name in plan.metrics)]
    if monitor not in names:
        raise error("E068", f"early stopping monitors `{monitor}`, which this training does not "
                    "measure", plan.early_stopping.span,
                    hint=did_you_mean(monitor, names) or f"one of {', '.join(names)}")



__all__ = ["elaborate_train", "TrainPlan", "Objective", "Config"]
