"""AST → graph IR: scopes, constants folded, blocks inlined, `* n`, shared instances, cells.

The elaborator interprets a body statement by statement. Expressions evaluate to *values*:
compile-time constants (numbers, booleans, words, symbolic sizes), tensors (an output of a
graph node plus its type and how that type was derived), or callables (ops, definitions,
instances, partial applications, chains and repetitions) that a pipeline stage applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nndsl import ast
from nndsl.ir import (
    SCALAR,
    Dim,
    Graph,
    Node,
    ParamSpec,
    Ref,
    Scope,
    Sym,
    TensorType,
    dim_add,
    dim_floordiv,
    dim_mul,
    dim_neg,
    dim_sub,
)
from nndsl.ops import BINARY_OPS, REGISTRY, USER_OPS, HyperError, OpDef, OpError, Word
from nndsl.program import Program
from nndsl.source import Span, SpecError, did_you_mean, error

INITIALISERS = ("zeros", "ones", "normal", "uniform", "glorot_uniform", "glorot_normal",
                "he_normal", "he_uniform", "orthogonal")


@dataclass(frozen=True)
class Limits:
    """Sizes refused before anything is allocated (configurable from the command line)."""

    max_params: int = 1_000_000_000
    max_elements: int = 1_000_000_000
    max_nodes: int = 1_000_000
    max_repeat: int = 100_000


# Values ----------------------------------------------------------------------------------------

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
class Arg:
    value: Any
    span: Span


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
BUILTINS = ("scan", "bidirectional", "dim", "load")


# Frames ----------------------------------------------------------------------------------------

@dataclass
class Frame:
    """One body being elaborated: its names, its naming prefix and what it has made."""

    kind: str
    prefix: str
    param_prefix: str
    env: dict[str, Any] = field(default_factory=dict)
    later: dict[str, Span] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    symbols: dict[str, Dim] = field(default_factory=dict)
    path: tuple[str, ...] = ()

    def fresh(self, label: str) -> str:
        k = self.counters.get(label, 0)
        self.counters[label] = k + 1
        return f"{label}_{k}"


class Elaborator:
    """Builds graphs for the networks (and, through `nndsl.training`, train sections)."""

    def __init__(self, program: Program, limits: Limits | None = None):
        self.program = program
        self.limits = limits or Limits()
        self.constants = self._evaluate_lets()
        self.graph: Graph | None = None
        self.frame = Frame("network", "", "")
        # Set while elaborating a `load(Net, "run")` network: its parameters are frozen.
        self.frozen: str | None = None
        self.multiplier = 1
        self.total_params = 0
        self.node_count = 0
        self.active: list[str] = []

    # Top level -----------------------------------------------------------------------------

    def network(self, name: str) -> Graph:
        """Elaborate network `name` on its declared input shapes, with default hyperparameters."""
        definition = self.program.definitions[name]
        graph = Graph(name)
        self.graph, self.total_params = graph, 0
        frame = Frame("network", "", "", path=(name,))
        self._bind_hypers(frame, definition, [], [], definition.name.span)
        outputs = self._run_body(definition, frame, inputs=None)
        graph.outputs = {k: v.ref for k, v in outputs.items()}
        return graph

    def _evaluate_lets(self) -> dict[str, Any]:
        frame = Frame("let", "", "")
        constants: dict[str, Any] = {}
        self.constants = constants
        for name, let in self.program.lets.items():
            if name in self.program.overrides:
                constants[name] = self.program.overrides[name]
                continue
            value = self.eval(let.value, frame)
            if not _is_constant(value):
                raise error("E010", f"`let {name}` must be a constant, not {_describe(value)}",
                            let.value.span)
            constants[name] = value
        return constants

    # Names ---------------------------------------------------------------------------------

    def lookup(self, name: ast.Name, frame: Frame) -> Any:
        if name.id in frame.env:
            return frame.env[name.id]
        if name.id in self.constants:
            return self.constants[name.id]
        if name.id in self.program.definitions:
            return DefValue(self.program.definitions[name.id])
        if name.id in USER_OPS:
            return OpValue(USER_OPS[name.id])
        if name.id in BUILTINS:
            return Builtin(name.id)
        if name.id in frame.symbols:
            return frame.symbols[name.id]
        if name.id in frame.later:
            raise error("E011", f"`{name.id}` is used before it is defined (it is defined on "
                        f"line {frame.later[name.id].line})", name.span,
                        hint="a network is a DAG: to carry a value from step to step, write a "
                        "`cell` with a `state`")
        candidates = [*frame.env, *self.constants, *self.program.definitions, *USER_OPS]
        raise error("E012", f"unknown name `{name.id}`", name.span,
                    hint=did_you_mean(name.id, candidates))

    # Expressions ---------------------------------------------------------------------------

    def eval(self, expr: ast.Node, frame: Frame) -> Any:
        method = getattr(self, f"_eval_{type(expr).__name__}")
        return method(expr, frame)

    def _eval_Name(self, expr: ast.Name, frame: Frame):
        return self.lookup(expr, frame)

    def _eval_Number(self, expr, frame):
        return expr.value

    def _eval_String(self, expr, frame):
        return expr.value

    def _eval_Bool(self, expr, frame):
        return expr.value

    def _eval_ListExpr(self, expr: ast.ListExpr, frame: Frame):
        return [self._eval_dim_or_value(item, frame) for item in expr.items]

    def _eval_dim_or_value(self, expr: ast.Node, frame: Frame):
        """In a shape, a name that is not a constant is a symbolic dimension (`B`, `T`)."""
        if isinstance(expr, ast.Name) and not self._is_value(expr.id, frame):
            return frame.symbols.get(expr.id, Sym.named(expr.id))
        return self.eval(expr, frame)

    def _eval_TupleExpr(self, expr: ast.TupleExpr, frame: Frame):
        return tuple(self.eval(item, frame) for item in expr.items)

    def _eval_IfExpr(self, expr: ast.IfExpr, frame: Frame):
        cond = self.eval(expr.cond, frame)
        if not isinstance(cond, bool):
            raise error("E013", "the condition of `if` must be known at compile time (built "
                        f"from constants and static shapes), got {_describe(cond)}",
                        expr.cond.span)
        return self.eval(expr.then if cond else expr.orelse, frame)

    def _eval_BoolOp(self, expr: ast.BoolOp, frame: Frame):
        left = self._constant_bool(expr.left, frame)
        if (expr.op == "or" and left) or (expr.op == "and" and not left):
            return left
        return self._constant_bool(expr.right, frame)

    def _constant_bool(self, expr: ast.Node, frame: Frame) -> bool:
        value = self.eval(expr, frame)
        if not isinstance(value, bool):
            raise error("E013", f"`and`, `or` and `not` take compile-time booleans, got "
                        f"{_describe(value)}", expr.span)
        return value

    def _eval_Unary(self, expr: ast.Unary, frame: Frame):
        if expr.op == "not":
            return not self._constant_bool(expr.operand, frame)
        value = self.eval(expr.operand, frame)
        if isinstance(value, Tensor):
            return self.emit(REGISTRY["neg"], [value], {}, expr.span, "-")[0]
        if isinstance(value, (int, float, Sym)) and not isinstance(value, bool):
            return dim_neg(value) if isinstance(value, (int, Sym)) else -value
        raise error("E014", f"cannot negate {_describe(value)}", expr.span)

    def _eval_BinOp(self, expr: ast.BinOp, frame: Frame):
        left, right = self.eval(expr.left, frame), self.eval(expr.right, frame)
        if expr.op == "*" and _is_callable(left):
            return self._repeat_value(left, right, expr)
        if _is_constant(left) and _is_constant(right):
            return _fold(expr.op, left, right, expr.span)
        if expr.op not in BINARY_OPS:
            raise error("E014", f"`{expr.op}` compares compile-time constants; got "
                        f"{_describe(left)} and {_describe(right)}", expr.span)
        tensors = [self._as_tensor(v, e, frame) for v, e in ((left, expr.left),
                                                           (right, expr.right))]
        return self.emit(REGISTRY[BINARY_OPS[expr.op]], tensors, {}, expr.span,
                         f"{expr.op}")[0]

    def _repeat_value(self, stage, times, expr: ast.BinOp) -> Repeated:
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise error("E015", f"a stage repeats a whole number of times >= 1, got "
                        f"{_describe(times)}", expr.right.span)
        if times > self.limits.max_repeat:
            raise error("E040", f"{times} repetitions is more than the limit of "
                        f"{self.limits.max_repeat:,}", expr.right.span)
        return Repeated(stage, times, expr.span)

    def _as_tensor(self, value, expr: ast.Node, frame: Frame) -> Tensor:
        if isinstance(value, Tensor):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.constant(value, expr.span)
        raise error("E014", f"expected a tensor here, got {_describe(value)}", expr.span)

    def constant(self, value: int | float, span: Span) -> Tensor:
        dtype = "i32" if isinstance(value, int) else "f32"
        node = self._add_node(REGISTRY["const"], (), {"value": value, "dtype": dtype},
                              (TensorType((), dtype),), span, "const", {})
        return Tensor(Ref(node.id), node.out, Trace(f"constant {value}"))

    def _eval_Member(self, expr: ast.Member, frame: Frame):
        value = self.eval(expr.obj, frame)
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
                    f"this is {_describe(value)}", expr.name_span)

    def _eval_Pipeline(self, expr: ast.Pipeline, frame: Frame):
        head = self.eval(expr.stages[0], frame)
        if _is_callable(head):
            stages = (head, *(self._stage_value(s, frame) for s in expr.stages[1:]))
            return Chain(stages, expr.span)
        value = head
        for stage in expr.stages[1:]:
            value = self.apply_stage(value, stage, frame)
        return value

    def _stage_value(self, stage: ast.Node, frame: Frame):
        value = self.eval(stage, frame)
        if not _is_callable(value):
            raise error("E017", f"a pipeline stage must be an operation, block or network, "
                        f"not {_describe(value)}", stage.span)
        return value

    def apply_stage(self, value, stage: ast.Node, frame: Frame):
        """`value -> stage`: `f(args)` becomes `f(value, args)`, `f` becomes `f(value)`."""
        head = [Arg(v, stage.span) for v in value] if isinstance(value, tuple) else \
            [Arg(value, stage.span)]
        if isinstance(stage, ast.Call):
            callee = self.eval(stage.func, frame)
            if _is_callable(callee):
                args = head + self._args(stage.args, frame)
                return self.call(callee, args, self._kwargs(stage.kwargs, frame), stage.span,
                                 frame)
        callee = self._stage_value(stage, frame)
        return self.call(callee, head, [], stage.span, frame)

    def _args(self, exprs, frame: Frame) -> list[Arg]:
        return [Arg(self._eval_dim_or_value(e, frame) if isinstance(e, ast.ListExpr)
                    else self.eval(e, frame), e.span) for e in exprs]

    def _kwargs(self, kwargs, frame: Frame) -> list[tuple[str, Arg]]:
        return [(k.name, Arg(self._kwarg_value(k.value, frame), k.span)) for k in kwargs]

    def _kwarg_value(self, expr: ast.Node, frame: Frame):
        """A bare name that is not a value is a word: `pad=same`, `reduce=sum`, `kind=dot`."""
        if isinstance(expr, ast.Name) and not self._is_value(expr.id, frame) and \
                expr.id not in self.program.definitions:
            return Word(expr.id)
        return self.eval(expr, frame)

    def _is_value(self, name: str, frame: Frame) -> bool:
        """Whether `name` is a local binding or a constant (as opposed to an op or a word)."""
        return name in frame.env or name in self.constants

    def _eval_Call(self, expr: ast.Call, frame: Frame):
        callee = self.eval(expr.func, frame)
        if not _is_callable(callee):
            raise error("E018", f"{_describe(callee)} cannot be called", expr.func.span)
        return self.call(callee, self._args(expr.args, frame), self._kwargs(expr.kwargs, frame),
                         expr.span, frame)

    # Calls ---------------------------------------------------------------------------------

    def call(self, callee, args: list[Arg], kwargs: list[tuple[str, Arg]], span: Span,
             frame: Frame):
        """Apply any callable value to arguments (tensors first, then hyperparameters)."""
        if isinstance(callee, OpValue):
            return self._call_op(callee.op, args, kwargs, span, frame)
        if isinstance(callee, DefValue):
            return self._call_definition(callee.definition, args, kwargs, span, frame)
        if isinstance(callee, Instance):
            return self._call_instance(callee, args, kwargs, span, frame)
        if isinstance(callee, Partial):
            return self.call(callee.callee, args + list(callee.args),
                             kwargs + list(callee.kwargs), span, frame)
        if isinstance(callee, Chain):
            value = self.call(callee.stages[0], args, kwargs, span, frame)
            for stage in callee.stages[1:]:
                value = self.call(stage, [Arg(value, span)], [], span, frame)
            return value
        if isinstance(callee, Repeated):
            return self._call_repeated(callee, args, kwargs, span, frame)
        return getattr(self, f"_builtin_{callee.name}")(args, kwargs, span, frame)

    def _call_op(self, op: OpDef, args, kwargs, span: Span, frame: Frame):
        if op.kind == "regulariser":
            return self._regulariser(op, args, kwargs, span)
        n_tensors = _leading_tensors(args) if op.variadic else len(op.inputs)
        if not op.variadic and n_tensors and not _leading_tensors(args):
            return Partial(OpValue(op), tuple(args), tuple(kwargs), span)
        if op.variadic and n_tensors == 0:
            return Partial(OpValue(op), tuple(args), tuple(kwargs), span)
        if len(args) < n_tensors:
            raise error("E020", f"`{op.name}` takes {n_tensors} tensor inputs "
                        f"({', '.join(op.inputs)}), got {len(args)}", span)
        tensors = [self._tensor_arg(a, op, i) for i, a in enumerate(args[:n_tensors])]
        hypers = self.bind_hypers(op, args[n_tensors:], kwargs, span)
        label = _source_text(span) or op.name
        outs = self.emit(op, tensors, hypers, span, label)
        return outs if len(outs) > 1 else outs[0]

    def _regulariser(self, op: OpDef, args, kwargs, span: Span) -> Tensor:
        if len(args) != 1 or kwargs or not isinstance(args[0].value, ParamSet):
            raise error("E019", f"`{op.name}` takes the parameters to penalise: "
                        f"`{op.name}(params)` inside a `train` section", span)
        node = self._add_node(op, (), {"scope": args[0].value.scope}, (SCALAR,), span,
                              _source_text(span) or op.name, {})
        return Tensor(Ref(node.id), SCALAR, Trace(f"{op.name}(params)"))

    def _tensor_arg(self, arg: Arg, op: OpDef, index: int) -> Tensor:
        value = arg.value
        if isinstance(value, Tensor):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.constant(value, arg.span)
        name = op.inputs[min(index, len(op.inputs) - 1)].lstrip("*")
        raise error("E020", f"`{op.name}` expects a tensor for `{name}`, got {_describe(value)}",
                    arg.span)

    def bind_hypers(self, op: OpDef, args: list[Arg], kwargs, span: Span) -> dict:
        """Match positional and keyword arguments to an op's hyperparameters and check them."""
        if len(args) > len(op.hypers):
            extra = args[len(op.hypers)]
            raise error("E021", f"`{op.name}` takes at most {len(op.hypers)} hyperparameters "
                        f"({', '.join(h.name for h in op.hypers) or 'none'}), got {len(args)}",
                        extra.span)
        given: dict[str, Arg] = {h.name: a for h, a in zip(op.hypers, args)}
        for name, arg in kwargs:
            if op.hyper(name) is None:
                raise error("E022", f"`{op.name}` has no hyperparameter `{name}`", arg.span,
                            hint=did_you_mean(name, [h.name for h in op.hypers]))
            if name in given:
                raise error("E022", f"`{name}` is given twice", arg.span)
            given[name] = arg
        values = {}
        for h in op.hypers:
            if h.name not in given:
                if h.required:
                    raise error("E023", f"`{op.name}` needs `{h.name}`", span,
                                hint=f"e.g. {op.name}("
                                f"{', '.join(x.name for x in op.hypers if x.required)})")
                values[h.name] = h.default
                continue
            try:
                values[h.name] = h.check(given[h.name].value)
            except HyperError as exc:
                raise error("E024", f"{op.name}: {exc.message}", given[h.name].span,
                            hint=exc.hint) from None
        return values

    # Emitting nodes --------------------------------------------------------------------------

    def emit(self, op: OpDef, tensors: list[Tensor], hypers: dict, span: Span,
             label: str) -> list[Tensor]:
        """Add one op application: check its shapes, create its parameters, return outputs."""
        in_types = [t.type for t in tensors]
        try:
            result = op.shape(in_types, hypers)
            param_shapes = op.params(in_types, hypers)
            state_shapes = op.state(in_types, hypers)
        except OpError as exc:
            raise self._shape_error(op, exc, tensors, span) from None
        outs = tuple(result) if isinstance(result, list) else (result,)
        self._check_sizes(op, label, outs, param_shapes, span)
        node = self._add_node(op, tuple(t.ref for t in tensors), hypers, outs, span, label,
                              param_shapes, state_shapes)
        parent = tensors[0].trace if tensors else None
        return [Tensor(Ref(node.id, i), t, Trace(f"{label} → {t}", parent))
                for i, t in enumerate(outs)]

    def _add_node(self, op: OpDef, inputs, hypers, outs, span, label, param_shapes,
                  state_shapes=None) -> Node:
        frame = self.frame
        node_id = frame.prefix + frame.fresh(op.name)
        params = {name: ParamSpec(f"{frame.param_prefix}{node_id[len(frame.prefix):]}.{name}",
                                  tuple(shape), init, frozen_from=None)
                  for name, (shape, init) in param_shapes.items()}
        if self.frozen:
            params = {k: ParamSpec(p.key, p.shape, p.init, False, self.frozen)
                      for k, p in params.items()}
        state = {name: ParamSpec(f"{frame.param_prefix}{node_id[len(frame.prefix):]}.{name}",
                                 tuple(shape), init, False)
                 for name, (shape, init) in (state_shapes or {}).items()}
        self.node_count += 1
        if self.node_count > self.limits.max_nodes:
            raise error("E040", f"the graph has more than {self.limits.max_nodes:,} nodes", span)
        node = Node(node_id, op.name, inputs, outs, dict(hypers), params, state, span,
                    frame.path, label)
        return self.graph.add(node)

    def _check_sizes(self, op: OpDef, label: str, outs, param_shapes, span: Span) -> None:
        from math import prod

        count = sum(prod(shape) for shape, _ in param_shapes.values()) * self.multiplier
        self.total_params += count
        limit = self.limits.max_params
        if count > limit or self.total_params > limit:
            what = f"{label} would have {count:,} parameters" if count > limit else \
                f"{label} takes the total to {self.total_params:,} parameters"
            raise error("E040", f"{what}, more than the limit of {limit:,}", span,
                        hint="shrink the layer, or raise the limit with --max-params")
        for t in outs:
            size = t.elements_per_example()
            if size is not None and size > self.limits.max_elements:
                raise error("E040", f"{label} outputs {t}: {size:,} elements per example, more "
                            f"than the limit of {self.limits.max_elements:,}", span)

    def _shape_error(self, op: OpDef, exc: OpError, tensors: list[Tensor], span: Span):
        notes = []
        for i, t in enumerate(tensors):
            if t.trace is None:
                continue
            name = op.inputs[min(i, len(op.inputs) - 1)].lstrip("*") if op.inputs else "input"
            notes.append(f"{name} {t.type} was derived as:\n      " +
                         "\n      ".join(t.trace.lines()))
        return error("E030", f"{op.name}: {exc.message}", span, hint=exc.hint, notes=notes)

    # Definitions (blocks, cells, networks) ---------------------------------------------------

    def _call_definition(self, definition: ast.Definition, args, kwargs, span, frame):
        tensors = _leading_tensors(args)
        if definition.kind == "cell":
            if tensors:
                raise error("E025", f"`{definition.name.id}` is a cell: it describes one time "
                            f"step; unfold it with scan(xs, {definition.name.id}(...))", span)
            return self._instance(definition, args, kwargs, span)
        if tensors == 0:
            return self._instance(definition, args, kwargs, span)
        instance = self._instance(definition, args[tensors:], kwargs, span)
        if frame.kind == "train" and definition.kind == "network":
            # In a train section a network is one model: every call shares its parameters.
            instance = Instance(definition, instance.hypers, span, shared=definition.name.id)
        return self._call_instance(instance, args[:tensors], [], span, frame)

    def _instance(self, definition, args, kwargs, span) -> Instance:
        probe = Frame(definition.kind, "", "")
        self._bind_hypers(probe, definition, args, kwargs, span)
        return Instance(definition, tuple(probe.env.items()), span)

    def _bind_hypers(self, frame: Frame, definition: ast.Definition, args, kwargs, span):
        params = definition.params
        name = definition.name.id
        if len(args) > len(params):
            raise error("E021", f"`{name}` takes {len(params)} hyperparameters "
                        f"({', '.join(p.name for p in params) or 'none'}), got {len(args)}",
                        args[len(params)].span)
        given = {p.name: a.value for p, a in zip(params, args)}
        for key, arg in kwargs:
            if key not in {p.name for p in params}:
                raise error("E022", f"`{name}` has no hyperparameter `{key}`", arg.span,
                            hint=did_you_mean(key, [p.name for p in params]))
            given[key] = arg.value
        for p in params:
            override = self.program.overrides.get(f"{name}.{p.name}")
            if p.name in given:
                frame.env[p.name] = given[p.name]
            elif override is not None:
                frame.env[p.name] = override
            elif p.default is not None:
                frame.env[p.name] = self.eval(p.default, frame)
            else:
                raise error("E023", f"`{name}` needs its hyperparameter `{p.name}`", span)

    def _call_instance(self, instance: Instance, args, kwargs, span, frame):
        if kwargs:
            raise error("E022", f"`{instance.definition.name.id}` was already given its "
                        "hyperparameters; pass only tensors here", kwargs[0][1].span)
        definition = instance.definition
        if definition.kind == "cell":
            raise error("E025", f"`{definition.name.id}` is a cell; unfold it with scan(...)",
                        span)
        label = definition.name.id
        scope = frame.fresh(instance.shared or label)
        prefix = frame.prefix + scope + "."
        param_prefix = (instance.shared + ".") if instance.shared else \
            frame.param_prefix + scope + "."
        inner = Frame(definition.kind, prefix, param_prefix, dict(instance.hypers),
                      path=frame.path + (label,))
        self.graph.scopes[prefix[:-1]] = Scope(_source_text(instance.span) or label,
                                               instance.shared)
        return self._enter(definition, inner, [a.value for a in args], span, instance.frozen)

    def inline_instance(self, instance: Instance, args: list, span: Span, frame: Frame):
        """Apply a block directly in `frame`'s scope (the body of a repeated stage)."""
        definition = instance.definition
        inner = Frame(definition.kind, frame.prefix, frame.param_prefix, dict(instance.hypers),
                      path=frame.path + (definition.name.id,))
        return self._enter(definition, inner, args, span, instance.frozen)

    def _enter(self, definition, inner: Frame, values: list, span: Span, frozen):
        name = definition.name.id
        if name in self.active:
            raise error("E026", f"`{name}` is recursive: {' → '.join(self.active + [name])}",
                        definition.span)
        saved_frame, saved_frozen = self.frame, self.frozen
        self.active.append(name)
        self.frozen = frozen or saved_frozen
        try:
            outputs = self._run_body(definition, inner, values, span)
        finally:
            self.active.pop()
            self.frame, self.frozen = saved_frame, saved_frozen
        if len(outputs) == 1:
            (out_name, tensor), = outputs.items()
            return Tensor(tensor.ref, tensor.type, tensor.trace, (name, out_name))
        return Record(name, outputs)

    def _run_body(self, definition: ast.Definition, frame: Frame, inputs: list | None,
                  call_span: Span | None = None) -> dict[str, Tensor]:
        """Run a block or network body. `inputs=None`: a network on its declared shapes."""
        self.frame = frame
        frame.later = _bound_names(definition.body)
        pending = list(inputs) if inputs is not None else None
        outputs: dict[str, Tensor] = {}
        output_spans: dict[str, Span] = {}
        for stmt in definition.body:
            frame.later.pop(_stmt_name(stmt), None)
            if isinstance(stmt, ast.Input):
                self._input(stmt, frame, definition, pending, call_span)
            elif isinstance(stmt, ast.Output):
                self._output(stmt, frame, outputs, output_spans)
            else:
                self.statement(stmt, frame)
        if pending:
            raise error("E027", f"`{definition.name.id}` takes "
                        f"{len([s for s in definition.body if isinstance(s, ast.Input)])} "
                        f"tensor inputs, got {len(inputs)}", call_span)
        if not outputs:
            raise error("E028", f"`{definition.name.id}` has no `output`", definition.name.span)
        return outputs

    def _input(self, stmt: ast.Input, frame: Frame, definition, pending, call_span):
        name = stmt.name.id
        if stmt.static:
            raise error("E029", "`static` inputs belong to cells", stmt.span)
        if pending is None:
            if stmt.type is None:
                raise error("E029", f"network input `{name}` needs a shape, e.g. "
                            f"`input {name}: [B, 784]`", stmt.name.span)
            declared = self.tensor_type(stmt.type, frame)
            frame.env[name] = self.input_tensor(name, declared, stmt.span)
            return
        if not pending:
            raise error("E027", f"`{definition.name.id}` needs a tensor for its input `{name}`",
                        call_span)
        value = pending.pop(0)
        if not isinstance(value, Tensor):
            raise error("E027", f"input `{name}` of `{definition.name.id}` must be a tensor, "
                        f"got {_describe(value)}", call_span)
        if stmt.type is not None:
            self._unify(stmt, value.type, frame, definition, call_span)
        frame.env[name] = value

    def input_tensor(self, name: str, declared: TensorType, span: Span) -> Tensor:
        node = self._add_node(REGISTRY["input"], (), {"type": declared, "name": name},
                              (declared,), span, name, {})
        self.graph.inputs[name] = Ref(node.id)
        return Tensor(Ref(node.id), declared, Trace(f"input {name}: {declared}"))

    def _unify(self, stmt: ast.Input, actual: TensorType, frame: Frame, definition, call_span):
        """Match a declared input type against the actual one, binding symbolic sizes."""
        dims = stmt.type.dims
        ok = len(dims) == len(actual.shape) and (stmt.type.dtype or "f32") == actual.dtype
        for expr, have in zip(dims, actual.shape) if ok else ():
            if isinstance(expr, ast.Name) and not self._is_value(expr.id, frame):
                bound = frame.symbols.setdefault(expr.id, have)
                ok = ok and bound == have
            else:
                ok = ok and self.eval(expr, frame) == have
        if not ok:
            declared = "[" + ", ".join(_source_text(d.span) or "?" for d in dims) + "]"
            raise error("E031", f"input `{stmt.name.id}` of `{definition.name.id}` is declared "
                        f"{declared} {stmt.type.dtype or 'f32'}, but receives {actual} "
                        f"{actual.dtype}", call_span,
                        notes=[f"declared at {stmt.span}"])

    def _output(self, stmt: ast.Output, frame: Frame, outputs: dict, spans: dict):
        value = self.eval(stmt.value, frame)
        name = stmt.name.id if stmt.name else (
            stmt.value.id if isinstance(stmt.value, ast.Name) else "out")
        where = stmt.name.span if stmt.name else stmt.value.span
        if name in outputs:
            raise error("E032", f"output `{name}` is already defined on line {spans[name].line}",
                        where)
        if not isinstance(value, Tensor):
            raise error("E033", f"output `{name}` must be a tensor, got {_describe(value)}",
                        stmt.value.span)
        outputs[name], spans[name] = value, where
        frame.env[name] = value

    def statement(self, stmt: ast.Node, frame: Frame) -> None:
        """Run one binding statement (`h = ...`, `shared ...`, `param ...`)."""
        if isinstance(stmt, ast.Assign):
            self._assign(stmt, frame)
        elif isinstance(stmt, ast.Shared):
            value = self.eval(stmt.value, frame)
            if not isinstance(value, Instance) or value.definition.kind == "cell":
                raise error("E034", "`shared` takes a block or network instance, e.g. "
                            f"`shared {stmt.name.id} = Tower()`", stmt.value.span)
            frame.env[stmt.name.id] = Instance(value.definition, value.hypers, value.span,
                                               shared=frame.param_prefix + stmt.name.id)
        elif isinstance(stmt, ast.ParamDecl):
            frame.env[stmt.name.id] = self._raw_param(stmt, frame)
        elif isinstance(stmt, ast.State):
            raise error("E035", "`state` declares what a cell carries between time steps; it "
                        "belongs in a `cell`", stmt.span)

    def _assign(self, stmt: ast.Assign, frame: Frame) -> None:
        value = self.eval(stmt.value, frame)
        if len(stmt.targets) == 1:
            frame.env[stmt.targets[0].id] = value
            return
        values = value if isinstance(value, list) else None
        if values is None or len(values) != len(stmt.targets):
            got = f"{len(values)} values" if values is not None else _describe(value)
            raise error("E036", f"{len(stmt.targets)} names on the left but {got} on the right",
                        stmt.span)
        for target, item in zip(stmt.targets, values):
            frame.env[target.id] = item

    def _raw_param(self, stmt: ast.ParamDecl, frame: Frame) -> Tensor:
        declared = self.tensor_type(stmt.type, frame)
        if not all(isinstance(d, int) for d in declared.shape):
            raise error("E037", f"parameter `{stmt.name.id}` needs a fixed shape, got "
                        f"{declared}", stmt.type.span)
        init = "glorot_uniform"
        if stmt.init is not None:
            init = stmt.init.id if isinstance(stmt.init, ast.Name) else ""
            if init not in INITIALISERS:
                raise error("E037", f"unknown initialiser for `{stmt.name.id}`", stmt.init.span,
                            hint=did_you_mean(init, INITIALISERS) or
                            f"one of {', '.join(INITIALISERS)}")
        op = REGISTRY["param"]
        params = {"value": (declared.shape, init)}
        self._check_sizes(op, stmt.name.id, (declared,), params, stmt.span)
        node = self._add_node(op, (), {"type": declared, "init": init}, (declared,), stmt.span,
                              stmt.name.id, params)
        return Tensor(Ref(node.id), declared, Trace(f"param {stmt.name.id}: {declared}"))

    def tensor_type(self, expr: ast.TensorTypeExpr, frame: Frame) -> TensorType:
        dims = []
        for d in expr.dims:
            value = self._eval_dim_or_value(d, frame)
            if isinstance(value, bool) or not isinstance(value, (int, Sym)) or \
                    (isinstance(value, int) and value < 1):
                raise error("E037", f"a dimension must be a positive size or a symbolic name, "
                            f"got {_describe(value)}", d.span)
            dims.append(value)
        return TensorType(tuple(dims), expr.dtype or "f32")

    # Repetition ------------------------------------------------------------------------------

    def _call_repeated(self, rep: Repeated, args, kwargs, span, frame: Frame):
        if len(args) != 1 or not isinstance(args[0].value, Tensor) or kwargs:
            raise error("E015", "a repeated stage takes one tensor, in a pipeline: "
                        "`x -> Stage * n`", span)
        x: Tensor = args[0].value
        shared = isinstance(rep.stage, Instance) and rep.stage.shared
        label = _stage_label(rep.stage)
        scope = frame.fresh(label)
        body = Graph(f"{frame.prefix}{scope}")
        body_frame = Frame(frame.kind, f"{frame.prefix}{scope}.",
                           (rep.stage.shared + ".") if shared else
                           f"{frame.param_prefix}{scope}.", frame.env, {}, {}, frame.symbols,
                           frame.path + (f"{label} × {rep.times}",))
        saved_graph, saved_mult, saved_frame = self.graph, self.multiplier, self.frame
        self.graph, self.frame = body, body_frame
        self.multiplier = saved_mult * (1 if shared else rep.times)
        try:
            inner_in = self.input_tensor("x", x.type, span)
            out = self._apply_in_place(rep.stage, inner_in, span, body_frame)
        finally:
            self.graph, self.multiplier, self.frame = saved_graph, saved_mult, saved_frame
        if not isinstance(out, Tensor) or out.type != x.type:
            return self._unrolled(rep, x, span, frame, scope)
        body.outputs = {"out": out.ref}
        stage, star, times = _source_text(rep.span).rpartition("*")
        written = f"{stage.strip()} × {times.strip()}" if star else f"{label} × {rep.times}"
        node = Node(f"{frame.prefix}{scope}", "repeat", (x.ref,), (x.type,),
                    {"times": rep.times, "shared": bool(shared), "stage": label}, {}, {}, span,
                    frame.path, written, body, rep.times)
        self.graph.add(node)
        return Tensor(Ref(node.id), x.type, Trace(f"{label} × {rep.times} → {x.type}", x.trace))

    def _apply_in_place(self, stage, x: Tensor, span, frame: Frame):
        if isinstance(stage, Instance) and not stage.shared:
            return self.inline_instance(stage, [x], span, frame)
        return self.call(stage, [Arg(x, span)], [], span, frame)

    def _unrolled(self, rep: Repeated, x: Tensor, span, frame: Frame, scope: str):
        """A stage that changes its input's type: n copies in sequence, `scope.0`, `scope.1`."""
        value = x
        for i in range(rep.times):
            copy = Frame(frame.kind, f"{frame.prefix}{scope}.{i}.",
                         f"{frame.param_prefix}{scope}.{i}.", frame.env, {}, {}, frame.symbols,
                         frame.path)
            saved = self.frame
            self.frame = copy
            try:
                value = self._apply_in_place(rep.stage, value, span, copy)
            finally:
                self.frame = saved
            if not isinstance(value, Tensor):
                raise error("E015", "a repeated stage must produce one tensor", span)
        return value

    # Built-ins -------------------------------------------------------------------------------

    def _builtin_dim(self, args, kwargs, span, frame):
        if len(args) != 2 or not isinstance(args[0].value, Tensor) or kwargs:
            raise error("E021", "dim(x, axis) takes a tensor and an axis", span)
        t: Tensor = args[0].value
        axis = args[1].value
        if isinstance(axis, bool) or not isinstance(axis, int) or not -t.type.rank <= axis < \
                t.type.rank:
            raise error("E024", f"axis must be an integer in [-{t.type.rank}, {t.type.rank}) "
                        f"for {t.type}", args[1].span)
        return t.type.shape[axis]

    def _builtin_load(self, args, kwargs, span, frame):
        """`load(Net, "run")`: network Net with the frozen parameters of an earlier run."""
        if frame.kind != "train":
            raise error("E042", "`load(Net, \"run\")` belongs in a `train` section", span)
        if len(args) != 2 or kwargs or not isinstance(args[0].value, DefValue) or \
                args[0].value.definition.kind != "network" or not isinstance(args[1].value, str):
            raise error("E042", 'load takes a network and the name of a run: '
                        'load(Teacher, "teacher")', span)
        definition, run = args[0].value.definition, args[1].value
        probe = Frame("network", "", "")
        self._bind_hypers(probe, definition, [], [], span)
        return Instance(definition, tuple(probe.env.items()), span,
                        shared=f"{definition.name.id}@{run}", frozen=run)

    def _builtin_scan(self, args, kwargs, span, frame):
        from nndsl.recurrence import scan

        return scan(self, args, kwargs, span, frame)

    def _builtin_bidirectional(self, args, kwargs, span, frame):
        from nndsl.recurrence import bidirectional

        return bidirectional(self, args, kwargs, span, frame)


