"""Data parallelism (nndsl.fit.devices): --devices N trains to the same figures as one device,
refuses a batch that does not split, and two jax.distributed processes train as one.

Each run is a `python -m nndsl train` subprocess: XLA_FLAGS (forced host devices) must be set
before JAX is imported, and jax.distributed initializes once per process."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOUR = "--xla_force_host_platform_device_count=4"


def _train(spec: str, out: Path, *extra: str, flags: str = FOUR,
           timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "XLA_FLAGS": flags, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nndsl", "train", str(ROOT / "specs" / spec),
                           "--epochs", "1", "--out", str(out), "--quiet", *extra],
                          env=env, capture_output=True, text=True, timeout=timeout)


def _metrics(run: Path) -> dict[str, float]:
    with open(run / "metrics.csv") as f:
        row = list(csv.DictReader(f))[-1]
    return {k: float(v) for k, v in row.items() if k not in ("epoch", "seconds")}


@pytest.mark.parametrize("spec", ["mlp_digits.nn", "lenet5.nn"])
def test_four_devices_train_as_one(tmp_path, spec):
    one, four = _train(spec, tmp_path / "one"), _train(spec, tmp_path / "four", "--devices", "4")
    assert one.returncode == 0 and four.returncode == 0, one.stderr + four.stderr
    assert "on 4 cpu devices, per-device batch " in four.stdout
    expected, sharded = _metrics(tmp_path / "one"), _metrics(tmp_path / "four")
    assert sharded.keys() == expected.keys()
    for name, value in expected.items():
        assert sharded[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name


def test_batch_must_divide_over_the_devices(tmp_path):
    run = _train("mlp_digits.nn", tmp_path / "r", "--devices", "3")
    assert run.returncode == 1
    assert "error[E181]: batch 64 does not divide over 3 devices" in run.stderr
    assert "--set batch=63" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "r").exists()


def test_more_devices_than_exist_lists_them(tmp_path):
    run = _train("mlp_digits.nn", tmp_path / "r", "--devices", "5")
    assert run.returncode == 1
    assert ("error[E180]: --devices 5: only 4 cpu device(s) exist: cpu:0, cpu:1, cpu:2, cpu:3"
            in run.stderr)


def test_absent_backend_is_an_error(tmp_path):
    run = _train("mlp_digits.nn", tmp_path / "r", "--device", "gpu")
    assert run.returncode == 1 and "error[E182]: --device gpu: no such backend" in run.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_as_one_and_write_once(tmp_path):
    flags = ["--set", "epochs=2", "--coordinator", f"127.0.0.1:{_free_port()}",
             "--num-processes", "2", "--timeout", "60"]
    env = {**os.environ, "XLA_FLAGS": "", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "nndsl", "train", str(ROOT / "specs" / "mlp_digits.nn"),
               "--out", str(tmp_path / "dist"), "--quiet", *flags]
    procs = [subprocess.Popen([*command, "--process-id", str(i)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in (0, 1)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "2 cpu devices, 2 processes, per-device batch 32" in outs[0][0]
    assert "epoch" not in outs[1][0]  # process 1 is quiet and writes nothing
    single = _train("mlp_digits.nn", tmp_path / "single", "--set", "epochs=2", "--epochs", "2",
                    flags="")
    assert single.returncode == 0, single.stderr
    assert _metrics(tmp_path / "dist") == pytest.approx(_metrics(tmp_path / "single"),
                                                        rel=1e-4, abs=1e-5)
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == [
        ".lock", "best.ckpt", "config.json", "curves.png", "last.ckpt", "metrics.csv",
        "results.json", "spec.nn"]


def test_unreachable_coordinator_is_an_error_within_the_timeout(tmp_path):
    started = time.monotonic()
    run = _train("mlp_digits.nn", tmp_path / "r", "--coordinator", f"127.0.0.1:{_free_port()}",
                 "--num-processes", "2", "--process-id", "1", "--timeout", "3", flags="")
    assert run.returncode == 1
    assert "error[E183]: cannot reach the coordinator 127.0.0.1:" in run.stderr
    assert "within 3 s" in run.stderr and "Traceback" not in run.stderr
    assert time.monotonic() - started < 60


def test_coordinator_needs_the_process_flags(tmp_path):
    run = _train("mlp_digits.nn", tmp_path / "r", "--coordinator", "127.0.0.1:1",
                 "--num-processes", "2", flags="")
    assert run.returncode == 1
    assert "error[E184]: --coordinator needs --num-processes P and --process-id I" in run.stderr


def test_a_run_of_four_devices_resumes_on_one(tmp_path):
    """Checkpoints hold host arrays: 4 devices for epoch 1, then 1 device for epoch 2, give
    the figures of 2 epochs on 4 devices."""
    first = _train("mlp_digits.nn", tmp_path / "r", "--set", "epochs=2", "--devices", "4")
    assert first.returncode == 0, first.stderr
    env = {**os.environ, "XLA_FLAGS": "", "PYTHONPATH": str(ROOT)}
    resumed = subprocess.run([sys.executable, "-m", "nndsl", "train",
                              str(ROOT / "specs" / "mlp_digits.nn"), "--set", "epochs=2",
                              "--resume", str(tmp_path / "r"), "--epochs", "2", "--quiet"],
                             env=env, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    whole = _train("mlp_digits.nn", tmp_path / "w", "--set", "epochs=2", "--epochs", "2",
                   "--devices", "4")
    assert whole.returncode == 0, whole.stderr
    assert _metrics(tmp_path / "r") == pytest.approx(_metrics(tmp_path / "w"), rel=1e-4,
                                                     abs=1e-5)


EVAL_ON_DEVICES = """
import json, sys
import numpy as np
import nndsl
from nndsl.cli import main
from nndsl.fit.devices import DeviceOptions
from nndsl.fit.training import Training

