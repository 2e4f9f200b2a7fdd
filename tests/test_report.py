"""What a training run tells its user and writes as it goes (nndsl/fit/report.py): a progress
bar refreshed by the clock with the running-mean loss, epoch lines with duration and speed,
`saved best` lines, JSON lines, metrics.csv and curves.png streamed per epoch, TensorBoard."""

import csv
import io
import json
import re
import signal
import subprocess
import sys
import time

import jax.numpy as jnp
import pytest
from rich.console import Console
from rich.progress import Progress

from nndsl.cli import main
from nndsl.fit import explog, report, run
from nndsl.source import SpecError
from tests.conftest import CONTRACT

XOR = CONTRACT / "perceptron_xor.nn"
# A named metric (`acc`), so that every column name is plain (no quoting in metrics.csv).
NAMED = XOR.read_text().replace("metrics   = binary_accuracy(logit, y)",
                                "acc       = binary_accuracy(logit, y)\n    metrics   = acc")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowTrainer:
    """A trainer whose every step takes `seconds` of the fake clock and returns the next loss,
    `per_call` steps per dispatch (nndsl.fit.dispatch's interface)."""

    loss_names = ["loss"]
    batch = 8

    def __init__(self, clock: FakeClock, losses: list[float], seconds: float, per_call: int = 1):
        self.clock, self.losses, self.seconds, self.per_call = clock, losses, seconds, per_call
        self.steps_per_epoch = len(losses)
        self.dispatch = self

    def epoch(self, seed, epoch):
        return SlowSteps(self)


class SlowSteps:
    def __init__(self, trainer: SlowTrainer):
        self.trainer, self.done, self.steps = trainer, 0, trainer.steps_per_epoch
        self.first_step = 0

    @property
    def finished(self):
        return self.done >= self.steps

    def run(self, params, state, opt_states):
        count = min(self.trainer.per_call, self.steps - self.done)
        self.trainer.clock.now += self.trainer.seconds * count
        self.done += count
        return params, state, opt_states

    def wait(self):
        pass

    def first_bad(self):
        return -1

    def losses(self):
        return jnp.array([[loss] for loss in self.trainer.losses[:self.done]])

    def mean(self):
        return [sum(self.trainer.losses) / self.steps]


def test_the_bar_follows_the_clock_and_shows_the_running_mean(tmp_path, monkeypatch):
    clock, shown = FakeClock(), []
    real_update = Progress.update

    def spy(self, task, **fields):
        shown.append((round(clock.now, 6), fields))
        return real_update(self, task, **fields)

    monkeypatch.setattr(Progress, "update", spy)
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    reporter = report.Reporter(console, tmp_path, progress=True, clock=clock)
    losses = [float(i) for i in range(1, 13)]  # 12 steps of 0.2 s: 2.4 s of fake time
    trainer = SlowTrainer(clock, losses, 0.2)
    options = run.RunOptions(tmp_path, XOR, tmp_path, progress=True, started=time.perf_counter())
    run._epoch(trainer, {}, {}, [], 0, 1, 1, options, reporter)
    # The clock is read after every step: the bar moves as soon as 0.5 s have passed, not
    # every 20 steps (never, in an epoch of 12), and not after every step either.
    assert [t for t, _ in shown] == [0.6, 1.2, 1.8, 2.4]
    assert [f["completed"] for _, f in shown] == [3, 6, 9, 12]
    # The loss shown is the mean over the epoch so far (1+2+3)/3, ..., not the last batch's.
    for (_, fields), done in zip(shown, (3, 6, 9, 12)):
        mean = sum(losses[:done]) / done
        assert fields["figures"].startswith(f"loss {mean:.4f}  "), fields
    assert "40 ex/s" in shown[-1][1]["figures"]  # 8 examples per 0.2 s
    assert "ETA 0 s" in shown[-1][1]["figures"] and "ETA 2 s" in shown[0][1]["figures"]


