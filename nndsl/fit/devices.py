"""Data parallelism on JAX's own machinery: `--devices N|all`, `--device cpu|gpu|tpu` and
several machines (`--coordinator HOST:PORT --num-processes P --process-id I`).

A `jax.sharding.Mesh` with one `data` axis holds the chosen devices. Parameters, state and
optimizer state are replicated (`NamedSharding(mesh, P())`); each global batch is split along
its first axis (`NamedSharding(mesh, P("data"))`) and the one jitted step runs on all devices:
XLA inserts the all-reduce of the gradients (and of every mean the losses and metrics take),
so a step means exactly what it means on one device. Each process builds its devices' rows of
a batch only (`jax.make_array_from_callback`); outputs read on the host come from a local copy
of the replicated value. Without these options nothing changes: one default device, no mesh.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from nndsl.fit.budget import check_memory, check_split, training_estimate
from nndsl.fit.rundir import argument_span
from nndsl.paths import file_span
from nndsl.source import error

NO_DEVICES = "E180"  # --devices N with fewer than N devices
NO_BACKEND = "E182"  # --device names a backend this machine does not have
NO_COORDINATOR = "E183"  # jax.distributed.initialize failed (unreachable, timeout)
DISTRIBUTED_FLAGS = "E184"  # --coordinator without --num-processes/--process-id, or a bad value


@dataclass
class DeviceOptions:
    """What the command line asks of the devices; all None: the single default device."""

    devices: str | None = None  # "N" or "all"
    backend: str | None = None  # "cpu", "gpu", "tpu"
    coordinator: str | None = None  # HOST:PORT of process 0
    num_processes: int | None = None
    process_id: int | None = None
    timeout: int = 60  # seconds to reach the coordinator

    @property
    def sharded(self) -> bool:
        """Whether a mesh is asked for (any option given)."""
        return any(v is not None for v in (self.devices, self.backend, self.coordinator))


def start_distributed(options: DeviceOptions) -> None:
    """`jax.distributed.initialize` for --coordinator (before any other JAX call); a
    coordinator that cannot be reached within `options.timeout` seconds is E183."""
    if options.coordinator is None:
        return
    if options.num_processes is None or options.process_id is None:
        raise error(DISTRIBUTED_FLAGS, "--coordinator needs --num-processes P and --process-id I",
                    argument_span("--coordinator", options.coordinator),
                    hint="e.g. --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 0")
    if not 0 <= options.process_id < options.num_processes:
        raise error(DISTRIBUTED_FLAGS, f"--process-id {options.process_id} is not in 0.."
                    f"{options.num_processes - 1}",
                    argument_span("--process-id", options.process_id))
    deadline = time.monotonic() + options.timeout
    if options.process_id != 0 and not _reachable(options.coordinator, deadline):
        raise error(NO_COORDINATOR, f"cannot reach the coordinator {options.coordinator} "
                    f"within {options.timeout} s (process {options.process_id} of "
                    f"{options.num_processes})",
                    argument_span("--coordinator", options.coordinator),
                    hint="start process 0 (--process-id 0) on HOST: it listens on PORT; every "
                    "process passes the same --coordinator and --num-processes; --timeout S "
                    "waits longer")
    # Past this point a failure (a process that never joins) is JAX's own: it ends the
    # process (SIGABRT, DEADLINE_EXCEEDED) once the timeout has passed, it does not hang.
    jax.distributed.initialize(options.coordinator, num_processes=options.num_processes,
                               process_id=options.process_id,
                               initialization_timeout=max(1, round(deadline - time.monotonic())))


def _reachable(address: str, deadline: float) -> bool:
    """Whether HOST:PORT accepts a TCP connection before `deadline` (time.monotonic()):
    jax.distributed aborts the process when its coordinator cannot be reached, so the other
    processes look first and fail with a located error instead."""
    host, _, port = address.rpartition(":")
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.25)


def choose_devices(options: DeviceOptions) -> list:
    """The devices a run shards over: `--devices N` of the backend's (all processes')
    devices, `all` of them; E182 for an absent backend, E180 for too few devices."""
    try:
        available = jax.devices(options.backend)
    except RuntimeError as exc:
        raise error(NO_BACKEND, f"--device {options.backend}: no such backend on this machine "
                    f"({str(exc).splitlines()[0][:200]})",
                    argument_span("--device", options.backend),
                    hint=f"the default backend here is {jax.default_backend()}") from None
    if options.devices in (None, "all"):
        return available if options.devices == "all" or jax.process_count() > 1 else \
            available[:1]
    wanted = int(options.devices)
    if wanted > len(available):
        listed = ", ".join(str(d) for d in available)
        raise error(NO_DEVICES, f"--devices {wanted}: only {len(available)} "
                    f"{available[0].platform} device(s) exist: {listed}",
                    argument_span("--devices", wanted),
                    hint="--devices all uses every one; on CPU, XLA_FLAGS="
                    "--xla_force_host_platform_device_count=N makes N")
    if wanted < jax.process_count():
        raise error(NO_DEVICES, f"--devices {wanted}: {jax.process_count()} processes need "
                    "at least one device each", argument_span("--devices", wanted))
    return available[:wanted]


class Placement:
    """Where a run's arrays live: replicated over the mesh, or split along `data`."""

    def __init__(self, devices: list):
        self.mesh = Mesh(np.array(devices), ("data",))
        self.count = len(devices)
        self.platform = devices[0].platform
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.split = NamedSharding(self.mesh, PartitionSpec("data"))
        # XLA:CPU's collectives meet on a thread pool sized to the cores: with more devices
        # than cores, several sharded steps in flight deadlock (seen: 4 forced devices on 2
        # cores, LeNet, aborted after 40 s). On CPU each step is awaited before the next.
        self.serial = self.platform == "cpu" and self.count > 1

    def describe(self, batch: int) -> str:
        """`4 cpu devices (per-device batch 16)` for the start line."""
        processes = f", {jax.process_count()} processes" if jax.process_count() > 1 else ""
        return (f"{self.count} {self.platform} device"
                f"{'s' if self.count > 1 else ''}{processes}, per-device batch "
                f"{batch // self.count}")

    def check_batch(self, batch: int, devices_arg: str | None) -> None:
        """E181 when the global batch does not split evenly over the devices."""
        check_split(batch, self.count, devices_arg)

    def replicate(self, tree):
        """Every leaf as a global array holding the same value on each device."""
        def put(leaf):
            value = np.asarray(leaf)
            return jax.make_array_from_callback(value.shape, self.replicated,
                                                lambda index: value[index])
        return jax.tree.map(put, tree)

    def batch(self, fields: dict, rows: np.ndarray) -> dict:
        """The examples `rows` of host `fields` as global arrays: split along `data` when they
        divide over the devices (each device reads its own rows only), else replicated (an
        evaluation's last partial batch)."""
        sharding = self.split if len(rows) % self.count == 0 else self.replicated
        return {name: jax.make_array_from_callback(
                    (len(rows), *value.shape[1:]), sharding,
                    lambda index, value=value: value[rows[index[0]]])
                for name, value in fields.items()}

    def local(self, value):
        """A replicated output as an array of this process (float(), tolist() work on it);
        on CPU, once it is computed."""
        if self.serial:
            value.block_until_ready()
        return value.addressable_data(0)


