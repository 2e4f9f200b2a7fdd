"""What `explain` and `attack` work on: a run's trained network, a split of its data, the
input they differentiate, its valid range, and (for a classifier) the labels.

The valid range of an input is the training split's minimum and maximum of that field
(the bundled digits: 0 to 1); eps and noise are given as fractions of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from nndsl.ir import Ref
from nndsl.source import did_you_mean, error

NOT_A_CLASSIFIER = "E200"
CLASS_RANGE = "E201"
EPS_RANGE = "E202"
NO_LAYER = "E203"
UNIT_RANGE = "E204"
NO_FLOAT_INPUT = "E206"
# The loss ops that make a network a classifier: logits [B, K] against integer labels.
CLASSIFIER_LOSSES = ("cross_entropy",)


@dataclass
class Target:
    """A trained network and one split of its data, ready to differentiate."""

    name: str
    compiled: object
    params: dict
    state: dict
    field: str                   # the input explained or attacked
    output: str                  # the network output scored (a classifier's logits)
    inputs: dict[str, np.ndarray]  # the split's network inputs
    labels: np.ndarray | None    # the split's class labels (a classifier), else None
    low: float
    high: float

    @property
    def classifier(self) -> bool:
        return self.labels is not None

    @property
    def classes(self) -> int:
        """K of the output [B, K]."""
        return int(self.compiled.graph.type_of(self.compiled.graph.outputs[self.output])
                   .shape[-1])

    @property
    def image(self) -> bool:
        """Whether the input is an image batch [B, H, W, C]."""
        return self.inputs[self.field].ndim == 4

    def output_of(self, batch: dict, x):
        """The scored output for `batch` with its input replaced by `x` (inference mode)."""
        outputs, _ = self.compiled.apply(self.params, self.state, {**batch, self.field: x})
        return outputs[self.output]

    def value_of(self, batch: dict, x, node_id: str):
        """A layer's output for `batch` with its input replaced by `x` (inference mode)."""
        values, _ = self.compiled.evaluate(self.params, self.state, {**batch, self.field: x},
                                           jax.random.PRNGKey(0), False, [Ref(node_id)])
        return values[0]

    def loss(self, batch: dict, labels):
        """The summed cross-entropy of the batch as a function of its input (attacks)."""
        def summed(x):
            logits = self.output_of(batch, x)
            return -jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None],
                                                axis=1))
        return summed

    def batches(self, size: int, count: int | None = None):
        """(network inputs, labels or None) of the first `count` examples, `size` at a time."""
        n = len(self.inputs[self.field]) if count is None else count
        for start in range(0, n, size):
            stop = min(start + size, n)
            labels = None if self.labels is None else jnp.asarray(self.labels[start:stop])
            yield {k: jnp.asarray(v[start:stop]) for k, v in self.inputs.items()}, labels


def load_target(spec, run: Path, name: str, compiled, saved, train: str | None,
                split: str) -> Target:
    """The Target of a run (checked first with `rundir.check_same_spec`) on `split`."""
    from nndsl.fit.loop import load_data

    plan = spec.plan(train, name)
    data = load_data(plan)
    field = _float_input(compiled.graph, spec, name)
    output, label = _classifier(plan, compiled.graph)
    fields = data[split]
    low, high = valid_range(data["train"][field])
    return Target(name, compiled, saved["params"], saved["state"], field,
                  output or next(iter(compiled.graph.outputs)),
                  {k: fields[k] for k in compiled.graph.inputs},
                  None if label is None else np.asarray(fields[label]), low, high)


def valid_range(values: np.ndarray) -> tuple[float, float]:
    """The training split's minimum and maximum of an input field."""
    return float(np.min(values)), float(np.max(values))


def _float_input(graph, spec, name: str) -> str:
    """The network's first floating-point input (E206 when it reads ids only)."""
    for field, ref in graph.inputs.items():
        if graph.type_of(ref).dtype != "i32":
            return field
    raise error(NO_FLOAT_INPUT, f"`{name}` has no floating-point input to differentiate "
                f"(its inputs: {', '.join(graph.inputs)} are integer ids)", spec.file_span(),
                hint="explain and attack work on networks of real-valued inputs (images, "
                "features)")


def _classifier(plan, graph) -> tuple[str | None, str | None]:
    """(output, label field) when the section's loss has a cross-entropy of one of the
    network's outputs [B, K] against a data field (alone or in a sum: `+ 1e-4 * l2(params)`),
    else (None, None)."""
    for node in plan.graph:
        if node.op not in CLASSIFIER_LOSSES:
            continue
        scored, target = node.inputs[0], node.inputs[1]
        outputs = [k for k, ref in graph.outputs.items() if ref == scored]
        labels = [k for k, ref in plan.graph.inputs.items() if ref == target]
        if outputs and labels and len(graph.type_of(scored).shape) == 2:
            return outputs[0], labels[0]
    return None, None


def check_class(target: Target, wanted: int | None, span) -> None:
    """`--class K` needs a classifier and 0 <= K < its number of classes."""
    if wanted is None:
        return
    if not target.classifier:
        raise error(NOT_A_CLASSIFIER, f"--class needs a classifier, and `{target.name}` is not "
                    "one: its train section's loss is not a cross_entropy of logits [B, K] "
                    "against labels", span,
                    hint=f"drop --class: explain then follows the output `{target.output}` "
                    "(its entries summed)")
    if not 0 <= wanted < target.classes:
        raise error(CLASS_RANGE, f"--class {wanted}: `{target.name}` has classes 0 to "
                    f"{target.classes - 1}", span)


def check_eps(fractions: list[float], span) -> None:
    """Each eps is a fraction of the valid range: in (0, 1]."""
    for eps in fractions:
        if not 0 < eps <= 1:
            raise error(EPS_RANGE, f"--eps {eps:g} is outside (0, 1]: eps is a fraction of "
                        "the input's valid range (the training split's min to max)", span,
                        hint="e.g. --eps 0.05,0.1,0.2 (for digits in [0, 1]: 0.1 is 0.1)")


def find_layer(graph, text: str, span) -> tuple[str, int | None]:
    """`LAYER[:UNIT]` as a node id of the graph (a unique suffix after a `.` will do:
    `conv_1` for `LeNet5_0.conv_1`) and the unit, if given; E203 with did-you-mean."""
    layer, _, unit = text.partition(":")
    names = [n.id for n in graph if n.op != "input" and n.out.dtype != "i32"]
    found = [n for n in names if n == layer] or [n for n in names if n.endswith("." + layer)]
    if len(found) != 1:
        what = "is ambiguous" if found else "is no layer of the network"
        raise error(NO_LAYER, f"--maximise {text}: `{layer}` {what}", span,
                    hint=did_you_mean(layer, names) or f"layers: {', '.join(names)}")
    if unit and not unit.isdigit():
        raise error(UNIT_RANGE, f"--maximise {text}: the unit is a whole number", span)
    return found[0], int(unit) if unit else None


def check_unit(graph, node_id: str, unit: int | None, span) -> int:
    """The layer's number of units (its last axis); E204 when `unit` is past it."""
    units = graph.nodes[node_id].out.shape[-1]
    if unit is not None and unit >= units:
        raise error(UNIT_RANGE, f"--maximise {node_id}:{unit}: the layer has units 0 to "
                    f"{units - 1}", span)
    return int(units)
