"""Checkpoints: a pickle of numpy arrays, written atomically (temporary file, then rename)."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import jax
import numpy as np


def write(path: Path, payload: dict) -> None:
    """Write `payload` (pytrees of arrays and plain values) so a crash never leaves half a file."""
    host = jax.tree.map(np.asarray, payload)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        pickle.dump(host, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def read(path: Path) -> dict:
    """Read a checkpoint this program wrote (never a file from a spec: specs are data)."""
    with open(path, "rb") as f:
        return pickle.load(f)


def find_run(runs_root: Path, spec_stem: str, run: str) -> Path | None:
    """A run named in `load(Net, "run")`: `runs/<spec>-<run>`, then `runs/<run>`, then a path."""
    for candidate in (runs_root / f"{spec_stem}-{run}", runs_root / run, Path(run)):
        if (candidate / "best.ckpt").is_file():
            return candidate
    return None
