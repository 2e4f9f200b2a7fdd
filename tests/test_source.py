"""One line model for the parser and the diagnostics; the nesting guard."""

import pytest

import nndsl
from nndsl.source import Source, SpecError

# `relu9` is unknown: the error must point at line 4, column 19 whatever the line ends are.
LINES = ["# a spec", "network N {", "  input x: [B, 4]", "  output y = x -> relu9", "}", ""]


def _first_error(text: str, write_spec) -> str:
    path = write_spec("")
    path.write_bytes(text.encode())
    report = nndsl.load(path).check()
    assert not report.ok
    return report.diagnostics[0].render()


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_caret_on_the_named_line_for_every_line_end(end, write_spec):
    rendered = _first_error(end.join(LINES), write_spec)
    assert ":4:19:" in rendered.splitlines()[0]
    assert "4 |   output y = x -> relu9" in rendered


@pytest.mark.parametrize("odd", ["\f", "\u2028", "\x85", "\u2029"])
def test_form_feed_and_unicode_separators_in_comments_do_not_shift_lines(odd, write_spec):
    text = "\n".join([f"# a comment{odd}with a separator", *LINES[1:]])
    rendered = _first_error(text, write_spec)
    assert ":4:19:" in rendered.splitlines()[0]
    assert "4 |   output y = x -> relu9" in rendered


def test_byte_order_mark_is_skipped(write_spec):
    rendered = _first_error("\ufeff" + "\n".join(LINES), write_spec)
    assert ":4:19:" in rendered.splitlines()[0]


def test_source_lines():
    assert Source("s", "a\r\nb\rc\n").lines == ["a", "b", "c", ""]
    assert Source("s", "\ufeffa").text == "a"


@pytest.mark.parametrize("text, nests", [
    ('let s = "((((" \n', False),
    ('let s = "a\\"((((" \n', False),      # an escaped quote does not end the string
    ('let s = "a\\\\" # ((((\n', False),   # an escaped backslash does
    ("# ((((\n", False),
    ("let a = ((((1))))\n", True),
])
def test_nesting_guard_skips_strings_and_comments(text, nests, write_spec, monkeypatch):
    from nndsl import parse

    monkeypatch.setattr(parse, "MAX_NESTING", 3)
    path = write_spec(text)
    if nests:
        with pytest.raises(SpecError, match=r"E002"):
            nndsl.load(path)
    else:
        try:
            nndsl.load(path)
        except SpecError as exc:
            assert exc.diagnostics[0].code != "E002"
