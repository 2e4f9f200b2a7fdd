"""How a repeated stage (`Stage * n`) is lowered: one `lax.scan` body, or unrolled.

A scanned stage compiles its body once, so compile time does not grow with n; an unrolled
stage lets XLA fuse across copies and drops the loop's per-iteration costs (slicing the
stacked parameters, stacking their gradients, the loop itself), which on the CPU backend
cost about 10% of a small transformer's step (docs/benchmarks.md). The rule, per platform:
unroll when n is at most `UNROLL_UP_TO[platform]`, else scan. Parameters stay stacked along
a leading axis of size n either way, so checkpoints do not change, and an unrolled stage
computes what the scanned one does (the same keys, the same slices).

Override the rule with `NNDSL_REPEAT=scan|unroll|auto` in the environment (read when a
graph is compiled: `nndsl train`, `Model`, `Training`) or `Compiled(repeat=...)`.
"""

from __future__ import annotations

import os

from nndsl.source import Source, Span, error

BAD_MODE = "E195"  # NNDSL_REPEAT (or Compiled(repeat=)) is not one of MODES

MODES = ("auto", "scan", "unroll")
ENV = "NNDSL_REPEAT"
# Up to this many copies are unrolled under `auto`. CPU: measured on the transformer (2
# layers) and DigitsResNet (depth 24 stays scanned: 24 copies of two convolutions with their
# gradients compile for seconds). GPU and TPU: kernel launches dominate small bodies, a loop
# adds a few per iteration, and XLA schedules short unrolled stacks better.
UNROLL_UP_TO = {"cpu": 4, "gpu": 8, "tpu": 8}


def repeat_mode(mode: str | None) -> str:
    """The mode a compilation uses: `mode` when given, else `$NNDSL_REPEAT`, else auto."""
    chosen = mode or os.environ.get(ENV) or "auto"
    if chosen not in MODES:
        text = f"{ENV}={chosen}"
        raise error(BAD_MODE, f"unknown repeat lowering `{chosen}`",
                    Span(Source("<environment>", text), 1, len(ENV) + 2, 1, len(text) + 1),
                    hint=f"use one of {', '.join(MODES)} (docs/benchmarks.md#repeat-lowering)")
    return chosen


def unrolled(times: int, platform: str, mode: str) -> bool:
    """Whether a stage repeated `times` times runs unrolled on `platform` under `mode`."""
    if mode != "auto":
        return mode == "unroll"
    return times <= UNROLL_UP_TO.get(platform, 4)
