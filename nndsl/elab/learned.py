"""Checks for optimizers that learn their own learning rate (`sgd_hd`, `adam_hd`)."""

from __future__ import annotations

from nndsl.elab.config import Config
from nndsl.source import error

LEARNED_RATE = ("sgd_hd", "adam_hd")


def check_learned_rate(optimizer: Config | None, schedule: Config | None) -> None:
    """A learned rate follows its own gradient: a schedule as well is E283, at the schedule."""
    if optimizer is None or optimizer.name not in LEARNED_RATE:
        return
    if schedule is not None and schedule.name != "constant":
        raise error("E283", f"`{optimizer.name}` learns its learning rate, so it takes no "
                    f"schedule (`{schedule.name}`)", schedule.span,
                    hint=f"remove `schedule = ...`, or use `{optimizer.name[:-3]}` with it")
