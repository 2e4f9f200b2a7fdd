"""Errors inside a block body name each call they were reached through, innermost first,
with the call site's line and a caret, in the printed diagnostic and in `check --format json`."""

import json

import pytest

import nndsl
from nndsl.cli import main
from nndsl.source import SpecError

RES = """block Res(c, stride=1) {
    input x
    h = x -> conv(c, 3, stride=stride, pad=same) -> relu
    output y = h + x
}

network Net {
    input x: [B, 8, 8, 8]
    output y = x -> Res(8) -> Res(8, stride=2)
}
"""

NESTED = """block Inner(c) {
    input x
    output y = x -> conv(c, 3) -> flatten -> conv(c, 3)
}

block Outer(c) {
    input x
    output y = x -> Inner(c)
}

network Net {
    input x: [B, 8, 8, 3]
    output y = x -> Outer(4) * 2
}
"""


def _diagnostic(write_spec, text: str):
    (d,) = nndsl.load(write_spec(text)).check().diagnostics
    return d


def test_the_call_that_made_the_shapes_is_named(write_spec):
    d = _diagnostic(write_spec, RES)
    assert (d.code, d.span.line, d.span.column) == ("E030", 4, 16)
    (call,) = d.calls
    assert (call.callee, call.span.line, call.span.column) == ("Res(8, stride=2)", 9, 31)
    assert d.render().endswith(
        f"  = note: in Res(8, stride=2) called at {call.span.source.path}:9:31\n"
        "  |\n"
        "9 |     output y = x -> Res(8) -> Res(8, stride=2)\n"
        "  |                               ^^^^^^^^^^^^^^^^")


def test_nested_and_repeated_calls_innermost_first(write_spec):
    d = _diagnostic(write_spec, NESTED)
    assert (d.code, d.span.line, d.span.column) == ("E030", 3, 46)
    path = d.span.source.path
    assert [(c.callee, c.span.line, c.span.column) for c in d.calls] == \
        [("Inner(c)", 8, 21), ("Outer(4)", 13, 21)]
    text = d.render()
    assert text.endswith(
        f"  = note: in Inner(c) called at {path}:8:21\n"
        "  |\n"
        "8 |     output y = x -> Inner(c)\n"
        "  |                     ^^^^^^^^\n"
        f"  = note: in Outer(4) called at {path}:13:21\n"
        "   |\n"
        "13 |     output y = x -> Outer(4) * 2\n"
        "   |                     ^^^^^^^^^^^^"), text
    # The shape derivation stays where it was: before the calls.
    assert text.index("= note: x [B, 144] was derived as") < text.index("in Inner(c)")


def test_an_error_outside_blocks_has_no_call_notes(write_spec):
    d = _diagnostic(write_spec, "network N {\n  input x: [B, 4]\n  output y = x -> conv(2, 3)\n}\n")
    assert d.calls == [] and "called at" not in d.render()


def test_deep_chains_print_the_innermost_calls_and_a_count(write_spec):
    blocks = "".join(f"block B{i}() {{ input x; output y = x -> B{i + 1}() }}\n"
                     for i in range(12))
    text = blocks + ("block B12() { input x; output y = x -> conv(2, 3) }\n"
                     "network N { input x: [B, 4]; output y = x -> B0() }\n")
    d = _diagnostic(write_spec, text)
    assert [c.callee for c in d.calls] == [f"B{i}()" for i in range(12, -1, -1)]
    rendered = d.render()
    assert rendered.count("called at") == 8
    assert rendered.endswith("  = note: ... and 5 outer calls")


def test_json_diagnostics_list_the_calls(write_spec, capsys):
    spec = write_spec(NESTED)
    assert main(["check", str(spec), "--format", "json"]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    (d,) = report["diagnostics"]
    assert d["calls"] == [
        {"callee": "Inner(c)", "file": str(spec), "line": 8, "column": 21,
         "end_line": 8, "end_column": 29},
        {"callee": "Outer(4)", "file": str(spec), "line": 13, "column": 21,
         "end_line": 13, "end_column": 33}]
    assert d["notes"][-2:] == [f"in Inner(c) called at {spec}:8:21",
                               f"in Outer(4) called at {spec}:13:21"]


def test_an_error_at_the_call_itself_is_not_repeated_as_a_note(write_spec):
    text = """block Head(n) {
    input x: [B, 16]
    output y = x -> dense(n)
}
block Body(n) {
    input x
    output y = x -> Head(n)
}
network Net {
    input x: [B, 8]
    output y = x -> Body(3)
}
"""
    d = _diagnostic(write_spec, text)
    assert (d.code, d.span.line, d.span.column) == ("E031", 7, 21)
    assert [(c.callee, c.span.line, c.span.column) for c in d.calls] == [("Body(3)", 11, 21)]


def test_the_exception_text_carries_the_notes(write_spec):
    with pytest.raises(SpecError) as caught:
        nndsl.load(write_spec(RES)).network("Net")
    assert str(caught.value).endswith("^^^^^^^^^^^^^^^^")
    assert "in Res(8, stride=2) called at" in str(caught.value)


def test_a_shared_repeat_and_a_scanned_cell_are_named(write_spec):
    text = """block Blk(rate) {
    input x
    output y = x + (x -> dense(8) -> dropout(rate))
}
cell C(n) {
    input x
    state h: [B, n]
    h = (x -> dense(n)) + h -> Blk(2.0)
    output h
}
network Net {
    input x: [B, 8]
    output y = x -> Blk(0.1) -> Blk(1.5) * 3
}
network Net2 {
    input x: [B, 5, 8]
    output y = x -> scan(C(8))
}
"""
    repeated, scanned = nndsl.load(write_spec(text)).check().diagnostics
    assert (repeated.code, repeated.span.line, repeated.span.column) == ("E024", 3, 46)
    assert [(c.callee, c.span.line, c.span.column, c.span.end_column)
            for c in repeated.calls] == [("Blk(1.5)", 13, 33, 45)]
    assert [(c.callee, c.span.line, c.span.column) for c in scanned.calls] == \
        [("Blk(2.0)", 8, 32), ("C(8)", 17, 21)]
