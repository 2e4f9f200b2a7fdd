"""`Stage * n`: a stage applied n times in sequence.

A stage that keeps its input's type becomes one `repeat` node holding the stage once as a
body graph (parameters counted n times unless the stage is shared); one that changes the
type is unrolled into n copies, `scope.0`, `scope.1`, ...
"""

from __future__ import annotations

from nndsl import ast
from nndsl.elab.builder import Frame, Limits
from nndsl.elab.definitions import inline_instance
from nndsl.elab.values import Arg, Instance, Repeated, Tensor, Trace, describe, source_text
from nndsl.elab.values import stage_label as label_of
from nndsl.ir import Graph, Node, Ref
from nndsl.source import Span, error


def repeat(stage, times, expr: ast.BinOp, limits: Limits) -> Repeated:
    """The value of `stage * times`, once `times` is checked."""
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise error("E015", f"a stage repeats a whole number of times >= 1, got "
                    f"{describe(times)}", expr.right.span)
    if times > limits.max_repeat:
        raise error("E040", f"{times} repetitions is more than the limit of "
                    f"{limits.max_repeat:,}", expr.right.span)
    return Repeated(stage, times, expr.span)


def call_repeated(el, rep: Repeated, args, kwargs, span: Span) -> Tensor:
    """`x -> Stage * n`."""
    if len(args) != 1 or not isinstance(args[0].value, Tensor) or kwargs:
        raise error("E015", "a repeated stage takes one tensor, in a pipeline: "
                    "`x -> Stage * n`", span)
    x: Tensor = args[0].value
    outer = el.builder.frame
    shared = isinstance(rep.stage, Instance) and rep.stage.shared
    label = label_of(rep.stage)
    scope = outer.fresh(label)
    body = Graph(f"{outer.prefix}{scope}")
    inner = Frame(outer.kind, f"{outer.prefix}{scope}.",
                  (rep.stage.shared + ".") if shared else f"{outer.param_prefix}{scope}.",
                  outer.env, {}, {}, outer.symbols, outer.path + (f"{label} × {rep.times}",))
    with el.builder.inside(inner, graph=body, copies=1 if shared else rep.times):
        out = _apply_once(el, rep.stage, el.builder.input_tensor("x", x.type, span), span)
    if not isinstance(out, Tensor) or out.type != x.type:
        return _unrolled(el, rep, x, span, scope)
    body.outputs = {"out": out.ref}
    # The stage as written, the number as elaborated: `Basic(32) × 24`, not `× depth`.
    stage, star, _ = source_text(rep.span).rpartition("*")
    written = f"{stage.strip() if star else label} × {rep.times}"
    node = Node(f"{outer.prefix}{scope}", "repeat", (x.ref,), (x.type,),
                {"times": rep.times, "shared": bool(shared), "stage": label}, {}, {}, span,
                outer.path, written, body, rep.times)
    el.builder.add(node)
    return Tensor(Ref(node.id), x.type, Trace(f"{label} × {rep.times} → {x.type}", x.trace))


def _apply_once(el, stage, x: Tensor, span: Span):
    if isinstance(stage, Instance) and not stage.shared:
        return inline_instance(el, stage, [x], span)
    return el.call(stage, [Arg(x, span)], [], span)


def _unrolled(el, rep: Repeated, x: Tensor, span: Span, scope: str) -> Tensor:
    """A stage that changes its input's type: n copies in sequence, `scope.0`, `scope.1`."""
    outer = el.builder.frame
    value = x
    for i in range(rep.times):
        copy = Frame(outer.kind, f"{outer.prefix}{scope}.{i}.",
                     f"{outer.param_prefix}{scope}.{i}.", outer.env, {}, {}, outer.symbols,
                     outer.path)
        with el.builder.inside(copy):
            value = _apply_once(el, rep.stage, value, span)
        if not isinstance(value, Tensor):
            raise error("E015", "a repeated stage must produce one tensor", span)
    return value
