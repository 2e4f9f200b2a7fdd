"""kfac-jax 0.0.8 on newer JAX: one function replaced, only when the installed JAX needs it.

kfac-jax's tracer re-evaluates the model's jaxpr equation by equation with
`kfac_jax._src.tag_graph_matcher.eval_jaxpr_eqn`, which unpacks
`eqn.primitive.get_bind_params(params)` as `(subfuns, params)`. JAX 0.10 changed
`Primitive.get_bind_params` to return the parameters alone, so every curvature update fails
with "too many values to unpack". `load()` swaps in the same function accepting both forms.

It can go when nndsl requires a kfac-jax release that calls `get_bind_params` the new way
(kfac-jax > 0.0.8); `needs_shim()` then returns False and `load()` only imports it.
"""

from __future__ import annotations

import warnings

import jax.extend as jex


def needs_shim() -> bool:
    """Whether this JAX's `Primitive.get_bind_params` returns params alone (kfac-jax 0.0.8
    expects `(subfuns, params)`)."""
    probe = jex.core.Primitive("nndsl_bind_params_probe")
    return not isinstance(probe.get_bind_params({}), tuple)


def eval_jaxpr_eqn(eqn, in_values: list) -> list:
    """kfac-jax's `eval_jaxpr_eqn` for either form of `get_bind_params`."""
    bound = eqn.primitive.get_bind_params(eqn.params)
    subfuns, params = bound if isinstance(bound, tuple) else ((), bound)
    with jex.source_info_util.user_context(eqn.source_info.traceback):
        out = eqn.primitive.bind(*subfuns, *in_values, **params)
    return out if isinstance(out, list) else [out]


def load():
    """kfac_jax, patched when this JAX needs it (idempotent); ImportError when it is not
    installed. kfac-jax 0.0.8 also reads names JAX 0.10 deprecates (`jax.core.Effects`,
    `jax.core.no_effects`): those warnings are kfac-jax's to fix, so they are silenced for
    its modules only."""
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"kfac_jax(\.|$)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import kfac_jax
    from kfac_jax._src import tag_graph_matcher

    if needs_shim():
        tag_graph_matcher.eval_jaxpr_eqn = eval_jaxpr_eqn
    return kfac_jax
