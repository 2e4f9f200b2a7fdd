"""The commands that question a trained network: explain (saliency maps, activation
maximisation) and attack (FGSM, PGD); the work is in nndsl/probe/."""

from __future__ import annotations

import json
from pathlib import Path

from nndsl.cli.static import _spec
from nndsl.cli.trained import _run_of, _trained

COMMANDS = ("explain", "attack")


def _target(args, spec):
    """The run's trained network on `--split`, as nndsl/probe/target.py defines it."""
    from nndsl.probe.target import load_target

    args.run = _run_of(args, spec)
    name, compiled, saved = _trained(spec, args)
    return load_target(spec, args.run, name, compiled, saved, args.train, args.split)


def _output(args, spec, suffix: str) -> Path:
    return Path(args.output or f"{Path(spec.path).stem}-{suffix}")


def explain(args) -> int:
    """`nndsl explain`: saliency maps of N examples (a grid PNG, bar charts, or --format
    npz), or with --maximise the inputs that drive a layer's units."""
    from nndsl.fit.rundir import argument_span
    from nndsl.probe.target import check_class

    spec = _spec(args)
    target = _target(args, spec)
    check_class(target, args.cls, argument_span("--class", args.cls))
    print(f"{target.name}: input `{target.field}`, valid range [{target.low:g}, "
          f"{target.high:g}] (the training split's min and max)")
    if args.maximise:
        return _maximise(args, spec, target)
    from nndsl.probe import explain as explaining
    from nndsl.probe import pictures

    found = explaining.saliency_maps(target, args.n, args.method, args.cls, args.seed)
    suffix = "explain.npz" if args.format == "npz" else "explain.png"
    out = _output(args, spec, suffix)
    if args.format == "npz":
        import numpy as np

        np.savez(out, **{k: v for k, v in vars(found).items()
                         if v is not None and k != "method"})
    else:
        heading = f"{target.name}: {args.method} saliency ({args.split} split)"
        titles = _titles(found)
        draw = pictures.saliency_grid if target.image else None
        if draw:
            draw(found.inputs, found.maps, titles, out, heading)
        else:
            pictures.saliency_bars(found.maps, titles, out, heading)
    if target.image:
        print(f"mean |saliency| on nonzero inputs / on zero inputs: "
              f"{explaining.stroke_ratio(found):.2f}")
    print(f"wrote {out} ({len(found.inputs)} examples, {args.method})")
    return 0


def _titles(found) -> list[str]:
    """`label 3 → 3` (and `explains 5` when --class differs from the prediction)."""
    if found.labels is None:
        return [f"example {i}" for i in range(len(found.inputs))]
    return [f"label {y} → {p}" + (f" (class {c})" if c != p else "")
            for y, p, c in zip(found.labels, found.predictions, found.explained)]


def _maximise(args, spec, target) -> int:
    """--maximise LAYER[:UNIT]: one unit, or the top --n units of the layer."""
    from nndsl.fit.rundir import argument_span
    from nndsl.probe import explain as explaining
    from nndsl.probe import pictures
    from nndsl.probe.target import check_unit, find_layer

    span = argument_span("--maximise", args.maximise)
    node_id, unit = find_layer(target.compiled.graph, args.maximise, span)
    units = check_unit(target.compiled.graph, node_id, unit, span)
    chosen = [unit] if unit is not None else explaining.top_units(target, node_id,
                                                                 min(args.n, units))
    found = explaining.maximise_units(target, node_id, chosen, args.seed, args.steps)
    out = _output(args, spec, "maximise.png")
    titles = [f"{node_id.rpartition('.')[2]}:{u}" for u in chosen]
    if target.image:
        pictures.image_grid(found.inputs, titles, out, f"{target.name}: inputs that drive "
                            f"{node_id} (L2 + jitter, {len(found.trace)} steps)")
    else:
        pictures.saliency_bars(found.inputs, titles, out, f"{target.name}: inputs that "
                               f"drive {node_id}")
    for u, start, end in zip(chosen, found.trace[0], found.trace[-1]):
        print(f"{node_id}:{u}  activation {start:.4f} → {end:.4f}")
    print(f"wrote {out}")
    return 0


def attack(args) -> int:
    """`nndsl attack`: accuracy under FGSM / PGD at each eps (a table), a picture of the
    first examples at the largest eps, and results JSON."""
    from nndsl.fit.rundir import argument_span
    from nndsl.probe import pictures, robustness
    from nndsl.probe.target import NOT_A_CLASSIFIER, check_eps
    from nndsl.source import error

    spec = _spec(args)
    fractions = _eps_list(args.eps)
    check_eps(fractions, argument_span("--eps", args.eps))
    target = _target(args, spec)
    if not target.classifier:
        raise error(NOT_A_CLASSIFIER, f"attack needs a classifier, and `{target.name}` is not "
                    "one: its train section's loss is not a cross_entropy of logits [B, K] "
                    "against labels", argument_span("--run", args.run))
    clean, predictions = robustness.clean_accuracy(target)
    methods = args.method.split(",")
    print(f"{target.name} on the {args.split} split ({len(target.labels)} examples); input "
          f"`{target.field}` in [{target.low:g}, {target.high:g}] (the training split's min "
          f"and max); eps is a fraction of that range")
    print(f"{'eps':>6}  " + "  ".join(f"{m:>6}" for m in methods))
    print(f"{0:>6g}  " + "  ".join(f"{clean:>6.3f}" for _ in methods))
    outcomes = []
    for eps in fractions:
        row = [robustness.run_attack(target, m, eps, args.steps, args.seed, args.n)
               for m in methods]
        outcomes += row
        print(f"{eps:>6g}  " + "  ".join(f"{o.accuracy:>6.3f}" for o in row))
    out = _output(args, spec, "attack.png")
    last = outcomes[-1]
    if target.image:
        pictures.attack_picture(target.inputs[target.field][:args.n], last.adversarial,
                                target.labels[:args.n], predictions[:args.n],
                                last.predictions, out, f"{target.name}: {last.method} at eps "
                                f"{last.eps:g} of the range [{target.low:g}, {target.high:g}]",
                                (target.low, target.high))
    results = out.with_suffix(".json")
    results.write_text(json.dumps(_results(args, target, clean, outcomes), indent=2) + "\n")
    print(f"wrote {out if target.image else ''}{' and ' if target.image else ''}{results}")
    return 0


def _eps_list(text: str) -> list[float]:
    """`0.05,0.1,0.2` as numbers; a word that is no number is E202 too."""
    from nndsl.fit.rundir import argument_span
    from nndsl.probe.target import EPS_RANGE
    from nndsl.source import error

    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise error(EPS_RANGE, f"--eps takes numbers separated by commas, not `{text}`",
                    argument_span("--eps", text), hint="e.g. --eps 0.05,0.1,0.2") from None


def _results(args, target, clean: float, outcomes) -> dict:
    return {"spec": str(args.file), "run": str(args.run), "network": target.name,
            "split": args.split, "examples": len(target.labels), "input": target.field,
            "valid_range": [target.low, target.high], "eps_unit": "fraction of the range",
            "steps": args.steps, "clean_accuracy": clean,
            "attacks": [{"method": o.method, "eps": o.eps, "accuracy": o.accuracy,
                         "largest_change": o.largest_change} for o in outcomes]}
