"""What a data-parallel run needs of each device, without JAX (`summary --devices` uses it,
and `train` before it allocates): the batch must split evenly (E181) and the summary's
training-memory estimate for the per-device batch must fit a device's memory (E186)."""

from __future__ import annotations

from nndsl.elab.vocabulary import OPTIMIZER_SLOTS
from nndsl.fit.rundir import argument_span
from nndsl.passes.cost import cost as cost_of
from nndsl.paths import human_size
from nndsl.source import Span, error

BATCH_SPLIT = "E181"  # the global batch does not divide over the devices
NEEDS_BATCH = "E185"  # summary --devices without --batch
OUT_OF_MEMORY = "E186"  # the per-device training-memory estimate exceeds a device's memory


def check_split(batch: int, count: int, devices_arg: str | int | None,
                set_batch: str = "--set batch=") -> int:
    """The per-device batch; E181 when the global batch does not split evenly over `count`
    devices (`set_batch`: how the hint sets another batch)."""
    if batch % count:
        lower = batch // count * count
        raise error(BATCH_SPLIT, f"batch {batch} does not divide over {count} devices",
                    argument_span("--devices", devices_arg or count),
                    hint=f"the spec's batch is the global batch, split evenly: use a "
                    f"multiple of {count} ({set_batch}{lower or count}), or "
                    "--devices N with N dividing it")
    return batch // count


def needs_batch(devices: int) -> Exception:
    """E185: per-device memory depends on the batch, which summary is not given."""
    return error(NEEDS_BATCH, f"--devices {devices} reports per-device memory for a global "
                 "batch: give it with --batch B", argument_span("--devices", devices),
                 hint=f"e.g. --batch {64 * devices} --devices {devices}")


def check_memory(needed: int | None, limit: int | None, count: int, batch: int,
                 devices_arg: str | None, spec_span: Span) -> None:
    """E186 when `needed` bytes per device (summary's training-memory estimate at the
    per-device batch) exceed a device's `limit` (None: unknown, as on CPU, or not
    estimable: nothing is checked). The error points at --devices when it was given, else at
    the spec (`spec_span`)."""
    if needed is None or limit is None or needed <= limit:
        return
    per_device = batch // count
    raise error(OUT_OF_MEMORY, f"training needs about {human_size(needed, decimals=2)} "
                f"({needed:,} bytes) per device at per-device batch {per_device} (global "
                f"{batch} over {count} device{'s' if count > 1 else ''}), but a device has "
                f"{human_size(limit, decimals=2)} ({limit:,} bytes)",
                argument_span("--devices", devices_arg) if devices_arg else spec_span,
                hint="use a smaller batch (--set batch=N) or more devices (--devices N); "
                "`nndsl summary --batch B --devices N` shows the model's share")


def training_estimate(plan, batch: int) -> int | None:
    """Summary's training-memory estimate (float32 parameters, gradients, optimizer state,
    state, activations of `batch` examples) for a train section's whole graph (its networks,
    losses and metrics), with the largest optimizer state its objectives use."""
    slots = max(OPTIMIZER_SLOTS.get(o.optimizer.name, OPTIMIZER_SLOTS["adam"])
                for o in plan.objectives)
    return cost_of(plan.graph).training_bytes(batch, slots)
