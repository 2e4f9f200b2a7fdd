"""nndsl against hand-written JAX, Flax NNX and Keras 3 (JAX backend), in one process.

    pip install -e '.[bench]'            # flax, keras (optional: a missing peer is skipped)
    KERAS_BACKEND=jax python bench/compare.py --out bench/results/cpu.json
    python docs/make_benchmarks.py bench/results/cpu.json     # regenerates the tables

The same command runs on a GPU or TPU machine unchanged (JAX picks the accelerator; the
results file records the platform). For each model the compiled train steps (forward,
gradient, Adam at 1e-3, one fixed batch as an argument or constant of the step) run
alternately, round after round, so that noise from the machine hits all alike; this is done
3 times (--repeats) and each repeat's median is kept. Reported: every framework's step time
as a ratio to hand-written JAX, nndsl's ratio to the fastest peer (median of the repeats)
and its spread (max - min of the repeats' ratios). Then the compile time of DigitsResNet at
depth 24 and 96, and LeNet's command-to-first-step time, cold and with the compilation
cache warm. Ratios are what this measures: on a shared machine absolute times mean little.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
import train_step as ts  # noqa: E402

TRANSFORMER = {"vocab": 64, "dim": 128, "heads": 4, "ff": 512, "layers": 2}
# name, nndsl spec (bench/specs), train section, batch, peer model, input shape.
CASES = [
    ("MLP", "mlp784.nn", None, 32, "mlp", (784,)),
    ("MLP", "mlp784.nn", None, 256, "mlp", (784,)),
    ("LeNet-5", "lenet32.nn", "bench", 32, "lenet", (32, 32, 1)),
    ("LeNet-5", "lenet32.nn", "bench", 256, "lenet", (32, 32, 1)),
    ("LSTM", "lstm.nn", None, 64, "lstm", (50, 32)),
    ("Transformer", "transformer.nn", None, 32, "transformer", (64,)),
]


def write_data() -> None:
    """The synthetic data nndsl's bench specs read."""
    ts._data("mlp784", (784,))
    ts._data("lenet32", (32, 32, 1))
    ts._data("lstm", (50, 32), target=True)
    rng = np.random.RandomState(0)
    tokens = {k: rng.randint(TRANSFORMER["vocab"], size=(512, 64)).astype(np.int32)
              for k in ("src", "tgt")}
    np.savez(ts.SPECS / "transformer.npz", **tokens)


def _batch(model: str, shape, batch: int):
    rng = np.random.RandomState(1)
    if model == "transformer":
        x = rng.randint(TRANSFORMER["vocab"], size=(batch, *shape))
        return jnp.asarray(x, jnp.int32), jnp.asarray(x[:, ::-1].copy(), jnp.int32)
    x = jnp.asarray(rng.rand(batch, *shape).astype(np.float32))
    if model == "lstm":
        return x, jnp.asarray(rng.rand(batch, 1).astype(np.float32))
    return x, jnp.asarray(rng.randint(10, size=batch).astype(np.int32))


def hand_jax(model: str, shape, batch: int, x, y):
    if model == "mlp":
        return ts.hand_step(ts._hand_mlp, [(784, 200), (200, 200), (200, 10)], shape, batch)
    if model == "lenet":
        return ts.hand_step(ts._hand_lenet, [(5, 5, 1, 6), (5, 5, 6, 12), (300, 100),
                                             (100, 10)], shape, batch)
    if model == "lstm":
        return ts.hand_lstm_step(batch)
    return peers.hand_transformer_step(TRANSFORMER, x, y)


def competitors(spec, train, batch, model, shape) -> dict:
    """Each framework's step for one case (peers that are not installed are left out)."""
    x, y = _batch(model, shape, batch)
    steps = {"nndsl": ts.nndsl_step(spec, train, batch),
             "JAX": hand_jax(model, shape, batch, x, y)}
    if model == "transformer":  # the repeat rule's effect: the same spec, scanned
        os.environ["NNDSL_REPEAT"] = "scan"
        steps["nndsl (scan)"] = ts.nndsl_step(spec, train, batch)
        del os.environ["NNDSL_REPEAT"]
    found = peers.available()
    if found["flax"]:
        steps["NNX"] = peers.nnx_step(model, x, y, TRANSFORMER)
    if found["keras"]:
        steps["Keras"] = peers.keras_step(model, x, y, TRANSFORMER)
    return steps


