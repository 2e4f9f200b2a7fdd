"""A run directory's life: where a new run goes (a numbered directory, never over an old run),
which run of a spec the commands use (the newest), and the fingerprint of the spec's graph,
settings and `--set` values that a run must match to be resumed. No JAX here: the commands
that find a run import it before deciding whether to start the runtime.

A run directory is one that holds `config.json`. `runs/<spec>-<name>` is a spec's first
run, `runs/<spec>-<name>-2`, `-3`, ... the later ones; the newest is the highest number.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from nndsl.source import Source, Span, error

EXISTS = "E100"
CHANGED = "E101"
NETWORKS = "E102"
NO_RUN = "E103"
NOT_A_RUN = "E104"
OTHER_SPEC = "E205"
CONFIG = "config.json"
# The signal that asked a running `nndsl train` to stop (set from the main thread, read by
# the training loop between steps): the run saves what it has and ends cleanly.
_STOP: list[int] = []
# Settings that change no result (how many steps go to the device at once,
# nndsl/fit/dispatch.py): a resumption may change them, in the spec or with --set.
UNCOMPARED = ("steps_per_dispatch",)
# Settings that may change between a run and its resumption: more epochs extend it.
EXTENDABLE = ("epochs", *UNCOMPARED)


def run_base(runs_root: Path, spec_path: Path, plan, model: str | None = None) -> Path:
    """Where a spec's runs are named for: `runs/<spec>-<train name or model>`, and `-<model>`
    after it for `--model`; the numbered runs follow it."""
    name = f"{Path(spec_path).stem}-{plan.name or plan.model or 'train'}"
    return Path(runs_root) / (name + (f"-{model}" if model else ""))


def is_run(path: Path) -> bool:
    """Whether `path` is a run directory (`nndsl train` wrote its config.json)."""
    return (Path(path) / CONFIG).is_file()


def read_config(run_dir: Path, span: Span) -> dict:
    """A run's config.json, or E104 at `span` when `run_dir` is no run directory."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise error(NOT_A_RUN, f"{run_dir} is not a run directory: it has no config.json "
                    "(`nndsl train` writes one)", span,
                    hint="name a directory `nndsl train` wrote (runs/<spec>-<name>[-N])")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise error(NOT_A_RUN, f"cannot read {path}: {exc}", span) from None


def argument_span(option: str, value: object) -> Span:
    """A span on the command line: `--resume runs/x` with the caret under the value, for errors
    about an argument rather than a place in the spec."""
    text = f"{option} {value}"
    return Span(Source("<command line>", text), 1, len(option) + 2, 1, len(text) + 1)


def request_stop(signum: int) -> None:
    """Ask the training loop to stop at its next step (a signal handler calls this)."""
    _STOP.append(signum)


def clear_stop() -> None:
    """Forget an earlier stop request (a command starting in the same process)."""
    _STOP.clear()


def stop_requested() -> int | None:
    """The signal that asked training to stop, or None."""
    return _STOP[0] if _STOP else None


def _number(base: Path, path: Path) -> int | None:
    """1 for `base`, N for `base-N` (N >= 2), None for any other name."""
    if path.name == base.name:
        return 1
    suffix = path.name[len(base.name) + 1:]
    if path.name.startswith(f"{base.name}-") and suffix.isdigit() and int(suffix) >= 2:
        return int(suffix)
    return None


def _numbered(base: Path) -> list[tuple[int, Path]]:
    """`base` and `base-N` as they exist (run or not), by number."""
    if not base.parent.is_dir():
        return []
    found = [(_number(base, p), p) for p in base.parent.iterdir()
             if p.name.startswith(base.name) and p.is_dir()]
    return sorted((n, p) for n, p in found if n is not None)


def runs_of(base: Path) -> list[Path]:
    """The runs named for `base`: `base`, `base-2`, ... that hold a config.json, oldest first."""
    return [p for _, p in _numbered(base) if is_run(p)]


def newest(base: Path) -> Path | None:
    """The newest (highest-numbered) run named for `base`, or None."""
    found = runs_of(base)
    return found[-1] if found else None


