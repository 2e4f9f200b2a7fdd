"""`init = load(Net, "run")`: a model that starts from an earlier run's parameters and trains them.

`load(Net, "run")` in an expression gives a frozen network (distillation, transfer). As the
train section's `init`, it gives starting values instead: the model's parameterised layers,
in order, take the tensors of Net's layers, in order, and all of them go on training. Several
loads follow one another (`init = [load(RBM1, "rbm1"), load(RBM2, "rbm2")]`: a deep belief
net's layers); model layers left over start fresh. A model layer takes each of its tensors
from the loaded layer's tensor of the same name, so `dense(64)` (w, b) can start from
`rbm(64)` (w, b, b_visible). Everything that can be checked statically is checked here (E231);
the run's own checkpoint is checked when training starts (nndsl/fit/pretrained.py, E232).
"""

from __future__ import annotations

from dataclasses import dataclass

from nndsl import ast
from nndsl.ir import Graph, trainable_params
from nndsl.paths import check_run_reference
from nndsl.source import Span, did_you_mean, error

SHAPE_CODE = "E231"  # a model layer does not fit the loaded layer (or the form is wrong)


@dataclass(frozen=True)
class LayerInit:
    """One model layer's start: its tensors (name -> shape) from `source`'s layer of Net."""

    layer: str
    source: str
    shapes: tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class InitLoad:
    """One `load(Net, "run")` of an `init`: where it is written and the layers it fills."""

    network: str
    run: str
    span: Span
    layers: tuple[LayerInit, ...]


def layer_tensors(graph: Graph, keep=lambda key: True) -> list[tuple[str, dict]]:
    """The graph's parameterised layers in order, each with {tensor name: shape}."""
    layers: dict[str, dict] = {}
    for key, (spec, _) in trainable_params(graph).items():
        if keep(key):
            layer, _, name = key.rpartition(".")
            layers.setdefault(layer, {})[name] = tuple(spec.shape)
    return list(layers.items())


def pretrained_inits(el, f: ast.Field | None, model: str | None, graph: Graph) -> list[InitLoad]:
    """The section's `init` checked against the model in `graph`; [] without one."""
    if f is None:
        return []
    if model is None:
        raise error(SHAPE_CODE, "`init` starts the section's `model` from a run; this section "
                    "has no `model = ...`", f.name.span)
    calls = f.value.items if isinstance(f.value, ast.ListExpr) else (f.value,)
    loads = [_load_call(el, call) for call in calls]
    targets = layer_tensors(graph, keep=lambda key: "@" not in key.split(".")[0])
    inits, start = [], 0
    for network, run, span in loads:
        sources = layer_tensors(el.network(network))
        if start + len(sources) > len(targets):
            raise error(SHAPE_CODE, f"init: {network} has {len(sources)} parameterised layers but "
                        f"{model} has only {len(targets) - start} left to start from it", span)
        pairs = [_fit(model, target, network, source, span)
                 for target, source in zip(targets[start:], sources)]
        inits.append(InitLoad(network, run, span, tuple(pairs)))
        start += len(sources)
    return inits


def _load_call(el, call: ast.Node) -> tuple[str, str, Span]:
    """(network, run, span) of a `load(Net, "run")` call, or E231 saying what is expected."""
    form = 'load(Net, "run"), or a list of them'
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and
            call.func.id == "load" and len(call.args) == 2 and not call.kwargs and
            isinstance(call.args[0], ast.Name) and isinstance(call.args[1], ast.String)):
        raise error(SHAPE_CODE, f"`init` takes {form}", call.span)
    name = call.args[0].id
    definition = el.program.definitions.get(name)
    if definition is None or definition.kind != "network":
        raise error(SHAPE_CODE, f"init: `{name}` is not a network", call.args[0].span,
                    hint=did_you_mean(name, el.program.networks))
    check_run_reference(call.args[1].value, call.args[1].span)
    return name, call.args[1].value, call.span


def _fit(model: str, target: tuple[str, dict], network: str, source: tuple[str, dict],
         span: Span) -> LayerInit:
    """The model layer `target` starting from `source`: every tensor by name and shape."""
    (layer, wanted), (loaded, have) = target, source
    for name, shape in wanted.items():
        if have.get(name) != shape:
            got = f"is {list(have[name])}" if name in have else "does not exist"
            raise error(SHAPE_CODE, f"init: layer `{layer}` of {model} does not fit layer "
                        f"`{loaded}` of {network}: `{layer}.{name}` is {list(shape)} but "
                        f"`{loaded}.{name}` {got}", span,
                        hint="the model's parameterised layers take the loaded network's in "
                        "order; make their sizes agree")
    return LayerInit(layer, loaded, tuple(wanted.items()))
