"""Text → AST. The grammar lives in `grammars/nn.lark`; syntax errors become Diagnostics."""

from __future__ import annotations

import math

import lark
from lark import Token, Transformer, v_args

from nndsl import ast
from nndsl.grammar import parser as _parser
from nndsl.source import Source, Span, SpecError, error

MAX_NESTING = 200
# Longer literals are mistakes, and Python refuses to convert more than 4,300 digits.
MAX_NUMBER_LENGTH = 400

_TOKEN_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "$END": "the end of the file",
}


def parse(source: Source) -> ast.Module:
    """Parse a spec's text into an AST, or raise SpecError pointing at the first syntax error."""
    _check_nesting(source)
    try:
        tree = _parser().parse(source.text)
    except lark.UnexpectedToken as exc:
        raise _unexpected_token(source, exc) from None
    except lark.UnexpectedCharacters as exc:
        span = Span(source, exc.line, exc.column, exc.line, exc.column + 1)
        char = source.text[exc.pos_in_stream] if exc.pos_in_stream < len(source.text) else "?"
        raise error("E001", f"unexpected character `{_printable(char)}`; expected "
                    f"{_expected_words(exc.allowed)}", span) from None
    except lark.UnexpectedEOF as exc:
        raise _at_end(source, exc.expected) from None
    try:
        items = _ToAst(source).transform(tree).children
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, SpecError):
            raise exc.orig_exc from None
        raise
    return ast.Module(source, tuple(items))


def _check_nesting(source: Source) -> None:
    """Refuse absurdly nested brackets up front, before they can exhaust the parser's stack.

    Brackets inside comments and strings do not count; a string ends at its closing quote
    (not at an escaped `\\"`) or, as in the grammar, at the end of its line.
    """
    depth = 0
    for number, text in enumerate(source.lines, start=1):
        for column, char in _code_characters(text):
            if char in "([{":
                depth += 1
                if depth > MAX_NESTING:
                    raise error("E002", f"brackets nest more than {MAX_NESTING} deep",
                                Span(source, number, column, number, column + 1),
                                hint="name the inner parts with bindings (`h = ...`) instead")
            elif char in ")]}":
                depth = max(0, depth - 1)


def _code_characters(line: str):
    """(1-based column, character) of one line's characters outside strings and comments."""
    in_string = escaped = False
    for column, char in enumerate(line, start=1):
        if in_string:
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == '"':
            in_string = True
        elif char == "#":
            return
        else:
            yield column, char


def _printable(char: str) -> str:
    return char if char.isprintable() else f"\\x{ord(char):02x}"


def _describe(name: str) -> str:
    if name in _TOKEN_WORDS:
        return _TOKEN_WORDS[name]
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"`{pattern.value}`" if isinstance(pattern, lark.lexer.PatternStr) else name.lower()


def _expected_words(names) -> str:
    words = sorted({_describe(n) for n in names})
    if len(words) > 8:
        words = words[:8] + ["..."]
    return "one of " + ", ".join(words) if len(words) > 1 else "".join(words)


def _unexpected_token(source: Source, exc: lark.UnexpectedToken):
    token = exc.token
    if token.type == "$END":
        return _at_end(source, exc.expected)
    span = Span(source, token.line, token.column, token.end_line or token.line,
                token.end_column or token.column + 1)
    hint = None
    if token.type == "RPAR" and "RPAR" not in exc.expected:
        hint = "this `)` closes nothing: remove it or add the missing `(`"
    word = _describe(token.type)
    found = word if word.startswith("`") else f"{word} `{token.value}`"
    return error("E001", f"unexpected {found}; expected "
                 f"{_expected_words(exc.expected)}", span, hint=hint)


def _at_end(source: Source, expected) -> Exception:
    lines = source.text.removesuffix("\n").split("\n")
    line, column = len(lines), len(lines[-1]) + 1
    return error("E001", f"unexpected end of file; expected {_expected_words(expected)}",
                 Span(source, line, column, line, column + 1),
                 hint="a bracket or a `{ ... }` body may be left open")


