"""`nndsl sample`: draw from a trained generator and write a picture (a PNG).

What a network is decides how it is sampled and drawn, in one table, MODES: each mode says
whether it fits a network and how to sample from it. A generator here is a network whose
inputs are one noise vector `z: [B, D]` (drawn from N(0, 1), as `normal(...)` draws it in
training) and at most one class `c: [B] i32` that feeds an op with a known number of classes
(`embed(c, 8, ...)`: a conditional generator); its first output is what is drawn: 2-D
points `[B, 2]` (a scatter plot) or images `[B, H, W, C]` (a grid). A language model's text
is chosen by its flag, `--text` (nndsl/sampling_text.py); a mode checks its own options (the
generators' `--class` in `draw`, the grid's `-n` in `_sample_images`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nndsl.ir import Graph, TensorType
from nndsl.ops import REGISTRY

NOT_A_GENERATOR = "E246"
BAD_CLASS = "E247"
TOO_MANY = "E248"
MAX_IMAGES_PER_ROW = 64


@dataclass(frozen=True)
class GeneratorInputs:
    """A generator's inputs: the noise vector's name and width, and the class input's name
    and number of classes (None for an unconditional generator)."""

    noise: str
    width: int
    condition: str | None
    classes: int | None


@dataclass(frozen=True)
class Request:
    """One `nndsl sample`: the trained network as a function of its inputs, and the options."""

    network: str
    graph: Graph
    apply: Callable[[dict], dict]
    klass: int | None
    count: int | None
    seed: int
    out: Path


@dataclass(frozen=True)
class Mode:
    """One kind of model: whether it `fits` a network's graph, and `run` (sample, draw,
    return the line `nndsl sample` prints)."""

    name: str
    fits: Callable[[Graph], bool]
    run: Callable[[Request], str]


def generator_inputs(graph: Graph) -> GeneratorInputs | None:
    """The noise and class inputs when the network's inputs are exactly those, else None."""
    types = {name: graph.type_of(ref) for name, ref in graph.inputs.items()}
    noise = [n for n, t in types.items() if t.is_float and t.rank == 2
             and isinstance(t.shape[1], int)]
    condition = [n for n, t in types.items() if t.dtype == "i32" and t.rank == 1]
    if len(noise) != 1 or len(condition) > 1 or len(noise) + len(condition) != len(types):
        return None
    classes = _class_count(graph, condition[0]) if condition else None
    if condition and classes is None:
        return None  # classes it cannot enumerate (an integer fed straight into arithmetic)
    return GeneratorInputs(noise[0], types[noise[0]].shape[1], next(iter(condition), None),
                           classes)


def _class_count(graph: Graph, name: str) -> int | None:
    """The number of classes input `name` indexes (embed's vocab), from the op it feeds."""
    node_id = graph.inputs[name].node
    for node in graph:
        for rule in REGISTRY[node.op].indexes:
            if node.inputs[rule.index].node == node_id:
                size = rule.size(node.attrs, [graph.type_of(r).shape for r in node.inputs])
                return size if isinstance(size, int) else None
    return None


def _first_output(graph: Graph) -> tuple[str, TensorType]:
    name, ref = next(iter(graph.outputs.items()))
    return name, graph.type_of(ref)


def _is_points(graph: Graph) -> bool:
    _, t = _first_output(graph)
    return generator_inputs(graph) is not None and t.rank == 2 and t.shape[1] == 2


def _is_images(graph: Graph) -> bool:
    _, t = _first_output(graph)
    channels_ok = t.rank == 3 or (t.rank == 4 and t.shape[3] in (1, 3))
    return generator_inputs(graph) is not None and t.is_float and channels_ok


