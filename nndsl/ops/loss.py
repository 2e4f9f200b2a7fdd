"""Losses (scalar, mean over the batch), metrics and regularisers."""

from __future__ import annotations

from nndsl.ir import SCALAR, TensorType
from nndsl.ops.base import Hyper, OpDef, OpError, broadcast, need_float, shape_str

_REDUCE = Hyper("reduce", "word", "mean", choices=("mean", "sum"))


def _class_labels(logits: TensorType, labels: TensorType, op: str) -> None:
    """Integer labels [B, ...] for logits [B, ..., K], or float targets shaped like the logits."""
    need_float(logits, op)
    if labels.is_float:
        if labels.shape != logits.shape:
            raise OpError(f"soft targets {shape_str(labels.shape)} must match the logits "
                          f"{shape_str(logits.shape)}")
        return
    if labels.shape != logits.shape[:-1]:
        raise OpError(f"labels {shape_str(labels.shape)} {labels.dtype} do not fit logits "
                      f"{shape_str(logits.shape)}: expected labels of shape "
                      f"{shape_str(logits.shape[:-1])}")


def _classification(ins, hp):
    _class_labels(ins[0], ins[1], "cross_entropy")
    return SCALAR


def _elementwise_pair(ins, hp):
    need_float(ins[0], "this loss")
    broadcast(ins[0], ins[1])
    return SCALAR


def _same_shape_pair(ins, hp):
    a, b = ins[0], ins[1]
    if a.shape != b.shape:
        raise OpError(f"both inputs must have one shape, got {shape_str(a.shape)} and "
                      f"{shape_str(b.shape)}")
    need_float(a, "this loss")
    return SCALAR


def _pair_with_target(ins, hp):
    _same_shape_pair(ins[:2], hp)
    broadcast(ins[0].with_shape(ins[0].shape[:1]), ins[2].with_shape(ins[2].shape[:1]))
    return SCALAR


def _metric_classes(ins, hp):
    _class_labels(ins[0], ins[1], "accuracy")
    return SCALAR


def _loss(name, doc, inputs, rule, diff, *hypers):
    return OpDef(name, "loss", doc, inputs, rule, (*hypers, _REDUCE), differentiable=diff,
                 kind="loss")


def _metric(name, doc, inputs, rule, *hypers):
    return OpDef(name, "metric", doc, inputs, rule, tuple(hypers), differentiable=False,
                 kind="metric")


OPS = [
    _loss("cross_entropy", "Softmax cross-entropy of logits [B, ..., K] against integer "
          "labels [B, ...] (or soft targets).", ("logits", "labels"), _classification,
          (True, False)),
    _loss("bce", "Binary cross-entropy with logits; targets broadcast (`bce(score, 1)`).",
          ("logits", "targets"), _elementwise_pair, (True, False)),
    _loss("mse", "Mean squared error.", ("prediction", "target"), _elementwise_pair, True),
    _loss("mae", "Mean absolute error.", ("prediction", "target"), _elementwise_pair, True),
    _loss("hinge", "max(0, 1 - target * score), targets in {-1, 1}.", ("score", "target"),
          _elementwise_pair, (True, False)),
    _loss("margin_ranking", "max(0, -target * (a - b) + margin).", ("a", "b", "target"),
          _pair_with_target, (True, True, False), Hyper("margin", "float", 1.0, low=0)),
    _loss("contrastive", "Contrastive loss on two embeddings and a same/different label.",
          ("a", "b", "same"), _pair_with_target, (True, True, False),
          Hyper("margin", "float", 1.0, low=0)),
    _loss("kl_normal", "KL(N(mu, exp(logvar)) || N(0, 1)), summed over features.",
          ("mu", "logvar"), _same_shape_pair, True),
    _loss("distill", "Cross-entropy between softened teacher and student distributions, "
          "scaled by temperature**2.", ("student", "teacher"), _same_shape_pair, (True, False),
          Hyper("temperature", "float", 1.0, low=0, low_open=True)),
    _metric("accuracy", "Fraction of argmax(logits) equal to the labels.", ("logits", "labels"),
            _metric_classes),
    _metric("binary_accuracy", "Fraction of (logits > 0) equal to the targets.",
            ("logits", "targets"), _elementwise_pair),
    _metric("top_k", "Fraction of labels among the k largest logits.", ("logits", "labels"),
            _metric_classes, Hyper("k", "int", 5, low=1)),
    OpDef("l1", "regulariser", "Sum of absolute values of the given parameters.", (),
          lambda ins, hp: SCALAR, kind="regulariser"),
    OpDef("l2", "regulariser", "Half the sum of squares of the given parameters.", (),
          lambda ins, hp: SCALAR, kind="regulariser"),
]
