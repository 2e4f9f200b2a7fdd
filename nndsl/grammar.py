"""The grammar and its LALR tables, loaded without pickle.

`grammars/nn.lark` is the grammar; the wheel carries it as the resource package
`nndsl.grammars`. Building its LALR tables takes ~0.4 s, so the tables are generated once into
`grammars/nn.tables.json` (`python -m nndsl.grammar`; a test keeps them current) and loaded from
plain JSON: unlike Lark's own cache, a pickle in a shared temporary directory, no file anyone
can plant here can run code. Tables made by another Lark version or for another grammar text
are ignored and the parser is built in memory instead.
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import cache
from importlib import resources

import lark
from lark.grammar import Rule
from lark.lexer import TerminalDef

OPTIONS = {"parser": "lalr", "propagate_positions": True, "maybe_placeholders": True}
GRAMMAR_FILE = "nn.lark"
TABLES_FILE = "nn.tables.json"
# JSON has only string keys and no tuples; Lark's tables have both, so they are tagged.
_ITEMS, _TUPLE = "~items", "~tuple"


def grammar_text() -> str:
    """The text of `grammars/nn.lark`, from the installed package."""
    return resources.files("nndsl.grammars").joinpath(GRAMMAR_FILE).read_text(encoding="utf-8")


def fingerprint(text: str) -> str:
    """What the tables were made from: the grammar's hash and Lark's version."""
    return f"{hashlib.sha256(text.encode()).hexdigest()}/lark-{lark.__version__}"


@cache
def parser() -> lark.Lark:
    """The LALR parser, from the shipped tables when they fit, else built from the grammar."""
    text = grammar_text()
    try:
        saved = json.loads(resources.files("nndsl.grammars").joinpath(TABLES_FILE).read_text(),
                           object_hook=_decode)
    except (OSError, ValueError):
        saved = None
    if saved and saved.get("fingerprint") == fingerprint(text):
        return lark.Lark._load_from_dict(saved["data"], saved["memo"])
    return lark.Lark(text, **OPTIONS)


def tables_json(text: str) -> str:
    """Serialise the parser for `text` as JSON (what `python -m nndsl.grammar` writes)."""
    data, memo = lark.Lark(text, **OPTIONS).memo_serialize([TerminalDef, Rule])
    return json.dumps(_encode({"fingerprint": fingerprint(text), "data": data, "memo": memo}),
                      sort_keys=True, separators=(",", ":"))


def _encode(value):
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _encode(v) for k, v in value.items()}
        return {_ITEMS: [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in the grammar tables")


def _decode(obj: dict):
    if len(obj) == 1 and _ITEMS in obj:
        return {k: v for k, v in obj[_ITEMS]}
    if len(obj) == 1 and _TUPLE in obj:
        return tuple(obj[_TUPLE])
    return obj


def main() -> int:
    """Regenerate `nn.tables.json` beside the grammar in the source tree."""
    target = resources.files("nndsl.grammars").joinpath(TABLES_FILE)
    with resources.as_file(target) as path:
        path.write_text(tables_json(grammar_text()) + "\n")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
