"""Cost: parameters, non-trainable state, FLOPs and activation memory, per layer and in total.

Convention: a multiply-add counts as 2 FLOPs; elementwise ops count one FLOP per output element.
Figures are per example (the batch dimension excluded); a repeated body counts once per copy,
a scanned cell once per time step.
"""

from __future__ import annotations

from dataclasses import dataclass

from nndsl.ir import DTYPE_BYTES, Graph, Node
from nndsl.ops import REGISTRY
from nndsl.ops.control import CONST
from nndsl.passes.trainmem import mark_reached
from nndsl.passes.trainmem import training_bytes as node_training_bytes


@dataclass
class LayerCost:
    name: str
    op: str
    label: str
    shape: str
    params: int
    flops: int | None
    depth: int


@dataclass
class Cost:
    layers: list[LayerCost]
    params: int
    frozen_params: int
    state: int
    flops: int | None
    activation_bytes: int | None
    # What a training step holds per example (outputs, gradient buffers, what ops' gradients
    # save: passes/trainmem.py); None when a non-batch dimension is symbolic.
    training_activation_bytes: int | None = None

    def training_bytes(self, batch: int, optimizer_slots: int = 2) -> int | None:
        """Parameters + gradients + optimizer state + activations for one batch, in bytes."""
        memory = self.training_memory(batch, optimizer_slots)
        return None if memory is None else sum(memory.values())

    def training_memory(self, batch: int, optimizer_slots: int = 2) -> dict[str, int] | None:
        """`training_bytes` by part (float32 figures): parameters, gradients, optimizer state,
        non-trainable state and the activations of `batch` examples. On a data-parallel mesh
        each device holds all the parts for the per-device batch (the rest is replicated)."""
        if self.training_activation_bytes is None:
            return None
        return {"params": 4 * self.params, "gradients": 4 * self.params,
                "optimizer": 4 * self.params * optimizer_slots, "state": 4 * self.state,
                "activations": batch * self.training_activation_bytes}


def cost(graph: Graph) -> Cost:
    """Per-layer and total cost of a network graph."""
    layers: list[LayerCost] = []
    totals = {"flops": 0, "act": 0, "train": 0}
    seen: dict[str, int] = {}
    frozen: dict[str, int] = {}
    state: dict[str, int] = {}
    mark_reached(graph)  # before any body is visited: a body's marks come from its holder
    _visit(graph, (1, 1), 0, layers, totals, seen, frozen, state)
    return Cost(layers, sum(seen.values()), sum(frozen.values()), sum(state.values()),
                totals["flops"], totals["act"], totals["train"])


def _visit(graph: Graph, multipliers: tuple[int, int], depth: int, layers, totals, seen, frozen,
           state) -> None:
    """`multipliers`: (copies of each parameter, executions of each node) per example."""
    times, runs = multipliers
    for node in graph:
        own = 0
        for spec in node.params.values():
            table = seen if spec.trainable else frozen
            if spec.key not in table:
                table[spec.key] = spec.size * times
                own += spec.size * times if spec.trainable else 0
        for spec in node.state.values():
            state.setdefault(spec.key, spec.size * times)
        flops = _node_flops(node, graph, runs)
        _accumulate(totals, "flops", flops)
        _accumulate(totals, "act", _activation_bytes(node, runs))
        if node.body is None:
            train = node_training_bytes(node, graph)
            _accumulate(totals, "train", None if train is None else train * runs)
        if REGISTRY[node.op] is not CONST:
            layers.append(LayerCost(node.id, node.op, node.label, str(node.out), own, flops,
                                    depth))
        if node.body is not None:
            rule = REGISTRY[node.op].body_rule("cost")
            inner = (times * rule.copies(node), runs * rule.runs(node, graph))
            _visit(node.body, inner, depth + 1, layers, totals, seen, frozen, state)


def _accumulate(totals: dict, key: str, value: int | None) -> None:
    if totals[key] is None or value is None:
        totals[key] = None
    else:
        totals[key] += value


def _node_flops(node: Node, graph: Graph, times: int) -> int | None:
    if node.body is not None:
        return 0
    in_types = [graph.type_of(ref) for ref in node.inputs]
    flops = REGISTRY[node.op].flops(in_types, list(node.outs), node.attrs)
    return None if flops is None else flops * times


def _activation_bytes(node: Node, times: int) -> int | None:
    if node.body is not None:
        return 0
    total = 0
    for t in node.outs:
        n = t.elements_per_example()
        if n is None:
            return None
        total += n * DTYPE_BYTES[t.dtype]
    return total * times
