"""Where a compiled train step's time goes: nndsl's step beside the hand-written JAX and Flax
NNX steps of bench/compare.py, compared on the compiled XLA program and, with --profile, on
a jax.profiler trace.

    KERAS_BACKEND=jax python bench/profile_step.py --model transformer [--profile]

For each step: XLA's cost analysis (FLOPs, bytes accessed), the number of XLA operations a
step runs, the matrix products, and the *elementwise work*: over XLA's loop fusions, the
operations of the fused computation times its output elements (what the fused elementwise
code computes, recomputation included), and the part of it inside fusions that also
transpose. Then the largest loop fusions. With --profile, 20 steps are traced and each XLA
operation's minimum duration over them is summed (robust to a loaded machine), by kind
(a scanned step's loop body counts once: its operations run once per iteration).
docs/benchmarks.md ("The LeNet and transformer gap") reads these numbers.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import re
import sys
import tempfile
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare  # noqa: E402

NOT_RUN = ("parameter", "bitcast", "get-tuple-element", "tuple", "constant")
NOT_WORK = ("parameter", "bitcast", "constant", "broadcast")
OP = re.compile(r"^\s+(?:ROOT )?%(\S+) = (\S+) (\S+?)\(", re.M)


def steps(model: str) -> dict:
    """The case of bench/compare.py for `model`: nndsl's, hand-written JAX's and NNX's step."""
    case = next(c for c in compare.CASES if c[4] == model)
    _, spec, train, batch, _, shape = case
    compare.write_data()
    found = compare.competitors(spec, train, batch, model, shape)
    return {name: run for name, run in found.items() if hasattr(run, "lower")}


def loop_fusions(text: str):
    """(elementwise work, name, shape, operations, transposes) of each loop fusion."""
    bodies = {m.group(1): m.group(2) for m in
              re.finditer(r"^(%\S+) \(.*?\) -> .*? \{\n(.*?)\n\}", text, re.S | re.M)}
    for m in re.finditer(r"^\s+(?:ROOT )?%(\S+) = \w+\[([\d,]*)\]\S* fusion\(.*?kind=kLoop, "
                         r"calls=(%[\w.\-]+)", text, re.M):
        elements = 1
        for d in filter(None, m.group(2).split(",")):
            elements *= int(d)
        body = bodies[m.group(3)]
        ops = [o for _, _, o in OP.findall(body) if o not in NOT_WORK]
        yield len(ops) * elements, m.group(1), m.group(2), len(ops), "transpose" in ops


def describe(name: str, compiled, top: int) -> None:
    text = compiled.as_text()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    entry = text[text.index("\nENTRY"):]
    kinds = collections.Counter(k for _, _, k in OP.findall(entry) if k not in NOT_RUN)
    fusions = sorted(loop_fusions(text), reverse=True)
    work = sum(f[0] for f in fusions)
    transposing = sum(f[0] for f in fusions if f[4])
    dots = len(re.findall(r" dot\(", text))
    print(f"{name}: {cost['flops'] / 1e6:,.1f} M FLOPs, {cost['bytes accessed'] / 1e6:,.1f} MB "
          f"accessed, {sum(kinds.values())} XLA operations a step ({dict(kinds)}), {dots} "
          f"dots; elementwise work {work / 1e6:,.1f} M, of it in transposing fusions "
          f"{transposing / 1e6:,.1f} M")
    for w, fusion, shape, ops, _ in fusions[:top]:
        print(f"    {w / 1e6:7.1f} M  {fusion:<30} [{shape}]  {ops} operations an element")


def op_minima(run, rounds: int = 20) -> dict[str, float]:
    """Each XLA operation's minimum duration (ms) over `rounds` traced steps."""
    for _ in range(3):
        jax.block_until_ready(run())
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            for _ in range(rounds):
                jax.block_until_ready(run())
        path = glob.glob(f"{folder}/**/*perfetto_trace.json.gz", recursive=True)[0]
        trace = json.load(gzip.open(path))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    names = {n for n, _, _ in OP.findall(run.lower().compile().as_text())}
    durations = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and e["name"] in names:
            durations[e["name"]].append(e["dur"] / 1000)
    return {n: min(d) for n, d in durations.items()}


def by_kind(minima: dict[str, float]) -> dict[str, float]:
    """Summed minima by kind: YNNPACK (matrix-product) fusions, plain dots, copies and
    transposes, the rest."""
    kinds: collections.Counter = collections.Counter()
    for name, ms in minima.items():
        kind = ("product fusions" if name.startswith("ynn") else "plain dots"
                if name.startswith("dot") else "copies/transposes"
                if "copy" in name or "transpose" in name else "other")
        kinds[kind] += ms
    return dict(kinds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="transformer",
                        choices=sorted({c[4] for c in compare.CASES}))
    parser.add_argument("--top", type=int, default=6, help="largest loop fusions shown")
    parser.add_argument("--profile", action="store_true", help="trace 20 steps of each")
    args = parser.parse_args()
    found = steps(args.model)
    for name, run in found.items():
        describe(name, run.lower().compile(), args.top)
    if args.profile:
        for name, run in found.items():
            minima = op_minima(run)
            parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(by_kind(minima).items()))
            print(f"{name}: per-op minima {sum(minima.values()):.1f} ms ({parts})")


if __name__ == "__main__":
    main()
