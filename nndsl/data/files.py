"""User data files as data sources: `npz("d.npz", x="images", y="labels")`, `csv("t.csv",
y="label", onehot=["color"], standardize=true)`, `images("pics", size=[32, 32])`. Paths are
relative to the spec; `field="name"` renames an array or column to the field the model reads.
Integer arrays become i32 fields, everything else f32; a csv's labels and categories are
encoded as data/encoding.py says, an image folder as data/images.py says.

A spec's files are opened through nndsl.paths: only regular files under the folders the spec
may read, at most DATA_MAX_BYTES. Errors name arrays or columns the spec asked for (and, for
a csv row, the column of the cell at fault), never a cell's or line's text (a csv "header"
could be any file's first line); an .npz's array names, the structure of a valid archive,
are listed. `check` reads a csv whole (its labels, categories and cells are checked there)."""

from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from nndsl import paths
from nndsl.data import encoding as encodings
from nndsl.data import images, table, text
from nndsl.data.catalog import SPLITS, B
from nndsl.data.encoding import Encoding
from nndsl.data.sources import Splits, split_fraction
from nndsl.data.table import DataError, Table, shown
from nndsl.ir import TensorType

FILE_SOURCES = ("npz", "csv", "images", "text")
# The split options every source takes, with the same defaults and ranges (data/catalog.py).
OPTIONS = {h.name: h.default for h in SPLITS}
EXAMPLES = {"npz": 'npz("data.npz", x="images", y="labels")',
            "csv": 'csv("data.csv", y="label")', "images": 'images("pics", size=[32, 32])',
            "text": 'text("corpus.txt", context=64)'}
# Each source's own options and their defaults (anything else `name="..."` is a rename).
SOURCE_OPTIONS = {"npz": {}, "csv": {"onehot": [], "ids": [], "standardize": False},
                  "images": {"size": [32, 32], "color": "rgb"},
                  "text": {"context": 64, "vocab": 64, "encoding": "utf-8"}}


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


def _csv_columns(path: Path, from_spec: bool = True) -> list[str]:
    with _open(path, from_spec) as f:
        return table.header(f)


@lru_cache(maxsize=4)
def _cached_table(path: Path, name: str, from_spec: bool, stamp: tuple) -> Table:
    """The parsed file, kept while its size and modification time stay (check, then train,
    read it once)."""
    with _open(path, from_spec) as raw:
        return table.read(raw, name)


def _table(path: Path, name: str, from_spec: bool) -> Table:
    info = (paths.data_file(path) if from_spec else path).stat()
    return _cached_table(Path(path), name, from_spec, (info.st_mtime_ns, info.st_size))


def _check_csv_options(path: Path, columns: list[str], renames: dict[str, str],
                       options: dict) -> None:
    """Every column the spec names is in the header; `onehot`/`ids` are lists of feature
    columns, `standardize` true or false (E134)."""
    for option in ("onehot", "ids"):
        value = options[option]
        if not (isinstance(value, (list, tuple)) and all(isinstance(c, str) for c in value)):
            raise DataError(images.OPTION, f"csv: `{option}` takes a list of column names",
                            f'e.g. {option}=["color"]')
    if not isinstance(options["standardize"], bool):
        raise DataError(images.OPTION, "csv: `standardize` is true or false")
    wanted = [*renames.values(), *options["onehot"], *options["ids"]]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise ValueError(f"{path.name} has no column `{missing[0]}` in its header line (it has "
                         f"{len(columns)} columns)")
    twice = [c for c in options["onehot"] if c in options["ids"] or c in renames.values()]
    twice += [c for c in options["ids"] if c in renames.values()]
    if twice:
        raise DataError(images.OPTION, f"csv: column {shown(twice[0])} is named twice (as a "
                        "label, onehot or ids column)")


def _csv(path: Path, name: str, renames: dict[str, str], options: dict,
         from_spec: bool = True) -> tuple[Table, Encoding]:
    """The file's table and its encoding, after checking the options against the header."""
    _check_csv_options(path, _csv_columns(path, from_spec), renames, options)
    found = _table(path, name, from_spec)
    return found, encodings.fit(found, renames, options["onehot"], options["ids"])


