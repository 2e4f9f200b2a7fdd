"""A whole spec: the file, its imports and the standard library, merged into one namespace."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from nndsl import ast, paths
from nndsl.parse import parse
from nndsl.paths import STD_DIR, PathRefused
from nndsl.source import Source, Span, error


@dataclass
class Program:
    """Every declaration visible to a spec, with the file's own ones last (they shadow)."""

    source: Source
    lets: dict[str, ast.Let] = field(default_factory=dict)
    definitions: dict[str, ast.Definition] = field(default_factory=dict)
    trains: list[ast.Train] = field(default_factory=list)
    sweeps: list[ast.Sweep] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    overrides: dict[str, object] = field(default_factory=dict)
    # Files already merged: an import "diamond" reads each file once, not once per path to it.
    imported: set[Path] = field(default_factory=set)


@cache
def _std_modules() -> tuple[ast.Module, ...]:
    return tuple(parse(Source.read(p)) for p in sorted(STD_DIR.glob("*.nn")))


def load(path: str | Path, overrides: dict[str, object] | None = None) -> Program:
    """Parse a spec file and everything it imports; raise SpecError on the first problem.
    The spec's folder becomes where its imports and data files may be (nndsl.paths)."""
    paths.set_spec(Path(path))
    source = _read(Path(path), None)
    program = Program(source, overrides=dict(overrides or {}))
    for module in _std_modules():
        _merge(program, module, own=False)
    _load_into(program, source, stack=())
    return program


def _read(path: Path, span: Span | None) -> Source:
    """The spec (span None) or an import (at `span`): a regular file within the size cap;
    an import also under the folders the spec may read."""
    where = span or paths.file_span(path)
    try:
        if span is not None:
            paths.inside_roots(path, "import")
        return paths.read_source(path)
    except PathRefused as exc:
        raise paths.refused(exc, where) from None
    except OSError as exc:
        if span is None:
            raise error("E003", f"cannot read {path}: {exc.strerror}", where) from None
        raise error("E003", f"cannot import `{path}`: {exc.strerror}", span) from None


def _load_into(program: Program, source: Source, stack: tuple[Path, ...]) -> None:
    module = parse(source)
    here = Path(source.path).resolve()
    for decl in module.decls:
        if isinstance(decl, ast.Import):
            _import(program, decl, here, stack + (here,))
    _merge(program, module, own=not stack)


def _import(program: Program, decl: ast.Import, here: Path, stack: tuple[Path, ...]) -> None:
    if "\0" in decl.path:
        raise error("E003", "an import path cannot contain a NUL character", decl.span)
    target = (here.parent / decl.path).resolve()
    if target.suffix != ".nn":
        raise error("E003", f"`import` reads only .nn spec files, not `{decl.path}`", decl.span)
    if target in stack:
        chain = " → ".join(p.name for p in stack[stack.index(target):] + (target,))
        raise error("E004", f"import cycle: {chain}", decl.span,
                    hint="move what both files need into a third file they both import")
    if target in program.imported:
        return
    program.imported.add(target)
    _load_into(program, _read(target, decl.span), stack)


def _merge(program: Program, module: ast.Module, own: bool) -> None:
    for decl in module.decls:
        if isinstance(decl, ast.Let):
            program.lets[decl.name.id] = decl
        elif isinstance(decl, ast.Definition):
            _define(program, decl, own)
        elif isinstance(decl, ast.Train) and own:
            program.trains.append(decl)
        elif isinstance(decl, ast.Sweep) and own:
            program.sweeps.append(decl)


def _define(program: Program, decl: ast.Definition, own: bool) -> None:
    previous = program.definitions.get(decl.name.id)
    same_file = previous is not None and previous.span.source is decl.span.source
    if same_file:
        raise error("E005", f"`{decl.name.id}` is already defined on line {previous.span.line}",
                    decl.name.span)
    program.definitions[decl.name.id] = decl
    if decl.kind == "network" and own:
        program.networks.append(decl.name.id)