def claim_new(base: Path) -> Path:
    """A new directory for a run named for `base`: `base` when nothing has that name, else the
    next number after the highest taken. Created here, so two runs never get the same one."""
    taken = _numbered(base)
    number = taken[-1][0] + 1 if taken else 1
    base.parent.mkdir(parents=True, exist_ok=True)
    while True:
        candidate = base if number == 1 else base.with_name(f"{base.name}-{number}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:  # another run took it meanwhile
            number += 1


def clear(run_dir: Path) -> None:
    """Empty a run directory for `--overwrite` (its lock, held by the caller, stays)."""
    for child in run_dir.iterdir():
        if child.name == ".lock":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _canon(value):
    """A JSON-able, deterministic form of an IR or settings value (no memory addresses)."""
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canon(v) for v in value), key=repr)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()  # a numpy scalar
    if hasattr(value, "nodes") and hasattr(value, "inputs"):
        return _graph_lines(value)  # a scan or repeat body
    text = str(value)
    return type(value).__name__ if " at 0x" in text else f"{type(value).__name__}:{text}"


def _node_text(node) -> str:
    """One node as canonical JSON: op, inputs, output types, attributes, parameters."""
    return json.dumps({
        "op": node.op, "inputs": [[r.node, r.index] for r in node.inputs],
        "outs": [str(t) for t in node.outs], "attrs": _canon(node.attrs),
        "params": {k: [p.key, list(p.shape), p.init, p.trainable, p.frozen_from]
                   for k, p in sorted(node.params.items())},
        "state": {k: [p.key, list(p.shape), p.init] for k, p in sorted(node.state.items())},
        "times": node.times, "body": _graph_lines(node.body) if node.body else None,
    }, sort_keys=True, default=str)


def _graph_lines(graph) -> dict:
    return {"inputs": {k: [r.node, r.index] for k, r in sorted(graph.inputs.items())},
            "outputs": {k: [r.node, r.index] for k, r in sorted(graph.outputs.items())},
            "nodes": {node.id: _node_text(node) for node in graph}}


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def settings_of(plan) -> dict:
    """What the train section sets besides its graph, in plain values: data, optimizers and
    schedules, metrics, early stopping, augmentation and the settings (epochs included)."""
    def config(c):
        return None if c is None else {"name": c.name, **_canon(c.values)}

    # Reading a csv or an image folder adds its `encoding` to the data's values: derived from
    # the data, not set by the spec, and absent before the data is read.
    data = {k: v for k, v in config(plan.data).items() if k != "encoding"}
    return _canon({
        "data": data, "model": plan.model, "metrics": sorted(plan.metrics),
        "objectives": [{"network": o.network, "optimizer": config(o.optimizer),
                        "schedule": config(o.schedule), "trains": sorted(o.keys)}
                       for o in plan.objectives],
        "settings": plan.settings, "early_stopping": config(plan.early_stopping),
        "augment": config(plan.augment),
        # Only when set: runs from before the setting existed keep their fingerprint.
        **({"adversarial": config(plan.adversarial)} if plan.adversarial else {})})


def fingerprint(plan, overrides: dict, epochs: int | None = None) -> dict:
    """What a resumption must match: a SHA-256 of the elaborated graph (node ops, inputs,
    attributes, shapes, parameters; not source positions), one per node (to name the nodes
    that differ), the settings (with `epochs` when given: --epochs) with their SHA-256, and
    the `--set` values."""
    lines = _graph_lines(plan.graph)
    settings = settings_of(plan)
    if epochs is not None:
        settings["settings"]["epochs"] = epochs
    return {"graph_sha256": _digest(lines),
            "nodes": {k: _digest(v)[:16] for k, v in lines["nodes"].items()},
            "settings": settings, "settings_sha256": _digest(_without_extendable(settings)),
            "set": plain_set(overrides)}


def plain_set(overrides: dict) -> dict:
    """`--set` values as config.json records them (a word as its text)."""
    return json.loads(json.dumps(dict(overrides), default=str))


def _without_extendable(settings: dict) -> dict:
    return {**settings, "settings": {k: v for k, v in settings["settings"].items()
                                     if k not in EXTENDABLE}}


def differences(saved: dict, now: dict) -> list[str]:
    """What differs between a run's fingerprint and this spec's, in words; empty: the same."""
    found = []
    names = sorted(k for k in {*saved["set"], *now["set"]}
                   if saved["set"].get(k) != now["set"].get(k) and k not in UNCOMPARED)
    if names:
        found += [f"--set {k}: {_shown(saved['set'], k)} in the run, {_shown(now['set'], k)} "
                  "now" for k in names]
    if saved["graph_sha256"] != now["graph_sha256"]:
        found.append(_graph_difference(saved, now))
    if saved["settings_sha256"] != _digest(_without_extendable(now["settings"])):
        found += [f"the train setting `{k}`" for k in _changed_keys(
            _without_extendable(saved["settings"]), _without_extendable(now["settings"]))
            or ["(an older format)"]]
    return found


