"""A user's text file as a language-modelling source: `text("corpus.txt", context=64,
vocab=64, encoding="utf-8")`.

The file is decoded with `encoding` (any name Python's codecs know); its characters become
ids by frequency: 0 stands for every character outside the `vocab` - 1 most frequent ones,
1 for the most frequent, and so on (ties by character). The text is cut into stretches of
`context` + 1 characters, one after another: x = a stretch's first `context` ids, y = the
next id at each position (both i32[B, context]); the stretches are split into train/val/test
by the `val`/`test` fractions. The run saves the characters by id (data.json), so
`nndsl sample --text` writes its samples in them.
"""

from __future__ import annotations

import codecs
from collections import Counter

import numpy as np

from nndsl.data.encoding import Encoding
from nndsl.data.table import DataError

UNKNOWN_ENCODING, UNDECODABLE, OPTION = "E262", "E263", "E264"
RARE = "\ufffd"  # how id 0, every character outside the vocabulary, is shown


def check_options(options: dict) -> None:
    """`context` and `vocab` whole numbers >= 2 (E264), an encoding Python knows (E262)."""
    for name in ("context", "vocab"):
        value = options[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise DataError(OPTION, f"text: `{name}` must be a whole number >= 2, got {value!r}")
    if not _known_encoding(options["encoding"]):
        raise DataError(UNKNOWN_ENCODING, f"text: unknown encoding {options['encoding']!r}",
                        "a name Python's codecs know: utf-8, latin-1, utf-16, cp1252, ...")


def _known_encoding(name) -> bool:
    try:
        return isinstance(name, str) and codecs.lookup(name) is not None
    except LookupError:
        return False


def decode(raw: bytes, name: str, options: dict) -> str:
    """The file's text; E263 names the first byte the encoding cannot read."""
    try:
        text = raw.decode(options["encoding"])
    except UnicodeDecodeError as exc:
        raise DataError(UNDECODABLE, f"{name} is not {options['encoding']} text: byte "
                        f"{exc.start} cannot be decoded",
                        "give the file's encoding: text(\"...\", encoding=\"latin-1\")") from None
    if len(text) < options["context"] + 1:
        raise DataError(OPTION, f"{name} holds {len(text)} characters, fewer than one "
                        f"stretch of context + 1 = {options['context'] + 1}")
    return text


def fields(options: dict) -> dict:
    """x and y: i32[B, context]."""
    from nndsl.data.catalog import B
    from nndsl.ir import TensorType

    return {k: TensorType((B, options["context"]), "i32") for k in ("x", "y")}


def load(text: str, options: dict) -> tuple[dict[str, np.ndarray], Encoding]:
    """The stretches' x and y, and the encoding (the characters by id)."""
    counts = Counter(text)
    kept = sorted(counts, key=lambda c: (-counts[c], c))[:options["vocab"] - 1]
    index = {c: i + 1 for i, c in enumerate(kept)}
    ids = np.fromiter((index.get(c, 0) for c in text), np.int32, len(text))
    n, context = (len(ids) - 1) // options["context"], options["context"]
    starts = np.arange(n) * context
    windows = ids[starts[:, None] + np.arange(context + 1)]
    tokens = [RARE, *kept] + [RARE] * (options["vocab"] - 1 - len(kept))
    enc = Encoding("text", labels={"x": tokens},
                   options={k: options[k] for k in ("context", "vocab", "encoding")})
    return {"x": windows[:, :-1], "y": windows[:, 1:]}, enc
