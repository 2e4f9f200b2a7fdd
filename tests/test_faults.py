"""Faults: corrupted, truncated, foreign and half-written checkpoints, a full disk, two runs
in one directory, and `kill -9` in the middle of training, which `--resume` survives."""

import errno
import fcntl
import json
import os
import pickle
import re
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

from nndsl.cli import main
from nndsl.fit import checkpoint
from nndsl.source import SpecError
from tests.conftest import CONTRACT

XOR = CONTRACT / "perceptron_xor.nn"
PACKAGE = Path(__file__).resolve().parent.parent / "nndsl"


def _payload(seed=0):
    rng = np.random.RandomState(seed)
    params = {"dense_0": {"w": rng.randn(3, 4).astype(np.float32),
                          "b": np.zeros(4, np.float32)},
              "Net@run.dense_1": {"w": rng.randn(4, 2).astype(np.float32)}}
    state = {"bn_0": {"mean": rng.randn(4).astype(np.float32)}}
    opt = [optax.adam(1e-3).init(params), optax.sgd(0.1, momentum=0.9).init(params)]
    return {"params": params, "state": state, "opt_states": opt, "epoch": 3,
            "history": [{"epoch": 1, "val_loss": 0.5}], "best": float("nan"), "best_epoch": 1}


def test_checkpoint_round_trip_by_summary_names(tmp_path):
    payload = _payload()
    checkpoint.write(tmp_path / "last.ckpt", payload)
    saved = checkpoint.read(tmp_path / "last.ckpt")
    assert {"params/dense_0.w", "params/Net@run.dense_1.w", "state/bn_0.mean",
            "opt/0/0/mu/dense_0.w", "opt/0/0/count", "opt/1/0/trace/dense_0.b"} <= \
        set(saved.tensors)
    np.testing.assert_array_equal(saved["params"]["Net@run.dense_1"]["w"],
                                  payload["params"]["Net@run.dense_1"]["w"])
    assert saved["epoch"] == 3 and saved["history"] == payload["history"]
    fresh = _payload(seed=1)["opt_states"]
    restored = checkpoint.restore_opt(saved, fresh)
    assert jax.tree.structure(restored) == jax.tree.structure(payload["opt_states"])
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(payload["opt_states"])):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype and a.shape == b.shape


def test_optimizer_state_of_another_shape_is_refused(tmp_path):
    checkpoint.write(tmp_path / "last.ckpt", _payload())
    other = _payload()["params"]
    other["dense_0"]["w"] = np.zeros((3, 5), np.float32)
    with pytest.raises(SpecError, match=r"optimizer state: tensor `0/0/mu/dense_0.w` is "
                       r"\[3, 4\] in the run but \[3, 5\] in this spec"):
        checkpoint.restore_opt(checkpoint.read(tmp_path / "last.ckpt"),
                               [optax.adam(1e-3).init(other), optax.sgd(0.1, 0.9).init(other)])


@pytest.mark.parametrize("damage", ["flip", "truncate", "flip_meta"])
def test_damaged_checkpoint_is_reported_as_corruption(tmp_path, damage):
    path = tmp_path / "best.ckpt"
    checkpoint.write(path, _payload())
    data = bytearray(path.read_bytes())
    if damage == "flip":
        for i in np.random.RandomState(0).choice(len(data), 20, replace=False):
            data[i] ^= 0xFF
    elif damage == "truncate":
        data = data[:len(data) * 2 // 3]
    else:  # a plain value in the metadata, not a tensor
        data = data.replace(b'\\"epoch\\": 3', b'\\"epoch\\": 7')
        assert data != path.read_bytes()
    path.write_bytes(bytes(data))
    with pytest.raises(SpecError, match=f"checkpoint {re.escape(str(path))} is corrupted"):
        checkpoint.read(path)


def test_disk_full_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    checkpoint.write(path, _payload(0))
    before = path.read_bytes()
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:100])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(SpecError, match=r"cannot write checkpoint .*last.ckpt: the disk is "
                       r"full; the previous checkpoint \(if any\) is unchanged"):
        checkpoint.write(path, _payload(1))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


