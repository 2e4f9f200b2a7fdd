"""`--check-numerics`: run a step under `jax.experimental.checkify` and report the first
failing check (an index out of range, a NaN output) as a located error naming the op.

The checks themselves are staged by the lowering (nndsl.lower, `Compiled(check_numerics=True)`)
from the registry's `indexes` rule, so data checked on entry (nndsl.fit.indices) and indices
computed in the graph obey one rule. Off, `jit` is plain `jax.jit`: no check, no cost.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
from jax.experimental import checkify

from nndsl.lower import Compiled
from nndsl.source import NO_SPAN, error

NUMERIC_CHECK = "E087"
# How checkify ends the message of a failed `checkify.check`.
_SUFFIX = " (`check` failed)"


def jit(fn: Callable, compiled: Compiled, **jit_args) -> Callable:
    """`jax.jit(fn, **jit_args)`; when `compiled` checks numerics, `fn` runs checkified and
    the host waits for each call to raise E087 at the first failing check's op."""
    if not compiled.check_numerics:
        return jax.jit(fn, **jit_args)
    checked = jax.jit(checkify.checkify(fn, errors=checkify.user_checks), **jit_args)

    def call(*args):
        err, out = checked(*args)
        message = err.get()
        if message is not None:
            raise _located(message.removesuffix(_SUFFIX), compiled)
        return out

    return call


def _located(message: str, compiled: Compiled):
    site = next((node for where, node in compiled.check_sites.items()
                 if message.startswith(where + ":")), None)
    return error(NUMERIC_CHECK, f"--check-numerics: {message}",
                 site.span if site is not None else NO_SPAN)
