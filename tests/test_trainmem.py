"""`summary --batch`'s training-memory estimate against the compiled train step's own memory
analysis (arguments + outputs - donated + temporaries), within 20%."""

from __future__ import annotations

import jax
import pytest

from bench.train_step import synthetic
from nndsl.fit.budget import training_estimate
from nndsl.fit.loop import Trainer
from nndsl.spec import load
from tests.conftest import CONTRACT


def measured_bytes(plan, batch: int) -> int:
    """Peak bytes of the compiled train step at `batch`, from XLA's memory analysis."""
    trainer = Trainer(plan, synthetic(plan, batch), 1)
    params, state, opt_states = trainer.init(0)
    data = {k: v[:batch] for k, v in trainer.device_data["train"].items()}
    stats = trainer.step.lower(params, state, opt_states, data,
                               jax.random.PRNGKey(0)).compile().memory_analysis()
    return (stats.argument_size_in_bytes + stats.output_size_in_bytes
            - stats.alias_size_in_bytes + stats.temp_size_in_bytes)


@pytest.mark.parametrize("spec", ["mlp_digits.nn", "lenet5.nn", "transformer.nn"])
def test_estimate_within_20_percent_of_compiled_memory(spec):
    plan = load(CONTRACT / spec).plan(None)
    batch = 64
    estimate, measured = training_estimate(plan, batch), measured_bytes(plan, batch)
    assert 0.8 <= estimate / measured <= 1.2, (estimate, measured)
