"""Per-device memory before training (nndsl/fit/budget.py, devices.check_fits): a run whose
estimate exceeds a device's memory stops with E186 before anything is allocated."""

from types import SimpleNamespace

from nndsl.cli import main
from nndsl.fit import devices
from tests.conftest import CONTRACT

MLP = str(CONTRACT / "mlp_digits.nn")


def test_a_run_larger_than_the_device_memory_is_refused(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(devices, "memory_limit", lambda used: 100_000)
    assert main(["train", MLP, "--epochs", "1", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    # The training graph at batch 64 under adam: 4 * 26,122 * (1 + 1 + 2) bytes of
    # parameters, gradients and optimizer state, and 64 * 4,460 bytes a step holds per
    # example (outputs, the logits layer's gradient buffer, dropout's masks; the hidden
    # layers' fuse with their relu: trainmem.py).
    assert "E186" in err and "(703,392 bytes) per device at per-device batch 64" in err
    assert "(100,000 bytes)" in err and "smaller batch" in err and "more devices" in err
    assert not (tmp_path / "run").exists()
    # Without --devices the error names the spec, not an argument the user never typed.
    assert err.startswith(f"{MLP}: error[E186]") and "<command line>" not in err


def test_a_run_that_fits_trains(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "memory_limit", lambda used: 768_928)
    assert main(["train", MLP, "--epochs", "1", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0


def _device(stats, process=0):
    return SimpleNamespace(process_index=process, memory_stats=lambda: stats)


def test_memory_limit_is_the_smallest_and_unknown_on_cpu():
    assert devices.memory_limit([_device({"bytes_limit": 8}), _device({"bytes_limit": 5})]) == 5
    # Another process's device is not asked (its stats are not readable here).
    assert devices.memory_limit([_device({"bytes_limit": 8}), _device(None, process=1)]) == 8
    assert devices.memory_limit([_device(None)]) is None
    assert devices.memory_limit([_device({"bytes_in_use": 3})]) is None
    import jax

    assert devices.memory_limit(jax.devices("cpu")) is None
