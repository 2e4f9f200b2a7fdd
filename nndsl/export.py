"""`nndsl export`: a trained network as a file that runs without nndsl.

`.jax`: a `jax.export` artifact (serialized StableHLO) of the network's forward function in
inference mode (dropout off, batch-norm running statistics, the fixed key `predict` uses for
ops that sample), with the run's parameters and state baked in as constants and every
symbolic size of the inputs (the batch `B`) kept symbolic. Its inputs are positional, in the
network's declared input order; its result is a tuple in the declared output order.
`.onnx`: the same function converted by jax2onnx (the optional extra `nndsl[export]`) and
checked with `onnx.checker`. Next to either file, `<file>.json` records the inputs' and
outputs' names, order, dtypes and shapes. `load_artifact` runs a `.jax` file for `predict`.
See docs/export.md.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jax
import numpy as np

from nndsl.ir import Graph, Node, Sym, TensorType, shape_fits, walk
from nndsl.lower import Compiled
from nndsl.paths import file_span, read_file
from nndsl.source import SpecError, error

CANNOT_EXPORT = "E094"
BAD_ARTIFACT = "E095"
FORMAT = "nndsl-export/1"
SUFFIXES = (".jax", ".onnx")
ARTIFACT_MAX_BYTES = 16 * 2**30
DTYPES = {"f32": "float32", "bf16": "bfloat16", "f16": "float16", "i32": "int32",
          "bool": "bool"}
INSTALL = "pip install 'nndsl[export]'"


@dataclass
class Trained:
    """A network with the parameters and state of a run, and where they came from."""

    name: str
    graph: Graph
    compiled: Compiled
    params: dict
    state: dict
    origin: dict


def check_target(out: Path, vjp: bool) -> None:
    """Refuse an output name export cannot write, before anything is loaded."""
    if out.suffix not in SUFFIXES:
        raise error(CANNOT_EXPORT, f"cannot export to `{out}`: the output must end in .jax "
                    "(a jax.export artifact) or .onnx", file_span(out),
                    hint="nndsl export FILE --run DIR -o model.jax")
    if vjp and out.suffix != ".jax":
        raise error(CANNOT_EXPORT, "--vjp applies to .jax artifacts only", file_span(out))


def export(trained: Trained, out: Path, vjp: bool = False) -> dict:
    """Write `out` (.jax or .onnx) and its JSON sidecar `out.json`; returns the sidecar."""
    check_target(out, vjp)
    specs = input_specs(trained.graph)
    function = forward(trained)
    if out.suffix == ".jax":
        try:
            exported = jax.export.export(jax.jit(function))(*specs)
        except Exception as exc:  # noqa: BLE001 - e.g. an op that needs a constant batch
            raise error(CANNOT_EXPORT, f"cannot export `{trained.name}` with jax.export: "
                        f"{unconvertible(exc, 'jax.export')}", file_span(out)) from None
        data = exported.serialize(vjp_order=1 if vjp else 0)
        platforms = list(exported.platforms)
    else:
        data = _onnx_bytes(trained, function, specs, out)
        platforms = ["onnx"]
    sidecar = describe(trained, specs, function, out, platforms, vjp)
    _write(out, data)
    _write(sidecar_path(out), (json.dumps(sidecar, indent=2) + "\n").encode())
    return sidecar


def sidecar_path(out: Path) -> Path:
    """`model.jax` → `model.jax.json`."""
    return out.with_name(out.name + ".json")


def input_specs(graph: Graph) -> list[jax.ShapeDtypeStruct]:
    """One abstract value per network input, in declared order; symbolic sizes (the batch)
    stay symbolic, all in one scope so that inputs sharing `B` share it."""
    scope = jax.export.SymbolicScope(length_bounds(graph))
    specs = []
    for ref in graph.inputs.values():
        t = graph.type_of(ref)
        dims = ", ".join(str(d) for d in t.shape)
        shape = jax.export.symbolic_shape(dims, scope=scope) if dims else ()
        specs.append(jax.ShapeDtypeStruct(shape, DTYPES[t.dtype]))
    return specs


def length_bounds(graph: Graph) -> list[str]:
    """Constraints on the symbolic sizes the graph itself bounds: a `positional` table of
    `max_len` rows covers at most `max_len` positions (`T <= 64`). Without it jax.export
    cannot tell that `table[:T]` has T rows; with it, a longer input is refused when the
    artifact is called."""
    bounds = set()
    for node, _ in walk(graph):
        if node.op == "positional":
            name = _plain_symbol(node.out.shape[1])  # its input's: positional keeps the shape
            if name is not None:
                bounds.add(f"{name} <= {node.attrs['max_len']}")
    return sorted(bounds)


def _plain_symbol(dim) -> str | None:
    """The name of a dimension that is one input size (`T`), else None: a derived length
    (`(T + 1)//2`, `2*T`) is left to jax.export, which then fails inside `export`'s own error
    handling if it cannot bound it."""
    if isinstance(dim, Sym) and len(dim.terms) == 1:
        (names, coefficient), = dim.terms
        if coefficient == 1 and len(names) == 1 and names[0].isidentifier():
            return names[0]
    return None


def forward(trained: Trained):
    """The network in inference mode as a function of its inputs, positional in declared
    order, returning a tuple in declared output order; parameters are closed over."""
    names, outputs = list(trained.graph.inputs), list(trained.graph.outputs)
    compiled, params, state = trained.compiled, trained.params, trained.state

    def function(*arrays):
        values, _ = compiled.apply(params, state, dict(zip(names, arrays)))
        return tuple(values[name] for name in outputs)

    return function


def describe(trained: Trained, specs, function, out: Path, platforms: list[str],
             vjp: bool) -> dict:
    """The sidecar: names, order, dtypes and shapes of inputs and outputs, and provenance."""
    graph = trained.graph
    results = jax.eval_shape(function, *specs)
    return {
        "format": FORMAT,
        "artifact": out.name,
        "kind": out.suffix.lstrip("."),
        "network": trained.name,
        "inputs": [_tensor(name, spec) for name, spec in zip(graph.inputs, specs)],
        "outputs": [_tensor(name, value) for name, value in zip(graph.outputs, results)],
        "symbols": sorted({str(d) for ref in graph.inputs.values()
                           for d in graph.type_of(ref).shape if isinstance(d, Sym)}),
        "platforms": platforms,
        "vjp_order": 1 if vjp else 0,
        "versions": {name: _version(name) for name in ("nndsl", "jax") +
                     (("jax2onnx", "onnx") if out.suffix == ".onnx" else ())},
        **trained.origin,
    }


def _tensor(name: str, value) -> dict:
    shape = [d if isinstance(d, int) else str(d) for d in value.shape]
    return {"name": name, "dtype": np.dtype(value.dtype).name, "shape": shape}


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename: never half a file under `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise error(CANNOT_EXPORT, f"cannot write {path}: {exc.strerror or exc}",
                    file_span(path)) from None


# ONNX ------------------------------------------------------------------------------------------

def _onnx_bytes(trained: Trained, function, specs, out: Path) -> bytes:
    """The network converted by jax2onnx and accepted by the ONNX checker, serialized."""
    try:
        import jax2onnx
        import onnx
    except ImportError:
        raise error(CANNOT_EXPORT, f"ONNX export needs jax2onnx and onnx: {INSTALL}",
                    file_span(out)) from None
    graph = trained.graph
    # onnx_ir logs a warning per untyped constant shape it leaves out: noise for users.
    logging.getLogger("onnx_ir").setLevel(logging.ERROR)
    try:
        model = jax2onnx.to_onnx(function, specs, model_name=trained.name,
                                 input_names=list(graph.inputs),
                                 output_names=list(graph.outputs))
    except Exception as exc:  # noqa: BLE001 - any converter failure is named, never a traceback
        raise error(CANNOT_EXPORT, f"cannot convert `{trained.name}` to ONNX: "
                    f"{unconvertible(exc, 'jax2onnx')}", file_span(out),
                    hint="export to .jax instead (every network exports there)") from None
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise error(CANNOT_EXPORT, f"the ONNX model jax2onnx made for `{trained.name}` fails "
                    f"onnx.checker: {_first_line(exc)}", file_span(out)) from None
    return model.SerializeToString()


def unconvertible(exc: BaseException, tool: str) -> str:
    """What `tool` could not convert: the nndsl op (and layer and line, when the failure
    came while tracing it), the JAX primitive, and the tool's own reason."""
    node, eqn = _failure_site(exc)
    reason = _first_line(exc)
    if node is not None:
        return (f"op `{node.op}` (layer `{node.id}`, line {node.span.line}) cannot be "
                f"converted: {tool} says: {reason}")
    if eqn is not None:
        op = _ops_lowering(eqn)
        where = f"op `{op}` lowers to" if op else "the network uses"
        return (f"{where} the JAX primitive `{eqn.primitive.name}`, which {tool} cannot "
                f"convert here: {reason}")
    return f"{tool} says: {reason}"


