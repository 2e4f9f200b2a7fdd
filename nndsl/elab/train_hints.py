"""Hints for train sections: a setting written under another name (`optimiser = adam()`,
`lr_schedule = cosine()`, `batchsize = 32`) is named as the setting it most likely is."""

from __future__ import annotations

from nndsl import ast
from nndsl.elab.builtins import BUILTINS
from nndsl.elab.vocabulary import CALLS, CONFIG_FIELDS
from nndsl.ops import USER_OPS
from nndsl.source import Diagnostic, did_you_mean, error

MISPLACED_CALL = "E141"
# What each train field's calls are, for messages.
NOUNS = {"optimizer": "an optimizer", "schedule": "a learning-rate schedule",
         "early_stopping": "an early-stopping rule", "augment": "an augmentation"}


def check_local_calls(el, bindings: list[ast.Assign]) -> None:
    """A local binding whose value calls an optimizer, schedule, stopping rule or
    augmentation (none of them is a network value) is a misspelt setting: E141 names the
    setting. An unknown callee close to one of their names is E012 with that name."""
    known = {*el.builder.frame.env, *el.constants, *el.program.definitions, *USER_OPS,
             *BUILTINS}
    for binding in bindings:
        head = binding.value.func if isinstance(binding.value, ast.Call) else None
        if isinstance(head, ast.Name) and head.id not in known:
            _check_callee(binding.targets[0], head)
        known.update(t.id for t in binding.targets)


def _check_callee(target: ast.Ident, head: ast.Name) -> None:
    field = vocabulary_field(head.id)
    if field:
        raise error(MISPLACED_CALL, f"unknown setting `{target.id}`; `{head.id}` is "
                    f"{NOUNS[field]}", target.span,
                    hint=" ".join(filter(None, (did_you_mean(target.id, CALLS),
                                               f"set it with `{field} = {head.id}(...)`"))))
    words = [word for catalog in CALLS.values() for word in catalog]
    near = did_you_mean(head.id, words)
    if near:
        word = near.split("`")[1]
        field = vocabulary_field(word)
        raise error("E012", f"unknown name `{head.id}`", head.span,
                    hint=f"{near} ({NOUNS[field]}: `{field} = {word}(...)`; the others: "
                    f"{', '.join(w for w in CALLS[field] if w != word) or 'none'})")


def vocabulary_field(word: str) -> str | None:
    """The train field whose calls include `word` (`cosine` → `schedule`), or None."""
    return next((field for field, catalog in CALLS.items() if word in catalog), None)


def unused_local_warnings(train: ast.Train, fields) -> list[Diagnostic]:
    """A local binding that looks like a misspelt setting is most likely one."""
    warnings = []
    for name, f in fields.items():
        if name in CONFIG_FIELDS:
            continue
        hint = did_you_mean(name, [c for c in CONFIG_FIELDS if c not in fields])
        if hint:
            warnings.append(Diagnostic("W001", f"`{name}` is not a setting; it is bound as a "
                                       "local name", f.name.span, hint, severity="warning"))
    return warnings
