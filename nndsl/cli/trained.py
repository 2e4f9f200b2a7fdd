"""The commands that train or use trained networks: train, eval, predict, export, sweep."""

from __future__ import annotations

import sys

from rich.table import Table

from nndsl.cli.static import PLAIN_WIDTH, _console, _spec, _table

NON_FINITE = "E084"
ARTIFACT_DEVICES = "E187"  # predict --devices with an exported .jax artifact
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def train(args) -> int:
    """`nndsl train`: fit the spec's train section (`nndsl.fit`); writes a run directory.
    Ctrl-C or SIGTERM: the run keeps its last finished epoch; exit 128 + the signal."""
    from nndsl.cli import parallel
    from nndsl.fit.devices import DeviceOptions
    from nndsl.fit.run import Interrupted, NonFinite
    from nndsl.runs import fit

    spec = _spec(args)
    log_format = args.log_format or ("text" if sys.stdout.isatty() else "plain")
    try:
        fit(spec, train=args.train, model=args.model, out=args.out, runs=args.runs,
            epochs=args.epochs, resume=args.resume, overwrite=args.overwrite,
            progress=sys.stdout.isatty() and not args.quiet, started=args.started,
            console=_train_console(log_format), check_numerics=args.check_numerics,
            log=tuple(args.log), log_format=log_format,
            devices=DeviceOptions(**parallel.options(args)))
    except NonFinite as exc:
        print(f"{args.file}: error[{NON_FINITE}]: {exc}", file=sys.stderr)
        return 1
    except Interrupted as stop:
        kept = (f"last.ckpt holds epoch {stop.saved}" if stop.saved else
                "no epoch had finished")
        print(f"\ninterrupted at epoch {stop.epoch} ({kept}) — resume with "
              f"`nndsl train {args.file} --resume {stop.run_dir}`", file=sys.stderr)
        return 128 + stop.signum if stop.signum else EXIT_INTERRUPTED
    return 0


def _run_of(args, spec, option: str = "--run"):
    """The run a reading command uses: `option`'s value, else the spec's newest run (and a
    line saying which), checked to be a run of this spec's graph (E205: another spec's weights
    would load by name and shape). An exported .jax artifact is not a run: it is let through."""
    from pathlib import Path

    from nndsl.fit.rundir import argument_span, check_same_spec
    from nndsl.runs import spec_run

    given = getattr(args, option.lstrip("-").replace("-", "_"))
    train = getattr(args, "train", None)
    run = Path(given) if given is not None else spec_run(
        spec, args.runs, train, args.model, lambda text: print(text, file=sys.stderr))
    if not _is_artifact(run) and (run / "config.json").is_file():
        check_same_spec(spec, run, train, argument_span(option, run))
    return run


def _train_console(log_format: str):
    """Where `train` prints: the terminal, plain lines, or (json) stderr, stdout being JSON."""
    from rich.console import Console

    if log_format == "json":
        return Console(stderr=True, soft_wrap=True, width=PLAIN_WIDTH)
    if log_format == "plain":
        return Console(soft_wrap=True, width=PLAIN_WIDTH, color_system=None, highlight=False)
    return _console()


def evaluate(args) -> int:
    """`nndsl eval`: losses and metrics of a run's best parameters on a split
    (`nndsl.evaluate`)."""
    from pathlib import Path

    from nndsl.runs import evaluate as evaluate_run
    from nndsl.source import error

    spec = _spec(args)
    args.run = _run_of(args, spec)
    if _is_artifact(Path(args.run)):
        raise error("E095", f"eval needs the run directory, not the exported artifact "
                    f"{args.run}: an artifact holds the network's forward function only, "
                    "not the train section's losses and metrics", spec.file_span(),
                    hint="nndsl eval FILE --run RUN_DIR; or nndsl predict FILE --run "
                    f"{args.run} --input IN.npz --output OUT.npz")
    values = evaluate_run(spec, args.run, args.split, train=args.train, model=args.model,
                          check_numerics=args.check_numerics, devices=_device_options(args))
    if args.format == "json":
        import json

        print(json.dumps({"split": args.split, "run": str(args.run), "results": values}))
    else:
        print(f"{args.split}: " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))
    return 0


