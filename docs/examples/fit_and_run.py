"""`nndsl train` from Python: fit a spec, score the run, call its best network.

Run from the repository root: `python docs/examples/fit_and_run.py [RUN_DIR]`
(NNDSL_EXAMPLE_EPOCHS=3 for a quick look).
"""

import os
import sys

import numpy as np

import nndsl

EPOCHS = int(os.environ.get("NNDSL_EXAMPLE_EPOCHS", "100"))
out = sys.argv[1] if len(sys.argv) > 1 else "runs/mlp_digits-api"

# What `nndsl train specs/mlp_digits.nn --out runs/mlp_digits-api` does, epoch lines included.
results = nndsl.fit("specs/mlp_digits.nn", out=out, epochs=EPOCHS)
print(results["test"])            # {'loss': ..., 'accuracy': ...}

# What `nndsl eval specs/mlp_digits.nn --run runs/mlp_digits-api --split val` prints.
print(nndsl.evaluate("specs/mlp_digits.nn", out, split="val"))

# The run's best network, ready to call: spec, model, params and state come with it.
run = nndsl.load_run(out)
digits = run.spec.training().data()["test"]
logits = run({"x": digits["x"]})["logits"]
print(f"{run.model.name}: test accuracy {np.mean(np.argmax(logits, -1) == digits['y']):.4f}")
