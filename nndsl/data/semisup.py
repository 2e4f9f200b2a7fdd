"""Semi-supervised data: `labelled=` keeps only a fraction of a source's class labels.

`digits(labelled=0.1)` keeps the labels of 10% of the training examples (the same fraction of
every class, at least one example each) and adds the field `labelled: f32[B]`, 1 where an
example kept its label and 0 where it did not. The hidden labels are replaced by 0 in the
training split, so nothing can learn from them; a loss uses the labelled ones through its
mask, `cross_entropy(logits, y, mask=labelled)`. Validation and test splits keep every label
(and `labelled` is 1 there): they measure what was learned, not what was given.

Registered by a small edit at the end of `catalog` (the signatures and fields) and `sources`
(the loaders); neither is imported here, so both can import this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from nndsl import ast
from nndsl.ir import Sym, TensorType
from nndsl.ops.base import Hyper
from nndsl.source import error

FRACTION = Hyper("labelled", "float", None)  # None: every label kept, no `labelled` field
LABELLED = "labelled"
# The sources with one integer class label `y` per example.
LABELLED_SOURCES = ("digits", "spirals", "waves", "ring")
BAD_FRACTION = "E245"
UNMASKED = "E249"
# Offsets the draw of the labelled examples from the source's own use of its seed.
_SEED_OFFSET = 7919


def add_label_option(sources: dict) -> dict:
    """The catalog with `labelled=` on each source of LABELLED_SOURCES, whose fields then
    include `labelled` when the option is given."""
    def fields_with_mask(fields: Callable) -> Callable:
        def fields_of(values: dict) -> dict[str, TensorType]:
            given = fields(values)
            if values.get(FRACTION.name) is None:
                return given
            return {**given, LABELLED: TensorType((Sym.named("B"),), "f32")}
        return fields_of

    return {name: replace(s, hypers=(*s.hypers, FRACTION), fields=fields_with_mask(s.fields))
            if name in LABELLED_SOURCES else s for name, s in sources.items()}


def check_fraction(values: dict, expr: ast.Node) -> None:
    """E245 at `labelled=` when the fraction is outside (0, 1]."""
    fraction = values.get(FRACTION.name)
    if fraction is None or 0 < fraction <= 1:
        return
    where = next((kw.span for kw in getattr(expr, "kwargs", ()) if kw.name == FRACTION.name),
                 expr.span)
    raise error(BAD_FRACTION, f"`labelled={fraction:g}` is not a fraction in (0, 1]: it is the "
                "share of training examples that keep their label", where,
                hint="e.g. labelled=0.1 keeps 10% of the labels; labelled=1 keeps them all")


def check_masked(graph, values: dict) -> None:
    """E249 at a loss that reads the labels `y` of a source with `labelled=` straight, without
    a mask: most of them are hidden (0) in training, so it would learn class 0 for them."""
    from nndsl.ops import REGISTRY

    if values.get(FRACTION.name) is None or "y" not in graph.inputs:
        return
    labels = graph.inputs["y"].node
    for node in graph:
        op = REGISTRY[node.op]
        masked = len(node.inputs) > len(op.inputs)  # a keyword `mask=` was given
        if op.kind == "loss" and not masked and any(r.node == labels for r in node.inputs):
            raise error(UNMASKED, f"`{node.op}` reads `y` of a source with labelled="
                        f"{values[FRACTION.name]:g} without a mask: the hidden labels are 0 "
                        "in training", node.span, hint="count the labelled examples alone: "
                        f"`{node.op}(..., y, mask=labelled)`")


def keep_label_fraction(loaders: dict) -> dict:
    """The loaders, those of LABELLED_SOURCES hiding all but `labelled=` of the training labels."""
    def wrap(load: Callable) -> Callable:
        def load_with_labels(args: dict):
            splits = load(args)
            fraction = args.get(FRACTION.name)
            return splits if fraction is None else hide_labels(splits, fraction, args["seed"])
        return load_with_labels

    return {name: wrap(load) if name in LABELLED_SOURCES else load
            for name, load in loaders.items()}


def hide_labels(splits: dict, fraction: float, seed: int) -> dict:
    """The splits with `labelled` added: in the training split a random `fraction` of each
    class keeps its label (at least one example), the others' `y` become 0."""
    train = dict(splits["train"])
    keep = labelled_examples(train["y"], fraction, seed)
    train["y"] = np.where(keep, train["y"], 0).astype(train["y"].dtype)
    train[LABELLED] = keep.astype(np.float32)
    out = {name: {**fields, LABELLED: np.ones(len(fields["y"]), np.float32)}
           for name, fields in splits.items() if name != "train"}
    return {"train": train, **out}


def labelled_examples(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean per example: `fraction` of each class (rounded, at least one) chosen at
    random with `seed`; every example when the fraction is 1."""
    rng = np.random.RandomState(seed + _SEED_OFFSET)
    keep = np.zeros(len(y), bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        count = max(1, int(round(fraction * len(members))))
        keep[rng.permutation(members)[:count]] = True
    return keep