spec, run, out = sys.argv[1], sys.argv[2], sys.argv[3]
assert main(["train", spec, "--epochs", "1", "--out", run, "--quiet"]) == 0
results = {n: nndsl.evaluate(spec, run, "test", devices=DeviceOptions(devices=n))
           for n in (None, "4", "3")}
task = Training(nndsl.load(spec).plan(), devices=DeviceOptions(devices="4"), training=False)
batch, _ = next(task.trainer.batches("test", task.trainer.eval_size()))
np.savez(out + "/x.npz", x=np.random.RandomState(0).rand(12, 8, 8, 1).astype("float32"))
for n in ((), ("--devices", "4")):
    assert main(["predict", spec, "--run", run, "--input", out + "/x.npz",
                 "--output", out + f"/y{len(n)}.npz", *n]) == 0
logits = [np.load(out + f"/y{n}.npz")["logits"] for n in (0, 2)]
print(json.dumps({"results": {str(k): v for k, v in results.items()},
                  "split": str(batch["x"].sharding.spec), "devices": task.trainer.placement.count,
                  "predict": float(abs(logits[0] - logits[1]).max())}))
"""


def test_eval_and_predict_on_four_devices_match_one(tmp_path):
    env = {**os.environ, "XLA_FLAGS": FOUR, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", EVAL_ON_DEVICES,
                           str(ROOT / "specs" / "mlp_digits.nn"), str(tmp_path / "run"),
                           str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["devices"] == 4 and report["split"] == "P('data',)"
    one = report["results"]["None"]
    # eval's batch is the spec's 64 rounded up: 3 devices need not divide it (no E181).
    for n in ("4", "3"):
        assert report["results"][n].keys() == one.keys()
        for name, value in one.items():
            assert report["results"][n][name] == pytest.approx(value, rel=1e-5, abs=1e-6)
    assert report["predict"] < 1e-5


def test_eval_refuses_more_devices_than_exist(tmp_path):
    env = {**os.environ, "XLA_FLAGS": FOUR, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "nndsl", "eval",
                           str(ROOT / "specs" / "mlp_digits.nn"), "--run", str(tmp_path),
                           "--devices", "5"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "error[E180]" in done.stderr


def test_predict_devices_need_a_run_directory(tmp_path, capsys):
    from nndsl.cli import main

    assert main(["predict", str(ROOT / "specs" / "mlp_digits.nn"), "--run",
                 str(tmp_path / "m.jax"), "--input", "x.npz", "--output", "y.npz",
                 "--devices", "2"]) == 1
    assert "error[E187]" in capsys.readouterr().err
