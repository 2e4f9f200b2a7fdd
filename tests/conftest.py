import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The contract lives in ../shared/specs; a copy is kept in specs/ for clones without it.
SHARED = ROOT.parent / "shared" / "specs"
CONTRACT = SHARED if SHARED.is_dir() else ROOT / "specs"


@pytest.fixture
def write_spec(tmp_path):
    """Write a spec's text to a file and return its path."""

    def write(text: str, name: str = "spec.nn") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


__all__ = ["CONTRACT", "ROOT", "shutil"]
