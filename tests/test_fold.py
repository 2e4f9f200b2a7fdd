"""Constant folding and the symbolic-size algebra, called directly (exact values)."""

import pytest

from nndsl.elab.fold import fold, negate
from nndsl.ir import Sym
from nndsl.ops import Word
from nndsl.source import NO_SPAN, SpecError

B, T = Sym.named("B"), Sym.named("T")


@pytest.mark.parametrize("op,a,b,want", [
    ("+", 2, 3, 5), ("-", 2, 3, -1), ("*", 4, 2.5, 10.0), ("/", 7, 2, 3.5),
    ("//", 7, 2, 3), ("//", -7, 2, -4), ("%", 7, 3, 1), ("**", 2, 10, 1024),
    ("==", 3, 3.0, True), ("!=", 3, 4, True), ("<", 2, 3, True), ("<=", 3, 3, True),
    (">", 2, 3, False), (">=", 2, 3, False), ("+", "ab", "cd", "abcd"),
])
def test_numbers_fold_exactly(op, a, b, want):
    got = fold(op, a, b, NO_SPAN)
    assert got == want and type(got) is type(want)


def test_sizes_stay_symbolic():
    assert str(fold("+", B, 1, NO_SPAN)) == "B + 1"
    assert str(fold("*", 2, T, NO_SPAN)) == "2*T"
    assert str(fold("*", B, T, NO_SPAN)) == "B*T"
    assert str(fold("-", fold("*", 2, T, NO_SPAN), T, NO_SPAN)) == "T"
    assert str(fold("//", fold("*", 4, T, NO_SPAN), 2, NO_SPAN)) == "2*T"
    assert str(fold("//", fold("+", T, 1, NO_SPAN), 2, NO_SPAN)) == "(T + 1)//2"


def test_symbolic_terms_cancel_to_a_number():
    assert fold("-", fold("+", B, 3, NO_SPAN), B, NO_SPAN) == 3
    assert fold("*", B, 0, NO_SPAN) == 0


def test_sizes_compare_by_value():
    assert fold("==", fold("+", B, B, NO_SPAN), fold("*", 2, B, NO_SPAN), NO_SPAN) is True
    assert fold("!=", B, T, NO_SPAN) is True
    assert fold("==", B, 4, NO_SPAN) is False


def test_negate():
    assert negate(3) == -3 and negate(2.5) == -2.5
    assert str(negate(fold("+", B, 1, NO_SPAN))) == "-B - 1"


@pytest.mark.parametrize("op,a,b,phrase", [
    ("/", 1, 0, "division by zero"),
    ("//", 1, 0, "division by zero"),
    ("%", 1, 0, "division by zero"),
    ("**", 10.0, 400, "constant too large"),
    ("**", 10, 10 ** 8, "constant too large"),  # refused before it is computed
    ("**", 10, 400, "constant too large"),
    ("+", 1, "a", 'cannot apply `+` to the number 1 and the string "a"'),
    ("-", Word("same"), 1, "cannot apply `-` to the word `same` and the number 1"),
    ("/", B, 2, "cannot apply `/` to the symbolic size B and the number 2"),
    ("//", B, T, "cannot apply `//` to the symbolic size B and the symbolic size T"),
    ("//", B, 0, "cannot apply `//` to the symbolic size B and the number 0"),
    ("<", B, 4, "cannot apply `<` to the symbolic size B and the number 4"),
    ("+", B, 1.5, "cannot apply `+` to the symbolic size B and the number 1.5"),
    ("+", B, True, "cannot apply `+` to the symbolic size B and the boolean true"),
])
def test_meaningless_folds_are_e014(op, a, b, phrase):
    with pytest.raises(SpecError) as caught:
        fold(op, a, b, NO_SPAN)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E014" and diagnostic.message == phrase