def _device_options(args):
    """`--devices` and `--device` of eval and predict (one process), as DeviceOptions."""
    from nndsl.cli import parallel
    from nndsl.fit.devices import DeviceOptions

    return DeviceOptions(**parallel.options(args))


def _is_artifact(run) -> bool:
    """`--run model.jax` names an exported artifact rather than a run directory."""
    return run.suffix == ".jax" and not run.is_dir()


def _trained(spec, args, check_numerics: bool = False):
    """The network a run trained (`--model` picks one of several) compiled, and the run's
    best checkpoint checked against it, named as in that network alone."""
    from nndsl.fit.rundir import argument_span, read_config
    from nndsl.lower import Compiled
    from nndsl.runs import trained_network

    run = args.run
    config = read_config(run, argument_span("--run", run)) if (run / "config.json").exists() \
        else {}
    name, saved = trained_network(spec, config, run, args.model,
                                  argument_span("--model", args.model) if args.model else
                                  argument_span("--run", run))
    compiled = Compiled(spec.network(name), check_numerics=check_numerics)
    return name, compiled, saved(compiled)


def _runner(spec, args):
    """The trained network as a function of its inputs, and its graph: from a run, or an
    exported .jax; with --check-numerics, under checkify (computed ids, NaN outputs: E087)."""
    options = _device_options(args)
    if _is_artifact(args.run):
        from nndsl.export import load_artifact
        from nndsl.fit.rundir import argument_span
        from nndsl.source import error

        if options.sharded:
            raise error(ARTIFACT_DEVICES, "--devices and --device run a run directory's "
                        "network; an exported .jax artifact runs on JAX's default device",
                        argument_span("--run", args.run),
                        hint="--run RUN_DIR (the directory `nndsl train` wrote)")
        graph = spec.network(args.model)
        return load_artifact(args.run, graph), graph
    import numpy as np

    from nndsl.fit import devices, numerics

    check_numerics = args.check_numerics
    _, compiled, saved = _trained(spec, args, check_numerics)
    apply = numerics.jit(compiled.apply, compiled) if check_numerics else compiled.apply
    placement = devices.placement(options)
    if placement is None:
        return lambda inputs: apply(saved["params"], saved["state"], inputs)[0], compiled.graph
    params, state = placement.replicate(saved["params"]), placement.replicate(saved["state"])

    def run(inputs: dict) -> dict:
        # The rows split over the devices when they divide, else replicated (as in eval).
        rows = np.arange(len(next(iter(inputs.values()))))
        return apply(params, state, placement.batch(inputs, rows))[0]
    return run, compiled.graph


def predict(args) -> int:
    """`nndsl predict`: run a trained network (a run directory or an exported .jax) on
    inputs from a .npz or .csv file."""
    from pathlib import Path

    import numpy as np

    from nndsl.data import encoding as data_encoding
    from nndsl.fit.inputs import read_inputs

    spec = _spec(args)
    args.run = _run_of(args, spec)
    run, graph = _runner(spec, args)
    # A run of a csv or an image folder saved its encoding: inputs are encoded the same way,
    # and class scores are also given as the class names (`<output>_label`).
    encoding = None if _is_artifact(args.run) else data_encoding.read(args.run)
    outputs = run(read_inputs(Path(args.input), graph, encoding))
    named = data_encoding.class_names(outputs, encoding)
    outputs = {**outputs, **named}
    np.savez(args.output, **{k: np.asarray(v) for k, v in outputs.items()})
    print(f"wrote {', '.join(f'{k} {list(np.shape(v))}' for k, v in outputs.items())} "
          f"to {args.output}")
    for name, labels in named.items():
        print(f"{name}: {' '.join(labels[:20])}{' ...' if len(labels) > 20 else ''}")
    return 0


def export(args) -> int:
    """`nndsl export`: a run's network as a .jax (jax.export) or .onnx file that runs
    without nndsl, with a JSON sidecar naming its inputs and outputs."""
    from pathlib import Path

    from nndsl import export as exporting

    out = Path(args.output)
    exporting.check_target(out, args.vjp)
    spec = _spec(args)
    args.run = _run_of(args, spec)
    name, compiled, saved = _trained(spec, args)
    origin = {"spec": str(args.file), "run": str(args.run), "epoch": saved.meta.get("epoch"),
              "overrides": {k: str(v) for k, v in args.overrides}}
    trained = exporting.Trained(name, compiled.graph, compiled, saved["params"],
                                saved["state"], origin)
    sidecar = exporting.export(trained, out, args.vjp)
    print(f"wrote {out} ({name}: {_tensors(sidecar['inputs'])} → "
          f"{_tensors(sidecar['outputs'])}) and {exporting.sidecar_path(out)}")
    return 0


