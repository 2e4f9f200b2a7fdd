"""A sweep's record and its tables: RUN_ROOT/<sweep>/sweep.csv and sweep.json (a row per trial:
settings, monitored value, best epoch, run directory), plain tables in a pipe or log file."""

import csv
import io
import json

from nndsl.cli import main
from nndsl.fit.trials import Trial, plain_table, trial_line, write_summary
from tests.conftest import CONTRACT

SWEPT = (CONTRACT / "perceptron_xor.nn").read_text().replace(
    "optimizer = sgd(lr=0.5, momentum=0.9)", "optimizer = sgd(lr=lr, momentum=0.9)") \
    .replace("network Perceptron", "let lr = 0.5\n\nnetwork Perceptron") \
    + "\nsweep {\n    method = grid\n    lr = choice(0.1, 0.5)\n}\n"


def _trials(tmp_path) -> list[Trial]:
    done = Trial(0, {"lr": 0.1, "act": "tanh"}, tmp_path / "trial-000",
                 {"monitor": "val_loss", "mode": "min", "best": 0.25, "best_epoch": 7},
                 "done")
    failed = Trial(1, {"lr": 0.5, "act": "relu"}, tmp_path / "trial-001", None, "failed",
                   ["error[E084]: the loss became non-finite"])
    return [done, failed]


def test_sweep_files_have_a_row_per_trial(tmp_path):
    write_summary(tmp_path, _trials(tmp_path))
    rows = json.loads((tmp_path / "sweep.json").read_text())
    assert rows[0] == {"trial": 0, "settings": {"lr": 0.1, "act": "tanh"},
                       "monitor": "val_loss", "mode": "min", "best": 0.25, "best_epoch": 7,
                       "status": "done", "run_dir": str(tmp_path / "trial-000")}
    assert rows[1]["best"] is None and rows[1]["status"] == "failed"
    table = list(csv.DictReader(io.StringIO((tmp_path / "sweep.csv").read_text())))
    assert list(table[0]) == ["trial", "lr", "act", "monitor", "mode", "best", "best_epoch",
                              "status", "run_dir"]
    assert table[0]["best"] == "0.25" and table[0]["best_epoch"] == "7"
    assert table[1]["best"] == "" and table[1]["act"] == "relu"


def test_plain_table_and_lines(tmp_path):
    lines = plain_table(_trials(tmp_path))
    assert lines[0].split() == ["trial", "lr", "act", "monitor", "best", "epoch", "status"]
    assert lines[1].split() == ["0", "0.1", "tanh", "val_loss", "0.2500", "7", "done"]
    assert lines[0].index("monitor") == lines[1].index("val_loss")  # aligned columns
    assert not any(set(line) & set("|+━─│") for line in lines)
    assert trial_line(_trials(tmp_path)[0]) == \
        "trial 0 done: lr=0.1 act=tanh val_loss 0.2500 (epoch 7)"
    assert trial_line(_trials(tmp_path)[1]).startswith("trial 1 failed: error[E084]")


def test_a_sweep_writes_its_record_and_plain_tables(tmp_path, capsys, write_spec):
    out = tmp_path / "sweep"
    assert main(["sweep", str(write_spec(SWEPT)), "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "trial 0 done: lr=0.1 val_loss" in printed and "trial 1 done: lr=0.5" in printed
    assert "trial  lr   monitor   best    epoch  status" in printed
    assert not set(printed) & set("|━─│┃")
    rows = json.loads((out / "sweep.json").read_text())
    assert [r["settings"] for r in rows] == [{"lr": 0.1}, {"lr": 0.5}]
    for row in rows:
        results = json.loads((out / f"trial-{row['trial']:03d}" / "results.json").read_text())
        assert row["best"] == results["best"] and row["best_epoch"] == results["best_epoch"]
        assert row["run_dir"] == str(out / f"trial-{row['trial']:03d}")
    table = list(csv.DictReader(io.StringIO((out / "sweep.csv").read_text())))
    assert [float(r["best"]) for r in table] == [r["best"] for r in rows]
