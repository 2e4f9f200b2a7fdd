"""The library entry point: `nndsl.load("x.nn")` → a `Spec` that checks and summarises, and
compiles its networks (`compile`) and train sections (`training`) to JAX functions.

Checking never imports JAX: `compile` and `training` import the runtime when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nndsl.elab import Config, Elaborator, Limits, TrainPlan, check_sweep, elaborate_train
from nndsl.elab.settable import settable_names
from nndsl.elab.vocabulary import SETTINGS
from nndsl.ir import Graph, count_params
from nndsl.passes.cost import Cost, cost
from nndsl.paths import file_span
from nndsl.program import Program
from nndsl.program import load as load_program
from nndsl.source import Diagnostic, Span, SpecError, did_you_mean, error

if TYPE_CHECKING:
    from nndsl.fit.model import Model
    from nndsl.fit.training import Training


@dataclass
class NetworkReport:
    name: str
    graph: Graph
    params: int


@dataclass
class CheckReport:
    """What `check` found: each network, each train section, and every diagnostic."""

    networks: list[NetworkReport] = field(default_factory=list)
    trains: list[TrainPlan] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


class Spec:
    """A loaded spec: its networks and train sections, elaborated on demand."""

    def __init__(self, program: Program, limits: Limits, path: str | Path | None = None):
        self.program = program
        self.limits = limits
        self.path = Path(path if path is not None else program.source.path)

    @property
    def overrides(self) -> dict:
        """The `--set` values the spec was loaded with."""
        return dict(self.program.overrides)

    def _elaborator(self) -> Elaborator:
        return Elaborator(self.program, self.limits)

    def network(self, name: str | None = None) -> Graph:
        """The graph of network `name` (default: the train section's model, else the first)."""
        return self._elaborator().network(self.resolve(name))

    def resolve(self, name: str | None) -> str:
        """The network `name` names (default: the train section's model, else the first);
        an unknown name is an E070 error with the nearest names."""
        networks = self.program.networks
        if name is None:
            model = self._default_model()
            if model:
                return model
            if not networks:
                raise error("E070", "this spec defines no network", self.file_span())
            return networks[0]
        if name not in networks:
            raise error("E070", f"no network `{name}` in {self.program.source.path}",
                        self.file_span(),
                        hint=did_you_mean(name, networks) or f"networks: {', '.join(networks)}")
        return name

    def _default_model(self) -> str | None:
        for train in self.program.trains:
            for f in train.fields:
                if f.name.id == "model" and getattr(f.value, "id", None) in self.program.networks:
                    return f.value.id
        return None

    def check(self) -> CheckReport:
        """Elaborate every network, train and sweep section, collecting all diagnostics."""
        report = CheckReport()
        if not self.program.networks:
            report.diagnostics.append(error("E070", "this spec defines no network",
                                            self.file_span()).diagnostics[0])
        for name in self.program.networks:
            try:
                graph = self._elaborator().network(name)
                report.networks.append(NetworkReport(name, graph, count_params(graph)))
            except SpecError as exc:
                report.diagnostics += exc.diagnostics
        for train in self.program.trains:
            try:
                plan = elaborate_train(self._elaborator(), train)
                report.trains.append(plan)
                report.diagnostics += plan.warnings
            except SpecError as exc:
                report.diagnostics += exc.diagnostics
        for sweep in self.program.sweeps:
            try:
                check_sweep(self._elaborator(), sweep)
            except SpecError as exc:
                report.diagnostics += exc.diagnostics
        return report

    def plan(self, train_name: str | None = None, model: str | None = None) -> TrainPlan:
        """The checked plan of the train section named `train_name` (default: the first),
        with network `model` (`--model`) in place of the section's own model."""
        trains = self.program.trains
        if not trains:
            raise error("E071", "this spec has no `train` section", self.file_span())
        names = [t.name for t in trains]
        if train_name is not None and train_name not in names:
            raise error("E071", f"no `train {train_name}` section", self.file_span(),
                        hint=did_you_mean(train_name, [n for n in names if n]))
        section = trains[names.index(train_name) if train_name is not None else 0]
        if model is not None:
            self.resolve(model)
        return elaborate_train(self._elaborator(), section, model)

    def sweep_entries(self, index: int = 0) -> dict[str, Config]:
        """The checked entries of the spec's sweep section `index`: distributions by name,
        plus `trials` and `method` when given."""
        if not self.program.sweeps:
            raise error("E072", "this spec has no `sweep` section", self.file_span())
        return check_sweep(self._elaborator(), self.program.sweeps[index])

    def file_span(self) -> Span:
        """Where errors about the spec as a whole (no network, no train section) point."""
        return Span(self.program.source, 1, 1, 1, 1)

    def cost(self, name: str | None = None) -> Cost:
        """Parameters, FLOPs and memory of network `name`, per layer and in total."""
        return cost(self.network(name))

    def compile(self, name: str | None = None) -> Model:
        """Network `name` (default: the train section's model, else the first) as a `Model`
        of pure JAX functions: `init(seed) -> (params, state)` and
        `apply(params, state, inputs, *, rng=None, train=False) -> (outputs, new_state)`."""
        from nndsl.fit.model import Model
        from nndsl.lower import Compiled

        name = self.resolve(name)
        return Model(name, Compiled(self.network(name)))

    def training(self, name: str | None = None, *, model: str | None = None,
                 epochs: int | None = None, runs: str | Path = "runs",
                 check_numerics: bool = False) -> Training:
        """Train section `name` (default: the first) with its data loaded, as a `Training`:
        `loss_fn`, `init_opt`, `train_step` (the jitted step `nndsl train` runs), `evaluate`
        and `data()`. `model` replaces the section's model; `epochs` its epochs (they shape
        learning-rate schedules); `runs` is where `load(Net, "run")` finds its runs;
        `check_numerics` runs the step under checkify (computed ids, NaNs: E087)."""
        from nndsl.fit.training import Training

        return Training(self.plan(name, model), check_epochs(epochs), Path(runs), self.path.stem,
                        check_numerics)


DEFAULT_LIMITS = Limits()


def check_epochs(epochs: int | None) -> int | None:
    """An `epochs=` override as given (None: the section's own); 0, a negative or a
    fractional count is a ValueError, never silently the section's value."""
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)
                               or epochs < 1):
        raise ValueError(f"epochs must be a whole number >= 1, not {epochs!r}")
    return epochs


