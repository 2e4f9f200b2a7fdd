"""Regenerate docs/gallery/: a picture of every network of every contract spec.

    python docs/make_gallery.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nndsl  # noqa: E402


def main() -> None:
    out = ROOT / "docs" / "gallery"
    out.mkdir(exist_ok=True)
    lines = ["# Gallery", "", "Every network of the specs in specs/ and specs/zoo/, drawn by "
             "`nndsl render` (regenerate with `python docs/make_gallery.py`).", ""]
    specs = sorted((ROOT / "specs").glob("*.nn")) + sorted((ROOT / "specs" / "zoo").glob("*.nn"))
    for spec in specs:
        for name in nndsl.load(spec).program.networks:
            target = out / f"{spec.stem}-{name}.svg"
            subprocess.run([sys.executable, "-m", "nndsl.cli", "render", str(spec), "--model",
                            name, "-o", str(target)], check=True, capture_output=True)
            lines += [f"## {spec.name}: {name}", "", f"![{name}]({target.name})", ""]
    (out / "README.md").write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