def test_the_bar_moves_between_chunks_of_steps(tmp_path, monkeypatch):
    clock, shown = FakeClock(), []
    real_update = Progress.update

    def spy(self, task, **fields):
        shown.append((round(clock.now, 6), fields["completed"]))
        return real_update(self, task, **fields)

    monkeypatch.setattr(Progress, "update", spy)
    reporter = report.Reporter(Console(file=io.StringIO(), force_terminal=True), tmp_path,
                               progress=True, clock=clock)
    # 22 steps of 0.05 s, 4 per dispatch (0.2 s): the clock is read after each chunk, and the
    # last chunk (2 steps) ends the epoch.
    trainer = SlowTrainer(clock, [1.0] * 22, 0.05, per_call=4)
    options = run.RunOptions(tmp_path, XOR, tmp_path, progress=True, started=time.perf_counter())
    run._epoch(trainer, {}, {}, [], 0, 1, 1, options, reporter)
    assert shown == [(0.6, 12), (1.1, 22)]


def test_curves_are_redrawn_by_the_clock_and_at_the_end(tmp_path, monkeypatch):
    clock, drawn = FakeClock(), []
    monkeypatch.setattr(report, "plot", lambda run_dir, rows: drawn.append(len(rows)))
    rows = []
    with report.Reporter(Console(file=io.StringIO()), tmp_path, clock=clock) as reporter:
        for epoch in range(1, 6):
            clock.now += 0.4
            rows.append({"epoch": epoch, "train_loss": 1.0 / epoch, "seconds": clock.now})
            reporter.on_epoch(rows)
    assert drawn == [1, 4, 5]  # at 0.4 s, then 1.6 s (>= 1 s later), then on closing
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,seconds" and len(lines) == 6


def test_metrics_csv_gets_a_row_per_epoch_and_a_resumed_run_rewrites_it(tmp_path):
    path = tmp_path / "metrics.csv"
    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_acc": 0.5} for e in (1, 2, 3)]
    first = report.MetricsFile(path)
    for n in (1, 2):
        first.write(rows[:n])
        assert len(path.read_text().splitlines()) == n + 1
    # A resumed run's history holds the epochs of its checkpoint (2), not what the killed
    # run may have appended after it: its first write replaces the file.
    path.write_text(path.read_text() + "3,9,9\n")
    report.MetricsFile(path).write(rows)
    assert [r["epoch"] for r in _rows(path)] == ["1", "2", "3"]


