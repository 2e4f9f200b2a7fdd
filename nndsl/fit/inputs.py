"""Reading a user's input files for `predict`: .npz arrays or .csv columns, by input name."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from nndsl.data import files as data_files
from nndsl.data.files import FILE_SOURCES
from nndsl.data.table import DataError
from nndsl.fit.indices import check_indices
from nndsl.ir import Graph, shape_fits
from nndsl.paths import file_span
from nndsl.source import Diagnostic, SpecError


def _fail(message: str, path: Path, code: str = "E085", hint: str | None = None) -> SpecError:
    """E085 (or `code`), reported at the input file (not at a place in the spec)."""
    return SpecError(Diagnostic(code, message, file_span(path), hint))


def read_inputs(path: Path, graph: Graph, encoding=None) -> dict[str, np.ndarray]:
    """One array per network input, checked against the input's declared shape and dtype, and
    integer ids against the range of what they index (E081, at the op). `encoding`: the run's
    data encoding (data/encoding.py), applied to a .csv or a folder of images."""
    if not path.exists():
        raise _fail(f"input file {path} does not exist", path)
    kind = "images" if path.is_dir() else path.suffix.lstrip(".")
    if kind not in FILE_SOURCES:
        raise _fail("inputs are read from .npz or .csv files (or a folder of images)", path)
    try:
        arrays = data_files.load(kind, path, {}, from_spec=False, encoding=encoding)
    except DataError as exc:  # a cell at fault, located at its line (data/table.py)
        raise _fail(str(exc), path, exc.code, exc.hint) from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _fail(f"cannot read {path}: {exc}", path) from None
    inputs = {}
    for name, ref in graph.inputs.items():
        want = graph.type_of(ref)
        if name not in arrays:
            raise _fail(f"{path} has no array `{name}` for the input `{name}: {want}` "
                        f"(it has {', '.join(arrays) or 'none'})", path)
        array = arrays[name]
        if not shape_fits(array.shape[1:], want.shape[1:]):
            raise _fail(f"input `{name}` must be {want}, got {list(array.shape)}", path)
        inputs[name] = array.astype(np.int32 if want.dtype == "i32" else np.float32)
    check_indices(graph, inputs, f"predict input {path.name}")
    return inputs
