"""Losses (scalar, mean over the batch), metrics and regularisers."""

from __future__ import annotations

from nndsl.ir import SCALAR, TensorType
from nndsl.ops.base import (
    Hyper,
    OpDef,
    OpError,
    broadcast,
    need_float,
    shape_str,
    with_lowerings,
)
from nndsl.ops.facts import Indexes

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


def _check_mask(ins) -> None:
    """A mask [B, ...] over the labels' positions: true (non-zero) where a position counts."""
    if len(ins) == 2:  # logits and labels, no mask
        return
    mask, want = ins[-1], ins[0].shape[:-1]
    if mask.shape != want:
        raise OpError(f"the mask {shape_str(mask.shape)} must have the shape {shape_str(want)} "
                      f"of the labels", hint="one entry per label, true where it counts: "
                      "`mask=y != 0`")


def _classification(ins, hp):
    _class_labels(ins[0], ins[1], "cross_entropy")
    _check_mask(ins)
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
    _check_mask(ins)
    return SCALAR


# Integer labels (input 1) index the classes on the last axis of the logits (input 0).
_CLASSES = (Indexes(1, "labels", "the logits have {n} classes", into=0),)


# A mask [B, ...] by keyword (`mask=y != 0`): only the positions it holds count.
_MASK = (("mask", ()),)


def _loss(name, doc, inputs, rule, diff, *hypers, reduce=_REDUCE, indexes=(), masked=False):
    return OpDef(name, "loss", doc, inputs, rule, (*hypers, reduce), differentiable=diff,
                 kind="loss", indexes=indexes, keyword_inputs=_MASK if masked else ())


def _metric(name, doc, inputs, rule, *hypers, direction="max", indexes=(), masked=False):
    return OpDef(name, "metric", doc, inputs, rule, tuple(hypers), differentiable=False,
                 kind="metric", direction=direction, indexes=indexes,
                 keyword_inputs=_MASK if masked else ())


_OPS = [
    _loss("cross_entropy", "Softmax cross-entropy of logits [B, ..., K] against integer "
          "labels [B, ...] (or soft targets); with `mask` [B, ...], only the positions it "
          "holds count.", ("logits", "labels"), _classification, (True, False),
          indexes=_CLASSES, masked=True),
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
    _loss("kl_normal", "KL(N(mu, exp(logvar)) || N(0, 1)); reduce=sum (the default) sums "
          "over features, mean over the batch.", ("mu", "logvar"), _same_shape_pair, True,
          reduce=Hyper("reduce", "word", "sum", choices=("mean", "sum"))),
    _loss("distill", "Cross-entropy between softened teacher and student distributions, "
          "scaled by temperature**2.", ("student", "teacher"), _same_shape_pair, (True, False),
          Hyper("temperature", "float", 1.0, low=0, low_open=True)),
    _metric("accuracy", "Fraction of argmax(logits) equal to the labels (of the positions "
            "`mask` holds, when given).", ("logits", "labels"), _metric_classes,
            indexes=_CLASSES, masked=True),
    _metric("perplexity", "exp of the mean cross-entropy of logits against integer labels "
            "(of the positions `mask` holds, when given): a language model's perplexity.",
            ("logits", "labels"), _metric_classes, direction="min", indexes=_CLASSES,
            masked=True),
    _metric("binary_accuracy", "Fraction of (logits > 0) equal to the targets.",
            ("logits", "targets"), _elementwise_pair),
    _metric("top_k", "Fraction of labels among the k largest logits (of the positions "
            "`mask` holds, when given).", ("logits", "labels"), _metric_classes,
            Hyper("k", "int", 5, low=1), indexes=_CLASSES, masked=True),
    OpDef("l1", "regulariser", "Sum of absolute values of the given parameters.", (),
          lambda ins, hp: SCALAR, kind="regulariser"),
    OpDef("l2", "regulariser", "Half the sum of squares of the given parameters.", (),
          lambda ins, hp: SCALAR, kind="regulariser"),
]


def _reduce(ctx, per_element, hp, mask=None):
    """reduce=mean: mean over everything; reduce=sum: sum over non-batch axes, mean over batch.

    With a mask, only the positions it holds count: the mean is over them alone."""
    jnp = ctx.jnp
    if mask is not None:
        keep = mask != 0
        per_element = jnp.where(keep, per_element, 0)  # a masked-out NaN or inf stays out
        if hp.get("reduce", "mean") == "mean":
            return jnp.sum(per_element) / jnp.maximum(jnp.sum(keep), 1).astype(per_element.dtype)
    if hp.get("reduce", "mean") == "mean" or per_element.ndim == 0:
        return jnp.mean(per_element)
    return jnp.mean(jnp.sum(per_element.reshape(per_element.shape[0], -1), axis=1))


def _mask(xs):
    """The mask input of a masked loss or metric (after logits and labels), or None."""
    return xs[2] if len(xs) > 2 else None


