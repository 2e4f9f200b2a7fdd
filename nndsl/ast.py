"""The abstract syntax tree: frozen dataclasses, each with the span of the source it came from."""

from __future__ import annotations

from dataclasses import dataclass

from nndsl.source import Source, Span


@dataclass(frozen=True)
class Node:
    span: Span


# Expressions ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Number(Node):
    value: int | float


@dataclass(frozen=True)
class String(Node):
    value: str


@dataclass(frozen=True)
class Bool(Node):
    value: bool


@dataclass(frozen=True)
class ListExpr(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class TupleExpr(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class BinOp(Node):
    """`left op right` for + - * / // % @ ** and the comparisons == != < <= > >=."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class BoolOp(Node):
    """`and` / `or` on compile-time constants."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Unary(Node):
    """`-x` or `not x`."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Kwarg(Node):
    name: str
    value: Node


@dataclass(frozen=True)
class Call(Node):
    func: Node
    args: tuple[Node, ...]
    kwargs: tuple[Kwarg, ...]


@dataclass(frozen=True)
class Member(Node):
    """`obj.name`: one output of a network with several."""

    obj: Node
    name: str
    name_span: Span


@dataclass(frozen=True)
class SliceItem(Node):
    """`start:stop:step` inside `x[...]`; a part left out is None."""

    start: Node | None
    stop: Node | None
    step: Node | None


@dataclass(frozen=True)
class EllipsisItem(Node):
    """`...` inside `x[...]`: as many whole axes as the other items leave."""


@dataclass(frozen=True)
class Index(Node):
    """`obj[item, ...]`: indexing and slicing a tensor's non-batch axes."""

    obj: Node
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Pipeline(Node):
    """`a -> f -> g`: the first item is the value, the rest are stages."""

    stages: tuple[Node, ...]


@dataclass(frozen=True)
class IfExpr(Node):
    cond: Node
    then: Node
    orelse: Node


# Statements in bodies --------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorTypeExpr(Node):
    dims: tuple[Node, ...]
    dtype: str | None


@dataclass(frozen=True)
class Ident(Node):
    """A declared name together with its own span (used for precise error positions)."""

    id: str


@dataclass(frozen=True)
class Input(Node):
    name: Ident
    type: TensorTypeExpr | None
    static: bool


@dataclass(frozen=True)
class State(Node):
    name: Ident
    type: TensorTypeExpr
    init: Node | None


@dataclass(frozen=True)
class ParamDecl(Node):
    name: Ident
    type: TensorTypeExpr
    init: Node | None


@dataclass(frozen=True)
class Shared(Node):
    name: Ident
    value: Node


@dataclass(frozen=True)
class Output(Node):
    name: Ident | None
    value: Node


@dataclass(frozen=True)
class Assign(Node):
    targets: tuple[Ident, ...]
    value: Node


# Top-level declarations ------------------------------------------------------------------------

@dataclass(frozen=True)
class Import(Node):
    path: str


@dataclass(frozen=True)
class Let(Node):
    name: Ident
    value: Node


@dataclass(frozen=True)
class DefParam(Node):
    name: str
    default: Node | None


@dataclass(frozen=True)
class Definition(Node):
    """A `block`, `cell` or `network`."""

    kind: str
    name: Ident
    params: tuple[DefParam, ...]
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Field(Node):
    name: Ident
    value: Node


@dataclass(frozen=True)
class Step(Node):
    network: Ident
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Train(Node):
    name: str | None
    fields: tuple[Field, ...]
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Sweep(Node):
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Module:
    source: Source
    decls: tuple[Node, ...]
