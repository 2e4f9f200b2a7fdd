"""The `prune = lottery(...)` setting of a train section (Frankle & Carbin 2019), checked
statically: which parameters it prunes, that its rewind point is an epoch the training
reaches, and how many weights each round leaves (a pure function of the sizes, the rate and
the rounds, so `summary` and `check` know it without training; docs/prune.md)."""

from __future__ import annotations

from nndsl.elab.config import Config
from nndsl.ir import Graph, trainable_params
from nndsl.source import did_you_mean, error

EMPTIED = "E215"  # a round would leave a pruned parameter without weights
UNKNOWN_LAYER = "E216"  # `layers=[...]` names no layer of the model
LATE_REWIND = "E217"  # `rewind=k` after the last epoch
NO_WEIGHTS = "E218"  # a named layer has no weight matrix or kernel to prune


def pruned_sizes(graph: Graph, prune: Config) -> dict[str, int]:
    """The parameters `prune` masks, by key, with their sizes: those of the layers it names
    (a layer's weight matrices and kernels, or one parameter by its full `layer.name`),
    else every trainable parameter of rank 2 or more: weight matrices, kernels and
    embedding tables, not biases or normalisation scales. Raises E216/E218 at the call."""
    params = {key: spec for key, (spec, _) in trainable_params(graph).items()
              if spec.trainable and spec.frozen_from is None}
    weights = {key: spec.size for key, spec in params.items() if len(spec.shape) >= 2}
    names = prune.values["layers"]
    if not names:
        return weights
    chosen: dict[str, int] = {}
    for name in names:
        if name in params:
            chosen[name] = params[name].size
            continue
        layer = {key: size for key, size in weights.items() if key.rpartition(".")[0] == name}
        if not layer:
            _refuse_layer(name, params, prune)
        chosen.update(layer)
    return chosen


def _refuse_layer(name: str, params: dict, prune: Config) -> None:
    layers = sorted({key.rpartition(".")[0] for key in params})
    if name in layers:
        own = ", ".join(key for key in params if key.rpartition(".")[0] == name)
        raise error(NO_WEIGHTS, f"`lottery(layers=...)`: layer `{name}` has no weight matrix "
                    f"or kernel (its parameters: {own})", prune.span,
                    hint="name a parameter itself (`layer.name`) to prune it")
    raise error(UNKNOWN_LAYER, f"`lottery(layers=...)`: the model has no layer `{name}`",
                prune.span, hint=did_you_mean(name, [*layers, *params])
                or f"its layers with parameters: {', '.join(layers)}")


def remaining(size: int, rate: float, rounds: int) -> list[int]:
    """The weights of a parameter of `size` left after each round 0..rounds: every round
    removes round(rate x what is left) of them (so the count is exact, whatever the
    values)."""
    counts = [size]
    for _ in range(rounds):
        counts.append(counts[-1] - pruned_in_round(counts[-1], rate))
    return counts


def pruned_in_round(alive: int, rate: float) -> int:
    """How many of `alive` weights one round prunes: round(rate x alive), Python's rounding."""
    return int(round(rate * alive))


def check_prune(graph: Graph, prune: Config, epochs: int) -> dict[str, int]:
    """`prune`'s parameters and sizes, refusing a rewind past the last epoch (E217) and a
    schedule that would prune some parameter away entirely (E215)."""
    sizes = pruned_sizes(graph, prune)
    values = prune.values
    if values["rewind"] > epochs:
        raise error(LATE_REWIND, f"`lottery(rewind={values['rewind']})` rewinds to an epoch "
                    f"after the last one ({epochs})", prune.span,
                    hint="rewind=0 rewinds to the initial weights; k to those after epoch k")
    for key, size in sizes.items():
        counts = remaining(size, values["rate"], values["rounds"])
        if counts[-1] == 0:
            empty = counts.index(0)
            raise error(EMPTIED, f"`lottery(rounds={values['rounds']}, rate={values['rate']})`"
                        f" prunes every weight of `{key}` ({size:,}) by round {empty}",
                        prune.span, hint="fewer rounds or a smaller rate; "
                        f"{size:,} x (1 - rate)^rounds must stay at least 1")
    return sizes


def schedule(sizes: dict[str, int], rate: float, rounds: int) -> list[dict]:
    """Per round: the weights left in each pruned parameter, their total, and that total's
    fraction of the pruned parameters' sizes."""
    per_key = {key: remaining(size, rate, rounds) for key, size in sizes.items()}
    total = sum(sizes.values())
    rows = []
    for r in range(rounds + 1):
        left = {key: counts[r] for key, counts in per_key.items()}
        rows.append({"round": r, "remaining": sum(left.values()),
                     "fraction": sum(left.values()) / total if total else 1.0,
                     "layers": left})
    return rows
