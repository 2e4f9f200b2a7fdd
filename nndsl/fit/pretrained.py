"""`init = load(Net, "run")` at run time: fresh parameters overwritten from the runs' checkpoints.

The elaborator already matched the model's layers to Net's (nndsl/elab/init_load.py); here each
run is found (under the runs root only, as a frozen load's is), its best checkpoint read, and
the tensors it must hold checked by name and shape (E232, at the `load(...)` call) before the
model's parameters take their values. They stay trainable: the optimizer updates them.
"""

from __future__ import annotations

import jax.numpy as jnp

from nndsl.fit import checkpoint
from nndsl.paths import check_run_reference
from nndsl.source import error

RUN_CODE = "E232"  # the run named by `init` is missing or its tensors do not fit


def initial_params(params: dict, plan, runs_root, spec_stem: str, say=None) -> dict:
    """`params` with every layer an `init` load names taken from its run's best checkpoint."""
    for init in plan.inits:
        saved = run_checkpoint(f"init = load({init.network}, \"{init.run}\")", init.run,
                               init.span, RUN_CODE, runs_root, spec_stem, say, init.network)
        for layer in init.layers:
            for name, shape in layer.shapes:
                value = saved.tensors.get(f"params/{layer.source}.{name}")
                if value is None or tuple(value.shape) != tuple(shape):
                    got = "missing" if value is None else str(list(value.shape))
                    raise error(RUN_CODE, f"init: load({init.network}, \"{init.run}\"): tensor "
                                f"`{layer.source}.{name}` is {got} in the run but {list(shape)} "
                                f"for layer `{layer.layer}` of {plan.model}", init.span,
                                hint="train the run again with this spec, or load the run "
                                "this spec's layers were sized for")
                params[layer.layer][name] = jnp.asarray(value)
    return params


def run_checkpoint(call: str, run: str, span, code: str, runs_root, spec_stem: str,
                   say=None, network: str | None = None) -> checkpoint.Checkpoint:
    """The best checkpoint of the run a `load(...)` names (`call`, as the spec wrote it):
    found under the runs root only (nndsl.paths), the newest of its numbered runs; `code` at
    `span` when there is none; `say` is told which run it is. A run of several networks (a
    GAN's) is narrowed to `network`'s own tensors, named as in that network alone."""
    reference = check_run_reference(run, span)
    run_dir = checkpoint.find_run(runs_root, spec_stem, reference)
    if run_dir is None:
        looked = " and ".join(f"{p}[-N]" for p in reference.candidates(runs_root, spec_stem))
        raise error(code, f"{call}: no run `{run}` under {runs_root} (looked for {looked}); "
                    "train it first", span)
    if say:
        say(f"{call}: the run {run_dir}")
    saved = checkpoint.read(run_dir / "best.ckpt")
    if network in checkpoint.networks(saved):
        return checkpoint.network_part(saved, network)
    return saved
