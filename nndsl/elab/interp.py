"""The interpreter: expressions evaluate to values, statements bind names, bodies run.

Where elaboration is (frame, graph) is held by the `GraphBuilder`; the interpreter reads
it from there and never keeps its own copy. `run_body` is the one statement runner:
blocks, networks, cells and train sections all use it, with handlers for the statements
only they have, and it keeps the one "used before it is defined" bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nndsl import ast
from nndsl.elab import builtins, calls, definitions, statements
from nndsl.elab.builder import Frame, GraphBuilder, Limits
from nndsl.elab.fold import fold, negate
from nndsl.elab.repeat import repeat
from nndsl.elab.subscript import index_tensor
from nndsl.elab.values import (
    Arg,
    Builtin,
    Chain,
    DefValue,
    OpValue,
    Record,
    Tensor,
    describe,
    is_callable,
    is_constant,
    is_number,
)
from nndsl.ir import Graph, Sym, TensorType
from nndsl.ops import BINARY_OPS, REGISTRY, USER_OPS, Word
from nndsl.ops.index import COMPARISONS as TESTS
from nndsl.program import Program
from nndsl.source import Span, did_you_mean, error

Handler = Callable[[Any], None]


class Elaborator:
    """Builds the graphs of a program's networks (and, through `elab.train`, train sections)."""

    def __init__(self, program: Program, limits: Limits | None = None):
        self.program = program
        self.limits = limits or Limits()
        self.builder = GraphBuilder(self.limits)
        self.constants: dict[str, Any] = {}
        self._evaluate_lets()

    def network(self, name: str) -> Graph:
        """Elaborate network `name` on its declared input shapes, with default hyperparameters."""
        definition = self.program.definitions[name]
        graph = Graph(name)
        with self.builder.building(graph, Frame("network", "", "")):
            outputs = definitions.run_network(self, definition, None, definition.name.span)
        graph.outputs = {k: v.ref for k, v in outputs.items()}
        return graph

    def _evaluate_lets(self) -> None:
        with self.builder.inside(Frame("let", "", "")):
            for name, let in self.program.lets.items():
                if name in self.program.overrides:
                    self.constants[name] = self.program.overrides[name]
                    continue
                value = self.eval(let.value)
                if not is_constant(value):
                    raise error("E010", f"`let {name}` must be a constant, not "
                                f"{describe(value)}", let.value.span)
                self.constants[name] = value

    # Bodies and statements ------------------------------------------------------------------

    def run_body(self, body: Sequence[ast.Node], handlers: dict[type, Handler]) -> None:
        """Run statements in order in the current frame; `handlers` run the kinds of statement
        a body has beyond bindings (inputs, outputs, states)."""
        frame = self.builder.frame
        frame.later = {}
        for stmt in body:
            for target in bound_names(stmt):
                frame.later.setdefault(target.id, target.span)
        for stmt in body:
            for target in bound_names(stmt):
                frame.later.pop(target.id, None)
            handlers.get(type(stmt), self.statement)(stmt)

    def statement(self, stmt: ast.Node) -> None:
        """Run one binding statement (`h = ...`, `shared ...`, `param ...`)."""
        statements.run(self, stmt)

    def tensor_type(self, expr: ast.TensorTypeExpr) -> TensorType:
        """A declared type `[B, 28, 28, 1] f32`: sizes are whole numbers or symbolic names."""
        dims = []
        for d in expr.dims:
            value = self.dim_or_value(d)
            if isinstance(value, bool) or not isinstance(value, (int, Sym)) or \
                    (isinstance(value, int) and value < 1):
                raise error("E037", f"a dimension must be a positive size or a symbolic name, "
                            f"got {describe(value)}", d.span)
            dims.append(value)
        return TensorType(tuple(dims), expr.dtype or "f32")

    # Names -----------------------------------------------------------------------------------

    def lookup(self, name: ast.Name) -> Any:
        frame = self.builder.frame
        if name.id in frame.env:
            return frame.env[name.id]
        if name.id in self.constants:
            return self.constants[name.id]
        if name.id in self.program.definitions:
            return DefValue(self.program.definitions[name.id])
        if name.id in USER_OPS:
            return OpValue(USER_OPS[name.id])
        if name.id in builtins.BUILTINS:
            return Builtin(name.id)
        if name.id in frame.symbols:
            return frame.symbols[name.id]
        if name.id in frame.later:
            line = frame.later[name.id].line
            raise error("E011", f"`{name.id}` is used before it is defined (it is defined on "
                        f"line {line})", name.span, hint=f"move line {line} up: a train "
                        "section binds its names in order" if frame.kind == "train" else
                        "a network is a DAG: to carry a value from step to step, write a "
                        "`cell` with a `state`")
        candidates = [*frame.env, *self.constants, *self.program.definitions, *USER_OPS]
        raise error("E012", f"unknown name `{name.id}`", name.span,
                    hint=did_you_mean(name.id, candidates))

    def is_value(self, name: str) -> bool:
        """Whether `name` is a local binding or a constant (as opposed to an op or a word)."""
        return name in self.builder.frame.env or name in self.constants

    # Expressions -----------------------------------------------------------------------------

    def eval(self, expr: ast.Node) -> Any:
        """The value of an expression in the current frame."""
        return getattr(self, f"_eval_{type(expr).__name__}")(expr)

    def _eval_Name(self, expr: ast.Name):
        return self.lookup(expr)

    def _eval_Number(self, expr: ast.Number):
        return expr.value

    _eval_String = _eval_Bool = _eval_Number

    def _eval_ListExpr(self, expr: ast.ListExpr):
        return [self.dim_or_value(item) for item in expr.items]

    def dim_or_value(self, expr: ast.Node):
        """In a shape, a name that is not a constant is a symbolic dimension (`B`, `T`)."""
        if isinstance(expr, ast.Name) and not self.is_value(expr.id):
            return self.builder.frame.symbols.get(expr.id, Sym.named(expr.id))
        return self.eval(expr)

    def _eval_TupleExpr(self, expr: ast.TupleExpr):
        return tuple(self.eval(item) for item in expr.items)

    def _eval_IfExpr(self, expr: ast.IfExpr):
        cond = self.eval(expr.cond)
        if not isinstance(cond, bool):
            raise error("E013", "the condition of `if` must be known at compile time (built "
                        f"from constants and static shapes), got {describe(cond)}",
                        expr.cond.span)
        return self.eval(expr.then if cond else expr.orelse)

    def _eval_BoolOp(self, expr: ast.BoolOp):
        left = self._constant_bool(expr.left)
        if (expr.op == "or" and left) or (expr.op == "and" and not left):
            return left
        return self._constant_bool(expr.right)

    def _constant_bool(self, expr: ast.Node) -> bool:
        value = self.eval(expr)
        if not isinstance(value, bool):
            raise error("E013", f"`and`, `or` and `not` take compile-time booleans, got "
                        f"{describe(value)}", expr.span)
        return value

    def _eval_Unary(self, expr: ast.Unary):
        if expr.op == "not":
            return not self._constant_bool(expr.operand)
        value = self.eval(expr.operand)
        if isinstance(value, Tensor):
            return self.builder.emit(REGISTRY["neg"], [value], {}, expr.span, "-")[0]
        if is_number(value) or isinstance(value, Sym):
            return negate(value)
        raise error("E014", f"cannot negate {describe(value)}", expr.span)

    def _eval_BinOp(self, expr: ast.BinOp):
        left, right = self.eval(expr.left), self.eval(expr.right)
        if expr.op == "*" and is_callable(left):
            return repeat(left, right, expr, self.limits)
        if is_constant(left) and is_constant(right):
            return fold(expr.op, left, right, expr.span)
        if expr.op in TESTS and any(isinstance(v, Tensor) for v in (left, right)):
            return self._compare(expr, left, right)
        if expr.op not in BINARY_OPS:
            raise error("E014", f"`{expr.op}` compares compile-time constants; got "
                        f"{describe(left)} and {describe(right)}", expr.span)
        if not any(isinstance(v, Tensor) for v in (left, right)):
            raise error("E014", f"cannot apply `{expr.op}` to {describe(left)} and "
                        f"{describe(right)}", expr.span)
        tensors = [self._as_tensor(v, e) for v, e in ((left, expr.left), (right, expr.right))]
        return self.builder.emit(REGISTRY[BINARY_OPS[expr.op]], tensors, {}, expr.span,
                                 f"{expr.op}")[0]

    def _compare(self, expr: ast.BinOp, left, right) -> Tensor:
        """`ids == 0`: an elementwise comparison, a bool tensor (masks)."""
        tensors = [self._as_tensor(v, e) for v, e in ((left, expr.left), (right, expr.right))]
        return self.builder.emit(REGISTRY["compare"], tensors, {"test": TESTS[expr.op]},
                                 expr.span, expr.op)[0]

    def _as_tensor(self, value, expr: ast.Node) -> Tensor:
        if isinstance(value, Tensor):
            return value
        if is_number(value):
            return self.builder.constant(value, expr.span)
        raise error("E014", f"expected a tensor here, got {describe(value)}", expr.span)

    def _eval_Member(self, expr: ast.Member):
        value = self.eval(expr.obj)
        if isinstance(value, Tensor) and value.output is not None:
            owner, name = value.output
            if expr.name != name:
                raise error("E016", f"`{owner}` has no output `{expr.name}`", expr.name_span,
                            hint=did_you_mean(expr.name, [name]))
            return value
        if isinstance(value, Record):
            if expr.name not in value.fields:
                raise error("E016", f"`{value.owner}` has no output `{expr.name}`",
                            expr.name_span, hint=did_you_mean(expr.name, value.fields))
            return value.fields[expr.name]
        raise error("E016", f"`.{expr.name}` selects an output of a network with several; "
                    f"this is {describe(value)}", expr.name_span)

    def _eval_Index(self, expr: ast.Index):
        return index_tensor(self, expr, self.eval(expr.obj))

    def _eval_Pipeline(self, expr: ast.Pipeline):
        head = self.eval(expr.stages[0])
        if is_callable(head):
            return Chain((head, *(self._stage_value(s) for s in expr.stages[1:])), expr.span)
        value = head
        for stage in expr.stages[1:]:
            value = self._apply_stage(value, stage)
        return value

    def _stage_value(self, stage: ast.Node):
        value = self.eval(stage)
        if not is_callable(value):
            raise error("E017", f"a pipeline stage must be an operation, block or network, "
                        f"not {describe(value)}", stage.span)
        return value

    def _apply_stage(self, value, stage: ast.Node):
        """`value -> stage`: `f(args)` becomes `f(value, args)`, `f` becomes `f(value)`."""
        head = [Arg(v, stage.span) for v in value] if isinstance(value, tuple) else \
            [Arg(value, stage.span)]
        if isinstance(stage, ast.Call):
            callee = self.eval(stage.func)
            if is_callable(callee):
                return self.call(callee, head + self._args(stage.args),
                                 self._kwargs(stage.kwargs), stage.span)
        return self.call(self._stage_value(stage), head, [], stage.span)

    def _eval_Call(self, expr: ast.Call):
        callee = self.eval(expr.func)
        if not is_callable(callee):
            raise error("E018", f"{describe(callee)} cannot be called", expr.func.span)
        return self.call(callee, self._args(expr.args), self._kwargs(expr.kwargs), expr.span)

    def _args(self, exprs) -> list[Arg]:
        return [Arg(self.dim_or_value(e) if isinstance(e, ast.ListExpr) else self.eval(e),
                    e.span) for e in exprs]

    def _kwargs(self, kwargs) -> list[tuple[str, Arg]]:
        return [(k.name, Arg(self._kwarg_value(k.value), k.span)) for k in kwargs]

    def _kwarg_value(self, expr: ast.Node):
        """A bare name that is not a value is a word: `pad=same`, `reduce=sum`, `kind=dot`."""
        if isinstance(expr, ast.Name) and not self.is_value(expr.id) and \
                expr.id not in self.program.definitions:
            return Word(expr.id)
        return self.eval(expr)

    def call(self, callee, args: list[Arg], kwargs: list[tuple[str, Arg]], span: Span):
        """Apply any callable value to arguments (tensors first, then hyperparameters)."""
        return calls.call(self, callee, args, kwargs, span)


def bound_names(stmt: ast.Node) -> list[ast.Ident]:
    """The names one statement binds (an assignment's targets, a declaration's name)."""
    if isinstance(stmt, ast.Assign):
        return list(stmt.targets)
    name = getattr(stmt, "name", None)
    return [name] if isinstance(name, ast.Ident) else []
