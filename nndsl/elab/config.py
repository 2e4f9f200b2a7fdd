"""Configuration calls of train and sweep sections (`adam(lr=1e-3)`, `digits()`,
`choice(16, 32)`): constant arguments, bound with the one binder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nndsl import ast
from nndsl.elab.vocabulary import ALIASES
from nndsl.hyper import Arg, bind_hypers
from nndsl.ops import Word
from nndsl.ops.base import Hyper
from nndsl.source import Span, did_you_mean, error


@dataclass
class Config:
    """A checked call such as `adam(lr=1e-3)`: its name and every argument's value."""

    name: str
    values: dict[str, Any]
    span: Span


def config(expr: ast.Node, catalog: dict[str, tuple[Hyper, ...]], what: str,
           constants: dict) -> Config:
    """Check a call like `adam(lr=1e-3)` (or a bare `adam`) against the signatures in
    `catalog`; `what` says what it is ("optimizer") in errors."""
    call = expr if isinstance(expr, ast.Call) else None
    head = call.func if call else expr
    if not isinstance(head, ast.Name):
        raise error("E063", f"expected a {what} such as {next(iter(catalog))}(...)", expr.span)
    if head.id not in catalog:
        raise error("E063", f"unknown {what} `{head.id}`", head.span,
                    hint=did_you_mean(head.id, catalog) or f"one of {', '.join(catalog)}")
    args = [Arg(a, a.span) for a in call.args] if call else []
    kwargs = [(k.name, Arg(k.value, k.span)) for k in call.kwargs] if call else []
    _check_keywords(head.id, catalog, kwargs)
    values = bind_hypers(catalog[head.id], args, kwargs, expr.span, head.id, "argument",
                         read=lambda node: argument(node, constants))
    return Config(head.id, values, expr.span)


def _check_keywords(name: str, catalog: dict[str, tuple[Hyper, ...]], kwargs) -> None:
    """An argument the call does not take, when another library's name for one it does
    (`learning_rate`) or an argument of its siblings (`adam(momentum=0.9)`): E022 with
    that hint. Other unknown arguments are the binder's E022 with its did-you-mean."""
    names = [h.name for h in catalog[name]]
    for key, arg in kwargs:
        if key in names:
            continue
        if ALIASES.get(key) in names:
            raise error("E022", f"`{name}` has no argument `{key}`", arg.span,
                        hint=f"did you mean `{ALIASES[key]}`? (nndsl's name for `{key}`)")
        takers = [other for other, signature in catalog.items()
                  if key in (h.name for h in signature)]
        if takers and not did_you_mean(key, names):
            raise error("E022", f"`{name}` has no argument `{key}`", arg.span,
                        hint=f"`{key}` is an argument of {', '.join(takers)}; `{name}` takes "
                        f"{', '.join(names) or 'no arguments'}")


def argument(node: ast.Node, constants: dict):
    """A call's argument: a constant, or a list of constants (`layers=[dense_0, logits.b]`,
    `onehot=["color"]`; a dotted name is one word); the signature says whether a list is
    welcome."""
    if isinstance(node, ast.ListExpr):
        return [argument(item, constants) for item in node.items]
    if isinstance(node, ast.Member) and isinstance(node.obj, ast.Name):
        return Word(f"{node.obj.id}.{node.name}")
    return literal(node, constants)


def literal(node: ast.Node, constants: dict):
    """Constant arguments of configuration calls: numbers, booleans, strings, `let` names and
    words."""
    if isinstance(node, (ast.Number, ast.Bool, ast.String)):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id, Word(node.id))
    if isinstance(node, ast.Unary) and node.op == "-" and isinstance(node.operand, ast.Number):
        return -node.operand.value
    raise error("E024", "expected a constant here", node.span)