def _graph_difference(saved: dict, now: dict) -> str:
    """How two fingerprints' graphs differ, by node name."""
    old, new = saved["nodes"], now["nodes"]
    changed = [k for k in new if k in old and old[k] != new[k]]
    added, removed = [k for k in new if k not in old], [k for k in old if k not in new]
    parts = [f"{what} {', '.join(f'`{n}`' for n in names[:5])}"
             + (f" and {len(names) - 5} more" if len(names) > 5 else "")
             for what, names in (("changed", changed), ("added", added),
                                 ("removed", removed)) if names]
    return "the spec's graph: " + ("; ".join(parts) or "inputs or outputs changed")


def check_same_spec(spec, run_dir: Path, train: str | None, span: Span) -> None:
    """E205 at `span` when a run a command reads was not trained on this spec's graph (a run
    of another spec, of this one before a change, or with other `--set` values): its weights
    would fit by name and shape and answer for another network. Every command that reads a
    trained run checks this; a run without a recorded fingerprint (older) is let through to
    the name-and-shape check."""
    config = read_config(run_dir, span)
    saved = config.get("fingerprint")
    if saved is None:
        return
    model = config.get("model")
    if model in (None, *spec.program.networks):
        now = fingerprint(spec.plan(train, model), {})
        if saved["graph_sha256"] == now["graph_sha256"]:
            return
        notes = [f"differs: {_graph_difference(saved, now)}"]
    else:
        notes = [f"differs: the run trained `{model}`, which this spec does not define"]
    raise error(OTHER_SPEC, f"{run_dir} is a run of another spec (or of this one before a "
                "change): its recorded graph is not this spec's", span, notes=notes,
                hint=_same_spec_hint(config, train))


def _same_spec_hint(config: dict, train: str | None) -> str:
    """The options that would rebuild the run's graph: its `--set` values and train section."""
    options = [f"--set {k}={v}" for k, v in (config.get("set") or {}).items()]
    if config.get("train") and config.get("train") != train:
        options.append(f"--train {config['train']}")
    if options:
        return f"pass the run's own options ({' '.join(options)}), or name a run of this spec"
    return (f"name a run of this spec (nndsl train FILE writes one); this run was trained "
            f"from {config.get('spec', 'another spec')}")


def _shown(values: dict, name: str) -> str:
    return f"`{values[name]}`" if name in values else "not set"


def _changed_keys(old, new, prefix: str = "") -> list[str]:
    """The paths (`objectives[0].optimizer.lr`, `batch`) at which two settings differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [key for k in sorted({*old, *new}) for key in _changed_keys(
            old.get(k), new.get(k), k if prefix in ("", "settings") else f"{prefix}.{k}")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [key for i, (a, b) in enumerate(zip(old, new))
                for key in _changed_keys(a, b, f"{prefix}[{i}]")]
    return [] if old == new else [prefix]


def choose_network(run_dir: Path, config: dict, trained: list[str], requested: str | None,
                   span: Span) -> tuple[str | None, bool]:
    """Which network of a run a command reads, and whether the checkpoint names its layers
    with the network first (`Generator.dense_0`, a run of several networks). `trained`: the
    networks a several-network checkpoint holds. None: the spec's default network."""
    model = config.get("model")
    if model or not config:
        if requested and model and requested != model:
            raise error(NETWORKS, f"{run_dir} trained `{model}`, not `{requested}`", span,
                        hint=f"--model {model}, or --run a run of `{requested}`")
        return model or requested, False
    if requested in trained or (requested is None and len(trained) == 1):
        return requested or trained[0], True
    listed = ", ".join(f"`{n}`" for n in trained)
    if requested is None:
        raise error(NETWORKS, f"{run_dir} holds several networks ({listed}): name the one to "
                    "use with --model", span, hint=f"--model {trained[0]}")
    raise error(NETWORKS, f"{run_dir} has no network `{requested}`; it holds {listed}", span,
                hint=f"--model {trained[0]}")


def check_resumable(run_dir: Path, config: dict, plan, overrides: dict, span: Span) -> None:
    """Refuse (E101, at `span`) to resume a run whose spec graph, settings or `--set` values
    differ from these: its weights belong to another experiment."""
    saved = config.get("fingerprint")
    if saved is None:
        return  # an older run: its tensors are still checked by name and shape
    found = differences(saved, fingerprint(plan, overrides))
    if found:
        raise error(CHANGED, f"cannot resume {run_dir}: it was trained "
                    "with another spec or settings", span, notes=[f"differs: {d}" for d in found],
                    hint="resume with the spec and --set values the run was trained with (its "
                    "spec.nn and config.json record them), or train a new run without --resume")
