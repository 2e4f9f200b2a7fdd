"""Bad input of every kind: a located diagnostic with a hint, exit 1, never a traceback."""

import pytest

from nndsl.cli import main

NET = "network N {{\n    input x: [B, 8, 8, 1]\n{body}\n}}\n"
BLOCK = "block L(n) {\n    input x\n    output y = x -> dense(n)\n}\n"
TRAIN = ("train {{\n    model = N\n    data = digits()\n    loss = cross_entropy(y, y)\n"
         "    optimizer = {optimizer}\n}}\n")


def run(write_spec, text, capsys, *extra):
    code = main(["check", str(write_spec(text)), *extra])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("text,where,phrase", [
    ("", "1:1", "defines no network"),
    ("\x00\x01\xff garbage", "1:1", "unexpected character"),
    ("network N {\n  input x: [B, 4]\n  output y = x -> dense(4\n", "3:", "end of file"),
    (NET.format(body="    output y = x -> flatten -> dense(10, units=3)"), "3:42", "given twice"),
    (NET.format(body="    output y = x -> flatten -> dense(\"ten\")"), "3:38",
     "must be an integer"),
    (NET.format(body="    output y = x -> conv(8, 3, padding=1)"), "3:32", "did you mean `pad`"),
    (NET.format(body="    output y = x -> conv(8, 3, pad=sme)"), "3:32", "did you mean `same`"),
    (NET.format(body="    output y = x -> flatten -> dense(10, 3, 4, 5)"), "3:48", "at most"),
    (NET.format(body="    output y = x -> flatten -> dense"), "3:32", "needs `units`"),
    (NET.format(body="    output y = x -> Missing(3)"), "3:21", "unknown name"),
    (NET.format(body="    output y = x -> reshape([B, 7, 7])"), "3:21", "cannot reshape"),
    (NET.format(body="    a = x -> flatten\n    output y = a -> dens(10)"), "4:21",
     "did you mean `dense`"),
    # One binder for ops, blocks and train settings: a keyword repeating a positional
    # argument is refused the same way everywhere, the caret on the keyword.
    (BLOCK + NET.format(body="    output y = x -> flatten -> L(1, n=1)"), "7:37",
     "`n` is given twice"),
    (NET.format(body="    output y = x -> flatten -> dense(10)") + TRAIN.format(
        optimizer="adam(0.1, lr=0.5)"), "9:27", "`lr` is given twice"),
    # Train sections run through the same body runner as networks: a local used before the
    # line that binds it is "used before defined", not an unknown name.
    (NET.format(body="    output y = x -> flatten -> dense(10)") + TRAIN.format(
        optimizer="adam()\n    a = b\n    b = 1"), "10:9", "`b` is used before it is defined"),
])
def test_bad_input_is_located(write_spec, capsys, text, where, phrase):
    code, err = run(write_spec, text, capsys)
    assert code == 1
    assert "Traceback" not in err
    assert f":{where}" in err, err
    assert phrase in err, err


def test_error_shows_caret_under_the_column(write_spec, capsys):
    text = NET.format(body="    output y = x -> conv(8, 9)")
    _, err = run(write_spec, text, capsys)
    lines = err.splitlines()
    source = next(i for i, row in enumerate(lines) if "conv(8, 9)" in row and "|" in row)
    caret = lines[source + 1]
    assert caret.index("^") == lines[source].index("conv")


def test_shape_error_shows_its_working(write_spec, capsys):
    text = ("network N {\n    input x: [B, 32, 32, 1]\n"
            "    h = x -> conv(6, 5) -> maxpool(2) -> conv(12, 5) -> maxpool(2)\n"
            "    output y = h -> conv(4, 7)\n}\n")
    _, err = run(write_spec, text, capsys)
    assert "conv(6, 5) → [B, 28, 28, 6]" in err
    assert "maxpool(2) → [B, 5, 5, 12]" in err
    assert "kernel 7 is larger than the input's 5" in err
    assert "pad=same" in err


def test_crlf_and_tabs_are_fine(write_spec, capsys):
    text = "network N {\r\n\tinput x: [B, 4]\r\n\toutput y = x -> dense(2)\r\n}\r\n"
    assert main(["check", str(write_spec(text))]) == 0


def test_deep_nesting_is_refused_cleanly(write_spec, capsys):
    text = NET.format(body="    output y = " + "(" * 5000 + "x" + ")" * 5000)
    code, err = run(write_spec, text, capsys)
    assert code == 1 and "nest more than" in err


def test_long_arithmetic_chain_elaborates(write_spec, capsys):
    text = "network N {\n  input x: [B, 4]\n  output y = " + " + ".join(["x"] * 3000) + "\n}\n"
    assert main(["check", str(write_spec(text))]) == 0


def test_parameter_cap_is_configurable(write_spec, capsys):
    text = "network N {\n  input x: [B, 100]\n  output y = x -> dense(100)\n}\n"
    code, err = run(write_spec, text, capsys, "--max-params", "1000")
    assert code == 1 and "10,100 parameters" in err and ":3:19" in err


def test_missing_file(capsys):
    assert main(["check", "/nonexistent/x.nn"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_internal_error_is_one_line(monkeypatch, write_spec, capsys):
    import nndsl.cli.static

    monkeypatch.setattr(nndsl.cli.static, "_spec", lambda args: 1 / 0)
    assert main(["check", str(write_spec("network N {}"))]) == 2
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback" not in err