def draw(request: Request, per_class: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Samples of the first output: `per_class` for each class (or for `--class K` alone),
    or `per_class` in all for an unconditional generator; and each one's class."""
    inputs = generator_inputs(request.graph)
    _check_class(request, inputs)
    count = request.count or per_class
    classes = None
    if inputs.condition is not None:
        chosen = [request.klass] if request.klass is not None else range(inputs.classes)
        classes = np.repeat(np.asarray(chosen, np.int32), count)
    rows = len(classes) if classes is not None else count
    feed = {inputs.noise: np.random.RandomState(request.seed).standard_normal(
        (rows, inputs.width)).astype(np.float32)}
    if classes is not None:
        feed[inputs.condition] = classes
    name, _ = _first_output(request.graph)
    return np.asarray(request.apply(feed)[name]), classes


def _check_class(request: Request, inputs: GeneratorInputs) -> None:
    """E247 for a `--class K` the generator cannot draw."""
    from nndsl.fit.rundir import argument_span
    from nndsl.source import error

    if request.klass is None:
        return
    where = argument_span("--class", request.klass)
    if inputs.classes is None:
        raise error(BAD_CLASS, f"`{request.network}` takes no class: it is not conditional",
                    where, hint="drop --class")
    if not 0 <= request.klass < inputs.classes:
        raise error(BAD_CLASS, f"`{request.network}` has {inputs.classes} classes: --class "
                    f"takes 0 to {inputs.classes - 1}", where)


def _title(request: Request, values: np.ndarray, classes: np.ndarray | None) -> str:
    per = f", {len(values) // len(set(classes.tolist()))} per class" if classes is not None \
        else ""
    return f"{request.network}: {len(values)} samples{per} (seed {request.seed})"


def _sample_points(request: Request) -> str:
    from nndsl.cli import pictures

    points, classes = draw(request, 500)
    pictures.scatter(points, classes, request.out, _title(request, points, classes))
    return f"wrote {request.out}: {len(points)} points of {request.network}"


def _sample_images(request: Request) -> str:
    from nndsl.cli import pictures
    from nndsl.fit.rundir import argument_span
    from nndsl.source import error

    if (request.count or 0) > MAX_IMAGES_PER_ROW:
        raise error(TOO_MANY, f"-n {request.count}: a grid row holds at most "
                    f"{MAX_IMAGES_PER_ROW} images", argument_span("-n", request.count),
                    hint=f"-n {MAX_IMAGES_PER_ROW} or fewer")
    images, classes = draw(request, 8 if generator_inputs(request.graph).condition else 64)
    pictures.image_grid(images, classes, request.out, _title(request, images, classes))
    return f"wrote {request.out}: {len(images)} images of {request.network}"


# First fit wins. Add a kind of model here: its test on the graph and its sampler.
MODES = (
    Mode("points", _is_points, _sample_points),
    Mode("images", _is_images, _sample_images),
)


def mode_for(graph: Graph) -> Mode | None:
    """The first mode that fits the network, or None."""
    return next((m for m in MODES if m.fits(graph)), None)


def command(args) -> int:
    """`nndsl sample FILE [--run DIR] [--model NET] [--class K] [-n N] [-o OUT.png]`: the
    run's generator (`--model`, else the run's one network a mode fits), sampled and drawn
    by its mode into OUT (default RUN/samples.png)."""
    from nndsl.cli.static import _spec
    from nndsl.cli.trained import _run_of, _trained
    from nndsl.fit.rundir import argument_span

    spec = _spec(args)
    args.run = _run_of(args, spec)
    # Errors about the network point at --model when the user named it, else at the spec.
    where = argument_span("--model", args.model) if args.model else spec.file_span()
    if args.text:  # a language model's text: nndsl/sampling_text.py
        from nndsl import sampling_text
        from nndsl.runs import load_run

        return sampling_text.command(args, load_run(args.run, args.model), where)
    args.model = args.model or _default_network(spec, args.run)
    name, compiled, saved = _trained(spec, args)
    mode = _checked_mode(compiled.graph, name, where)
    request = Request(name, compiled.graph,
                      lambda feed: compiled.apply(saved["params"], saved["state"], feed)[0],
                      args.klass, args.count, args.seed,
                      Path(args.output) if args.output else args.run / "samples.png")
    print(mode.run(request))
    return 0


def _default_network(spec, run: Path) -> str | None:
    """The one network of a several-network run that a mode fits (a GAN's Generator, a
    VAE's Decoder); None leaves the choice to the run's own rules (E102 when ambiguous)."""
    from nndsl.fit import checkpoint

    if not (run / "best.ckpt").is_file():
        return None  # the run's own rules say what is missing (E083)
    names = [n for n in checkpoint.networks(checkpoint.read(run / "best.ckpt"))
             if n in spec.program.networks]
    fitting = [n for n in names if mode_for(spec.network(n)) is not None]
    return fitting[0] if len(fitting) == 1 else None


def _checked_mode(graph: Graph, name: str, where) -> Mode:
    """The network's mode; E246 when none fits."""
    from nndsl.source import error

    mode = mode_for(graph)
    if mode is None:
        shown = ", ".join(f"{n}: {graph.type_of(r)}" for n, r in graph.inputs.items())
        raise error(NOT_A_GENERATOR, f"`{name}` ({shown}) is not a network `sample` can draw "
                    "from", where, hint="a generator takes a noise "
                    "vector z: [B, D] and optionally a class c: [B] i32 that feeds "
                    "embed(c, classes, ...); its first output is points [B, 2] or images "
                    "[B, H, W, C]: name it with --model (a GAN's Generator, a VAE's Decoder)")
    return mode