class _Marker:
    """Unpickling this creates a file: proof that a pickle was (not) loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (str(self.path),))


def test_a_pickle_checkpoint_is_refused_and_never_runs(tmp_path, capsys):
    run, marker = tmp_path / "run", tmp_path / "pwned"
    run.mkdir()
    (run / "best.ckpt").write_bytes(pickle.dumps({"params": _Marker(marker)}, protocol=4))
    for command in (["eval", str(XOR), "--run", str(run)],
                    ["predict", str(XOR), "--run", str(run), "--input", str(tmp_path / "i.npz"),
                     "--output", str(tmp_path / "o.npz")]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert "E091" in err and "written by an older nndsl; retrain" in err, err
        assert str(run / "best.ckpt") in err
    assert not marker.exists()
    pickle.loads((run / "best.ckpt").read_bytes())  # the payload would have run
    assert marker.exists()


def test_no_pickle_in_the_package():
    unsafe = re.compile(r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle|joblib|shelve)\b|"
                        r"pickle\.loads?\(|allow_pickle\s*=\s*True", re.MULTILINE)
    offenders = [str(p) for p in PACKAGE.rglob("*.py") if unsafe.search(p.read_text())]
    assert offenders == []


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "nndsl.cli", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(PACKAGE.parent),
                                 "PYTHONUNBUFFERED": "1"}, **kw)


def test_a_second_training_into_a_locked_directory_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    with open(run / ".lock", "a") as held:  # what a running `nndsl train` holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["train", str(XOR), "--out", str(run), "--epochs", "1", "--quiet"]) == 1
        err = capsys.readouterr().err
        assert "E093" in err and f"{run} is in use by another `nndsl train`" in err
        assert not (run / "last.ckpt").exists()
    assert main(["train", str(XOR), "--out", str(run), "--epochs", "1", "--quiet"]) == 0


def test_a_damaged_checkpoint_stops_eval_and_resume_and_keeps_the_other(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(XOR), "--out", str(run), "--epochs", "3", "--quiet"]) == 0
    (run / ".last.ckpt.x1y2.tmp").write_bytes(b"half a checkpoint")  # from a killed write
    best = (run / "best.ckpt").read_bytes()
    last = run / "last.ckpt"
    last.write_bytes(last.read_bytes()[:-10])
    capsys.readouterr()
    assert main(["train", str(XOR), "--epochs", "4", "--resume", str(run), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"checkpoint {last} is corrupted" in err and "Traceback" not in err
    assert (run / "best.ckpt").read_bytes() == best
    assert not list(run.glob("*.tmp"))
    assert main(["eval", str(XOR), "--run", str(run)]) == 0


def test_a_checkpoint_of_another_spec_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(XOR), "--out", str(run), "--epochs", "1", "--quiet"]) == 0
    other = tmp_path / "xor.nn"
    other.write_text(XOR.read_text().replace("dense(4) -> tanh", "dense(8) -> tanh"))
    capsys.readouterr()
    # Reading commands compare config.json's graph fingerprint first (E205).
    assert main(["eval", str(other), "--run", str(run)]) == 1
    err = capsys.readouterr().err
    assert "error[E205]" in err and "changed `dense_0`" in err, err
    # Resuming compares the whole fingerprint first (E101), before any checkpoint is read.
    assert main(["train", str(other), "--resume", str(run), "--epochs", "2", "--quiet"]) == 1
    assert "error[E101]" in capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    assert config["shapes"]["params/dense_0.w"] == [2, 4] and len(config["spec_sha256"]) == 64
    # A run without a fingerprint (written before there were any) meets the checkpoint's
    # own name-and-shape check.
    del config["fingerprint"]
    (run / "config.json").write_text(json.dumps(config))
    assert main(["eval", str(other), "--run", str(run)]) == 1
    assert f"{run / 'best.ckpt'}: error[E092]: tensor `dense_0.w` is [2, 4] in the run but " \
        "[2, 8] in this spec" in capsys.readouterr().err


def _kill_after(line: str, args: list[str]) -> None:
    """Start a training, kill -9 it once it prints `line`."""
    with _cli(*args) as process:
        for text in process.stdout:
            if text.startswith(line):
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=600)
    assert process.returncode == -signal.SIGKILL


KILL_RUN = [str(XOR), "--epochs", "60", "--quiet"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    full = tmp_path_factory.mktemp("full") / "run"
    with _cli("train", *KILL_RUN, "--out", str(full)) as process:
        process.communicate(timeout=600)
    assert process.returncode == 0
    return full


@pytest.mark.slow
@pytest.mark.parametrize("killed_after", ["epoch   2 ", "epoch   3 ", "epoch  40 "])
def test_kill_9_then_resume_reaches_the_uninterrupted_parameters(tmp_path, uninterrupted,
                                                                 killed_after):
    """Killed as it writes the checkpoints of an epoch (the epoch line comes first)."""
    part = tmp_path / "part"
    _kill_after(killed_after, ["train", *KILL_RUN, "--out", str(part)])
    assert main(["train", *KILL_RUN, "--resume", str(part)]) == 0
    assert not list(part.glob("*.tmp"))
    for name in ("last.ckpt", "best.ckpt"):
        a, b = checkpoint.read(uninterrupted / name), checkpoint.read(part / name)
        assert a.tensors.keys() == b.tensors.keys() and a["epoch"] == b["epoch"]
        for key in a.tensors:
            np.testing.assert_array_equal(a.tensors[key], b.tensors[key], err_msg=key)


def test_a_checkpoint_whose_header_length_starts_like_a_pickle_reads(tmp_path):
    """A safetensors file begins with its header's length: 128 modulo 256 gives a first byte
    of 0x80, a pickle's; such a checkpoint (seen: a last.ckpt of 1,920 header bytes) reads."""
    import numpy as np

    from nndsl.fit import checkpoint

    path = tmp_path / "last.ckpt"
    for pad in range(300):
        checkpoint.write(path, {"params": {"fc": {"W": np.ones((2, 2), np.float32)}},
                                "note": "x" * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    assert checkpoint.read(path).meta["note"] == "x" * pad
