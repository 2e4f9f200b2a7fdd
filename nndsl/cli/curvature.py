"""Commands that probe a trained run's loss around its minimum: `hessian` (the top Hessian
eigenvalues) and `landscape` (the loss along filter-normalised directions). JAX is imported
only when one of them runs."""

from __future__ import annotations

import argparse
import json
import sys

from nndsl.cli.helptext import HESSIAN_HELP, LANDSCAPE_HELP

COMMANDS = ("hessian", "landscape")


def probe_commands(sub, common) -> None:
    """The probes' parsers (`common`: the options every spec command takes)."""
    hessian_parser = sub.add_parser("hessian", help="top Hessian eigenvalues of a trained run",
                                    description=HESSIAN_HELP,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    common(hessian_parser)
    _run_options(hessian_parser)
    hessian_parser.add_argument("--top", type=int, default=3, metavar="K",
                                help="eigenvalues printed (default 3)")
    hessian_parser.add_argument("--iters", type=int, default=30, metavar="N",
                                help="Lanczos iterations (default 30)")
    hessian_parser.add_argument("--examples", type=int, default=512, metavar="N",
                                help="training examples the loss is taken over (default 512)")
    landscape_parser = sub.add_parser("landscape", help="plot the loss around a trained run",
                                      description=LANDSCAPE_HELP,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    common(landscape_parser)
    _run_options(landscape_parser)
    landscape_parser.add_argument("--dims", type=int, choices=(1, 2), default=1,
                                  help="random filter-normalised directions: 1 (a line plot) "
                                  "or 2 (a contour plot); default 1")
    landscape_parser.add_argument("--steps", type=_odd_steps, default=21, metavar="N",
                                  help="grid points per direction, 3 to 201 (default 21; odd "
                                  "puts the run's parameters on the grid)")
    landscape_parser.add_argument("--reach", type=float, default=1.0, metavar="R",
                                  help="the grid spans -R to R along each direction (default 1)")
    landscape_parser.add_argument("--to", metavar="DIR2", help="instead: the line from --run "
                                  "to the run DIR2 (same spec), t from -0.5 to 1.5")
    landscape_parser.add_argument("--seed", type=int, default=0, help="of the directions")


def _odd_steps(text: str) -> int:
    if not text.isdigit() or not 3 <= int(text) <= 201:
        raise argparse.ArgumentTypeError(f"takes a whole number from 3 to 201, not `{text}`")
    return int(text)


def _run_options(parser) -> None:
    parser.add_argument("--run", metavar="DIR", help="the trained run (default: the spec's "
                        "newest run)")
    parser.add_argument("--train", help="the train section the run trained")
    parser.add_argument("--model", help="the network, when the run trained another")
    parser.add_argument("--runs", default="runs", help="where run directories live")


def hessian(args) -> int:
    """`nndsl hessian`: the top eigenvalues of the Hessian of a run's training loss at its
    best parameters (Lanczos on Hessian-vector products); written to RUN/hessian.json."""
    from pathlib import Path

    from nndsl.cli.static import _spec
    from nndsl.cli.trained import _run_of
    from nndsl.fit.runloss import RunLoss
    from nndsl.hessian import top_eigenvalues
    from nndsl.runs import best_checkpoint

    spec = _spec(args)
    args.run = _run_of(args, spec)
    run = RunLoss(spec, best_checkpoint(args.run), args.train, args.model)
    loss = run.on_examples(args.examples)
    values = top_eigenvalues(loss, run.params, args.top, args.iters)
    examples = min(args.examples, run.trainer.n_train)
    print(f"top Hessian eigenvalues of the training loss ({examples} examples, "
          f"{args.iters} Lanczos iterations):")
    for rank, value in enumerate(values, 1):
        print(f"  λ{rank} = {value:.6g}")
    record = {"eigenvalues": values, "examples": examples, "iterations": args.iters,
              "loss": float(loss(run.params))}
    (Path(args.run) / "hessian.json").write_text(json.dumps(record, indent=2))
    print(f"hessian.json: {args.run}", file=sys.stderr)
    return 0


def landscape(args) -> int:
    """`nndsl landscape`: the training loss around a run's best parameters along random
    filter-normalised directions (or along the line to another run): a PNG and the raw grid
    (npz) in the run directory."""
    from pathlib import Path

    import numpy as np

    from nndsl import landscape as scape
    from nndsl.cli.static import _spec
    from nndsl.cli.trained import _run_of
    from nndsl.fit.runloss import RunLoss
    from nndsl.runs import best_checkpoint

    spec = _spec(args)
    args.run = _run_of(args, spec)
    run = RunLoss(spec, best_checkpoint(args.run), args.train, args.model)
    out = Path(args.run)
    if args.to:
        other = RunLoss(spec, best_checkpoint(_run_of(args, spec, "--to")), args.train,
                        args.model)
        ts, values = scape.between(run.full, run.params, other.params, args.steps)
        scape.plot_line(out / "landscape-line.png", ts, values, f"t: {args.run} (0) → "
                        f"{args.to} (1)", "training loss between two runs", marks=(0, 1))
        np.savez(out / "landscape-line.npz", t=ts, loss=values)
        print(f"landscape-line.png, landscape-line.npz: {out}")
        return 0
    rng = np.random.RandomState(args.seed)
    directions = [scape.filter_normalised(scape.random_direction(run.params, rng), run.params)
                  for _ in range(args.dims)]
    coords, values = scape.surface(run.full, run.params, directions, args.steps, args.reach)
    name = f"landscape-{args.dims}d"
    title = f"{run.trainer.plan.model or 'model'}: training loss (Li et al. 2018)"
    if args.dims == 1:
        scape.plot_line(out / f"{name}.png", coords, values, "filter-normalised direction",
                        title, marks=(0,))
    else:
        scape.plot_contour(out / f"{name}.png", coords, values, title)
    np.savez(out / f"{name}.npz", coords=coords, loss=values, centre=run.full(run.params))
    middle = values[(len(coords) // 2,) * args.dims]
    print(f"training loss at the centre {middle:.6g}; grid {values.min():.4g} to "
          f"{values.max():.4g}")
    print(f"{name}.png, {name}.npz: {out}")
    return 0
