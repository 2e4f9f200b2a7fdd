"""Host overhead of `nndsl train`'s epoch loop, and `nndsl train` against Keras 3 `fit`.

    python bench/host_overhead.py              # both parts
    python bench/host_overhead.py overhead     # the epoch loop only
    python bench/host_overhead.py e2e          # nndsl train vs Keras fit only (needs keras)

Overhead (mlp_digits, CPU): the wall time of the epoch loop (`nndsl.fit.run._epoch`, progress
bar on) for `steps_per_dispatch = 1` and `auto`, epochs alternating, against the steps'
own time: the compiled train step's time (one batch, each call awaited, as the issue measured
it) and the device's time per step (a whole epoch in one call); host share = 1 - steps x
step / epoch. Median and minimum of 200 epochs (a shared machine stretches some).

End to end: the wall time of `nndsl train specs/mlp_digits.nn` (a fresh process, EPOCHS
epochs, early stopping out of reach, compilation cache cold and warm) against a fresh process
running Keras 3 (KERAS_BACKEND=jax) `fit` on the same model (64-128-128-10 with dropout 0.2,
the same L2 term), the same split, batch, optimizer and epochs, with validation each epoch
and a final test evaluation; runs alternate, median of REPEATS. Keras is a bench extra:
`pip install nndsl[bench]`.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEC = ROOT / "specs" / "mlp_digits.nn"
EPOCHS, REPEATS = 20, 3


def _trainer(setting):
    from nndsl.fit.loop import Trainer, load_data
    from nndsl.spec import load

    plan = load(SPEC, {"steps_per_dispatch": setting}).plan()
    return Trainer(plan, load_data(plan), epochs=1000)


class _Baselines:
    """The steps' own time, measured between the epochs: an epoch's batches through the
    compiled step (each call awaited, as the issue measured it), and an epoch's steps in one
    call (the device's time, nothing on the host between steps)."""

    def __init__(self):
        import jax

        self.jax = jax
        self.steps, self.device = _trainer(1), _trainer(1)
        self.device.dispatch.k = self.device.steps_per_epoch
        self.trees = {"steps": self.steps.init(0), "device": self.device.init(0)}
        self.epoch = 0

    def awaited_steps(self) -> float:
        params, state, opt_states = self.trees["steps"]
        trainer, key, self.epoch = self.steps, self.jax.random.PRNGKey(0), self.epoch + 1
        start = time.perf_counter()
        for batch, _ in trainer.batches("train", trainer.batch, trainer.epoch_order(0, 1)):
            params, state, opt_states, loss, _ = trainer.step(params, state, opt_states, batch,
                                                              key)
            loss.block_until_ready()
        self.trees["steps"] = params, state, opt_states
        return time.perf_counter() - start

    def one_call(self) -> float:
        params, state, opt_states = self.trees["device"]
        steps = self.device.dispatch.epoch(0, self.epoch + 1)
        start = time.perf_counter()
        while not steps.finished:
            params, state, opt_states = steps.run(params, state, opt_states)
        self.jax.block_until_ready(params)
        self.trees["device"] = params, state, opt_states
        return time.perf_counter() - start


def overhead(epochs: int = 200) -> dict[str, dict]:
    """Per setting, the epoch loop's median time and the host's share of it against each
    baseline, measured in rounds (each round: both settings' epochs and both baselines, so
    that the machine's load hits them alike); the median over the rounds."""
    from rich.console import Console

    from nndsl.fit import run
    from nndsl.fit.report import Reporter
    from nndsl.ops import Word

    settings = {"k = 1": 1, "k = auto": Word("auto")}
    trainers = {name: _trainer(setting) for name, setting in settings.items()}
    states = {name: t.init(0) for name, t in trainers.items()}
    base = _Baselines()
    rounds = []
    with tempfile.TemporaryDirectory() as scratch:
        options = run.RunOptions(Path(scratch), SPEC, Path(scratch))
        console = Console(file=io.StringIO(), force_terminal=True, width=120)
        with Reporter(console, Path(scratch), progress=True) as reporter:
            for epoch in range(1, epochs + 3):
                row = {"steps": base.awaited_steps(), "device": base.one_call()}
                for name, trainer in trainers.items():
                    start = time.perf_counter()
                    *trees, _ = run._epoch(trainer, *states[name], 0, epoch, epochs + 2,
                                           options, reporter)
                    states[name] = tuple(trees)
                    row[name] = time.perf_counter() - start
                if epoch > 2:  # the first epochs compile and, for auto, probe
                    rounds.append(row)

    return {name: {"k": trainers[name].dispatch.k,
                   "epoch": statistics.median([r[name] for r in rounds]),
                   "steps": statistics.median([r["steps"] for r in rounds]),
                   "device": statistics.median([r["device"] for r in rounds]),
                   "share_steps": statistics.median([1 - r["steps"] / r[name] for r in rounds]),
                   "share_device": statistics.median([1 - r["device"] / r[name] for r in rounds])}
            for name in settings}


def _write_split(path: Path) -> None:
    """mlp_digits' own split (the train section's data) for the Keras process."""
    import numpy as np

    from nndsl.spec import load

    splits = load(SPEC).training().data()
    np.savez(path, **{f"{split}_{k}": v for split, fields in splits.items()
                      for k, v in fields.items()})


def keras_fit(data: str, epochs: int) -> None:
    """Run in a fresh process: Keras 3 fit of mlp_digits' model on the saved split."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    import numpy as np

    d = np.load(data)
    reg = keras.regularizers.L2(0.5e-4)  # nndsl's 1e-4 * l2(params), l2 = half the squares
    dense = dict(kernel_regularizer=reg, bias_regularizer=reg)
    model = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu", **dense), keras.layers.Dropout(0.2),
        keras.layers.Dense(128, activation="relu", **dense), keras.layers.Dropout(0.2),
        keras.layers.Dense(10, **dense)])
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(d["train_x"], d["train_y"], batch_size=64, epochs=epochs, verbose=0,
              validation_data=(d["val_x"], d["val_y"]))
    print(model.evaluate(d["test_x"], d["test_y"], verbose=0))


def _wall(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def e2e(epochs: int = EPOCHS, repeats: int = REPEATS) -> dict[str, float]:
    """Median wall time of each command, runs alternating."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax"}
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "digits.npz"
        _write_split(data)
        train = [sys.executable, "-m", "nndsl", "train", str(SPEC), "--epochs", str(epochs),
                 "--quiet", "--overwrite", "--set", "early_stopping.epochs=1000",
                 "--out", str(Path(scratch) / "run")]
        commands = {  # name: (command, with an empty compilation cache)
            "nndsl train (compilation cache warm)": (train, False),
            "nndsl train (compilation cache cold)": (train, True),
            "Keras 3 fit": ([sys.executable, __file__, "keras", str(data), str(epochs)], False),
        }
        _wall(train, env)  # warm the compilation cache
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, (command, cold) in commands.items():
                fresh = {"XDG_CACHE_HOME": tempfile.mkdtemp(dir=scratch)} if cold else {}
                times[name].append(_wall(command, {**env, **fresh}))
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str]) -> None:
    part = argv[0] if argv else "all"
    if part == "keras":
        return keras_fit(argv[1], int(argv[2]))
    if part in ("all", "overhead"):
        print("| steps per dispatch | k | epoch loop (19 steps) | 19 compiled steps, each "
              "awaited | host share vs them | 19 steps in one call | host share vs it |\n"
              "|---|---|---|---|---|---|---|")
        for name, r in overhead().items():
            print(f"| {name} | {r['k']} | {r['epoch'] * 1e3:.2f} ms | {r['steps'] * 1e3:.2f} ms "
                  f"| {r['share_steps']:.1%} | {r['device'] * 1e3:.2f} ms | "
                  f"{r['share_device']:.1%} |")
    if part in ("all", "e2e"):
        print(f"\n| command ({EPOCHS} epochs of mlp_digits) | wall time (median of "
              f"{REPEATS}) |\n|---|---|")
        for name, seconds in e2e().items():
            print(f"| {name} | {seconds:.2f} s |")


if __name__ == "__main__":
    main(sys.argv[1:])
