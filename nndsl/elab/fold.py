"""Constant folding: operators on compile-time numbers, booleans and symbolic sizes.

Sizes may be symbolic (`B`, `T`, `2*T + 1`): `+`, `-`, `*` and `//` by a positive whole
number keep them symbolic, `==` and `!=` compare them; anything else is an error (E014).
"""

from __future__ import annotations

import math
import operator

from nndsl.elab.values import describe
from nndsl.ir import Sym, dim_add, dim_floordiv, dim_mul, dim_neg, dim_sub
from nndsl.source import Span, error

_NUMERIC = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}
_SYMBOLIC = {"+": dim_add, "-": dim_sub, "*": dim_mul}
# Beyond this a constant is almost certainly a mistake (and floats lose all precision).
_LARGEST = 1e300
_LARGEST_DIGITS = 300


def fold(op: str, a, b, span: Span):
    """Evaluate `a op b` on compile-time constants; raise E014 where it has no meaning."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        return _fold_symbolic(op, a, b, span)
    if op not in _NUMERIC:
        raise _cannot(op, a, b, span)
    if op == "**":
        _check_power(a, b, span)
    try:
        result = _NUMERIC[op](a, b)
    except ZeroDivisionError:
        raise error("E014", "division by zero", span) from None
    except (TypeError, OverflowError):
        raise _cannot(op, a, b, span) from None
    if isinstance(result, (int, float)) and not isinstance(result, bool) and \
            abs(result) > _LARGEST:
        raise error("E014", "constant too large", span)
    return result


def _check_power(base, exponent, span: Span) -> None:
    """Refuse a power whose result would pass the largest constant before computing it:
    `10 ** 10 ** 8` would otherwise build a hundred-million-digit integer."""
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (base, exponent)):
        return
    if abs(base) > 1 and exponent > 0 and exponent * math.log10(abs(base)) > _LARGEST_DIGITS:
        raise error("E014", "constant too large", span)


def negate(value: int | float | Sym):
    """`-value` of a number or a size (a size stays symbolic)."""
    return dim_neg(value) if isinstance(value, (int, Sym)) else -value


def _fold_symbolic(op: str, a, b, span: Span):
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    both_sizes = all(isinstance(v, (int, Sym)) and not isinstance(v, bool) for v in (a, b))
    if both_sizes and op in _SYMBOLIC:
        return _SYMBOLIC[op](a, b)
    if both_sizes and op == "//" and isinstance(b, int) and b > 0:
        return dim_floordiv(a, b)
    raise _cannot(op, a, b, span)


def _cannot(op: str, a, b, span: Span):
    return error("E014", f"cannot apply `{op}` to {describe(a)} and {describe(b)}", span)
