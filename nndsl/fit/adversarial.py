"""Adversarial training (`adversarial = fgsm(eps=0.1)` or `pgd(eps=0.1, steps=7)` in a train
section): inside the jitted step, each floating-point input of the section's model (never a
target or a mask: values["fields"], nndsl/elab/train.py) is replaced by its FGSM / PGD
version against the first objective's loss at the current parameters (train mode, the
step's key), eps a fraction of that field's valid range (the training split's min to max).
The parameters' gradient is then taken on the adversarial batch; it does not flow through
the attack (nndsl/probe/attacks.py)."""

from __future__ import annotations

import jax
import numpy as np

from nndsl.probe import attacks
from nndsl.probe.target import valid_range

# Where the attack's key comes from: the step's key folded with this (augmentation uses
# 1 << 20, the objectives 0, 1, ...).
KEY_SALT = 1 << 21


def attacked_fields(trainer) -> dict[str, tuple[float, float]]:
    """The batch fields an attack perturbs (the model's floating-point inputs) and the valid
    range of each, from the training split (read when the step is traced)."""
    train = trainer.device_data["train"]
    return {name: valid_range(np.asarray(train[name]))
            for name in trainer.plan.adversarial.values["fields"]}


def adversarial_batch(trainer, params, state, batch: dict, rng) -> dict:
    """The batch the step trains on under the plan's `adversarial` setting (unchanged
    without one)."""
    setting = trainer.plan.adversarial
    if setting is None:
        return batch
    key = jax.random.fold_in(rng, KEY_SALT)
    params = jax.lax.stop_gradient(params)
    out = dict(batch)
    for i, (name, (low, high)) in enumerate(attacked_fields(trainer).items()):
        eps = attacks.absolute_eps(setting.values["eps"], low, high)

        def loss(x, name=name):
            value, _ = trainer.objective_loss(params, state, {**out, name: x}, key, 0)
            return value * x.shape[0]  # summed: each example's own gradient, unscaled

        out[name] = attacks.attack(setting.name, loss, out[name], eps, low, high,
                                   setting.values.get("steps", 1), jax.random.fold_in(key, i))
    return out
