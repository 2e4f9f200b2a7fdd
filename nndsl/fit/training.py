"""A train section for Python users: `spec.training()` → `Training`, the pieces `nndsl train`
runs, as functions to call from a loop of one's own.

Everything here is the CLI's own machinery (`nndsl.fit.loop.Trainer`): `train_step` is the very
jitted step `nndsl train` runs, and `loss_fn` the function that step differentiates.
"""

from __future__ import annotations

from pathlib import Path

import jax

from nndsl.data.sources import Splits
from nndsl.elab import TrainPlan
from nndsl.fit.devices import DeviceOptions, placement
from nndsl.fit.loop import Trainer, frozen_params, load_data
from nndsl.lower import Params

SPLITS = ("train", "val", "test")


class Training:
    """A checked train section with its data loaded: loss, optimizer, step and evaluation."""

    def __init__(self, plan: TrainPlan, epochs: int | None = None,
                 runs_root: Path = Path("runs"), spec_stem: str = "",
                 check_numerics: bool = False, devices: DeviceOptions | None = None,
                 training: bool = True):
        self.plan = plan
        self._splits = load_data(plan)
        self.trainer = Trainer(plan, self._splits, epochs or plan.settings["epochs"],
                               check_numerics, placement(devices), devices and devices.devices,
                               training)
        self._runs_root, self._spec_stem = runs_root, spec_stem

    @property
    def epochs(self) -> int:
        return self.trainer.epochs

    @property
    def batch_size(self) -> int:
        """The section's `batch` (at most the number of training examples)."""
        return self.trainer.batch

    @property
    def seed(self) -> int:
        return self.plan.settings["seed"]

    @property
    def loss_names(self) -> list[str]:
        """`loss`, or `loss_<network>` per step of a section with several (a GAN)."""
        return list(self.trainer.loss_names)

    @property
    def metric_names(self) -> list[str]:
        return list(self.trainer.metric_names)

    @property
    def optimizers(self) -> list:
        """One optax transformation per objective (schedule and clipping included)."""
        return list(self.trainer.optimizers)

    @property
    def trained_keys(self) -> list[set[str]]:
        """Per objective, the `layer.name` tensors its optimizer updates."""
        return [set(keys) for keys in self.trainer.key_sets]

    def data(self) -> Splits:
        """The `train`, `val` and `test` splits as {field: numpy array} dicts, checked
        against the graph's inputs as `nndsl train` checks them."""
        return {split: dict(fields) for split, fields in self._splits.items()}

    def init(self, seed: int | None = None) -> tuple[Params, Params]:
        """Fresh `(params, state)` of every network the section uses (default seed: the
        section's), with `load(Net, "run")` networks filled from their runs."""
        params, state = self.trainer.compiled.init(self.seed if seed is None else seed)
        return frozen_params(params, self.plan, self._runs_root, self._spec_stem), state

    def init_opt(self, params: Params) -> list:
        """The optimizers' states for `params`: the `opt_state` of `train_step`."""
        return self.trainer.init_opt(params)

    def loss_fn(self, params: Params, state: Params, batch: dict, rng, objective: int = 0):
        """`(loss, (metrics, new_state))` of objective `objective` on a training batch, as the
        step computes it (augmentation, dropout keys from `rng`): ready for
        `jax.value_and_grad(task.loss_fn, has_aux=True)`. Gradients reach every parameter;
        the step applies only those of `trained_keys[objective]`."""
        batch = self.trainer.augmented(batch, rng)
        key = jax.random.fold_in(rng, objective)
        return self.trainer.objective_loss(params, state, batch, key, objective, metrics=True)

    def train_step(self, params: Params, state: Params, opt_state: list, batch: dict, rng):
        """One optimizer step for every objective, jitted, exactly as `nndsl train` runs it:
        `(params, state, opt_state, losses, ok)`; `ok` is false when a loss was not finite
        (the parameters are then kept). The input buffers are donated: use the returned ones."""
        return self.trainer.step(params, state, opt_state, batch, rng)

    def evaluate(self, params: Params, state: Params, split: str = "test") -> dict[str, float]:
        """Mean losses and metrics over a split (`train`, `val` or `test`), as `nndsl eval`
        reports them."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
        return self.trainer.evaluate(params, state, split)

    def __repr__(self) -> str:
        title = f"train {self.plan.name}" if self.plan.name else "train"
        sizes = {split: len(next(iter(f.values()))) for split, f in self._splits.items()}
        return (f"Training({title}: {self.plan.model or 'several networks'} on "
                f"{self.plan.data.name} {sizes}, batch {self.batch_size}, {self.epochs} epochs)")


__all__ = ["Training"]