def _tensors(entries: list[dict]) -> str:
    """`x: float32[B, 2]` for each sidecar entry."""
    return ", ".join(f"{t['name']}: {t['dtype']}[{', '.join(map(str, t['shape']))}]"
                     for t in entries)


def sweep(args) -> int:
    """`nndsl sweep`: run the spec's sweep section, a live table of trials, the best `--set`."""
    from pathlib import Path

    from nndsl.fit.trials import plan_trials, ranked

    spec = _spec(args)
    entries = spec.sweep_entries()
    plan = spec.plan(args.train)
    count = args.trials or (entries["trials"].values["value"] if "trials" in entries else 10)
    out = Path(args.out or Path(args.runs) / f"{Path(args.file).stem}-sweep")
    seed = plan.settings["seed"] if args.seed is None else args.seed
    console = _console()
    console.print(f"sweep: {count} trials of {plan.model or 'train'} → {out}")
    if "method" in entries and str(entries["method"].values["value"]) == "tpe":
        from nndsl.cli.study import run_tpe

        trials = run_tpe(args, entries, plan, count, seed, out, _trial_args(args), console)
    else:
        trials = plan_trials(entries, count, seed, out)
        _run_trials(args, trials, out, console)
    best = ranked(trials)
    if not best:
        print("sweep: no trial finished", file=sys.stderr)
        return 1
    title = f"ranked by {best[0].result['monitor']}"
    if sys.stdout.isatty():
        console.print(_trial_table(best, title))
    else:
        from nndsl.fit.trials import plain_table

        console.print("\n".join([f"{title}:", *plain_table(best)]), markup=False)
    console.print(f"sweep.csv, sweep.json: {out}")
    console.print("best: " + " ".join(best[0].set_args))
    return 1 if any(t.status == "failed" for t in trials) else 0


def _run_trials(args, trials, out, console) -> None:
    """Run the sweep's trials: a live table on a terminal, a plain line per finished trial
    in a pipe or log file."""
    from pathlib import Path

    from rich.live import Live

    from nndsl.fit.trials import run_sweep, trial_line

    def run(on_update) -> None:
        run_sweep(trials, Path(args.file), args.train, args.epochs, args.jobs, on_update,
                  _trial_args(args), out)

    if not sys.stdout.isatty():
        run(lambda trial: console.print(trial_line(trial), markup=False))
        return
    with Live(_trial_table(trials, "trials"), console=console, transient=False,
              auto_refresh=False) as live:
        run(lambda trial: live.update(_trial_table(trials, "trials"), refresh=True))


def _set_text(value) -> str:
    """A `--set` value as the command line takes it back."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _trial_args(args) -> list[str]:
    """What a sweep's trials inherit from its command line: the file-access options, the
    `--set` values (a trial's own draws follow them, so a swept name takes the draw),
    `--max-params`, `--runs` and the device options."""
    extra = [arg for root in args.data_roots for arg in ("--data-root", root)]
    extra += ["--allow-outside-runs"] if args.allow_outside_runs else []
    extra += [arg for name, value in args.overrides
              for arg in ("--set", f"{name}={_set_text(value)}")]
    extra += ["--devices", args.devices] if args.devices else []
    extra += ["--device", args.backend] if args.backend else []
    return extra + ["--max-params", str(args.max_params), "--runs", args.runs]


def _trial_table(trials, title: str) -> Table:
    from nndsl.fit.trials import table_cells, table_columns

    table = _table(title)
    for column in table_columns(trials):
        table.add_column(column)
    for t in trials:
        table.add_row(*table_cells(t))
    return table


def sample(args) -> int:
    """`nndsl sample`: a trained generator's samples as a PNG (nndsl/cli/sample.py)."""
    from nndsl.cli.sample import command

    return command(args)
