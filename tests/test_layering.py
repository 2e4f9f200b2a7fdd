"""The checker's import structure: elaboration never reaches into the runtime, and its
modules import each other in one direction only (no cycles)."""

import ast
from pathlib import Path

NNDSL = Path(__file__).resolve().parent.parent / "nndsl"
RUNTIME = ("nndsl.fit", "nndsl.lower", "nndsl.gradcheck", "nndsl.cli",
           "nndsl.spec")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {name for name in found if name.startswith("nndsl")}


def _checker_modules() -> dict[str, set[str]]:
    files = [NNDSL / "hyper.py", *sorted((NNDSL / "elab").glob("*.py"))]
    names = {p: "nndsl.hyper" if p.name == "hyper.py" else
             "nndsl.elab" + ("" if p.stem == "__init__" else f".{p.stem}") for p in files}
    return {names[p]: _imports(p) for p in files}


def test_checker_does_not_import_the_runtime():
    for module, imports in _checker_modules().items():
        reached = sorted(i for i in imports if i.startswith(RUNTIME))
        assert not reached, f"{module} imports {reached}"


def test_elaboration_modules_have_no_import_cycle():
    modules = _checker_modules()
    graph = {m: {i for i in imports if i in modules and i != m and m != "nndsl.elab"}
             for m, imports in modules.items()}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module not in done:
            for dep in graph[module]:
                visit(dep, (*path, module))
            done.add(module)

    for module in graph:
        visit(module, ())
