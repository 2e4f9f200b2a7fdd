"""A trained run's training loss as a function of its parameters, for the tools that probe the
loss around a minimum (nndsl/hessian.py, nndsl/landscape.py).

The loss is the train section's (every objective's loss summed) in evaluation mode (dropout
off, batch statistics from the state), so it is a deterministic function of the parameters:
`full` is exactly what `nndsl eval --split train` reports as the loss.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from nndsl.fit import checkpoint
from nndsl.fit.training import Training


class RunLoss:
    """The training loss at a run's checkpoint (its best.ckpt: `nndsl.runs.best_checkpoint`),
    over the whole split or a batch."""

    def __init__(self, spec, saved: str | Path, train: str | None = None,
                 model: str | None = None):
        self.task = Training(spec.plan(train, model), training=False)
        self.trainer = self.task.trainer
        saved = checkpoint.matching(saved, self.trainer.compiled)
        self.params = jax.tree.map(jnp.asarray, saved["params"])
        self.state = jax.tree.map(jnp.asarray, saved["state"])

    def full(self, params) -> float:
        """The mean training loss over the whole training split (as `nndsl eval` gives)."""
        values = self.trainer.evaluate(params, self.state, "train")
        return float(sum(values[name] for name in self.trainer.loss_names))

    def on_examples(self, count: int | None):
        """A differentiable function of the parameters: the loss on the first `count`
        training examples (all when None), evaluation mode."""
        fields = self.trainer.device_data["train"]
        batch = {k: jnp.asarray(v[:count]) for k, v in fields.items()}
        refs = [o.loss for o in self.trainer.plan.objectives]
        key = jax.random.PRNGKey(0)

        def loss(params):
            values, _ = self.trainer.compiled.evaluate(params, self.state, batch, key, False,
                                                       refs)
            return sum(values)

        return loss
