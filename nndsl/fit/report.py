"""What a training run tells its user and writes as it goes.

A `Reporter` receives the run's events (start, steps, epochs, a new best, the test figures) and
turns them into: a progress bar refreshed by the clock (at least every REFRESH_SECONDS, with the
running-mean loss, examples/s and ETA); one line per epoch (text, or one JSON object with
`--log-format json`); `metrics.csv` and `curves.png` rewritten after every epoch, so that an
interrupted or killed run has them; and the experiment logs asked for with `--log`
(nndsl/fit/explog.py). The interrupt path needs nothing but `close()`; `write_metrics` and
`plot` can also be called on their own with a run's rows.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

# The bar (and the non-finite check, and the per-step experiment log) refreshes at least this
# often; the host waits for the device only then, so the steps between stay asynchronous.
REFRESH_SECONDS = 0.5
# curves.png is redrawn after an epoch when this long has passed since the last drawing (and at
# the end): a 500-epoch XOR run would otherwise spend most of its time in matplotlib.
PLOT_SECONDS = 1.0
# Row keys that are not figures of the model: not drawn, not shown as `name value`.
NOT_FIGURES = ("epoch", "seconds")
LOG_FORMATS = ("text", "plain", "json")


class Reporter:
    """The run's voice and its streaming files; use it as a context manager (closing it draws
    the last curves and closes the experiment logs, whatever ended the run)."""

    def __init__(self, console: Console, run_dir: Path, *, progress: bool = True,
                 log_format: str = "text", loggers: Sequence = (),
                 clock: Callable[[], float] = time.perf_counter):
        self.console, self.run_dir, self.clock = console, run_dir, clock
        self.progress = progress and log_format == "text"
        self.json = log_format == "json"
        self.loggers = list(loggers)
        self._metrics = MetricsFile(run_dir / "metrics.csv")
        self._rows: list[dict] = []
        self._plotted_at: float | None = None
        self._plotted_rows = 0
        self._epoch: EpochProgress | None = None

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def note(self, text: str) -> None:
        """A message for the user (the console: stderr with --log-format json)."""
        self.console.print(text, markup=False, highlight=False)

    def _emit(self, event: str, text: str, fields: dict) -> None:
        """A line of the run's story: text, or one JSON object on stdout."""
        if self.json:
            print(json.dumps({"event": event, **_finite(fields)}), file=sys.stdout, flush=True)
        else:
            self.console.print(text, markup=False, highlight=False)

    def on_start(self, text: str, fields: dict) -> None:
        """The run begins (after config.json is written): the header line, the logs' start."""
        self._emit("start", text, fields)
        for logger in self.loggers:
            logger.on_start()

    def epoch(self, epoch: int, epochs: int, steps: int, batch: int,
              loss_names: Sequence[str]) -> EpochProgress:
        """The progress of one epoch's steps (a context manager); see EpochProgress."""
        self._epoch = EpochProgress(self, epoch, epochs, steps, batch, loss_names)
        return self._epoch

    def on_epoch(self, rows: list[dict]) -> None:
        """An epoch ended; `rows` is the run's history so far, its last row this epoch's."""
        row, self._rows = rows[-1], rows
        timing = self._epoch.timing() if self._epoch else {}
        self._emit("epoch", epoch_line(row, timing), {**row, **timing})
        self._metrics.write(rows)
        now = self.clock()
        if self._plotted_at is None or now - self._plotted_at >= PLOT_SECONDS:
            self._draw()
        for logger in self.loggers:
            logger.on_epoch(row["epoch"], row)

    def on_best(self, epoch: int, monitor: str, value: float) -> None:
        """best.ckpt was just written."""
        self._emit("best", f"saved best (epoch {epoch}, {monitor} {value:.4f})",
                   {"epoch": epoch, "monitor": monitor, "value": value})

    def on_test(self, test: dict[str, float], results: dict, results_path: Path) -> None:
        """The final test evaluation of the best parameters."""
        self._emit("test", "test: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()),
                   {"test": test, "best_epoch": results["best_epoch"],
                    "monitor": results["monitor"], "best": results["best"]})
        self._draw()
        self.note(f"results: {results_path}; curves: {self.run_dir / 'curves.png'}")
        for logger in self.loggers:
            logger.on_test(test, results)

    def on_interrupt(self, rows: list[dict]) -> None:
        """The run stops early; `rows` are the epochs its last checkpoint holds: metrics.csv
        and curves.png are rewritten with exactly those."""
        self._rows = rows
        write_metrics(self.run_dir, rows)
        self._draw()

    def close(self) -> None:
        """Draw the curves the last epochs have not drawn yet and close the logs."""
        if len(self._rows) > self._plotted_rows:
            self._draw()
        for logger in self.loggers:
            logger.close()
        self.loggers = []

    def _draw(self) -> None:
        plot(self.run_dir, self._rows)
        self._plotted_at, self._plotted_rows = self.clock(), len(self._rows)


