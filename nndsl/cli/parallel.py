"""`nndsl train`'s device options: --devices, --device and the jax.distributed flags
(docs/devices.md). Parsing only: JAX is imported when training starts (nndsl.fit.devices)."""

from __future__ import annotations

import argparse

DEVICES_HELP = """\
devices (docs/devices.md):
  --devices N|all shards each global batch (the spec's `batch`) over N devices of a
  jax.sharding.Mesh: per-device batch = batch / N, which must divide (E181); parameters and
  optimizer state are replicated and XLA all-reduces the gradients inside the one jitted step,
  so losses, metrics and checkpoints mean what they mean on one device (checkpoints hold host
  arrays: a run resumes on any number of devices). Evaluation shards too; its last partial
  batch runs replicated, not padded. --devices 5 where 4 exist is E180. --device cpu|gpu|tpu
  picks the backend (E182 when absent). Several machines: every process runs the same command
  with --coordinator HOST:PORT --num-processes P --process-id I (jax.distributed; cluster
  variables are not read without these flags; a SLURM recipe is in docs/devices.md); process 0
  alone writes the run directory; an unreachable coordinator is E183 after --timeout seconds.

example:  XLA_FLAGS=--xla_force_host_platform_device_count=4 nndsl train specs/mlp_digits.nn \\
          --devices 4
"""


def _device_count(text: str) -> str:
    """`all`, or a whole number >= 1."""
    if text != "all" and (not text.isdigit() or int(text) < 1):
        raise argparse.ArgumentTypeError(f"takes `all` or a whole number >= 1, not `{text}`")
    return text


def _host_port(text: str) -> str:
    """HOST:PORT with a numeric port."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"takes HOST:PORT (10.0.0.1:1234), not `{text}`")
    return text


def add_arguments(train: argparse.ArgumentParser) -> None:
    """The device options of `nndsl train`."""
    group = add_device_arguments(train, "shard each batch over N devices (all: every one); "
                                 "the spec's batch is the global batch and N must divide it "
                                 "(E181)")
    group.add_argument("--coordinator", type=_host_port, metavar="HOST:PORT",
                       help="several processes: process 0's address (jax.distributed); "
                       "needs --num-processes and --process-id")
    group.add_argument("--num-processes", type=int, metavar="P", help="processes in all")
    group.add_argument("--process-id", type=int, metavar="I", help="this process, 0..P-1")
    group.add_argument("--timeout", type=int, default=60, metavar="S",
                       help="seconds to reach the coordinator before E183 (default 60)")


def add_device_arguments(parser: argparse.ArgumentParser, devices_help: str):
    """--devices and --device (`train`, `eval`, `predict`); returns their argument group."""
    group = parser.add_argument_group("devices (data parallelism, docs/devices.md)")
    group.add_argument("--devices", type=_device_count, metavar="N|all", help=devices_help)
    group.add_argument("--device", choices=("cpu", "gpu", "tpu"), dest="backend",
                       help="the backend to run on (default: JAX's default; E182 when absent)")
    return group


def options(args) -> dict:
    """The device options given, as keyword arguments of nndsl.fit.devices.DeviceOptions."""
    return {"devices": args.devices, "backend": args.backend,
            "coordinator": getattr(args, "coordinator", None),
            "num_processes": getattr(args, "num_processes", None),
            "process_id": getattr(args, "process_id", None),
            "timeout": getattr(args, "timeout", 60)}