def load(path: str | Path, overrides: dict | None = None,
         limits: Limits = DEFAULT_LIMITS) -> Spec:
    """Parse a spec file (and its imports) with `overrides` (`--set` values by name) in place
    of its `let` values; raise SpecError for syntax or import problems. Checking happens on
    demand: `.check()`, `.network(name)`, `.compile(name)`, `.training()`."""
    program = load_program(path, overrides)
    _check_overrides(program)
    return Spec(program, limits, path)


def _check_overrides(program: Program) -> None:
    """Every `--set NAME=VALUE` must name a `let`, a network/block hyperparameter
    (`Net.param`) or a train setting (`batch`, `optimizer.lr`, see elab/settable.py): a
    misspelt name would otherwise be ignored without a word."""
    train_names = list(dict.fromkeys(name for train in program.trains
                                     for name in settable_names(train)))
    settable = [*program.lets, *(f"{name}.{p.name}" for name, d in program.definitions.items()
                                 for p in d.params), *train_names]
    for name in program.overrides:
        if name not in settable:
            let = "" if "." in name else f"no `let {name}`, "
            raise error("E073", f"--set {name}: this spec has {let}no hyperparameter and no "
                        "train setting of that name",
                        file_span(program.source.path),
                        hint=did_you_mean(name, settable) or "--set takes a `let` name, "
                        "Net.param, or a train setting: "
                        f"{', '.join(train_names or SETTINGS)}")
