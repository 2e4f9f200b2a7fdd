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


CELLS = """
cell C(hidden) {
    input x
    state h: [B, hidden]
    h = concat(x, h, axis=-1) -> dense(hidden) -> tanh
    output h
}
network N {
    input x: [B, 10, 8]
    input im: [B, 4, 4, 2]
    output y = x -> scan(C(16)) -> last -> dense(3) -> maxout(3)
    output z = im -> upsample(2) -> conv(4, 3) -> relu -> flatten -> dense(1)
}
"""


def test_which_nodes_keep_a_gradient_buffer(write_spec):
    from nndsl.passes.cost import cost
    from nndsl.passes.trainmem import training_bytes

    graph = load(write_spec(CELLS)).network("N")
    cost(graph)  # marks the graph and its bodies
    body = graph.nodes["C_0"].body
    nodes = {n.id: n for n in graph} | {n.id: n for n in body}
    by_id = {i: training_bytes(n, body if n in body else graph) for i, n in nodes.items()}
    # The cell's concat [B, 24] reads the carried state, which its dense layer trains: a
    # gradient flows through it (2 x 96 bytes), though nothing outside the cell trains.
    assert by_id["C_0.concat_0"] == 2 * 24 * 4
    # An upsampled input [B, 8, 8, 2]: no parameter reaches it, so no gradient buffer.
    assert by_id["upsample_0"] == 8 * 8 * 2 * 4
    # conv read only by relu: fused, its output alone; dense(3) read by maxout (which
    # shrinks it): output and gradient buffer.
    assert by_id["conv_0"] == 6 * 6 * 4 * 4
    assert by_id["dense_0"] == 2 * 3 * 4
