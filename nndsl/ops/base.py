"""The op registry's building blocks: `OpDef`, hyperparameter signatures and shape helpers.

One op is one `OpDef`: its signature (tensor inputs, hyperparameters with types, defaults and
ranges), its shape rule, its parameters with initialisers, its differentiability and its cost.
Later stages (lowering, rendering) read the same entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from math import prod
from typing import Any

from nndsl.init import unknown_initialisers
from nndsl.ir import (
    Dim,
    Sym,
    TensorType,
    dim_add,
    dim_floordiv,
    dim_sub,
    format_dim,
)
from nndsl.ops.facts import (
    DIRECTIONS,
    GRADCHECK,
    BodyRule,
    Indexes,
    MissingRule,
    hyper_label,
)

REQUIRED = object()


class OpError(Exception):
    """A shape or type rule failed: `message` says why; `hint` how to fix it; `code` the
    error code it is reported under (E030, a shape error, unless the op family owns one)."""

    def __init__(self, message: str, hint: str | None = None, code: str = "E030"):
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, code


class HyperError(Exception):
    """A hyperparameter value is out of range or of the wrong type."""

    def __init__(self, name: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.name, self.message, self.hint = name, message, hint


@dataclass(frozen=True)
class Word:
    """A bare word used as a value, e.g. `pad=same`, `kind=additive`, `monitor=val_loss`."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: name, kind, default and the values it accepts.

    kinds: int, float, bool, word (one of `choices`), pad (valid|same|int), ints (int or list),
    axis, shape (a list of dims), number_or_none, names (a name or a list of names).
    """

    name: str
    kind: str
    default: Any = REQUIRED
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe_range(self) -> str:
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else _num(self.low)
        high = "inf" if self.high is None else _num(self.high)
        return f"{lo}{low}, {high}{hi}"

    def check(self, value: Any) -> Any:
        """Return the value (normalised) or raise HyperError."""
        if value is None and self.default is None:
            return None
        checker = _KIND_CHECKS[self.kind]
        value = checker(self, value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self._check_range(value)
        return value

    def _check_range(self, value: float) -> None:
        too_low = self.low is not None and (
            value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (
            value >= self.high if self.high_open else value > self.high)
        if too_low or too_high:
            raise HyperError(self.name, f"`{self.name}` must be in {self.describe_range()}, "
                             f"got {_num(value)}")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(v)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, Word):
        return f"the word `{value}`"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, TensorType):
        return "a tensor"
    return f"a {type(value).__name__.lower()}"


def _wrong(h: Hyper, value: Any, wanted: str) -> HyperError:
    return HyperError(h.name, f"`{h.name}` must be {wanted}, got {_type_name(value)}")


def _check_int(h: Hyper, v):
    if isinstance(v, bool) or not isinstance(v, int):
        raise _wrong(h, v, "an integer")
    return v


def _check_float(h: Hyper, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _wrong(h, v, "a number")
    return float(v)


def _check_bool(h: Hyper, v):
    if not isinstance(v, bool):
        raise _wrong(h, v, "`true` or `false`")
    return v


def _check_word(h: Hyper, v):
    name = v.name if isinstance(v, Word) else v
    if not isinstance(name, str) or name not in h.choices:
        from nndsl.source import did_you_mean

        hint = did_you_mean(name, h.choices) if isinstance(name, str) else None
        raise HyperError(h.name, f"`{h.name}` must be one of {', '.join(h.choices)}; got "
                         f"{name if isinstance(name, str) else _type_name(v)}", hint)
    return name


def _check_pad(h: Hyper, v):
    if isinstance(v, (Word, str)):
        return _check_word(Hyper(h.name, "word", choices=("valid", "same")), v)
    # One size for every spatial axis: a list would pass the shape rule but not the lowering.
    value = _check_int(Hyper(h.name, "int"), v)
    if value < 0:
        raise HyperError(h.name, f"`{h.name}` must be valid, same or a size >= 0, got {value}")
    return value


def _check_ints(h: Hyper, v):
    items = list(v) if isinstance(v, (list, tuple)) else [v]
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int):
            raise _wrong(h, v, "an integer or a list of integers")
        h._check_range(item)
    return tuple(items) if isinstance(v, (list, tuple)) else v


def _check_shape(h: Hyper, v):
    if not isinstance(v, (list, tuple)):
        raise _wrong(h, v, "a shape such as [B, 8, 8, 1]")
    for item in v:
        if isinstance(item, bool) or not isinstance(item, (int, Sym)):
            raise _wrong(h, v, "a list of sizes")
    return tuple(v)


def _check_names(h: Hyper, v):
    """A name or a list of names (`layers=[dense_0, logits]`; `--set prune.layers=a,b`),
    as a tuple of strings."""
    items = list(v) if isinstance(v, (list, tuple)) else [v]
    if len(items) == 1 and isinstance(items[0], (Word, str)):
        items = [part for part in str(items[0]).split(",") if part]
    if not all(isinstance(item, (Word, str)) for item in items):
        raise _wrong(h, v, "a name or a list of names such as [dense_0, dense_1]")
    return tuple(str(item) for item in items)


def _check_any_word(h: Hyper, v):
    if not isinstance(v, Word):
        raise _wrong(h, v, "a name such as val_loss")
    return v.name


_KIND_CHECKS: dict[str, Callable] = {
    "any_word": _check_any_word, "names": _check_names,
    "int": _check_int, "float": _check_float, "bool": _check_bool, "word": _check_word,
    "pad": _check_pad, "ints": _check_ints, "axis": _check_int, "shape": _check_shape,
}


def no_params(ins, hp) -> dict:
    return {}


def elementwise_flops(ins, outs, hp) -> int | None:
    return elements(outs[0])


@dataclass(frozen=True)
class OpDef:
    """Everything nndsl knows about one built-in operation.

    inputs: names of the tensor inputs; a leading `*` makes the op variadic (concat).
    differentiable: per tensor input, whether a gradient flows through it (`False` for all
      inputs of step/sign/round/argmax; labels of a loss). Parameters always receive one.
    shape: (input types, hyperparameters) -> output type, or a list of them.
    params / state: (input types, hyperparameters) -> {name: (shape, initialiser)}.
    inits: the initialisers (nndsl/init.py) `params` and `state` may name; checked when the
      op is built, so a misspelt one fails at import time.
    flops: (input types, output types, hyperparameters) -> FLOPs per example (a
      multiply-add counts 2), or None when a dimension is symbolic.
    lower: (ctx, node, input arrays) -> output array(s), in JAX through `ctx.jnp`, `ctx.lax`,
      `ctx.nn` (so that checking a spec never imports JAX); parameters via `ctx.params_of`.
    label: (op, node) -> the op's text in a picture (`conv 64 3x3 /2`).
    direction: for a metric, "max" or "min": which way early stopping follows it.
    indexes: the tensor inputs that hold integer indices (embed's ids, a loss's labels) and
      the size of what they index (facts.Indexes); data and computed ids are checked by it.
    intentional_cut: the op exists to cut the gradient (stop_gradient): parameters it cuts
      off are not an error.
    gradcheck: how gradient checking treats the op, one of facts.GRADCHECK (derived from
      `differentiable` and `stochastic` when not given).
    body: for an op that runs a body graph (repeat, scan), how its parameters stack and how
      often it runs.
    keyword_inputs: tensors passed by keyword instead of owned by the op, after the inputs, with
      the hyperparameters their shape gives (`embed(ids, table=W)`: vocab and dim from W).
    sees_batch: `hp["batched"]` tells the shape rule whether the first input has a batch axis
      (not when computed from parameters and constants alone: `transpose(W, [1, 0])`).
    """

    name: str
    family: str
    doc: str
    inputs: tuple[str, ...]
    shape: Callable
    hypers: tuple[Hyper, ...] = ()
    params: Callable = no_params
    state: Callable = no_params
    differentiable: bool | tuple[bool, ...] = True
    flops: Callable = elementwise_flops
    stochastic: bool = False
    kind: str = "layer"  # layer | loss | metric | regulariser | control
    lower: Callable | None = None
    inits: tuple[str, ...] = ()
    label: Callable = hyper_label
    direction: str | None = None
    indexes: tuple[Indexes, ...] = ()
    intentional_cut: bool = False
    gradcheck: str = ""
    body: BodyRule | None = None
    keyword_inputs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sees_batch: bool = False

    def __post_init__(self):
        unknown = unknown_initialisers(self.inits)
        if unknown:
            raise ValueError(f"op `{self.name}` names unknown initialisers {unknown}")
        if (self.kind == "metric") != (self.direction in DIRECTIONS):
            raise ValueError(f"op `{self.name}`: a metric, and only a metric, states "
                             f"direction=max or min (got {self.direction!r})")
        if self.intentional_cut and self.differentiable is not False:
            raise ValueError(f"op `{self.name}` cuts the gradient on purpose, so it is not "
                             "differentiable")
        self._check_index_rules()
        if not self.gradcheck:
            object.__setattr__(self, "gradcheck", "no_gradient" if self.blocks_gradient else
                               "fixed_key" if self.stochastic else "exact")
        if self.gradcheck not in GRADCHECK:
            raise ValueError(f"op `{self.name}`: gradcheck must be one of {list(GRADCHECK)}")

    def _check_index_rules(self) -> None:
        names = {h.name for h in self.hypers}
        for rule in self.indexes:
            into_ok = rule.into is None or rule.into < len(self.inputs)
            if rule.index >= len(self.inputs) or not into_ok or \
                    (rule.hyper is not None and rule.hyper not in names):
                raise ValueError(f"op `{self.name}`: an index rule names an input or "
                                 "hyperparameter the op does not have")

    def describe(self, node) -> str:
        """The op's text in a picture of `node`."""
        return self.label(self, node)

    def body_rule(self, transform: str) -> BodyRule:
        """How the op runs its body; an op with a body but no rule fails here, by name."""
        if self.body is None:
            raise MissingRule(self.name, "body", transform)
        return self.body

    @property
    def variadic(self) -> bool:
        return bool(self.inputs) and self.inputs[0].startswith("*")

    def hyper(self, name: str) -> Hyper | None:
        return next((h for h in self.hypers if h.name == name), None)

    def grad_through(self, index: int) -> bool:
        """Whether a gradient flows back through tensor input `index`."""
        if isinstance(self.differentiable, bool):
            return self.differentiable
        return self.differentiable[min(index, len(self.differentiable) - 1)]

    @property
    def blocks_gradient(self) -> bool:
        """True for ops through which no gradient can flow to any input (step, argmax, ...)."""
        return self.differentiable is False