def _text(path: Path, name: str, renames: dict[str, str], options: dict) -> str:
    """A text file's text, its options checked (data/text.py)."""
    if renames:
        raise DataError(text.OPTION, f"text(...) gives the fields x and y and renames "
                        f"nothing; `{next(iter(renames))}=` is not one of its options "
                        "(context, vocab, encoding, val, test, seed)")
    text.check_options(options)
    with _open(path, True) as raw:
        return text.decode(raw.read(), name, options)


def fields(kind: str, path: Path, renames: dict[str, str], options: dict | None = None,
           name: str | None = None) -> dict[str, TensorType]:
    """The fields a file gives, by the names the model sees. Raises OSError/ValueError
    (DataError: located at a row of the file, or a bad option)."""
    options = {**SOURCE_OPTIONS[kind], **(options or {})}
    if kind == "text":
        _text(path, name or path.name, renames, options)
        return text.fields(options)
    if kind == "images":
        if renames:
            raise DataError(images.OPTION, f"images(...) gives the fields x and y and renames "
                            f"nothing; `{next(iter(renames))}=` is not one of its options "
                            "(size, color, val, test, seed)")
        images.check_options(options)
        images.listing(path, name or path.name)
        return images.fields(options)
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
    found, enc = _csv(path, name or path.name, renames, options)
    encodings.encode(found, enc)  # every cell checked here, before anything trains
    out = {field: TensorType((B,), "i32") for field in renames}
    if enc.features:
        out["x"] = TensorType((B, enc.width()), "f32")
    return out


def load(kind: str, path: Path, renames: dict[str, str], from_spec: bool = True,
         options: dict | None = None, encoding: Encoding | None = None,
         ) -> dict[str, np.ndarray]:
    """Every field of the file as arrays (i32 or f32). `from_spec`: a file a spec names,
    under its read roots; else one the command line names (predict's inputs), encoded as the
    run's `encoding` says (when the run saved one)."""
    if kind == "npz":
        with _open(path, from_spec) as raw, np.load(raw, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        inverse = {array: field for field, array in renames.items()}
        arrays = {inverse.get(k, k): v for k, v in arrays.items()}
        return {k: v.astype(np.int32 if v.dtype.kind in "iub" else np.float32)
                for k, v in arrays.items()}
    if kind == "images":
        return {"x": _image_inputs(path, encoding)}
    if encoding is not None:
        return encodings.encode(_table(path, str(path), from_spec), encoding, with_labels=False)
    found, enc = _csv(path, str(path), renames, {**SOURCE_OPTIONS["csv"], **(options or {})},
                      from_spec)
    return encodings.encode(found, enc)


def _image_inputs(path: Path, encoding: Encoding | None) -> np.ndarray:
    """`predict --input FOLDER`: its images (sorted by name), as the run's encoding says."""
    if encoding is None or encoding.source != "images":
        raise ValueError("a folder of images is an input only for a run trained on images(...)")
    files = images.image_files(Path(path))
    if not files:
        raise ValueError(f"{path} holds no images ({', '.join(images.SUFFIXES)})")
    return images.decode(files, encoding.options, from_spec=False)


def load_splits(kind: str, values: dict) -> tuple[dict[str, np.ndarray], Splits]:
    """A data file's arrays (rows in file order) and its train/val/test splits; a csv's
    standardization fitted on the train split. The encoding, if any, goes to
    `values["encoding"]` (the run saves it)."""
    path, name = values["path"], values.get("file", values["path"].name)
    options = {k: values[k] for k in SOURCE_OPTIONS[kind] if k in values}
    enc = None
    if kind == "text":
        arrays, enc = text.load(_text(path, name, values["renames"], options), options)
    elif kind == "images":
        arrays, enc = images.load(path, name, {**SOURCE_OPTIONS[kind], **options})
    elif kind == "csv":
        found, enc = _csv(path, name, values["renames"], {**SOURCE_OPTIONS[kind], **options})
        arrays = encodings.encode(found, enc)
    else:
        arrays = load(kind, path, values["renames"])
    splits = split_fraction(arrays, values["val"], values["test"], values["seed"])
    if kind == "csv" and options.get("standardize") and "x" in arrays:
        encodings.fit_statistics(splits["train"]["x"], enc)
        for fields in splits.values():
            fields["x"] = encodings.standardized(fields["x"], enc)
    if enc is not None:
        values["encoding"] = enc.to_json()
    return arrays, splits
