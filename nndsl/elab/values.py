"""What expressions evaluate to while elaborating.

Compile-time constants are plain Python values (numbers, booleans, strings, `Word`s,
symbolic sizes `Sym`, lists and tuples of them). Everything else is one of the classes
here: tensors (an output of a graph node, its type and how that type was derived),
records of several outputs, and callables a pipeline stage applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nndsl import ast
from nndsl.hyper import Arg
from nndsl.ir import Ref, Sym, TensorType
from nndsl.ops import OpDef, Word
from nndsl.source import Span


@dataclass(frozen=True)
class Trace:
    """How a tensor's type was derived: one step, and the steps before it."""

    step: str
    parent: Trace | None = None

    def lines(self, limit: int = 8) -> list[str]:
        out, node = [], self
        while node is not None and len(out) < limit:
            out.append(node.step)
            node = node.parent
        return out[::-1]


@dataclass(frozen=True)
class Tensor:
    """A value in the graph. `output` names it when it is a network's only output."""

    ref: Ref
    type: TensorType
    trace: Trace | None = None
    output: tuple[str, str] | None = None


@dataclass(frozen=True)
class Record:
    """The outputs of a network with several, selected with `.name`."""

    owner: str
    fields: dict[str, Tensor]


@dataclass(frozen=True)
class OpValue:
    op: OpDef


@dataclass(frozen=True)
class DefValue:
    definition: ast.Definition


@dataclass(frozen=True)
class Instance:
    """A block, cell or network with its hyperparameters bound (`Basic(64)`, `LSTM(128)`).

    `shared` names the parameter scope when all uses share one parameter set; `frozen` marks
    parameters loaded from an earlier run.
    """

    definition: ast.Definition
    hypers: tuple[tuple[str, Any], ...]
    span: Span
    shared: str | None = None
    frozen: str | None = None


@dataclass(frozen=True)
class Partial:
    """A callable with some trailing arguments given: `conv(64, 3)` waiting for its input."""

    callee: Any
    args: tuple[Arg, ...]
    kwargs: tuple[tuple[str, Arg], ...]
    span: Span


@dataclass(frozen=True)
class Chain:
    """A parenthesised pipeline without its input, e.g. `(conv(64, 3) -> relu)`."""

    stages: tuple[Any, ...]
    span: Span


@dataclass(frozen=True)
class Repeated:
    """`Stage * n`."""

    stage: Any
    times: int
    span: Span


@dataclass(frozen=True)
class ParamSet:
    """`params` in a train section: the trainable parameters under `scope` ("" for all)."""

    scope: str


@dataclass(frozen=True)
class Builtin:
    """A compile-time function handled by the elaborator itself (scan, dim, ...)."""

    name: str


CALLABLES = (OpValue, DefValue, Instance, Partial, Chain, Repeated, Builtin)


def is_constant(value) -> bool:
    """Whether `value` is known at compile time (numbers, words, sizes and lists of them)."""
    return isinstance(value, (int, float, bool, str, Sym, Word)) or (
        isinstance(value, (list, tuple)) and all(is_constant(v) for v in value))


def is_callable(value) -> bool:
    return isinstance(value, CALLABLES)


def is_number(value) -> bool:
    """An int or a float, but not a boolean (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def leading_tensors(args: list[Arg]) -> int:
    """How many arguments at the front are tensors (the inputs; the rest are hypers)."""
    n = 0
    while n < len(args) and isinstance(args[n].value, Tensor):
        n += 1
    return n


def stage_label(stage) -> str:
    """The name a repeated stage's scope gets (`Basic`, `conv`, or `repeat`)."""
    if isinstance(stage, (Instance, DefValue)):
        return stage.definition.name.id
    if isinstance(stage, Partial) and isinstance(stage.callee, OpValue):
        return stage.callee.op.name
    if isinstance(stage, OpValue):
        return stage.op.name
    return "repeat"


def describe(value) -> str:
    """A value in the user's words, for error messages."""
    if isinstance(value, Tensor):
        return f"a tensor {value.type}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, Sym):
        return f"the symbolic size {value}"
    if isinstance(value, Word):
        return f"the word `{value}`"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, Record):
        return f"the outputs of `{value.owner}` ({', '.join(value.fields)}; select one with .name)"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, OpValue):
        return f"the operation `{value.op.name}`"
    if isinstance(value, (DefValue, Instance)):
        d = value.definition
        return f"the {d.kind} `{d.name.id}`"
    return "a stage"


def source_text(span: Span) -> str:
    """The source text a single-line span covers, or '' for a multi-line one."""
    if span.source is None or span.line != span.end_line:
        return ""
    return span.source.line(span.line)[span.column - 1:span.end_column - 1]
