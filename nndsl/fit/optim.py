"""A train section's optimizer, schedule and clipping → an optax GradientTransformation."""

from __future__ import annotations

import optax

from nndsl.elab import Config
from nndsl.fit.hypergrad import learned


def learning_rate(lr: float, schedule: Config | None, steps_per_epoch: int, epochs: int):
    """A constant or an optax schedule; `step` and `exponential` count in epochs."""
    if schedule is None or schedule.name == "constant":
        return lr
    v = schedule.values
    if schedule.name == "step":
        return optax.exponential_decay(lr, v["every"] * steps_per_epoch, v["factor"],
                                       staircase=True)
    if schedule.name == "exponential":
        return optax.exponential_decay(lr, steps_per_epoch, v["decay"])
    total = max(steps_per_epoch * epochs, v["warmup"] + 1)
    return optax.warmup_cosine_decay_schedule(0.0, lr, v["warmup"], total,
                                              end_value=lr * v["alpha"])


def optimizer(config: Config, schedule: Config | None, steps_per_epoch: int, epochs: int,
              clip: float | None) -> optax.GradientTransformation:
    """The optax transformation for `optimizer = name(...)` with its schedule and clipping."""
    v = config.values
    # A learned rate starts at `lr` and takes no schedule (checked: E283).
    core = learned(config.name, v, v["lr"]) or \
        _first_order(config.name, v, learning_rate(v["lr"], schedule, steps_per_epoch, epochs))
    return optax.chain(optax.clip_by_global_norm(clip), core) if clip else core


def _first_order(name: str, v: dict, lr) -> optax.GradientTransformation:
    """optax's optimizer `name` with rate (or schedule) `lr`."""
    if name in ("natural_gradient", "kfac"):  # the step preconditions the gradient (fit/natural.py)
        return optax.sgd(lr)
    if name == "sgd":
        core = optax.sgd(lr, momentum=v["momentum"] or None, nesterov=v["nesterov"])
        if v["weight_decay"]:
            core = optax.chain(optax.add_decayed_weights(v["weight_decay"]), core)
        return core
    if name == "adam":
        return optax.adam(lr, b1=v["b1"], b2=v["b2"], eps=v["eps"])
    if name == "adamw":
        return optax.adamw(lr, b1=v["b1"], b2=v["b2"], eps=v["eps"],
                           weight_decay=v["weight_decay"])
    if name == "adagrad":
        return optax.adagrad(lr, eps=v["eps"])
    return optax.rmsprop(lr, decay=v["decay"], eps=v["eps"], momentum=v["momentum"] or None)
