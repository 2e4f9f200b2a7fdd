"""nndsl: a declarative graph compiler for neural-network specifications.

    spec = nndsl.load("specs/mlp_digits.nn")     # parse; .check() reports every problem
    model = spec.compile("MLP")                  # pure JAX: model.init, model.apply
    task = spec.training()                       # loss_fn, train_step, evaluate, data()
    results = nndsl.fit(spec, epochs=20)         # what `nndsl train` does
    run = nndsl.load_run(results["run_dir"])     # the best network, callable

Importing nndsl (and checking a spec) does not import JAX.
"""

import importlib

# `nndsl.fit` names both the runtime package (nndsl/fit/) and the function that trains.
# Importing the package first (its __init__ imports nothing) lets the function hold the name:
# later imports of the package's modules (`nndsl.fit.loop`) bind names on the package only.
importlib.import_module("nndsl.fit")

from nndsl.elab import Limits  # noqa: E402
from nndsl.runs import Run, best_checkpoint, evaluate, fit, load_run  # noqa: E402
from nndsl.source import Diagnostic, SpecError  # noqa: E402
from nndsl.spec import CheckReport, Spec, load  # noqa: E402

__all__ = ["load", "Spec", "CheckReport", "fit", "evaluate", "load_run", "Run",
           "best_checkpoint", "Limits", "Diagnostic", "SpecError"]