def _failure_site(exc: BaseException) -> tuple[Node | None, object | None]:
    """The innermost nndsl node being traced, and the innermost JAX equation being
    converted, found in the frames of the exception's traceback."""
    node = eqn = None
    tb = exc.__traceback__
    while tb is not None:
        local = tb.tb_frame.f_locals
        if isinstance(local.get("node"), Node):
            node = local["node"]
        if hasattr(local.get("eqn"), "primitive"):
            eqn = local["eqn"]
        tb = tb.tb_next
    return node, eqn


def _ops_lowering(eqn) -> str | None:
    """The nndsl op whose lowering emitted `eqn` (innermost frame of its source info)."""
    from nndsl.ops import REGISTRY

    where = {(op.lower.__code__.co_filename, op.lower.__code__.co_firstlineno): op.name
             for op in REGISTRY.values() if op.lower is not None and
             hasattr(op.lower, "__code__")}
    for frame in eqn.source_info.traceback.frames:
        name = where.get((frame.file_name, frame.function_start_line))
        if name is not None:
            return name
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# Running a .jax artifact -----------------------------------------------------------------------

def load_artifact(path: Path, graph: Graph):
    """A `.jax` artifact as a function {input name: array} → {output name: array}, refused
    unless its inputs and outputs are the network's (count, dtype and fixed sizes)."""
    data = read_file(path, ARTIFACT_MAX_BYTES, "exported artifact", BAD_ARTIFACT)
    try:
        exported = jax.export.deserialize(bytearray(data))
    except Exception:  # noqa: BLE001 - a foreign or damaged file is a user error
        raise error(BAD_ARTIFACT, f"{path} is not a jax.export artifact (or it is damaged)",
                    file_span(path), hint="write one with `nndsl export FILE --run DIR -o "
                    "model.jax`") from None
    _check_signature(exported, graph, path)
    names, outputs = list(graph.inputs), list(graph.outputs)

    def run(inputs: dict) -> dict:
        arrays = [np.asarray(inputs[n], dtype=a.dtype) for n, a in zip(names, exported.in_avals)]
        return dict(zip(outputs, exported.call(*arrays)))

    return run


def _check_signature(exported, graph: Graph, path: Path) -> None:
    """Refuse an artifact of another network: input count, dtypes, fixed sizes, outputs."""
    wanted = [graph.type_of(r) for r in graph.inputs.values()]
    if len(exported.in_avals) != len(wanted) or len(exported.out_avals) != len(graph.outputs):
        raise _mismatch(path, f"takes {len(exported.in_avals)} inputs and gives "
                        f"{len(exported.out_avals)} outputs, this spec's network "
                        f"{len(wanted)} and {len(graph.outputs)}")
    for name, have, want in zip(graph.inputs, exported.in_avals, wanted):
        if not _fits(have, want):
            raise _mismatch(path, f"takes {have.str_short()} for input `{name}`, which this "
                            f"spec declares {want}")


def _fits(aval, want: TensorType) -> bool:
    return shape_fits(aval.shape, want.shape) and np.dtype(aval.dtype).name == DTYPES[want.dtype]


def _mismatch(path: Path, what: str) -> SpecError:
    return error(BAD_ARTIFACT, f"the artifact {path} {what}", file_span(path),
                 hint="use the spec (and --set values, --model) it was exported from; its "
                 ".json sidecar names the network")