@v_args(meta=True)
class _ToAst(Transformer):
    """Turns Lark's parse tree into AST dataclasses with spans."""

    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.source, 1, 1, 1, 1)
        return Span(self.source, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, token: Token) -> Span:
        return Span(self.source, token.line, token.column, token.end_line, token.end_column)

    def _ident(self, token: Token) -> ast.Ident:
        return ast.Ident(self._tok(token), str(token))

    # Declarations
    def import_decl(self, meta, children):
        return ast.Import(self._span(meta), children[0][1:-1])

    def let_decl(self, meta, children):
        return ast.Let(self._span(meta), self._ident(children[0]), children[1])

    def def_decl(self, meta, children):
        kind, name, params, body = children
        return ast.Definition(self._span(meta), kind, self._ident(name), params or (), body)

    def def_kind(self, meta, children):
        return str(children[0])

    def def_params(self, meta, children):
        return tuple(c for c in children if c is not None)

    def def_param(self, meta, children):
        return ast.DefParam(self._span(meta), str(children[0]), children[1])

    def body(self, meta, children):
        return tuple(c for c in children if isinstance(c, ast.Node))

    def input_stmt(self, meta, children):
        name, kind = children
        static = kind == "static"
        return ast.Input(self._span(meta), self._ident(name), None if static else kind, static)

    def static(self, meta, children):
        return "static"

    def dtype(self, meta, children):
        return str(children[0])

    def state_stmt(self, meta, children):
        return ast.State(self._span(meta), self._ident(children[0]), children[1], children[2])

    def param_stmt(self, meta, children):
        return ast.ParamDecl(self._span(meta), self._ident(children[0]), children[1], children[2])

    def shared_stmt(self, meta, children):
        return ast.Shared(self._span(meta), self._ident(children[0]), children[1])

    def output_named(self, meta, children):
        return ast.Output(self._span(meta), self._ident(children[0]), children[1])

    def output_expr(self, meta, children):
        return ast.Output(self._span(meta), None, children[0])

    def assign_stmt(self, meta, children):
        targets = tuple(self._ident(t) for t in children[:-1])
        return ast.Assign(self._span(meta), targets, children[-1])

    def tensor_type(self, meta, children):
        dtype = children[-1]
        dims = tuple(c for c in children[:-1] if c is not None)
        return ast.TensorTypeExpr(self._span(meta), dims, dtype)

    def train_decl(self, meta, children):
        name, items = children[0], [c for c in children[1:] if isinstance(c, ast.Node)]
        fields = tuple(i for i in items if isinstance(i, ast.Field))
        steps = tuple(i for i in items if isinstance(i, ast.Step))
        return ast.Train(self._span(meta), str(name) if name else None, fields, steps)

    def field(self, meta, children):
        return ast.Field(self._span(meta), self._ident(children[0]), children[1])

    def step(self, meta, children):
        fields = tuple(c for c in children[1:] if isinstance(c, ast.Field))
        return ast.Step(self._span(meta), self._ident(children[0]), fields)

    def sweep_decl(self, meta, children):
        return ast.Sweep(self._span(meta), tuple(c for c in children if isinstance(c, ast.Field)))

    # Expressions
    def if_expr(self, meta, children):
        return ast.IfExpr(self._span(meta), *children)

    def pipeline(self, meta, children):
        return ast.Pipeline(self._span(meta), tuple(children))

    def _bool_op(op):  # noqa: N805 - a factory used at class-creation time
        return lambda self, meta, children: ast.BoolOp(self._span(meta), op, *children)

    or_ = _bool_op("or")
    and_ = _bool_op("and")

    def not_(self, meta, children):
        return ast.Unary(self._span(meta), "not", children[0])

    def neg(self, meta, children):
        return ast.Unary(self._span(meta), "-", children[0])

    def compare(self, meta, children):
        left, op, right = children
        return ast.BinOp(self._span(meta), str(op), left, right)

    def _bin_op(op):  # noqa: N805 - a factory used at class-creation time
        return lambda self, meta, children: ast.BinOp(self._span(meta), op, *children)

    add, sub, mul, div = _bin_op("+"), _bin_op("-"), _bin_op("*"), _bin_op("/")
    floordiv, mod, matmul, pow = _bin_op("//"), _bin_op("%"), _bin_op("@"), _bin_op("**")

    def call(self, meta, children):
        func, args = children[0], [a for a in children[1:] if a is not None]
        positional = tuple(a for a in args if not isinstance(a, ast.Kwarg))
        kwargs = tuple(a for a in args if isinstance(a, ast.Kwarg))
        return ast.Call(self._span(meta), func, positional, kwargs)

    def kwarg(self, meta, children):
        return ast.Kwarg(self._span(meta), str(children[0]), children[1])

    def member(self, meta, children):
        obj, name = children
        return ast.Member(self._span(meta), obj, str(name), self._tok(name))

    def index(self, meta, children):
        return ast.Index(self._span(meta), children[0],
                         tuple(c for c in children[1:] if c is not None))

    def slice_item(self, meta, children):
        return ast.SliceItem(self._span(meta), *children)

    def ellipsis(self, meta, children):
        return ast.EllipsisItem(self._span(meta))

    def name(self, meta, children):
        return ast.Name(self._span(meta), str(children[0]))

    def number(self, meta, children):
        text = str(children[0])
        if len(text) > MAX_NUMBER_LENGTH:
            raise error("E001", f"a number of {len(text)} characters; numbers are at most "
                        f"{MAX_NUMBER_LENGTH}", self._span(meta),
                        hint="write large values with an exponent, e.g. 1e9")
        value = float(text) if any(c in text for c in ".eE") else int(text)
        if not math.isfinite(value):
            raise error("E001", f"`{text}` is too large to be a number", self._span(meta))
        return ast.Number(self._span(meta), value)

    def string(self, meta, children):
        return ast.String(self._span(meta), str(children[0])[1:-1])

    def true(self, meta, children):
        return ast.Bool(self._span(meta), True)

    def false(self, meta, children):
        return ast.Bool(self._span(meta), False)

    def tuple(self, meta, children):
        return ast.TupleExpr(self._span(meta), tuple(c for c in children if c is not None))

    def list(self, meta, children):
        return ast.ListExpr(self._span(meta), tuple(c for c in children if c is not None))
