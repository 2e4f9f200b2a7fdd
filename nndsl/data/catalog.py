"""What each built-in data source gives, known without loading it: field names, shapes, dtypes.

Shapes are per batch: the leading `B` is the batch dimension.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nndsl.data.corrupt import HYPERS as CORRUPT
from nndsl.data.digit_options import DIGITS_OPTIONS
from nndsl.data.semisup import add_label_option
from nndsl.ir import Sym, TensorType
from nndsl.ops.base import Hyper

B = Sym.named("B")


@dataclass(frozen=True)
class DataSource:
    name: str
    doc: str
    hypers: tuple[Hyper, ...]
    fields: Callable[[dict], dict[str, TensorType]]


def _t(*dims, dtype="f32") -> TensorType:
    return TensorType((B, *dims), dtype)


SPLITS = (Hyper("val", "float", 0.1, low=0, high=1, high_open=True),
           Hyper("test", "float", 0.2, low=0, high=1, high_open=True),
           Hyper("seed", "int", 0))


def _sizes(train: int = 10000):
    return (Hyper("train", "int", train, low=1), Hyper("val", "int", 1000, low=0),
            Hyper("test", "int", 1000, low=0), Hyper("seed", "int", 0))


def _single_fact_fields(a: dict) -> dict[str, TensorType]:
    from nndsl.data import babi  # its checks: a story must fit the memory

    babi.check_options(a)
    return {"story": _t(a["memory"], babi.WORDS, dtype="i32"), "slots": _t(a["memory"]),
            "question": _t(babi.WORDS, dtype="i32"), "answer": _t(dtype="i32")}


SOURCES = {s.name: s for s in [
    DataSource("digits", "scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes); "
               "`binary=true` thresholds pixels at 0.5, `keep=0.1` keeps a tenth of the "
               "training split.",
               (*SPLITS, *CORRUPT, *DIGITS_OPTIONS),
               lambda a: {"x": _t(8, 8, 1), "y": _t(dtype="i32")}),
    DataSource("xor", "The four XOR points.", (),
               lambda a: {"x": _t(2), "y": _t(1)}),
    DataSource("spirals", "Two interleaved spirals in the plane.",
               (Hyper("points", "int", 1000, low=2), Hyper("noise", "float", 0.1, low=0),
                *SPLITS), lambda a: {"x": _t(2), "y": _t(dtype="i32")}),
    DataSource("ring", "Points from `modes` Gaussians on a circle (GAN toy data), and the "
               "index of each point's mode.",
               (Hyper("modes", "int", 8, low=1), Hyper("radius", "float", 2.0, low=0),
                Hyper("std", "float", 0.02, low=0), Hyper("train", "int", 10000, low=1),
                Hyper("seed", "int", 0)), lambda a: {"x": _t(2), "y": _t(dtype="i32")}),
    DataSource("adding", "The adding problem: sum the two marked values of a sequence.",
               (Hyper("length", "int", 100, low=2), *_sizes()),
               lambda a: {"x": _t(a["length"], 2), "y": _t(1)}),
    DataSource("reverse", "Write a sequence of symbols backwards (teacher forcing fields).",
               (Hyper("length", "int", 8, low=1), Hyper("symbols", "int", 10, low=2),
                *_sizes()),
               lambda a: {"src": _t(a["length"], dtype="i32"),
                          "tgt_in": _t(a["length"], dtype="i32"),
                          "tgt": _t(a["length"], dtype="i32")}),
    # Sequence reversal with variable lengths and padding (issue 13: masks).
    DataSource("reverse_padded", "Write a variable-length sequence backwards after a "
               "separator, padded with 0 (next-token fields for a causal model).",
               (Hyper("max_length", "int", 8, low=1),
                Hyper("symbols", "int", 8, low=2), *_sizes(20000)),
               lambda a: {"x": _t(2 * a["max_length"] + 1, dtype="i32"),
                          "y": _t(2 * a["max_length"] + 1, dtype="i32")}),
    DataSource("waves", "Noisy sine, square and sawtooth waves, three classes.",
               (Hyper("length", "int", 128, low=2), *_sizes(6000),
                Hyper("noise", "float", 0.3, low=0), *CORRUPT),
               lambda a: {"x": _t(a["length"], 1), "y": _t(dtype="i32")}),
    DataSource("digit_pairs", "Pairs of digit images and whether they show the same class.",
               (Hyper("pairs", "int", 20000, low=1), *SPLITS),
               lambda a: {"a": _t(8, 8, 1), "b": _t(8, 8, 1), "same": _t(1)}),
    DataSource("digits_domains", "Labelled source digits and a shifted target domain "
               "(dimmer, grainier).",
               SPLITS, lambda a: {"x": _t(8, 8, 1), "y": _t(dtype="i32"),
                                   "x_target": _t(8, 8, 1), "y_target": _t(dtype="i32")}),
    # Sets, graphs, memories and language (issue 18): bodies in their own modules.
    DataSource("point_clouds", "Point clouds sampled from five shape families (sphere, cube, "
               "cylinder, cone, torus), randomly rotated, with Gaussian noise.",
               (Hyper("points", "int", 128, low=1), Hyper("noise", "float", 0.01, low=0),
                Hyper("rotate", "bool", True), *_sizes(2000)),
               lambda a: {"x": _t(a["points"], 3), "y": _t(dtype="i32")}),
    DataSource("karate", "Zachary's karate club (networkx): node classification of the two "
               "factions from `labelled` members of each (chosen by seed); `mask` marks the "
               "nodes a split scores.",
               (Hyper("labelled", "int", 1, low=1, high=16), Hyper("seed", "int", 0)),
               lambda a: {"x": _t(34, 34), "edges": _t(156, 2, dtype="i32"),
                          "y": _t(34, dtype="i32"), "mask": _t(34)}),
    DataSource("colored_graphs", "Graph classification: coloured graphs whose edges join "
               "nodes of the same colour (class 1) or at random (class 0), padded to "
               "max_nodes.",
               (Hyper("min_nodes", "int", 10, low=2), Hyper("max_nodes", "int", 20, low=2),
                Hyper("colors", "int", 3, low=2), Hyper("same", "float", 0.8, low=0, high=1),
                *_sizes(1000)),
               lambda a: {"x": _t(a["max_nodes"], a["colors"]),
                          "edges": _t(4 * a["max_nodes"], 2, dtype="i32"),
                          "nodes": _t(a["max_nodes"]), "y": _t(dtype="i32")}),
    DataSource("single_fact", "Stories in the style of bAbI task 1 (people move between "
               "places; \"where is X?\"), most recent sentence first, for memory networks.",
               (Hyper("people", "int", 4, low=1), Hyper("places", "int", 6, low=1),
                Hyper("sentences", "int", 10, low=2), Hyper("memory", "int", 10, low=2),
                *_sizes(1000)), _single_fact_fields),
    DataSource("markov_text", "A random second-order Markov chain over `symbols` symbols "
               "(Dirichlet(`concentration`) transitions from seed): next-symbol fields with a "
               "known entropy rate.",
               (Hyper("symbols", "int", 8, low=2, high=26),
                Hyper("concentration", "float", 0.3, low=0, low_open=True),
                Hyper("context", "int", 32, low=2), *_sizes(5000)),
               lambda a: {"x": _t(a["context"], dtype="i32"), "y": _t(a["context"], dtype="i32"),
                          "scored": _t(a["context"])}),
]}

# `labelled=` on the sources with class labels (semi-supervised learning; data/semisup.py).
SOURCES = add_label_option(SOURCES)
