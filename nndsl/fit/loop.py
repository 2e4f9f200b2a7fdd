"""Fit a checked training plan: data on the device, one jitted step, epochs, checkpoints.

The step (forward, value_and_grad, clipping, optimizer update, for each objective in turn)
is a single `jax.jit` with donated buffers. The host syncs only to show progress and at the
end of an epoch. Randomness is derived from the seed, the epoch and the step, so a resumed run
reaches the same parameters as an uninterrupted one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nndsl.data import files as data_files
from nndsl.data.files import FILE_SOURCES
from nndsl.data.sources import LOADERS, Splits
from nndsl.data.table import DataError
from nndsl.elab import TrainPlan
from nndsl.fit import checkpoint, devices, numerics
from nndsl.fit.adversarial import adversarial_batch
from nndsl.fit.augment import augment
from nndsl.fit.devices import Placement
from nndsl.fit.dispatch import Dispatch
from nndsl.fit.indices import check_indices
from nndsl.fit.masks import Masks, apply_masks
from nndsl.fit.natural import join_state, preconditioners, split_state
from nndsl.fit.optim import optimizer
from nndsl.fit.pretrained import initial_params, run_checkpoint
from nndsl.ir import shape_fits
from nndsl.lower import Compiled, Params
from nndsl.ops import REGISTRY
from nndsl.paths import PathRefused
from nndsl.source import Span, error


@dataclass
class History:
    rows: list[dict] = field(default_factory=list)
    best: float | None = None
    best_epoch: int = 0


def load_data(plan: TrainPlan) -> Splits:
    """The plan's data, checked against the fields the graph reads (shape, dtype, and the
    range of integer ids and labels)."""
    data, sources = _read(plan)
    for name, ref in plan.graph.inputs.items():
        want = plan.graph.type_of(ref)
        for split, fields in data.items():
            have = fields.get(name)
            if have is None:
                raise error("E080", f"data `{plan.data.name}` has no field `{name}` ({split})",
                            plan.data.span)
            if not shape_fits(have.shape[1:], want.shape[1:]) or \
                    (have.dtype.kind == "i") != (want.dtype == "i32"):
                raise error("E080", f"data field `{name}` is {have.dtype}{list(have.shape)} "
                            f"but the graph expects {want}", plan.data.span)
    for where, fields in sources.items():
        check_indices(plan.graph, fields, where)
    return data


def _read(plan: TrainPlan) -> tuple[Splits, dict[str, dict]]:
    """The splits, and the arrays as a user knows them (a data file's rows in file order,
    else each split) for errors that name an example."""
    values = plan.data.values
    if plan.data.name in FILE_SOURCES:
        try:
            arrays, splits = data_files.load_splits(plan.data.name, values)
        except (DataError, PathRefused) as exc:  # a row or an image at fault, or refused
            raise error(exc.code, str(exc), plan.data.span, hint=exc.hint) from None
        except ValueError as exc:  # what the header promised, the rows did not keep
            raise error("E086", f"cannot read {plan.data.name} data {values['path']}: {exc}",
                        plan.data.span) from None
        return splits, {f"data file {Path(values['path']).name}": arrays}
    splits = LOADERS[plan.data.name]({k: v for k, v in values.items() if k != "fields"})
    return splits, {f"{split} split": fields for split, fields in splits.items()}


def _select(params: Params, keys: set[str]) -> Params:
    chosen: Params = {}
    for layer, leaves in params.items():
        for name, value in leaves.items():
            if f"{layer}.{name}" in keys:
                chosen.setdefault(layer, {})[name] = value
    return chosen


def _overlay(params: Params, part: Params) -> Params:
    return {layer: {**leaves, **part.get(layer, {})} for layer, leaves in params.items()}


class Trainer:
    """Everything a run needs: compiled graph, optimizers, jitted step and evaluation."""

    def __init__(self, plan: TrainPlan, data: Splits, epochs: int, check_numerics: bool = False,
                 placement: Placement | None = None, devices_arg: str | None = None,
                 training: bool = True, masks: Masks | None = None):
        self.plan, self.epochs, self.placement = plan, epochs, placement
        # A lottery round's pruning masks (nndsl/fit/masks.py): the step keeps them at zero.
        self.masks = masks
        self.compiled = Compiled(plan.graph, check_numerics=check_numerics,
                                 precision=plan.settings["precision"],
                                 platform=placement.platform if placement else None)
        self.batch = min(plan.settings["batch"], len(next(iter(data["train"].values()))))
        if training:  # evaluation alone needs neither a split batch nor training memory
            if placement:
                placement.check_batch(self.batch, devices_arg)
            devices.check_fits(plan, self.batch, placement, devices_arg)
        # Sharded, the data stays on the host: each device receives its rows of a batch.
        put = np.asarray if placement else jnp.asarray
        self.device_data = {split: {k: put(v) for k, v in fields.items()
                                    if k in plan.graph.inputs}
                            for split, fields in data.items()}
        self.n_train = len(next(iter(data["train"].values())))
        self.steps_per_epoch = max(1, self.n_train // self.batch)
        clip = plan.settings["clip_grad_norm"]
        self.optimizers = [optimizer(o.optimizer, o.schedule, self.steps_per_epoch, epochs, clip)
                           for o in plan.objectives]
        self.key_sets = [set(o.keys) for o in plan.objectives]
        # natural_gradient, kfac (fit/natural.py, fit/kfac.py)
        self.natural = preconditioners(plan, self.evaluate_part)
        self.metric_names = list(plan.metrics)
        self.loss_names = [f"loss_{o.network}" if o.network else "loss"
                           for o in plan.objectives]
        # The step donates its parameter, state and optimizer-state buffers: callers must use
        # the returned ones. With --check-numerics both run under checkify (fit/numerics.py).
        # Sharded: every output replicated, so XLA all-reduces the gradients inside the step.
        shardings = {"out_shardings": placement.replicated} if placement else {}
        self._step = numerics.jit(self._train_step, self.compiled, donate_argnums=(0, 1, 2),
                                  **shardings)
        self._eval = numerics.jit(self._eval_batch, self.compiled, **shardings)
        self.step = self._local_step if placement else self._step
        # `nndsl train` sends k steps per call (nndsl.fit.dispatch); evaluation likewise.
        self.dispatch = Dispatch(self, plan.settings["steps_per_dispatch"])

    def _local_step(self, params, state, opt_states, batch, rng):
        """The sharded step, its losses and finiteness as arrays of this process (readable
        on the host whatever the number of processes)."""
        params, state, opt_states, losses, ok = self._step(params, state, opt_states, batch,
                                                           rng)
        return params, state, opt_states, self.placement.local(losses), \
            self.placement.local(ok)

    def placed(self, *trees):
        """Parameters, state, optimizer states (any trees) where the step expects them:
        replicated over the mesh when sharded, else as they are."""
        return tuple(self.placement.replicate(t) for t in trees) if self.placement else trees

    def init(self, seed: int):
        """Fresh parameters and state from `seed`, and the optimizers' states for them."""
        params, state = self.compiled.init(seed)
        return self.placed(params, state, self.init_opt(params))

    def init_opt(self, params: Params) -> list:
        """One optimizer state per objective, over the parameters that objective trains
        (kfac's: optax's and its Kronecker factors, fit/natural.py's join_state)."""
        def init(p):
            return [join_state(opt.init(_select(p, keys)),
                               pre.init(_select(p, keys), self._example(p))
                               if pre is not None and pre.stateful else None)
                    for opt, keys, pre in zip(self.optimizers, self.key_sets, self.natural)]

        return jax.jit(init)(params)

    def _example(self, params: Params) -> tuple:
        """A step's context (parameters, state, batch, key) in shapes alone, for what
        traces the model before the first batch (kfac)."""
        state = jax.eval_shape(lambda: self.compiled.init(0)[1])
        batch = {k: jax.ShapeDtypeStruct((self.batch, *v.shape[1:]), v.dtype)
                 for k, v in self.device_data["train"].items()}
        return params, state, batch, jax.random.PRNGKey(0)

    def evaluate_part(self, part: Params, context: tuple, refs: list, tag=None) -> list:
        """The values of `refs` in train mode with the trained parameters `part` on a step's
        `context` (parameters, state, batch, key): what the preconditioners see."""
        params, state, batch, key = context
        return self.compiled.evaluate(_overlay(params, part), state, batch, key, True, refs,
                                      tag=tag)[0]

    def augmented(self, batch: dict, rng) -> dict:
        """The batch as the step trains on it: augmented (when the plan says so) with a key
        derived from the step's key."""
        if self.plan.augment is None:
            return batch
        return augment(batch, jax.random.fold_in(rng, 1 << 20), self.plan.augment.name,
                       self.plan.augment.values)

    def objective_loss(self, params: Params, state: Params, batch: dict, key, index: int,
                       metrics: bool = False):
        """Objective `index`'s loss on a training batch (train mode, with `key` for random
        ops) and the new state; with `metrics`, also the metrics' values by name. The step
        differentiates this function."""
        refs = [self.plan.objectives[index].loss]
        if metrics:
            refs += [self.plan.metrics[m] for m in self.metric_names]
        values, new_state = self.compiled.evaluate(params, state, batch, key, True, refs)
        return values[0], (dict(zip(self.metric_names, values[1:])), new_state)

    def _train_step(self, params, state, opt_states, batch, rng):
        losses, new_opt_states = [], []
        batch = adversarial_batch(self, params, state, self.augmented(batch, rng), rng)
        ok = jnp.array(True)
        for i, (opt, keys) in enumerate(zip(self.optimizers, self.key_sets)):
            key = jax.random.fold_in(rng, i)

            def loss_fn(part, params=params, state=state, i=i, key=key):
                loss, (_, new_state) = self.objective_loss(_overlay(params, part), state,
                                                           batch, key, i)
                return loss, new_state

            part = _select(params, keys)
            (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(part)
            opt_state, carried = split_state(self.natural[i], opt_states[i])
            if self.natural[i]:  # natural_gradient, kfac: the Fisher-preconditioned gradient
                grads, carried = self.natural[i].direction(grads, part,
                                                           (params, state, batch, key), carried)
            updates, opt_state = opt.update(grads, opt_state, part)
            finite = jnp.isfinite(loss)
            ok = ok & finite
            # A non-finite loss leaves the parameters as they were, for the diagnosis.
            part = jax.tree.map(lambda new, old, ok=finite: jnp.where(ok, new, old),
                                _apply(part, updates), part)
            params, state = _overlay(params, part), new_state
            new_opt_states.append(join_state(opt_state, carried))
            losses.append(loss)
        params = apply_masks(params, self.masks)
        return params, state, new_opt_states, jnp.stack(losses), ok

    def _eval_batch(self, params, state, batch, rng):
        refs = [o.loss for o in self.plan.objectives] + [self.plan.metrics[m]
                                                         for m in self.metric_names]
        values, _ = self.compiled.evaluate(params, state, batch, rng, False, refs)
        return jnp.stack(values)

    def batches(self, split: str, size: int, order=None):
        """Batches of `size` examples of a split, in `order` (training: full batches only),
        else in order (evaluation: the last one partial)."""
        fields = self.device_data[split]
        n = len(next(iter(fields.values())))
        xp = np if self.placement else jnp
        index = xp.arange(n) if order is None else order
        for start in range(0, n - (size - 1 if order is not None else 0), size):
            idx = index[start:start + size]
            if self.placement:
                yield self.placement.batch(fields, idx), len(idx)
            else:
                yield {k: jnp.take(v, idx, axis=0) for k, v in fields.items()}, len(idx)

    def evaluate(self, params, state, split: str, seed: int = 0) -> dict[str, float]:
        """Mean losses and metrics over a split, weighted by batch size: in few calls, or
        batch by batch on a sharded or --check-numerics run (checkify wraps each call)."""
        if not self.dispatch.per_step:
            return self.dispatch.evaluate(params, state, split, seed)
        totals, count = None, 0
        key = jax.random.PRNGKey(seed)
        params, state = self.placed(params, state)
        for batch, n in self.batches(split, self.eval_size()):
            values = self._eval(params, state, batch, key)
            values = (self.placement.local(values) if self.placement else values) * n
            totals = values if totals is None else totals + values
            count += n
        values = np.asarray(totals) / max(count, 1)
        return dict(zip(self.loss_names + self.metric_names, values.tolist()))

    def eval_size(self) -> int:
        """Evaluation's batch: at least 256 examples, a multiple of the devices (sharded, the
        last partial batch runs replicated: its mean is exact, only its speed suffers)."""
        size = max(self.batch, 256)
        count = self.placement.count if self.placement else 1
        return -(-size // count) * count

    def epoch_order(self, seed: int, epoch: int):
        perm = np.random.RandomState([seed, epoch]).permutation(self.n_train)
        return perm if self.placement else jnp.asarray(perm)

    def locate_non_finite(self, params, state, batch, rng) -> str:
        """The first layer whose output is not finite on this batch."""
        for node, value in self.compiled.trace_all(params, state, batch, rng, True):
            if jnp.issubdtype(value.dtype, jnp.floating) and not bool(jnp.all(
                    jnp.isfinite(value))):
                return f"{node.id} ({node.label or node.op}, line {node.span.line})"
        return "no layer output (the loss itself)"


def _apply(part, updates):
    return optax.apply_updates(part, updates)


def monitor_mode(plan: TrainPlan, monitor: str) -> str:
    """Whether early stopping and "best" follow `monitor` up ("max") or down ("min"):
    `patience(mode=...)` when given, else the registry direction of the metric it names,
    whatever name that metric is bound to (`val_digit_acc`); losses go down."""
    mode = str(plan.early_stopping.values["mode"]) if plan.early_stopping else "auto"
    if mode != "auto":
        return mode
    ref = plan.metrics.get(monitor.partition("_")[2])
    return REGISTRY[plan.graph.nodes[ref.node].op].direction if ref else "min"


def monitored_value(plan: TrainPlan, row: dict) -> tuple[str, float]:
    """The quantity early stopping and 'best' follow: the monitor, else the validation loss."""
    monitor = plan.early_stopping.values["monitor"] if plan.early_stopping else "val_loss"
    if monitor in row:
        return monitor, row[monitor]
    losses = [v for k, v in row.items() if k.startswith("val_loss")]
    return "val_loss", float(sum(losses))


def improved(mode: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    """Whether `value` beats `best` by more than `min_delta` in direction `mode`."""
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value > best + min_delta if mode == "max" else value < best - min_delta


def frozen_params(params: Params, plan: TrainPlan, runs_root: Path, spec_stem: str,
                  say=None) -> Params:
    """Fill the parameters of `load(Net, "run")` networks from that run's best checkpoint
    (found under the runs root only, see nndsl.paths; the newest of its numbered runs),
    checking every name and shape, and the model layers an `init = load(...)` starts from
    its run (trainable; nndsl/fit/pretrained.py); `say` is told which run each load uses."""
    prefixes = sorted({layer.split(".")[0] for layer in params if "@" in layer.split(".")[0]})
    for prefix in prefixes:
        network, run = prefix.split("@", 1)
        span = load_span(plan, network, run)
        saved = run_checkpoint(f"load({network}, \"{run}\")", run, span, "E082", runs_root,
                               spec_stem, say, network)
        wanted = {f"params/{layer[len(prefix) + 1:]}.{name}": value.shape
                  for layer in params if layer.split(".")[0] == prefix
                  for name, value in params[layer].items()}
        checkpoint.expect({k: v for k, v in saved.tensors.items() if k in wanted}, wanted,
                          f"load({network}, \"{run}\"): ", span, code="E082")
        for layer in [k for k in params if k.split(".")[0] == prefix]:
            for name in params[layer]:
                params[layer][name] = jnp.asarray(
                    saved.tensors[f"params/{layer[len(prefix) + 1:]}.{name}"])
    return initial_params(params, plan, runs_root, spec_stem, say)


def load_span(plan: TrainPlan, network: str, run: str) -> Span:
    """Where the train section writes `load(network, "run")` (errors about that run point
    there); the `data = ...` line when the call is not found as written."""
    source = plan.data.span.source
    found = re.search(rf'load\(\s*{re.escape(network)}\s*,\s*"{re.escape(run)}"\s*\)',
                      source.text if source else "")
    if not found:
        return plan.data.span
    line = source.text.count("\n", 0, found.start()) + 1
    column = found.start() - (source.text.rfind("\n", 0, found.start()) + 1) + 1
    return Span(source, line, column, line, column + found.end() - found.start())
