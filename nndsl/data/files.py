"""User data files as data sources: `npz("d.npz", x="images", y="labels")`, `csv("t.csv",
y="label")`. Paths are relative to the spec; `field="name"` renames an array or column to the
field the model reads. Integer arrays become i32 fields, everything else f32.

A spec's files are opened through nndsl.paths: only regular files under the folders the spec
may read, at most DATA_MAX_BYTES. Errors name arrays or columns the spec asked for, never
the text of the file (a csv "header" could be any file's first line); an .npz's array names,
the structure of a valid archive, are listed."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from nndsl import paths
from nndsl.data.catalog import SPLITS, B
from nndsl.ir import TensorType

FILE_SOURCES = ("npz", "csv")
# The split options every source takes, with the same defaults and ranges (data/catalog.py).
OPTIONS = {h.name: h.default for h in SPLITS}


def _open(path: Path, from_spec: bool):
    """The file, opened by the access policy (a spec's files only under its read roots)."""
    return paths.open_regular(paths.data_file(path) if from_spec else path,
                              paths.DATA_MAX_BYTES, "data file")


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Array shapes and dtypes from the .npy headers inside an .npz, without loading data."""
    headers = {}
    with _open(path, True) as raw, zipfile.ZipFile(raw) as archive:
        for name in archive.namelist():
            with archive.open(name) as f:
                fmt = np.lib.format
                reader = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else \
                    fmt.read_array_header_2_0
                shape, _, dtype = reader(f)
            headers[name.removesuffix(".npy")] = (shape, dtype)
    return headers


def _csv_columns(path: Path) -> list[str]:
    with _open(path, True) as f:
        # A header longer than this is not a csv header: do not read a whole file as a line.
        return [c.strip() for c in f.readline(1 << 20).decode("utf-8", "replace").split(",")]


def fields(kind: str, path: Path, renames: dict[str, str]) -> dict[str, TensorType]:
    """The fields a file gives, by the names the model sees. Raises OSError/ValueError."""
    if kind == "npz":
        headers = _npz_headers(path)
        inverse = {array: field for field, array in renames.items()}
        missing = [a for a in renames.values() if a not in headers]
        if missing:
            # Array names are a valid archive's structure, not free text: list them.
            raise ValueError(f"{path.name} has no array `{missing[0]}` (it has "
                             f"{', '.join(headers)})")
        return {inverse.get(name, name): TensorType((B, *shape[1:]),
                                                    "i32" if dtype.kind in "iub" else "f32")
                for name, (shape, dtype) in headers.items()}
    columns = _csv_columns(path)
    missing = [c for c in renames.values() if c not in columns]
    if missing:
        raise ValueError(f"{path.name} has no column `{missing[0]}` in its header line (it has "
                         f"{len(columns)} columns)")
    out = {field: TensorType((B,), "i32") for field in renames}
    features = [c for c in columns if c not in renames.values()]
    if features:
        out["x"] = TensorType((B, len(features)), "f32")
    return out


def load(kind: str, path: Path, renames: dict[str, str], from_spec: bool = True,
         ) -> dict[str, np.ndarray]:
    """Every field of the file as arrays (i32 or f32). `from_spec`: a file a spec names,
    under its read roots; else one the command line names (predict's inputs)."""
    if kind == "npz":
        with _open(path, from_spec) as raw, np.load(raw, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        inverse = {array: field for field, array in renames.items()}
        arrays = {inverse.get(k, k): v for k, v in arrays.items()}
    else:
        with _open(path, from_spec) as raw:
            table = np.genfromtxt(raw, delimiter=",", names=True, dtype=np.float64)
        columns = list(table.dtype.names)
        arrays = {field: table[column] for field, column in renames.items()}
        features = [c for c in columns if c not in renames.values()]
        if features:
            arrays["x"] = np.stack([table[c] for c in features], 1)
    return {k: v.astype(np.int32 if v.dtype.kind in "iub" or (
        kind == "csv" and k in renames) else np.float32) for k, v in arrays.items()}