def _finite(value):
    """JSON without NaN or Infinity (strict readers such as jq refuse them): null instead."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return None if isinstance(value, float) and not math.isfinite(value) else value


class EpochProgress:
    """One epoch's steps as the user sees them. The trainer calls `due(i)` after each step
    (a clock reading, nothing more) and, when it says so, `update(done, losses)`: the host
    then fetches the losses of the steps since the last update (waiting for the device) and
    the bar shows the running mean over the epoch so far, examples/s and the ETA."""

    def __init__(self, reporter: Reporter, epoch: int, epochs: int, steps: int, batch: int,
                 loss_names: Sequence[str]):
        self.reporter, self.epoch, self.steps, self.batch = reporter, epoch, steps, batch
        self.loss_names = [f"train_{name}" for name in loss_names]
        self.title = f"epoch {epoch}/{epochs}"
        self._bar: Progress | None = None  # drawn from the first update before the last step
        self._total = np.zeros(len(self.loss_names))
        self._seen = 0
        self.started = self.last = reporter.clock()
        self.ended: float | None = None
        self.shown: dict[str, float] = {}

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _draw(self, done: int) -> None:
        """Show `done` steps on the bar. It starts at the first update before the last
        step: an epoch shorter than REFRESH_SECONDS draws none (a bar costs milliseconds)."""
        if self._bar is None and done < self.steps and self.reporter.progress:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[figures]}"),
                                 console=self.reporter.console, transient=True)
            self._task = self._bar.add_task(self.title, total=self.steps, figures="")
            self._bar.start()
        if self._bar is not None:
            self._bar.update(self._task, completed=done, figures=_bar_figures(self.shown))

    def due(self, i: int) -> bool:
        """Whether step `i` (0-based) should update: the last step, or REFRESH_SECONDS on."""
        return i == self.steps - 1 or self.reporter.clock() - self.last >= REFRESH_SECONDS

    def update(self, done: int, losses: list) -> None:
        """Show the epoch after `done` steps; `losses` holds every step's losses so far."""
        fresh = np.asarray(jax.device_get(losses[self._seen:]), dtype=np.float64)
        self._total += fresh.sum(axis=0)
        chunk = dict(zip(self.loss_names, (fresh.mean(axis=0)).tolist()))
        self._seen = len(losses)
        self.last = now = self.reporter.clock()
        if done == self.steps:
            self.ended = now
        elapsed = max(now - self.started, 1e-9)
        self.shown = {**dict(zip(self.loss_names, (self._total / done).tolist())),
                      "examples_per_second": done * self.batch / elapsed,
                      "eta_seconds": (self.steps - done) * elapsed / done}
        self._draw(done)
        step = (self.epoch - 1) * self.steps + done
        for logger in self.reporter.loggers:
            logger.on_step(step, chunk)

    def timing(self) -> dict[str, float]:
        """The epoch's wall time so far (training and validation) and its training speed."""
        trained = (self.ended or self.reporter.clock()) - self.started
        return {"epoch_seconds": round(self.reporter.clock() - self.started, 3),
                "examples_per_second": round(self.steps * self.batch / max(trained, 1e-9), 1)}


def _bar_figures(shown: dict[str, float]) -> str:
    losses = "  ".join(f"{k.removeprefix('train_')} {v:.4f}" for k, v in shown.items()
                       if k.startswith("train_"))
    return (f"{losses}  {shown['examples_per_second']:,.0f} ex/s  "
            f"ETA {_duration(shown['eta_seconds'])}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


def epoch_line(row: dict, timing: dict[str, float]) -> str:
    """`epoch   3  train_loss 0.1234  val_loss 0.2345  2.1 s  8,400 ex/s` (`45 ms` below 0.1 s)."""
    parts = [f"epoch {row['epoch']:>3}"]
    parts += [f"{k} {v:.4f}" for k, v in row.items() if k not in NOT_FIGURES]
    if timing:
        seconds = timing["epoch_seconds"]
        parts += [f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms",
                  f"{timing['examples_per_second']:,.0f} ex/s"]
    return "  ".join(parts)


class MetricsFile:
    """metrics.csv, one row per epoch as each epoch ends, flushed: the first write (a fresh or
    a resumed run) writes the header (the first row's keys) and every row so far, later ones
    append the rows not yet written."""

    def __init__(self, path: Path):
        self.path = path
        self._written = None

    def write(self, rows: list[dict]) -> None:
        if self._written is None:
            write_metrics(self.path.parent, rows)
        else:
            with open(self.path, "a", newline="") as f:
                _writer(f, rows).writerows(rows[self._written:])
        self._written = len(rows)


def _writer(f, rows: list[dict]) -> csv.DictWriter:
    # Minimal quoting: a column name the trainer gives with a comma stays valid CSV.
    return csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")


def write_metrics(run_dir: Path, rows: list[dict]) -> None:
    """Write RUN_DIR/metrics.csv afresh: the header (the first row's keys), then every row."""
    if not rows:
        return
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        writer = _writer(f, rows)
        writer.writeheader()
        writer.writerows(rows)


def plot(run_dir: Path, rows: list[dict]) -> None:
    """Draw RUN_DIR/curves.png: losses on the left, the other figures on the right, by epoch."""
    if not rows:
        return
    from nndsl.pictures import pyplot

    plt = pyplot()

    keys = [k for k in rows[0] if k not in NOT_FIGURES]
    losses = [k for k in keys if "loss" in k]
    rates = [k for k in keys if k == "lr" or k.startswith("lr_")]  # learned rates
    metrics = [k for k in keys if "loss" not in k and k not in rates]
    panels = [(losses, "loss"), *([(metrics, "metrics")] if metrics else []),
              *([(rates, "learning rate")] if rates else [])]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 if len(panels) == 1 else
                                                      5.5 * len(panels), 4), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for ax, (group, title) in zip(axes[0], panels):
        if group is rates and all(r[k] > 0 for r in rows for k in rates):
            ax.set_yscale("log")
        for key in group:
            values = [r[key] for r in rows]
            if all(math.isfinite(v) for v in values):
                ax.plot(epochs, values, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "curves.png", dpi=100)
    plt.close(fig)
