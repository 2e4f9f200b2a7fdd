"""The grammar's LALR tables: shipped as JSON (never pickle), current, and equivalent to Lark's."""

import hashlib
import json
from importlib import resources

import lark
import pytest

from nndsl import grammar
from tests.conftest import CONTRACT

TABLES = resources.files("nndsl.grammars").joinpath(grammar.TABLES_FILE)


def _fresh() -> lark.Lark:
    return lark.Lark(grammar.grammar_text(), **grammar.OPTIONS)


def test_shipped_tables_were_made_from_this_grammar():
    saved = json.loads(TABLES.read_text())["fingerprint"]
    digest = hashlib.sha256(grammar.grammar_text().encode()).hexdigest()
    assert saved.split("/")[0] == digest, "grammars/nn.lark changed: run `make grammar`"


def test_tables_parse_every_contract_spec_as_lark_does():
    if json.loads(TABLES.read_text())["fingerprint"] != grammar.fingerprint(
            grammar.grammar_text()):
        pytest.skip("tables were made by another Lark version (the parser is built instead)")
    shipped, fresh = grammar.parser(), _fresh()
    assert shipped is not fresh
    for path in sorted(CONTRACT.glob("*.nn")):
        assert shipped.parse(path.read_text()) == fresh.parse(path.read_text()), path.name


def test_tables_round_trip_through_json():
    text = grammar.grammar_text()
    loaded = json.loads(grammar.tables_json(text), object_hook=grammar._decode)
    rebuilt = lark.Lark._load_from_dict(loaded["data"], loaded["memo"])
    spec = "network N { input x: [B, 4]; output y = x -> dense(2) }"
    assert rebuilt.parse(spec) == _fresh().parse(spec)


def test_tables_for_another_grammar_are_ignored(monkeypatch):
    monkeypatch.setattr(grammar, "grammar_text", lambda: "start: \"x\"\n")
    grammar.parser.cache_clear()
    try:
        assert grammar.parser().parse("x").data == "start"
    finally:
        grammar.parser.cache_clear()


def test_no_parser_cache_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    grammar.parser.cache_clear()
    try:
        grammar.parser()
    finally:
        grammar.parser.cache_clear()
    assert list(tmp_path.iterdir()) == []
