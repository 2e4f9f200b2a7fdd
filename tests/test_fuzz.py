"""Fuzzing: no input, however broken, produces a traceback or an internal error."""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl.cli import main
from tests.conftest import CONTRACT

SPECS = sorted(CONTRACT.glob("*.nn"))
TOKENS = ["network", "block", "cell", "train", "input", "output", "state", "->", "(", ")",
          "[", "]", "{", "}", "=", ",", "*", "B", "x", "dense", "conv", "10", "-1", "1e9",
          "scan", "LSTM", "if", "then", "else", ".", ":", "\n", "i32", "shared", "import"]


def _check(path, capsys) -> None:
    code = main(["check", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err, err


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_random_text(tmp_path, capsys, text):
    path = tmp_path / "r.nn"
    path.write_bytes(text.encode("utf-8", "replace"))
    _check(path, capsys)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, len(SPECS) - 1), st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_mutated_contract_specs(tmp_path, capsys, index, seed, edits):
    rng = random.Random(seed)
    tokens = SPECS[index].read_text().split(" ")
    for _ in range(edits):
        i = rng.randrange(len(tokens))
        action = rng.choice(("drop", "swap", "insert"))
        if action == "drop" and len(tokens) > 1:
            tokens.pop(i)
        elif action == "swap":
            j = rng.randrange(len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:
            tokens.insert(i, rng.choice(TOKENS))
    path = tmp_path / "m.nn"
    path.write_text(" ".join(tokens))
    _check(path, capsys)
