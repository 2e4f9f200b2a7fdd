"""Fuzzing: no input, however broken, produces a traceback, an internal error or a hang.

Inputs are generated from the grammar itself (Hypothesis `from_lark`), mutated from the
contract specs, or random text. The fast suite runs a seeded few thousand; `make fuzz` sets
NNDSL_FUZZ_EXAMPLES (50,000) and records its result in docs/benchmarks.md.
"""

import os
import random
import sys
import time

import lark
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from nndsl.cli import RECURSION_LIMIT, main
from nndsl.grammar import grammar_text
from tests.conftest import CONTRACT

EXAMPLES = int(os.environ.get("NNDSL_FUZZ_EXAMPLES", "0"))
HANG_SECONDS = 10
# main() raises the recursion limit; raise it first, or Hypothesis warns that it changed.
sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))

SPECS = sorted(CONTRACT.glob("*.nn"))
TOKENS = ["network", "block", "cell", "train", "input", "output", "state", "->", "(", ")",
          "[", "]", "{", "}", "=", ",", "*", "B", "x", "dense", "conv", "10", "-1", "1e9",
          "scan", "LSTM", "if", "then", "else", ".", ":", "\n", "i32", "shared", "import"]


def _check(path, capsys) -> None:
    # CPU time, not wall time: on a loaded machine a check can wait seconds for a core, which
    # is no hang (a blocking read would not finish at all, and the run's timeout catches it).
    started = time.process_time()
    code = main(["check", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert time.process_time() - started < HANG_SECONDS, path.read_text()


def _grammar_strategy():
    """Programs the grammar accepts, with keywords and names kept apart by spaces and drawn
    from the words specs use, so that most of them reach elaboration."""
    parser = lark.Lark(grammar_text(), parser="lalr")
    words = {t.name: st.just(f" {t.pattern.value} ") for t in parser.terminals
             if isinstance(t.pattern, lark.lexer.PatternStr) and t.pattern.value.isalpha()}
    names = ["x", "y", "h", "B", "T", "N", "dense", "conv", "relu", "flatten", "LSTM", "scan",
             "digits", "xor", "adam", "sgd", "cross_entropy", "accuracy", "lr", "model", "data",
             "loss", "optimizer", "epochs", "trials", "choice", "load", "dim", "params", "l2"]
    words["NAME"] = st.sampled_from(names).map(lambda s: f" {s} ")
    words["NUMBER"] = st.sampled_from(["0", "1", "2", "3", "10", "64", "0.5", "1e-3", "1e9",
                                       "99999999999"]).map(lambda s: f" {s} ")
    return from_lark(parser, start="start", explicit=words)


@settings(max_examples=EXAMPLES or 1200, deadline=None, derandomize=not EXAMPLES,
          database=None, suppress_health_check=list(HealthCheck))
@given(_grammar_strategy())
def test_programs_from_the_grammar(tmp_path, capsys, text):
    path = tmp_path / "g.nn"
    path.write_text(text)
    _check(path, capsys)


@settings(max_examples=EXAMPLES // 10 or 200, deadline=None, derandomize=not EXAMPLES,
          database=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=200))
def test_random_text(tmp_path, capsys, text):
    path = tmp_path / "r.nn"
    path.write_bytes(text.encode("utf-8", "replace"))
    _check(path, capsys)


@settings(max_examples=EXAMPLES // 10 or 400, deadline=None, derandomize=not EXAMPLES,
          database=None, suppress_health_check=list(HealthCheck))
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
