"""The counting conventions every op's `flops` rule follows, stated once.

FLOPs are per example (the batch axis excluded) for the forward pass as training runs it.
The op reference (docs/ops.md) prints `CONVENTIONS`, so the text and the constants the rules
use cannot drift apart.
"""

from __future__ import annotations

from nndsl.ir import TensorType

# A multiply-add (one term of a dot product) is a multiply and an add.
MULTIPLY_ADD = 2
# Softmax along an axis: the maximum, subtract it, exp, sum, divide (log_softmax subtracts
# the log of the sum instead of dividing).
SOFTMAX_PER_ELEMENT = 5
# Normalisation: add to the mean, subtract it, square, add to the variance, multiply by
# 1 / sqrt(var + eps), scale, shift. The per-channel square roots are not counted.
NORM_PER_ELEMENT = 7

CONVENTIONS = (
    ("multiply-add (dense, conv, conv_transpose, `@`, attention's projections and products)",
     f"{MULTIPLY_ADD}"),
    ("bias add (dense, conv, conv_transpose, self_attention's four projections)",
     "1 per output element"),
    ("elementwise op: every activation (`prelu` and `gelu` included), arithmetic, `clip`, "
     "`positional`'s add, `dropout`, `noise`, `sample_normal`",
     "1 per output element, whatever it computes (exp, erf, tanh count as one)"),
    ("`softmax`, `log_softmax`, and the softmax inside `attention` and `self_attention`",
     f"{SOFTMAX_PER_ELEMENT} per element (max, subtract, exp, sum, divide)"),
    ("attention's score scaling by 1/sqrt(d)", "1 per score; a causal mask counts nothing"),
    ("`batchnorm`, `layernorm`, `groupnorm`, `instancenorm`",
     f"{NORM_PER_ELEMENT} per element (mean, subtract, square, variance, multiply by "
     "1/sigma, scale, shift)"),
    ("pooling windows (`maxpool`, `avgpool`, `lppool`)", "1 per window entry per output"),
    ("reductions (`sum`, `mean`, `max`, `global_*pool`, `maxout`, `argmax`)",
     "1 per input element"),
    ("shape ops, `embed` (a lookup), `stop_gradient`, `grad_reverse`, `normal`, constants",
     "0"),
    ("`norm=weight` (weight normalisation)", "0: per-parameter work, not per example"),
)


def times_elements(t: TensorType, per_element: int) -> int | None:
    """`per_element` FLOPs for each element of `t` per example (None when symbolic)."""
    n = t.elements_per_example()
    return None if n is None else per_element * n
