"""Data-parallel throughput of `nndsl train --devices N`: examples per second of the training
loop (batches built and placed, the sharded jitted step) on 1, 2 and 4 devices, as ratios
against 1 device, for mlp_digits (batch 64) and DigitsLeNet (batch 32).

    python bench/scaling.py                      # CPU: 4 forced host devices
    python bench/scaling.py --device gpu --counts 1 2 4 8   # a machine with 8 GPUs

On CPU the devices are XLA_FLAGS=--xla_force_host_platform_device_count=N threads sharing the
machine's cores: no speed-up is possible, the ratios measure the cost of sharding (splitting
each batch, the all-reduce) — correctness is tested in tests/test_devices.py. Each count runs
in its own process (the flag must be set before JAX starts). Numbers go to docs/benchmarks.md
by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ("mlp_digits.nn", "lenet5.nn")


def measure(spec: str, count: int, backend: str | None, steps: int) -> dict:
    """Examples/s of `steps` training steps on `count` devices (after a warm-up epoch's
    first steps compile), in this process."""
    sys.path.insert(0, str(ROOT))
    import jax

    from nndsl.fit.devices import Placement
    from nndsl.fit.loop import Trainer, load_data
    from nndsl.spec import load

    plan = load(ROOT / "specs" / spec).plan(None)
    trainer = Trainer(plan, load_data(plan), 1, placement=Placement(jax.devices(backend)[:count]))
    params, state, opt_states = trainer.init(0)
    key, done, started = jax.random.PRNGKey(0), -3, 0.0  # 3 warm-up steps
    epoch = 0
    while done < steps:
        epoch += 1
        for batch, _ in trainer.batches("train", trainer.batch, trainer.epoch_order(0, epoch)):
            params, state, opt_states, loss, _ = trainer.step(params, state, opt_states, batch,
                                                              key)
            done += 1
            if done == 0:
                jax.block_until_ready(loss)
                started = time.perf_counter()
            if done == steps:
                break
    jax.block_until_ready((params, loss))
    seconds = time.perf_counter() - started
    return {"spec": spec, "devices": count, "batch": trainer.batch,
            "examples_per_s": steps * trainer.batch / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "gpu", "tpu"), default="cpu")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--worker", nargs=2, metavar=("SPEC", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker[0], int(args.worker[1]), args.device, args.steps)))
        return
    env = dict(os.environ)
    if args.device == "cpu":
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={max(args.counts)}"
    print(f"{'spec':<16}{'devices':>8}{'batch':>7}{'examples/s':>13}{'vs 1':>7}")
    for spec in SPECS:
        base = None
        for count in args.counts:
            out = subprocess.run([sys.executable, __file__, "--device", args.device, "--steps",
                                  str(args.steps), "--worker", spec, str(count)], env=env,
                                 capture_output=True, text=True, check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            base = base or row["examples_per_s"]
            print(f"{spec:<16}{count:>8}{row['batch']:>7}{row['examples_per_s']:>13,.0f}"
                  f"{row['examples_per_s'] / base:>7.2f}")


if __name__ == "__main__":
    main()
