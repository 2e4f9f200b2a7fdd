"""Compile-time functions the elaborator handles itself: dim, load, scan, bidirectional.
Each takes the `Elaborator`, the arguments as written and the call's span."""

from __future__ import annotations

from nndsl.elab.definitions import instance
from nndsl.elab.recurrence import bidirectional, scan
from nndsl.elab.values import Arg, DefValue, Instance, Tensor
from nndsl.paths import check_run_reference
from nndsl.source import Span, error


def dim(el, args: list[Arg], kwargs, span: Span):
    """`dim(x, axis)`: the size of one axis of a tensor (a number or a symbolic size)."""
    if len(args) != 2 or not isinstance(args[0].value, Tensor) or kwargs:
        raise error("E021", "dim(x, axis) takes a tensor and an axis", span)
    t: Tensor = args[0].value
    axis = args[1].value
    if isinstance(axis, bool) or not isinstance(axis, int) or \
            not -t.type.rank <= axis < t.type.rank:
        raise error("E024", f"axis must be an integer in [-{t.type.rank}, {t.type.rank}) "
                    f"for {t.type}", args[1].span)
    return t.type.shape[axis]


def load(el, args: list[Arg], kwargs, span: Span) -> Instance:
    """`load(Net, "run")`: network Net with the frozen parameters of an earlier run."""
    if el.builder.frame.kind != "train":
        raise error("E042", "`load(Net, \"run\")` belongs in a `train` section", span)
    if len(args) != 2 or kwargs or not isinstance(args[0].value, DefValue) or \
            args[0].value.definition.kind != "network" or not isinstance(args[1].value, str):
        raise error("E042", 'load takes a network and the name of a run: '
                    'load(Teacher, "teacher")', span)
    definition, run = args[0].value.definition, args[1].value
    check_run_reference(run, args[1].span)
    return instance(el, definition, [], [], span, shared=f"{definition.name.id}@{run}",
                    frozen=run)


BUILTINS = {"dim": dim, "load": load, "scan": scan, "bidirectional": bidirectional}
