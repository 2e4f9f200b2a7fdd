"""`nndsl summary`: per-layer cost and totals, as a table and as JSON."""

import json
import os
import subprocess
import sys

from nndsl.cli import main
from tests.conftest import CONTRACT, ROOT


def summary_json(capsys, *args):
    assert main(["summary", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_network_params_layers(capsys):
    data = summary_json(capsys, str(CONTRACT / "mlp_digits.nn"))
    assert data["network"] == "MLP" and data["params"] == 26_122
    dense = [layer for layer in data["layers"] if layer["op"] == "dense"]
    assert [layer["params"] for layer in dense] == [8_320, 16_512, 1_290]
    # multiply-add = 2 FLOPs, plus the bias add.
    assert dense[0]["flops"] == 2 * 64 * 128 + 128


def test_batchnorm_statistics_are_state_not_parameters(capsys):
    data = summary_json(capsys, str(CONTRACT / "digits_cnn.nn"))
    assert data["params"] == 62_506 and data["state"] == 2 * (32 + 32 + 64)


def test_repeated_body_counts_per_copy(capsys):
    data = summary_json(capsys, str(CONTRACT / "resnet.nn"), "--model", "DigitsResNet")
    assert data["params"] == 446_122
    convs = [layer for layer in data["layers"] if layer["op"] == "conv" and layer["depth"] == 1]
    assert convs and convs[0]["params"] == 24 * 9 * 32 * 32


def test_resnet18_flops_match_the_published_figure(capsys):
    data = summary_json(capsys, str(CONTRACT / "resnet.nn"), "--model", "ResNet18")
    # ResNet-18 is quoted at 1.8 GMACs: about 3.6 GFLOPs with a multiply-add as 2.
    assert 3.5e9 < data["flops"] < 3.8e9


def test_training_memory_with_batch(capsys):
    data = summary_json(capsys, str(CONTRACT / "mlp_digits.nn"), "--batch", "64")
    # Per example a step holds 4,432 bytes, not the 3,624 of the outputs: the gradient buffer
    # of the logits layer (the hidden layers' fuse with their relu) and dropout's masks
    # (passes/trainmem.py).
    assert data["training_activation_bytes"] == 4_432
    assert data["training_bytes"] == 4 * 26_122 * 4 + 64 * 4_432


def test_table_output(capsys):
    assert main(["summary", str(CONTRACT / "lstm_adding.nn"), "--model", "LSTMAdder"]) == 0
    out = capsys.readouterr().out
    assert "scan(LSTM)" in out and "trainable parameters: 17,217" in out


def test_unknown_model_suggests(capsys):
    assert main(["summary", str(CONTRACT / "lenet5.nn"), "--model", "Lenet5"]) == 1
    assert "did you mean `LeNet5`" in capsys.readouterr().err


def test_blocks_get_subtotal_rows_and_repeats_show_their_copies(capsys):
    assert main(["summary", str(CONTRACT / "resnet.nn"), "--model", "ResNet18"]) == 0
    rows = [[cell.strip() for cell in line.split("|")[1:-1]]
            for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert ["Basic_1 total", "Basic(128, stride=2)", "", "230,144", ""] in rows
    assert ["Basic_0.conv_0", "conv × 2", "[B, 56, 56, 64]", "73,728", "462.42M"] in rows
    assert ["Basic_0 total", "Basic(64) × 2", "", "147,968", ""] in rows
    data = summary_json(capsys, str(CONTRACT / "resnet.nn"), "--model", "ResNet18")
    assert [b["name"] for b in data["blocks"]] == [f"Basic_{i}" for i in range(7)]


def test_a_shared_instance_is_counted_once_and_says_so(capsys):
    data = summary_json(capsys, str(CONTRACT / "siamese.nn"))
    assert [(b["label"], b["params"]) for b in data["blocks"]] == [
        ("Tower() (shared: tower)", 8_384), ("Tower() (shared: tower)", 0)]


def test_per_device_memory_on_a_data_parallel_mesh(capsys):
    data = summary_json(capsys, str(CONTRACT / "mlp_digits.nn"), "--batch", "64",
                        "--devices", "4")
    # 26,122 float32 parameters, their gradients and adam's two slots on every device; the
    # activations a training step holds for 64 / 4 = 16 examples (4,432 bytes each).
    assert data["activation_bytes"] == 3_624
    assert data["per_device"] == {
        "devices": 4, "batch": 16, "total_bytes": 488_864,
        "bytes": {"params": 104_488, "gradients": 104_488, "optimizer": 208_976, "state": 0,
                  "activations": 70_912}}
    assert main(["summary", str(CONTRACT / "mlp_digits.nn"), "--batch", "64",
                 "--devices", "4"]) == 0
    assert "per device (4 devices, batch 16 each): 477.41 KiB" in capsys.readouterr().out


def test_per_device_memory_refuses_a_batch_that_does_not_split(capsys):
    assert main(["summary", str(CONTRACT / "mlp_digits.nn"), "--batch", "64",
                 "--devices", "3"]) == 1
    err = capsys.readouterr().err
    assert "E181" in err and "batch 64 does not divide over 3 devices" in err
    assert "--batch 63" in err
    assert main(["summary", str(CONTRACT / "mlp_digits.nn"), "--devices", "3"]) == 1
    assert "E185" in capsys.readouterr().err


def test_summary_with_devices_never_loads_jax():
    code = ("import sys\nfrom nndsl.cli import main\n"
            f"main(['summary', {str(CONTRACT / 'mlp_digits.nn')!r}, '--batch', '64', "
            "'--devices', '4'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'optax')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
