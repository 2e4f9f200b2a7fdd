"""Time `nndsl check` as a user runs it (a fresh interpreter each time).

    python bench/check_speed.py

Reports: resnet.nn end to end (target < 1 s, with interpreter start-up, without importing
JAX), generated specs of 1,000 and 10,000 layers (target < 5 s, linear in size), and
rendering ResNet18 (target < 2 s) and the 10,000-layer spec (target < 10 s).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NNDSL = [sys.executable, "-m", "nndsl.cli"]


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(NNDSL + args, check=True, capture_output=True)
    return time.perf_counter() - start


def generated_spec(layers: int) -> str:
    stages = "\n".join("        -> dense(64) -> relu" for _ in range(layers // 2))
    return f"network Deep {{\n    input x: [B, 64]\n    output y = x\n{stages}\n}}\n"


def main() -> None:
    no_jax = subprocess.run(
        [sys.executable, "-c", "import sys, nndsl.cli.static, nndsl.spec; "
         "print('jax' in sys.modules)"], capture_output=True, text=True).stdout.strip()
    print(f"jax imported by check: {no_jax}")
    timed(["check", str(ROOT / "specs" / "resnet.nn")])  # warm Lark's grammar cache
    best = min(timed(["check", str(ROOT / "specs" / "resnet.nn")]) for _ in range(3))
    print(f"check resnet.nn: {best:.2f} s (target < 1 s)")
    with tempfile.TemporaryDirectory() as tmp:
        for layers in (1_000, 10_000):
            path = Path(tmp) / f"deep{layers}.nn"
            path.write_text(generated_spec(layers))
            print(f"check {layers:,} layers: {timed(['check', str(path)]):.2f} s (target < 5 s)")
        svg = str(Path(tmp) / "r.svg")
        resnet = timed(["render", str(ROOT / "specs" / "resnet.nn"), "--model", "ResNet18",
                        "-o", svg])
        print(f"render ResNet18 to SVG: {resnet:.2f} s (target < 2 s)")
        blocks = Path(tmp) / "blocks.nn"
        blocks.write_text("block L {\n    input x\n    output y = x -> dense(64) -> relu\n}\n"
                          "network Deep {\n    input x: [B, 64]\n    output y = x -> L * 5000\n}\n")
        folded = timed(["render", str(blocks), "-o", svg])
        print(f"render 10,000 layers (L * 5000, folded by default): {folded:.2f} s "
              "(target < 10 s)")
        flat = timed(["render", str(Path(tmp) / "deep1000.nn"), "-o", svg])
        print(f"render a flat chain of 1,000 layers (graphviz layout): {flat:.2f} s")


if __name__ == "__main__":
    main()
