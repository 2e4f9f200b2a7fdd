"""Several training steps per dispatch: one jitted call runs k consecutive steps of an epoch.

Between two steps of `nndsl train`, Python used to gather the batch, derive the step's key,
call the step and update the bookkeeping: on a small model that host work took as long as the
step itself. Here one jitted function loops (`lax.fori_loop`, a while loop in XLA) over steps
`start .. start + count` of the epoch: it gathers each batch from the device copy of the
training split with the epoch's order (a device array), derives the key as the one-step loop
did (`fold_in(base, step)`), calls the trainer's `_train_step` unchanged, and writes each
step's losses into the epoch's loss buffer and the first non-finite step into a scalar. The
trip count is an argument, so one compilation serves every chunk (the first step alone, the
probes, k, the epoch's remainder) and results are bit-identical whatever k is.

`steps_per_dispatch = auto` (the default) times the first steps and chooses k so that a call
takes about TARGET_SECONDS (at most an epoch); the progress bar still moves at least every
REFRESH_SECONDS because the host waits for the previous chunk before it sends the next one.
Sharded runs (data stays on the host, nndsl/fit/devices.py) and --check-numerics (every
step checkified, its error raised before the next) run one step per dispatch (`StepLoop`).
Evaluation sums a split's full batches in one call and the last partial batch in another.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# A chunk of steps aims at this long on the device: long enough that the host's work per
# call (~0.1 ms) is lost in it, short enough that Ctrl-C and the bar answer at once.
TARGET_SECONDS = 0.1
# Probing `auto`: chunks of 1, 2, 4, ... steps until one takes this long (then it is timed).
PROBE_SECONDS = 0.02


class Dispatch:
    """A trainer's way of sending steps to the device: k steps per call, or one step per
    call on a sharded or checkified run; and evaluation in few calls."""

    def __init__(self, trainer, setting):
        self.trainer = trainer
        self.per_step = trainer.placement is not None or trainer.compiled.check_numerics
        self.k: int | None = 1 if self.per_step else (None if setting == "auto" else setting)
        self._probe, self._fastest = 1, float("inf")
        self.calls = 0  # chunks sent so far in this process
        # The parameters, state, optimizer states and loss buffer are donated, as by the step.
        self._steps = None if self.per_step else jax.jit(self._chunk, donate_argnums=(0, 1, 2, 3))
        self._eval_full = jax.jit(self._eval_batches, static_argnums=(4,))
        # Host work an epoch needs before its first call, done while the device runs the
        # previous epoch's last chunk: the next order, and the loss buffer passed on.
        self._next: dict[tuple[int, int], object] = {}
        self.buffer = None
        self.keys: dict[int, jax.Array] = {}
        self.no_bad = None  # -1: no non-finite step yet

    def epoch(self, seed: int, epoch: int, clock=time.perf_counter):
        """The steps of epoch `epoch` (from 1) of a run seeded `seed`, to run chunk by chunk
        (see EpochSteps): its order, its base key and the run's number of its first step."""
        order = self._next.pop((seed, epoch), None)
        if order is None:
            order = self.trainer.epoch_order(seed, epoch)
        first = (epoch - 1) * self.trainer.steps_per_epoch
        if self.per_step:
            return StepLoop(self.trainer, order, self.key(seed), first)
        return EpochSteps(self, (seed, epoch), order, clock)

    def key(self, seed: int):
        """`PRNGKey(seed)`, made once (making one costs a call to the device)."""
        if seed not in self.keys:
            self.keys[seed] = jax.random.PRNGKey(seed)
        return self.keys[seed]

    def prefetch(self, seed: int, epoch: int) -> None:
        """Shuffle epoch `epoch` now (the device is busy): its `epoch()` will not wait."""
        self._next = {(seed, epoch): self.trainer.epoch_order(seed, epoch)}

    def next_count(self, remaining: int) -> int:
        """How many steps the next call runs: the run's first step alone (it compiles; the
        run reports when it is done), then k once known, else the next probe."""
        return 1 if self.calls == 0 else min(self.k or self._probe, remaining)

    def timed(self, count: int, seconds: float, compiled: bool) -> None:
        """A probe of `count` steps took `seconds` (waited for). Once a probe is long enough
        to time (or as long as an epoch), k follows from the fastest step seen: a probe the
        machine slowed down (other processes) does not shrink k. The run's first call
        compiles: it says nothing about a step's time."""
        if self.k is not None or not compiled:
            return
        self._fastest = min(self._fastest, seconds / count)
        most = self.trainer.steps_per_epoch
        if seconds >= PROBE_SECONDS or count >= most:
            self.k = int(min(max(1, TARGET_SECONDS // self._fastest), most))
        else:  # the next probe: long enough by this one's estimate, at least twice as long
            self._probe = min(max(count * 2, int(PROBE_SECONDS / self._fastest) + 1), most)

    def _chunk(self, params, state, opt_states, losses, bad, fields, order, start, count,
               base, first_step):
        """Steps `start .. start + count` of the epoch (`order`: its example indices), each
        the trainer's step on its batch with key fold_in(base, first_step + i)."""
        size = self.trainer.batch

        def body(i, carry):
            params, state, opt_states, losses, bad = carry
            rows = lax.dynamic_slice_in_dim(order, i * size, size)
            batch = {name: jnp.take(value, rows, axis=0) for name, value in fields.items()}
            step = first_step + i
            params, state, opt_states, loss, ok = self.trainer._train_step(
                params, state, opt_states, batch, jax.random.fold_in(base, step))
            losses = losses.at[i].set(loss)
            bad = jnp.where((bad < 0) & ~ok, step, bad)
            return params, state, opt_states, losses, bad

        return lax.fori_loop(start, start + count, body,
                             (params, state, opt_states, losses, bad))

    def evaluate(self, params, state, split: str, seed: int = 0) -> dict[str, float]:
        """Mean losses and metrics over a split, as `Trainer.evaluate` defines them: the full
        batches of `eval_size()` in one call, the last partial batch in another."""
        trainer = self.trainer
        fields = trainer.device_data[split]
        n = len(next(iter(fields.values())))
        size = trainer.eval_size()
        key = self.key(seed)
        full, rest = divmod(n, size)
        totals = self._eval_full(params, state, fields, key, size, full) if full else 0.0
        if rest:
            last = {name: value[full * size:] for name, value in fields.items()}
            totals = totals + trainer._eval(params, state, last, key) * rest
        values = np.asarray(totals) / max(n, 1)
        return dict(zip(trainer.loss_names + trainer.metric_names, values.tolist()))

    def _eval_batches(self, params, state, fields, key, size, count):
        """The sum over the first `count` batches of `size` of each batch's values times its
        size (the one-call-per-batch loop's running total, in its order)."""
        def body(i, totals):
            batch = {name: lax.dynamic_slice_in_dim(value, i * size, size)
                     for name, value in fields.items()}
            return totals + self.trainer._eval_batch(params, state, batch, key) * size

        shape = jax.eval_shape(self.trainer._eval_batch, params, state,
                               {k: v[:size] for k, v in fields.items()}, key)
        return lax.fori_loop(0, count, body, jnp.zeros(shape.shape, shape.dtype))


class EpochSteps:
    """One epoch's steps on one device, sent in chunks. `run` sends the next chunk and
    returns the new parameters, state and optimizer states (the old ones are donated);
    `done` counts the steps sent; `first_bad`, `losses` and `mean` wait for the device."""

    def __init__(self, dispatch: Dispatch, run: tuple[int, int], order, clock):
        (self.seed, self.epoch), self.dispatch, self.order, self.clock = run, dispatch, order, clock
        self.steps = dispatch.trainer.steps_per_epoch
        self.base, self.first_step = dispatch.key(self.seed), (self.epoch - 1) * self.steps
        self.done = 0
        if dispatch.buffer is None:  # the first epoch, or the last one did not finish
            dispatch.buffer = jnp.zeros((self.steps, len(dispatch.trainer.loss_names)),
                                        jnp.float32)
            dispatch.no_bad = jnp.array(-1, jnp.int32)
        # The last epoch's loss buffer (each step overwrites its row), donated to the call;
        # handed back when this epoch finishes.
        self._losses, self._bad, dispatch.buffer = dispatch.buffer, dispatch.no_bad, None

    @property
    def finished(self) -> bool:
        return self.done >= self.steps

    def run(self, params, state, opt_states):
        """Send the next chunk; then wait for the one before it, so that the host stays at
        most one chunk ahead of the device (the bar and Ctrl-C follow the device)."""
        dispatch = self.dispatch
        count = dispatch.next_count(self.steps - self.done)
        probing, compiled = dispatch.k is None, dispatch.calls > 0
        dispatch.calls += 1
        started = self.clock()
        previous = self._bad
        params, state, opt_states, self._losses, self._bad = dispatch._steps(
            params, state, opt_states, self._losses, self._bad,
            dispatch.trainer.device_data["train"], self.order, self.done, count, self.base,
            self.first_step)
        self.done += count
        if self.finished:  # what the next epoch needs, while the device works
            dispatch.buffer = self._losses
            dispatch.prefetch(self.seed, self.epoch + 1)
        if probing:
            jax.block_until_ready(self._bad)
            dispatch.timed(count, self.clock() - started, compiled)
        else:
            jax.block_until_ready(previous)
        return params, state, opt_states

    def wait(self) -> None:
        """Wait for the steps sent so far."""
        jax.block_until_ready(self._bad)

    def first_bad(self) -> int:
        """The first step (of the run) whose loss was not finite so far, or -1."""
        return int(self._bad)

    def losses(self) -> np.ndarray:
        """The losses of the steps done so far, one row per step."""
        return np.asarray(self._losses)[:self.done]

    def mean(self) -> list[float]:
        """The epoch's mean losses (on the host: the last update fetched them)."""
        return _mean(self.losses())


class StepLoop:
    """One step per call: the batch gathered on the host (sharded: each device gets its
    rows) and the key derived there; the same interface as EpochSteps."""

    def __init__(self, trainer, order, base, first_step: int):
        self.trainer, self.order, self.base, self.first_step = trainer, order, base, first_step
        self.steps = trainer.steps_per_epoch
        self.done = 0
        self._batches = trainer.batches("train", trainer.batch, order)
        self._losses: list = []
        self._bad = jnp.array(-1)

    @property
    def finished(self) -> bool:
        return self.done >= self.steps

    def run(self, params, state, opt_states):
        batch, _ = next(self._batches)
        step = self.first_step + self.done
        params, state, opt_states, loss, ok = self.trainer.step(
            params, state, opt_states, batch, jax.random.fold_in(self.base, step))
        self._losses.append(loss)
        self._bad = jnp.where((self._bad < 0) & ~ok, step, self._bad)
        self.done += 1
        return params, state, opt_states

    def wait(self) -> None:
        jax.block_until_ready(self._losses[-1])

    def first_bad(self) -> int:
        return int(self._bad)

    def losses(self) -> list:
        return self._losses

    def mean(self) -> list[float]:
        return _mean(jax.device_get(self._losses))


def _mean(losses) -> list[float]:
    """Each loss's mean over the steps (rows), in float64."""
    return np.mean(np.asarray(losses, dtype=np.float64), axis=0).tolist()
