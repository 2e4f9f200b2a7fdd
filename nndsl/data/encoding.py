"""How a data file's text becomes arrays, and back: the encoding a run saves as `data.json`.

- Labels: a label column of whole numbers is used as the class ids; any other label column
  is a column of class names, given ids in the sorted order of the names (`cat` 0, `dog` 1).
- Features (the columns that are not labels, in file order, make `x`): numbers as they are;
  a column listed in `onehot=[...]` becomes one 0/1 feature per category, one listed in
  `ids=[...]` one feature holding the category's id (categories sorted, like labels).
- `standardize=true`: every numeric feature becomes (v - mean) / std, with mean and std
  fitted on the training split only (a constant column keeps std 1).
The encoding is fitted on the training data and saved in the run; `predict` applies the
same encoding to its input file and names its classes with the saved label names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nndsl import paths
from nndsl.data.table import NOT_A_NUMBER, DataError, Table, number, shown
from nndsl.paths import file_span
from nndsl.source import error

UNSEEN = "E133"
FILE = "data.json"


@dataclass
class Encoding:
    """A data source's encoding. `labels[field]`: the class names by id (only for fields whose
    labels are names); `renames[field]`: its column; `features`: one dict per feature column
    (`column`, `kind` number|onehot|ids, `categories`, and `mean`/`std` once standardized)."""

    source: str
    labels: dict[str, list[str]] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)
    features: list[dict] = field(default_factory=list)
    options: dict = field(default_factory=dict)

    def width(self) -> int:
        """How many numbers of `x` the features make."""
        return sum(len(f["categories"]) if f["kind"] == "onehot" else 1 for f in self.features)

    def to_json(self) -> dict:
        return asdict(self)


def fit(table: Table, renames: dict[str, str], onehot=(), ids=()) -> Encoding:
    """The encoding of a csv table: label names and feature categories from every row."""
    enc = Encoding("csv", renames=dict(renames))
    for name, column in renames.items():
        cells = table.columns[column]
        if any(number(c) is None for c in cells):
            enc.labels[name] = sorted(set(cells))
    for column in table.header:
        if column in renames.values():
            continue
        kind = "onehot" if column in onehot else "ids" if column in ids else "number"
        categories = sorted(set(table.columns[column])) if kind != "number" else []
        enc.features.append({"column": column, "kind": kind, "categories": categories})
    return enc


def encode(table: Table, enc: Encoding, with_labels: bool = True) -> dict[str, np.ndarray]:
    """The table's arrays under `enc`: label fields (i32) and `x` (f32), standardized when the
    encoding holds statistics. A category or label name `enc` has not seen is E133."""
    arrays = {}
    if with_labels:
        for name, column in enc.renames.items():
            arrays[name] = _labels(table, column, enc.labels.get(name))
    parts = [_feature(table, f) for f in enc.features]
    if parts:
        arrays["x"] = standardized(np.concatenate(parts, 1), enc)
    return arrays


def _labels(table: Table, column: str, names: list[str] | None) -> np.ndarray:
    if names is not None:
        return _ids(table, column, names, "label").astype(np.int32)
    values = np.array(table.numbers(column), np.float64)
    fraction = np.flatnonzero(values != np.round(values))
    if fraction.size:
        raise DataError(NOT_A_NUMBER, f"{table.at(int(fraction[0]))}: label column "
                        f"{shown(column)} holds a number that is not a whole class id",
                        "labels are class ids (0, 1, ...) or class names")
    return values.astype(np.int32)


def _ids(table: Table, column: str, names: list[str], what: str) -> np.ndarray:
    index = {name: i for i, name in enumerate(names)}
    out = np.empty(len(table.lines), np.int64)
    for row, cell in enumerate(table.columns[column]):
        if cell not in index:
            raise DataError(UNSEEN, f"{table.at(row)}: column {shown(column)} holds a {what} "
                            "the training data did not have", f"the run knows {len(names)} "
                            f"{what}s of this column; see its data.json")
        out[row] = index[cell]
    return out


def _feature(table: Table, feature: dict) -> np.ndarray:
    column, kind = feature["column"], feature["kind"]
    if column not in table.columns:
        raise DataError(UNSEEN, f"{table.name} has no column {shown(column)}, which the "
                        "training data had")
    if kind == "number":
        hint = (f'a column of categories: csv(..., onehot=["{column}"]) or '
                f'ids=["{column}"]')
        return np.array(table.numbers(column, hint), np.float32)[:, None]
    ids = _ids(table, column, feature["categories"], "category")
    if kind == "ids":
        return ids.astype(np.float32)[:, None]
    return np.eye(len(feature["categories"]), dtype=np.float32)[ids]


def _number_columns(enc: Encoding) -> list[int]:
    """The positions in `x` of the numeric features."""
    out, at = [], 0
    for f in enc.features:
        if f["kind"] == "number":
            out.append(at)
        at += len(f["categories"]) if f["kind"] == "onehot" else 1
    return out


def fit_statistics(train_x: np.ndarray, enc: Encoding) -> None:
    """Mean and std of each numeric feature over the training split, kept in `enc`."""
    for f, at in zip((f for f in enc.features if f["kind"] == "number"), _number_columns(enc)):
        column = train_x[:, at].astype(np.float64)
        std = float(column.std()) if len(column) else 1.0
        f["mean"] = float(column.mean()) if len(column) else 0.0
        f["std"] = std if std > 0 else 1.0


def standardized(x: np.ndarray, enc: Encoding) -> np.ndarray:
    """`x` with each numeric feature that has statistics standardized."""
    numeric = [f for f in enc.features if f["kind"] == "number"]
    for f, at in zip(numeric, _number_columns(enc)):
        if "mean" in f:
            x[:, at] = (x[:, at] - f["mean"]) / f["std"]
    return x


def write(run_dir: Path, enc: dict | None) -> None:
    """Save the encoding in the run (`data.json`), when the source has one."""
    if enc is not None:
        (run_dir / FILE).write_text(json.dumps(enc, indent=2))


def read(run_dir: Path) -> Encoding | None:
    """The encoding a run saved, or None (a run of a built-in set, an exported artifact).
    A data.json that is not one nndsl wrote is E133, naming the file."""
    path = run_dir / FILE
    if not path.is_file():
        return None
    data = paths.read_file(path, paths.SPEC_MAX_BYTES * 64, "data encoding", UNSEEN)
    try:
        enc = Encoding(**json.loads(data))
        if not (isinstance(enc.labels, dict) and isinstance(enc.renames, dict) and
                all(isinstance(v, list) for v in enc.labels.values()) and
                all(isinstance(f, dict) and {"column", "kind", "categories"} <= f.keys()
                    for f in enc.features)):
            raise TypeError
    except (ValueError, TypeError):
        raise error(UNSEEN, f"{path} is not a data encoding nndsl wrote", file_span(path),
                    hint="train the run again, or remove data.json to predict on raw "
                    "inputs") from None
    return enc


def class_names(outputs: dict, enc: Encoding | None) -> dict[str, np.ndarray]:
    """For each output of class scores `[B, C]` whose C matches the classes of exactly one
    named label field: `<output>_label`, the name of the highest-scoring class per example."""
    if enc is None:
        return {}
    out = {}
    for name, value in outputs.items():
        value = np.asarray(value)
        fits = [names for names in enc.labels.values()
                if value.ndim == 2 and value.shape[1] == len(names)]
        if len(fits) == 1:
            out[f"{name}_label"] = np.array(fits[0])[value.argmax(1)]
    return out