def placement(options: DeviceOptions | None) -> Placement | None:
    """The run's placement, or None when no device option was given (one default device)."""
    if options is None or not options.sharded:
        return None
    return Placement(choose_devices(options))


def check_fits(plan, batch: int, placement: Placement | None, devices_arg: str | None) -> None:
    """E186 before anything is allocated when summary's training-memory estimate at the
    per-device batch exceeds the memory of the devices the run uses (GPU, TPU); nothing is
    checked where a backend does not tell its memory (CPU)."""
    used = list(placement.mesh.devices.flat) if placement else jax.devices()[:1]
    count = placement.count if placement else 1
    check_memory(training_estimate(plan, batch // count), memory_limit(used), count, batch,
                 devices_arg, file_span(plan.data.span.source.path))


def memory_limit(devices: list) -> int | None:
    """The smallest `bytes_limit` of this process's `devices` (`Device.memory_stats()`, known
    on GPU and TPU), or None when one does not tell (CPU: memory_stats() is None)."""
    limits = []
    for device in devices:
        if device.process_index != jax.process_index():
            continue
        try:
            stats = device.memory_stats()
        except (RuntimeError, NotImplementedError):  # a backend without the call
            stats = None
        if not stats or "bytes_limit" not in stats:
            return None
        limits.append(int(stats["bytes_limit"]))
    return min(limits, default=None)


def host(value) -> np.ndarray:
    """A (possibly global, replicated) array as a host array, on any process."""
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        return np.asarray(value.addressable_data(0))
    return np.asarray(value)


def writes_run() -> bool:
    """Whether this process writes the run directory: process 0 alone (of one, or several)."""
    return jax.process_index() == 0