def alternate(steps: dict, rounds: int) -> dict[str, float]:
    """Each step's median time over `rounds` rounds in which every step runs once."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(ts._timed(step))
    return {name: statistics.median(t) for name, t in times.items()}


def measure_case(case, rounds: int, repeats: int) -> dict:
    name, spec, train, batch, model, shape = case
    steps = competitors(spec, train, batch, model, shape)
    for step in steps.values():  # compile and warm up
        ts._timed(step), ts._timed(step)
    runs = [alternate(steps, rounds) for _ in range(repeats)]
    # The best peer is the one with the lowest median over the repeats (a per-repeat minimum
    # over several noisy peers would be biased low); nndsl is compared with it repeat by repeat.
    peer_names = [n for n in steps if not n.startswith("nndsl")]
    best = min(peer_names, key=lambda p: statistics.median(r[p] for r in runs))
    ratios = [r["nndsl"] / r[best] for r in runs]
    return {"model": name, "batch": batch,
            "vs_jax": {n: statistics.median(r[n] / r["JAX"] for r in runs) for n in steps},
            "best_peer": best, "vs_best": statistics.median(ratios),
            "spread": max(ratios) - min(ratios), "runs_ms": [
                {n: round(t * 1e3, 3) for n, t in r.items()} for r in runs]}


def compile_scaling() -> dict:
    resnet = HERE.parent / "specs" / "resnet.nn"
    c24 = ts.compile_seconds(resnet, {"depth": 24})
    c96 = ts.compile_seconds(resnet, {"depth": 96})
    return {"depth24_s": c24, "depth96_s": c96, "ratio": c96 / c24}


def first_step() -> dict:
    with tempfile.TemporaryDirectory() as cache:
        return {"cold_s": ts.first_step_seconds(cache), "warm_s": ts.first_step_seconds(cache)}


def print_table(result: dict) -> None:
    names = sorted({n for row in result["steps"] for n in row["vs_jax"]},
                   key=lambda n: ["nndsl", "nndsl (scan)", "JAX", "NNX", "Keras"].index(n))
    print(f"{result['platform']} ({result['device']}), jax {result['jax']}: step time / JAX")
    print(f"{'model':<12}{'batch':>6}" + "".join(f"{n:>14}" for n in names)
          + f"{'nndsl/best':>12}{'spread':>8}  best peer")
    for row in result["steps"]:
        cells = "".join(f"{row['vs_jax'][n]:>14.2f}" if n in row["vs_jax"] else f"{'-':>14}"
                        for n in names)
        print(f"{row['model']:<12}{row['batch']:>6}{cells}{row['vs_best']:>12.2f}"
              f"{row['spread']:>8.2f}  {row['best_peer']}")
    c = result.get("compile")
    if c:
        print(f"DigitsResNet compile: depth 24 {c['depth24_s']:.2f} s, depth 96 "
              f"{c['depth96_s']:.2f} s, ratio {c['ratio']:.2f} (target <= 1.5)")
    f = result.get("first_step")
    if f:
        print(f"LeNet command to first step: {f['cold_s']:.2f} s cold, {f['warm_s']:.2f} s warm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="alternating rounds a repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="model names to run (default: all)")
    parser.add_argument("--skip-compile", action="store_true",
                        help="skip compile scaling and the first-step time")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--keep-steps", action="store_true",
                        help="keep the step rows of --out; measure compile and first step")
    args = parser.parse_args()
    write_data()
    device = jax.devices()[0]
    result = {"platform": jax.default_backend(), "device": device.device_kind,
              "jax": jax.__version__, "machine": platform.machine(),
              "date": time.strftime("%Y-%m-%d"), "rounds": args.rounds,
              "repeats": args.repeats, "steps": []}
    if args.keep_steps:  # only compile scaling and first step: the step rows stay as they are
        kept = json.loads(args.out.read_text())
        result.update({k: kept[k] for k in ("steps", "rounds", "repeats", "date")})
    for case in [] if args.keep_steps else CASES:
        if args.only and case[0] not in args.only:
            continue
        result["steps"].append(measure_case(case, args.rounds, args.repeats))
        print(json.dumps(result["steps"][-1]), flush=True)
        _write(args.out, result)
    if not args.skip_compile:
        result["compile"], result["first_step"] = compile_scaling(), first_step()
    print_table(result)
    _write(args.out, result)


def _write(path: Path | None, result: dict) -> None:
    """The results so far as JSON (after every model, so that a failure keeps them)."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