def _class_log_likelihood(ctx, logits, labels):
    logp = ctx.nn.log_softmax(logits, axis=-1)
    if ctx.jnp.issubdtype(labels.dtype, ctx.jnp.floating):
        return ctx.jnp.sum(labels * logp, axis=-1)
    return ctx.jnp.take_along_axis(logp, labels[..., None].astype(ctx.jnp.int32), axis=-1)[..., 0]


def _cross_entropy(ctx, node, xs):
    return _reduce(ctx, -_class_log_likelihood(ctx, xs[0], xs[1]), node.attrs, _mask(xs))


def _bce(ctx, node, xs):
    logits, targets = xs
    targets = ctx.jnp.broadcast_to(targets.astype(logits.dtype), logits.shape)
    per = -(targets * ctx.nn.log_sigmoid(logits) + (1 - targets) * ctx.nn.log_sigmoid(-logits))
    return _reduce(ctx, per, node.attrs)


def _elementwise_loss(fn):
    def lower(ctx, node, xs):
        a, b = xs
        return _reduce(ctx, ctx.jnp.broadcast_to(fn(ctx.jnp, a, b.astype(a.dtype)), a.shape),
                       node.attrs)

    return lower


def _margin_ranking(ctx, node, xs):
    a, b, target = xs
    target = target.reshape(target.shape + (1,) * (a.ndim - target.ndim)).astype(a.dtype)
    return _reduce(ctx, ctx.nn.relu(-target * (a - b) + node.attrs["margin"]), node.attrs)


def _contrastive(ctx, node, xs):
    a, b, same = xs
    jnp = ctx.jnp
    d = jnp.sqrt(jnp.sum((a - b) ** 2, axis=tuple(range(1, a.ndim))) + 1e-12)
    same = jnp.broadcast_to(jnp.reshape(same, (-1,)) if same.ndim else same,
                            (a.shape[0],)).astype(a.dtype)
    per = same * d ** 2 + (1 - same) * ctx.nn.relu(node.attrs["margin"] - d) ** 2
    return jnp.mean(per)


def _kl_normal(ctx, node, xs):
    mu, logvar = xs
    per = -0.5 * (1 + logvar - mu ** 2 - ctx.jnp.exp(logvar))
    return _reduce(ctx, per, node.attrs)


def _distill(ctx, node, xs):
    student, teacher = xs
    t = node.attrs["temperature"]
    soft = ctx.nn.softmax(teacher / t, axis=-1)
    per = -ctx.jnp.sum(soft * ctx.nn.log_softmax(student / t, axis=-1), axis=-1)
    return (t ** 2) * _reduce(ctx, per, node.attrs)


def _predicted(ctx, logits):
    return ctx.jnp.argmax(logits, axis=-1)


def _accuracy(ctx, node, xs):
    logits, labels = xs[:2]
    if ctx.jnp.issubdtype(labels.dtype, ctx.jnp.floating):
        labels = ctx.jnp.argmax(labels, axis=-1)
    hits = (_predicted(ctx, logits) == labels).astype(ctx.jnp.float32)
    return _reduce(ctx, hits, {}, _mask(xs))


def _binary_accuracy(ctx, node, xs):
    logits, targets = xs
    hits = (logits > 0) == (ctx.jnp.broadcast_to(targets, logits.shape) > 0.5)
    return ctx.jnp.mean(hits.astype(ctx.jnp.float32))


def _top_k(ctx, node, xs):
    logits, labels = xs[:2]
    k = min(node.attrs["k"], logits.shape[-1])
    top = ctx.lax.top_k(logits, k)[1]
    hits = ctx.jnp.any(top == labels[..., None], axis=-1).astype(ctx.jnp.float32)
    return _reduce(ctx, hits, {}, _mask(xs))


def _regulariser(fn):
    def lower(ctx, node, xs):
        leaves = ctx.params_in_scope(node.attrs["scope"])
        return sum((fn(ctx.jnp, w) for w in leaves), ctx.jnp.zeros(()))

    return lower


OPS = with_lowerings(_OPS, {
    "cross_entropy": _cross_entropy, "bce": _bce,
    "mse": _elementwise_loss(lambda jnp, a, b: (a - b) ** 2),
    "mae": _elementwise_loss(lambda jnp, a, b: jnp.abs(a - b)),
    "hinge": _elementwise_loss(lambda jnp, a, b: jnp.maximum(0, 1 - a * b)),
    "margin_ranking": _margin_ranking, "contrastive": _contrastive, "kl_normal": _kl_normal,
    "distill": _distill, "accuracy": _accuracy,
    "perplexity": lambda ctx, node, xs: ctx.jnp.exp(_cross_entropy(ctx, node, xs)),
    "binary_accuracy": _binary_accuracy,
    "top_k": _top_k,
    "l1": _regulariser(lambda jnp, w: jnp.sum(jnp.abs(w))),
    "l2": _regulariser(lambda jnp, w: 0.5 * jnp.sum(w * w)),
})
