"""TPE against random search on mlp_digits: the best validation loss of a 16-trial sweep of
each method, for three sweep seeds (the issue's "TPE >= random in >= 2 of 3 seeds").

    python bench/tpe_vs_random.py [--trials 16] [--epochs 20] [--out runs/tpe-vs-random]

Prints one line per seed and writes OUT/tpe_vs_random.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SPEC = Path(__file__).resolve().parents[1] / "specs" / "mlp_digits.nn"


def best(sweep_dir: Path) -> float:
    rows = json.loads((sweep_dir / "sweep.json").read_text())
    return min(r["best"] for r in rows if r["best"] is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="runs/tpe-vs-random")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tpe_spec = out / "mlp_digits_tpe.nn"
    tpe_spec.write_text(SPEC.read_text().replace("sweep {", "sweep {\n    method = tpe"))
    results = []
    for seed in (0, 1, 2):
        row = {"seed": seed}
        for method, spec in (("random", SPEC), ("tpe", tpe_spec)):
            sweep_dir = out / f"{method}-{seed}"
            subprocess.run([sys.executable, "-m", "nndsl", "sweep", str(spec), "--trials",
                            str(args.trials), "--epochs", str(args.epochs), "--seed", str(seed),
                            "--out", str(sweep_dir), "--allow-outside-runs"],
                           check=False, capture_output=True)
            row[method] = best(sweep_dir)
        row["tpe_at_least_as_good"] = row["tpe"] <= row["random"]
        print(json.dumps(row), flush=True)
        results.append(row)
    (out / "tpe_vs_random.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