# Helpers -------------------------------------------------------------------------------------

def _is_constant(value) -> bool:
    return isinstance(value, (int, float, bool, str, Sym, Word)) or (
        isinstance(value, (list, tuple)) and all(_is_constant(v) for v in value))


def _is_callable(value) -> bool:
    return isinstance(value, CALLABLES)


def _leading_tensors(args: list[Arg]) -> int:
    n = 0
    while n < len(args) and isinstance(args[n].value, Tensor):
        n += 1
    return n


def _stage_label(stage) -> str:
    if isinstance(stage, Instance):
        return stage.definition.name.id
    if isinstance(stage, DefValue):
        return stage.definition.name.id
    if isinstance(stage, Partial) and isinstance(stage.callee, OpValue):
        return stage.callee.op.name
    if isinstance(stage, OpValue):
        return stage.op.name
    return "repeat"


def _describe(value) -> str:
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


def _fold(op: str, a, b, span: Span):
    """Evaluate an operator on compile-time constants (sizes may be symbolic)."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        return _fold_symbolic(op, a, b, span)
    try:
        result = {
            "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
            "//": lambda: a // b, "%": lambda: a % b, "**": lambda: a ** b,
            "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b,
            "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
        }[op]()
    except ZeroDivisionError:
        raise error("E014", "division by zero", span) from None
    except (TypeError, OverflowError, KeyError):
        raise error("E014", f"cannot apply `{op}` to {_describe(a)} and {_describe(b)}",
                    span) from None
    if isinstance(result, (int, float)) and not isinstance(result, bool) and abs(result) > 1e300:
        raise error("E014", "constant too large", span)
    return result


def _fold_symbolic(op: str, a, b, span: Span):
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    both_sizes = all(isinstance(v, (int, Sym)) and not isinstance(v, bool) for v in (a, b))
    if both_sizes and op in ("+", "-", "*"):
        return {"+": dim_add, "-": dim_sub, "*": dim_mul}[op](a, b)
    if both_sizes and op == "//" and isinstance(b, int) and b > 0:
        return dim_floordiv(a, b)
    raise error("E014", f"cannot apply `{op}` to {_describe(a)} and {_describe(b)}", span)


def _source_text(span: Span) -> str:
    """The source text a single-line span covers, or '' for a multi-line one."""
    if span.source is None or span.line != span.end_line:
        return ""
    return span.source.line(span.line)[span.column - 1:span.end_column - 1]


def _stmt_name(stmt) -> str | None:
    if isinstance(stmt, ast.Assign):
        return stmt.targets[0].id
    name = getattr(stmt, "name", None)
    return name.id if isinstance(name, ast.Ident) else None


def _bound_names(body) -> dict[str, Span]:
    """Every name a body binds, with where: to tell 'used before defined' from 'unknown'."""
    names: dict[str, Span] = {}
    for stmt in body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else (
            [stmt.name] if isinstance(getattr(stmt, "name", None), ast.Ident) else [])
        for t in targets:
            names.setdefault(t.id, t.span)
    return names


__all__ = ["Elaborator", "Limits", "Tensor", "Record", "Frame", "SpecError"]