# Shape helpers ---------------------------------------------------------------------------------

def elements(t: TensorType) -> int | None:
    return t.elements_per_example()


def shape_str(shape) -> str:
    return "[" + ", ".join(format_dim(d) for d in shape) + "]"


def broadcast(a: TensorType, b: TensorType) -> tuple[Dim, ...]:
    """NumPy broadcasting of two shapes, or OpError naming both."""
    ra, rb = list(a.shape), list(b.shape)
    n = max(len(ra), len(rb))
    ra, rb = [1] * (n - len(ra)) + ra, [1] * (n - len(rb)) + rb
    out = []
    for x, y in zip(ra, rb):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise OpError(f"cannot broadcast {shape_str(a.shape)} and {shape_str(b.shape)}: "
                          f"dimension {format_dim(x)} does not match {format_dim(y)}")
    return tuple(out)


def result_dtype(*types: TensorType) -> str:
    floats = [t.dtype for t in types if t.is_float]
    return floats[0] if floats else types[0].dtype


def need_rank(t: TensorType, ranks: tuple[int, ...], what: str) -> None:
    if t.rank not in ranks:
        wanted = " or ".join(str(r) for r in ranks)
        raise OpError(f"expects an input of rank {wanted} ({what}), got rank {t.rank}: "
                      f"{shape_str(t.shape)}")