def _rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def _train(args, capsys) -> tuple[int, str, str]:
    code = main(["train", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_epoch_lines_say_duration_speed_and_each_saved_best(tmp_path, capsys, write_spec):
    code, out, err = _train([write_spec(NAMED), "--epochs", "3", "--out", tmp_path / "r"],
                            capsys)
    assert code == 0, err
    lines = out.splitlines()
    epochs = [line for line in lines if line.startswith("epoch")]
    assert len(epochs) == 3
    for line in epochs:
        assert re.fullmatch(r"epoch +\d  train_loss \d\.\d{4}  val_loss \d\.\d{4}  "
                            r"val_acc \d\.\d{4}  (\d+\.\d s|\d+ ms)  [\d,]+ ex/s", line), line
    rows = _rows(tmp_path / "r" / "metrics.csv")
    best = [line for line in lines if line.startswith("saved best")]
    assert best[0] == f"saved best (epoch 1, val_loss {float(rows[0]['val_loss']):.4f})"
    assert len(best) == sum(1 for i, r in enumerate(rows) if i == 0 or float(
        r["val_loss"]) < min(float(p["val_loss"]) for p in rows[:i]))
    # No column name needs quoting.
    assert '"' not in (tmp_path / "r" / "metrics.csv").read_text()


def test_json_lines_and_tensorboard(tmp_path, capsys, write_spec):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "r"
    code, out, err = _train([write_spec(NAMED), "--epochs", "3", "--out", run_dir,
                             "--log", "tensorboard", "--log-format", "json"], capsys)
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]  # stdout: JSON only
    assert [e["event"] for e in events if e["event"] != "best"] == \
        ["start", "epoch", "epoch", "epoch", "test"]
    assert events[1]["epoch"] == 1 and "examples_per_second" in events[1]
    assert "first step after" in err
    rows = _rows(run_dir / "metrics.csv")
    board = EventAccumulator(str(run_dir / "tensorboard"),
                             size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    board.Reload()
    for key in ("val_loss", "train_loss", "val_acc"):
        logged = board.Scalars(f"epoch/{key}")
        assert [e.step for e in logged] == [1, 2, 3]
        assert [e.value for e in logged] == pytest.approx([float(r[key]) for r in rows])
        assert [e[key] for e in events if e["event"] == "epoch"] == \
            pytest.approx([float(r[key]) for r in rows])
    assert [e.step for e in board.Scalars("step/train_loss")] == [1, 2, 3]
    assert "hparams/text_summary" in board.Tags()["tensors"]
    assert board.Images("network")[0].width > 0  # graphviz's dot is installed here
    hparams = explog.hyperparameters(run_dir / "config.json")
    assert hparams["optimizer"] == "sgd" and hparams["lr"] == 0.5 and hparams["batch"] == 4
    assert (run_dir / "tensorboard" / "hparams").is_dir()


def test_without_log_tensorboardx_is_never_imported(tmp_path):
    script = (f"import sys; from nndsl.cli import main\n"
              f"assert main(['train', {str(XOR)!r}, '--epochs', '1', '--out', "
              f"{str(tmp_path / 'r')!r}]) == 0\n"
              "print(sorted(m for m in sys.modules if m.startswith('tensorboard')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_missing_tensorboardx_is_e110(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails as if absent
    with pytest.raises(SpecError) as caught:
        explog.open_loggers(["tensorboard"], tmp_path, None, print)
    assert caught.value.diagnostics[0].code == "E110"
    assert "nndsl[log]" in caught.value.diagnostics[0].render()


def test_a_killed_run_keeps_its_metrics_and_curves(tmp_path):
    run_dir = tmp_path / "r"
    child = subprocess.Popen([sys.executable, "-m", "nndsl", "train", str(XOR), "--epochs",
                              "100000", "--out", str(run_dir)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    metrics, curves = run_dir / "metrics.csv", run_dir / "curves.png"
    while time.monotonic() < deadline and not (
            curves.exists() and metrics.exists() and len(metrics.read_text().split()) > 20):
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    assert not (run_dir / "results.json").exists()  # killed before the end
    rows = _rows(metrics)
    assert len(rows) >= 20 and [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    assert curves.read_bytes().startswith(b"\x89PNG")


def test_without_dot_the_log_has_no_picture_and_says_so(tmp_path, monkeypatch):
    config = {"objectives": [{"network": None, "optimizer": "adam", "lr": 0.01}],
              "settings": {"epochs": 2, "seed": 0}, "batch": 8, "set": {"act": "gelu"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(explog.shutil, "which", lambda name: None)
    notes = []
    (log,) = explog.open_loggers(["tensorboard"], tmp_path, lambda: pytest.fail("drawn"),
                                 notes.append)
    log.on_start()
    log.close()
    assert notes == ["tensorboard: graphviz's `dot` is not installed, so the log has no "
                     "picture of the network"]
    assert log.hparams == {"optimizer": "adam", "lr": 0.01, "batch": 8, "epochs": 2,
                           "seed": 0, "set.act": "gelu"}


def test_the_first_step_latency_counts_from_the_command_not_the_first_import(monkeypatch):
    # The first command of a process counts from its start (imports included); a later
    # `main` in the same process (a notebook, a test suite) from its own call, not from the
    # import minutes earlier.
    import nndsl.cli as cli

    monkeypatch.setattr(cli, "_started", 12.5)
    assert cli.command_start() == 12.5
    before = time.perf_counter()
    assert before <= cli.command_start() <= time.perf_counter()
