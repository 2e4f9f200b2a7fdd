"""Source text, spans and diagnostics: every error nndsl reports points at the user's source."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path


@dataclass(frozen=True, eq=False)
class Source:
    """A spec file's text and the name it is reported under.

    One line model for the parser and the diagnostics: a leading byte-order mark is dropped and
    CRLF and lone CR become LF, so `\\n` alone ends a line; a form feed or a Unicode line
    separator (U+2028) is an ordinary character, as it is to the grammar.
    """

    path: str
    text: str = field(repr=False)

    def __post_init__(self):
        text = self.text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        object.__setattr__(self, "text", text)

    @classmethod
    def read(cls, path: str | Path) -> Source:
        """Read a file as text, replacing undecodable bytes so any file can be reported on."""
        data = Path(path).read_bytes()
        return cls(str(path), data.decode("utf-8", errors="replace"))

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    def line(self, number: int) -> str:
        """The 1-based line `number`, without its line ending."""
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""


@dataclass(frozen=True)
class Span:
    """A region of a source: 1-based line and column of its start and end (end exclusive)."""

    source: Source | None
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        path = self.source.path if self.source else "<spec>"
        # Line 0: the error is about a whole file (a checkpoint, a refused path), not a place.
        return f"{path}:{self.line}:{self.column}" if self.line else path

    def to(self, other: Span) -> Span:
        """The span from the start of this one to the end of `other`."""
        return Span(self.source, self.line, self.column, other.end_line, other.end_column)


NO_SPAN = Span(None, 0, 0, 0, 0)
# Source lines longer than this are shown as a window around the error.
EXCERPT_WIDTH = 120
# Call notes printed in full; deeper chains (up to E002's 200 levels) print the innermost ones
# and a count, like a compiler's instantiation backtrace.
SHOWN_CALLS = 8


@dataclass(frozen=True)
class CallNote:
    """One block or network call on the way to an error: `callee` as written, and where."""

    callee: str
    span: Span

    def __str__(self) -> str:
        return f"in {self.callee} called at {self.span}"


@dataclass
class Diagnostic:
    """One problem found in a spec, with where it is and how to fix it."""

    code: str
    message: str
    span: Span
    hint: str | None = None
    notes: list[str] = field(default_factory=list)
    severity: str = "error"
    # The block and network calls the error was reached through, innermost first.
    calls: list[CallNote] = field(default_factory=list)

    def render(self) -> str:
        """Format as `file:line:col: error[E0xx]: message`, the source line, a caret, hints,
        then each call the error was reached through with its call site."""
        head = f"{self.span}: {self.severity}[{self.code}]: {self.message}"
        lines = [head, *excerpt(self.span)]
        lines += [f"  = note: {note}" for note in self.notes]
        if self.hint:
            lines.append(f"  = hint: {self.hint}")
        for call in self.calls[:SHOWN_CALLS]:
            lines += [f"  = note: {call}", *excerpt(call.span)]
        if len(self.calls) > SHOWN_CALLS:
            lines.append(f"  = note: ... and {len(self.calls) - SHOWN_CALLS} outer calls")
        return "\n".join(lines)


def excerpt(span: Span) -> list[str]:
    """The source line with a caret under the span (nothing for a span without a place); a
    very long line is cut to a window around the span, marked with `...`."""
    if span.source is None or span.line <= 0:
        return []
    text = span.source.line(span.line).replace("\t", " ")
    start = span.column - 1
    width = 1
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    width = min(width, EXCERPT_WIDTH)
    left = max(0, start - EXCERPT_WIDTH // 4) if len(text) > EXCERPT_WIDTH else 0
    shown = text[left:left + EXCERPT_WIDTH]
    if left:
        shown, start = "..." + shown, start - left + 3
    if left + EXCERPT_WIDTH < len(text):
        shown += "..."
    gutter = str(span.line)
    pad = " " * len(gutter)
    return [f"{pad} |", f"{gutter} | {shown}", f"{pad} | {' ' * start}{'^' * width}"]


class SpecError(Exception):
    """Raised by a pipeline stage for problems in the user's spec; carries its diagnostics."""

    def __init__(self, diagnostics: Diagnostic | list[Diagnostic]):
        self.diagnostics = diagnostics if isinstance(diagnostics, list) else [diagnostics]
        super().__init__(self._text())

    def _text(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)

    def called_from(self, call: CallNote) -> None:
        """Record that the error was reached through `call`; outer calls are added later, so
        the notes read innermost first."""
        for diagnostic in self.diagnostics:
            # An error at the call itself (the wrong input for the block) already shows it.
            if diagnostic.calls or diagnostic.span != call.span:
                diagnostic.calls.append(call)
        self.args = (self._text(),)


def error(code: str, message: str, span: Span, hint: str | None = None,
          notes: list[str] | None = None) -> SpecError:
    """Build a SpecError with one diagnostic (call sites `raise error(...)`)."""
    return SpecError(Diagnostic(code, message, span, hint, list(notes or [])))


def did_you_mean(word: str, candidates) -> str | None:
    """A `did you mean `x`?` hint for the closest candidate, or None."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None