def need_float(t: TensorType, op: str) -> None:
    if not t.is_float:
        raise OpError(f"{op} needs a floating-point input, got {t.dtype} {shape_str(t.shape)}",
                      hint="integer tensors (labels, token ids) go through `embed` first")


def need_static(d: Dim, what: str) -> int:
    if not isinstance(d, int):
        raise OpError(f"{what} must be a known size, got the symbolic {format_dim(d)}")
    return d


def normalise_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise OpError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def per_spatial(value, n: int, name: str) -> tuple:
    """Expand an int hyperparameter to one value per spatial dimension."""
    if isinstance(value, tuple):
        if len(value) != n:
            raise OpError(f"`{name}` has {len(value)} values for {n} spatial dimensions")
        return value
    return (value,) * n


def window_out(length: Dim, kernel: int, stride: int, pad, dilation: int = 1,
               what: str = "kernel") -> Dim:
    """Output length of a sliding window (convolution or pooling) along one dimension."""
    span = dilation * (kernel - 1) + 1
    if pad == "same":
        return dim_floordiv(dim_add(length, stride - 1), stride)
    padded = dim_add(length, 2 * (pad if isinstance(pad, int) else 0))
    if isinstance(padded, int) and padded < span:
        dilated = f" (dilated to {span})" if dilation > 1 else ""
        raise OpError(f"{what} {kernel}{dilated} is larger than the input's {padded} "
                      f"along a spatial dimension",
                      hint="use pad=same, a smaller kernel, or less downsampling before it")
    return dim_add(dim_floordiv(dim_sub(padded, span), stride), 1)


def spatial_positions(t: TensorType) -> int | None:
    """Positions per example between the batch and the last (channel/feature) axis."""
    inner = t.shape[1:-1]
    return prod(inner) if all(isinstance(d, int) for d in inner) else None


def with_lowerings(ops: list[OpDef], lowerings: dict[str, Callable]) -> list[OpDef]:
    """Attach each op's JAX lowering; every op of a family must have one."""
    missing = [op.name for op in ops if op.name not in lowerings]
    assert not missing, f"no lowering for {missing}"
    return [replace(op, lower=lowerings[op.name]) for op in ops]
