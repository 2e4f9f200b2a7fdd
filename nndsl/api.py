"""The library entry point: `nndsl.load("x.nn")` → a `Spec` that checks and summarises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nndsl.elaborate import Elaborator, Limits
from nndsl.ir import Graph, count_params
from nndsl.passes.cost import Cost, cost
from nndsl.program import Program
from nndsl.program import load as load_program
from nndsl.source import Diagnostic, Span, SpecError, did_you_mean, error
from nndsl.training import TrainPlan, check_sweep, elaborate_train


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

    def __init__(self, program: Program, limits: Limits):
        self.program = program
        self.limits = limits

    def _elaborator(self) -> Elaborator:
        return Elaborator(self.program, self.limits)

    def network(self, name: str | None = None) -> Graph:
        """The graph of network `name` (default: the train section's model, else the first)."""
        return self._elaborator().network(self.resolve(name))

    def resolve(self, name: str | None) -> str:
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

    def file_span(self) -> Span:
        """Where errors about the spec as a whole (no network, no train section) point."""
        return Span(self.program.source, 1, 1, 1, 1)

    def cost(self, name: str | None = None) -> Cost:
        return cost(self.network(name))


DEFAULT_LIMITS = Limits()


def load(path: str | Path, overrides: dict | None = None,
         limits: Limits = DEFAULT_LIMITS) -> Spec:
    """Parse a spec file (and its imports); raise SpecError for syntax or import problems."""
    return Spec(load_program(path, overrides), limits)

