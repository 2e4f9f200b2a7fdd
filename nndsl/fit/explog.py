"""Experiment logs asked for with `nndsl train --log NAME`: TensorBoard (tensorboardX).

Opt-in: nothing here is imported by a run without `--log`, and tensorboardX only when a
TensorBoard log is opened. A logger receives the Reporter's events (nndsl/fit/report.py):
on_start, on_step, on_epoch, on_test, close.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from nndsl.paths import file_span
from nndsl.source import error

LOG_BACKENDS = ("tensorboard",)
NO_BACKEND = "E110"


def open_loggers(names, run_dir: Path, picture: Callable | None, note) -> list:
    """The loggers `--log` names, opened in `run_dir` (E110 when a package is missing)."""
    return [TensorBoardLog(run_dir, picture, note) for name in dict.fromkeys(names)
            if name == "tensorboard"]


class TensorBoardLog:
    """RUN_DIR/tensorboard/: the training loss per step (at the progress refresh), every
    figure of every epoch (`epoch/<name>`), the test figures (`test/<name>`), the
    hyperparameters (text at the start, the HParams tab at the end) and the network's picture
    (when graphviz's `dot` is installed)."""

    def __init__(self, run_dir: Path, picture: Callable | None, note):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise error(NO_BACKEND, "--log tensorboard needs the tensorboardX package, which "
                        "is not installed", file_span(run_dir),
                        hint="pip install 'nndsl[log]'") from None
        self.run_dir, self._picture, self._note = run_dir, picture, note
        # Written to disk every second by the writer's own thread: a killed run loses at
        # most its last second, and short epochs do not wait for a flush each.
        self.writer = SummaryWriter(str(run_dir / "tensorboard"), flush_secs=1)
        self._step = 0

    def on_start(self) -> None:
        self.hparams = hyperparameters(self.run_dir / "config.json")
        table = "\n".join(["| name | value |", "|---|---|",
                           *(f"| {k} | {v} |" for k, v in self.hparams.items())])
        self.writer.add_text("hparams", table, 0)
        self._add_picture()
        self.writer.flush()

    def _add_picture(self) -> None:
        if self._picture is None:
            return
        if shutil.which("dot") is None:
            self._note("tensorboard: graphviz's `dot` is not installed, so the log has no "
                       "picture of the network")
            return
        import matplotlib.image

        png = self._picture().pipe(format="png")
        image = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
        self.writer.add_image("network", image, 0, dataformats="HWC")

    def on_step(self, step: int, losses: dict[str, float]) -> None:
        self._step = step
        for name, value in losses.items():
            self.writer.add_scalar(f"step/{name}", value, step)

    def on_epoch(self, epoch: int, row: dict) -> None:
        for name, value in row.items():
            if name != "epoch":
                self.writer.add_scalar(f"epoch/{name}", value, epoch)

    def on_test(self, test: dict[str, float], results: dict) -> None:
        for name, value in test.items():
            self.writer.add_scalar(f"test/{name}", value, results["epochs_run"])
        metrics = {f"test/{k}": v for k, v in test.items()}
        if results.get("best") is not None:
            metrics[f"best/{results['monitor']}"] = results["best"]
        self.writer.add_hparams(self.hparams, metrics, name="hparams")

    def close(self) -> None:
        self.writer.close()


def hyperparameters(config_path: Path) -> dict[str, object]:
    """A run's hyperparameters from its config.json, flat: each optimizer's name and values
    (prefixed with its network when there are several), batch, epochs, seed, the `--set`
    values (`set.NAME`)."""
    config = json.loads(config_path.read_text())
    found: dict[str, object] = {}
    objectives = config["objectives"]
    for objective in objectives:
        prefix = f"{objective['network']}." if len(objectives) > 1 else ""
        for key, value in objective.items():
            if key != "network":
                found[prefix + key] = value
    settings = config["settings"]
    found.update({"batch": config["batch"], "epochs": settings["epochs"],
                  "seed": settings["seed"]})
    found.update({f"set.{k}": v for k, v in config.get("set", {}).items()})
    # The HParams tab takes numbers, booleans and strings only.
    return {k: v if isinstance(v, bool | int | float) else str(v) for k, v in found.items()}
