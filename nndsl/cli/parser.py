"""The command line's grammar: every command, its options, their types and help texts."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from nndsl import sampling_text
from nndsl.cli import parallel
from nndsl.cli.curvature import probe_commands
from nndsl.cli.helptext import (
    CHECK_HELP,
    EXPORT_HELP,
    GRADCHECK_HELP,
    RENDER_HELP,
    SAMPLE_HELP,
    SUMMARY_HELP,
    SWEEP_HELP,
    TRAIN_HELP,
)
from nndsl.cli.probeparser import add_probe_commands


def _parse_set(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set takes name=value, got `{text}`")
    name, raw = text.split("=", 1)
    for convert in (int, float):
        try:
            value = convert(raw)
        except ValueError:
            continue
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"--set {name.strip()}: `{raw}` is not a finite "
                                             "number")
        return name.strip(), value
    if raw in ("true", "false"):
        return name.strip(), raw == "true"
    from nndsl.ops import Word

    return name.strip(), Word(raw)


def _positive(text: str) -> int:
    """A whole number >= 1 (an epoch count, a batch, a number of jobs)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number >= 1, not `{text}`")
    return int(text)


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"takes a whole number >= 0, not `{text}`")
    return int(text)


def _trial_count(text: str) -> int:
    from nndsl.elab.sweep import MAX_TRIALS

    if not text.isdigit() or not 1 <= int(text) <= MAX_TRIALS:
        raise argparse.ArgumentTypeError(f"takes a whole number from 1 to {MAX_TRIALS:,}")
    return int(text)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the .nn spec")
    parser.add_argument("--set", dest="overrides", action="append", type=_parse_set,
                        default=[], metavar="NAME=VALUE",
                        help="override a `let` constant, a network hyperparameter "
                        "(Net.param=value) or a train setting (batch=16, optimizer.lr=0.01, "
                        "early_stopping.epochs=3; docs/train.md); repeatable")
    parser.add_argument("--max-params", type=_positive, default=1_000_000_000, metavar="N",
                        help="refuse specs with more trainable parameters (default 1e9)")
    parser.add_argument("--debug", action="store_true",
                        help="show Python tracebacks for internal errors")
    parser.add_argument("--data-root", dest="data_roots", action="append", default=[],
                        metavar="DIR",
                        help="also let the spec read imports and data files under DIR (by "
                        "default only under the spec's own folder); repeatable; see "
                        "docs/security.md")
    parser.add_argument("--allow-outside-runs", action="store_true",
                        help="let load(Net, \"run\") name a run outside the runs folder by "
                        "an absolute path (a run name never contains `.`)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nndsl")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nndsl", description="A declarative graph compiler for neural-network specs.")
    parser.add_argument("--version", action="version", version=f"nndsl {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="check a spec statically", description=CHECK_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(check)
    check.add_argument("more", nargs="*", metavar="FILE", help="more specs to check")
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="json: one object per file with its networks and diagnostics "
                       "(code, span, message, hint, notes, and the block calls on the way "
                       "with their spans), for editors and CI")
    check.add_argument("--gradients", action="store_true",
                       help="also list, for each loss, the parameters it trains and those it "
                       "cannot reach")
    summary = sub.add_parser("summary", help="per-layer shapes, parameters and FLOPs",
                             description=SUMMARY_HELP,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(summary)
    summary.add_argument("--model", help="the network (default: the train section's model)")
    summary.add_argument("--format", choices=("table", "json"), default="table")
    summary.add_argument("--batch", type=_positive, metavar="N",
                         help="also estimate training memory for batches of N")
    summary.add_argument("--devices", type=_positive, metavar="N",
                         help="with --batch B: per-device memory on a data-parallel mesh of N "
                         "devices (batch B/N each; docs/devices.md)")
    # nndsl.precision.PRECISIONS (the parser imports nothing of nndsl: completion stays fast)
    summary.add_argument("--precision", choices=("f32", "bf16"),
                         help="show each layer's compute dtype under this precision (default: "
                         "the train section's `precision`; docs/precision.md)")
    _training_commands(sub)
    _render_command(sub)
    gradcheck = sub.add_parser("gradcheck", help="check gradients by finite differences",
                               description=GRADCHECK_HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(gradcheck)
    gradcheck.add_argument("--model", help="the network (default: the train section's model)")
    gradcheck.add_argument("--samples", type=_positive, default=4, metavar="N",
                           help="entries checked per parameter tensor (default 4)")
    gradcheck.add_argument("--tol", type=float, default=1e-5, metavar="T",
                           help="largest relative error accepted (default 1e-5)")
    gradcheck.add_argument("--seed", type=int, default=0, help="for inputs and entries")
    gradcheck.add_argument("--order", type=int, choices=(1, 2), default=1,
                           help="2: Hessian-vector products against finite differences of "
                           "gradients, over --samples random directions (default 1)")
    sweep = sub.add_parser("sweep", help="search hyperparameters (the spec's sweep section)",
                           description=SWEEP_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(sweep)
    sweep.add_argument("--trials", type=_trial_count, help="override the sweep's `trials` "
                       "(1 to 10,000)")
    sweep.add_argument("--jobs", type=_positive, default=1, help="trials run at once (default 1)")
    sweep.add_argument("--train", help="the train section each trial runs")
    sweep.add_argument("--epochs", type=_positive, help="override each trial's epochs")
    sweep.add_argument("--seed", type=int, help="draws of the trials (default: the train seed)")
    sweep.add_argument("--out", help="the sweep's directory (default runs/<spec>-sweep)")
    sweep.add_argument("--storage", metavar="URL", help="method = tpe: the study's database "
                       "(default sqlite:///<sweep dir>/study.db); another sweep on the same "
                       "URL joins the study")
    parallel.add_device_arguments(sweep, "train every trial on N devices (all: every one), "
                                  "as train --devices does")
    sweep.add_argument("--runs", default="runs", help="where run directories live")
    add_probe_commands(sub, _common, _positive, _non_negative)
    _starter_commands(sub)
    probe_commands(sub, _common)
    return parser


def _starter_commands(sub) -> None:
    init = sub.add_parser("init", help="write a commented starter spec",
                          description="Write a commented starter spec (a small MLP on the "
                          "digits, with a train section) to PATH; an existing file is never "
                          "overwritten.\n\nexample:  nndsl init digits.nn && nndsl train "
                          "digits.nn", formatter_class=argparse.RawDescriptionHelpFormatter)
    init.add_argument("file", nargs="?", default="model.nn", metavar="PATH",
                      help="the spec to write (default model.nn)")
    completion = sub.add_parser(
        "completion", help="print the shell's tab-completion script",
        description="Print the script that makes bash or zsh complete nndsl's commands, "
        "options, spec files and network names (--model, --train):\n\n"
        '  eval "$(nndsl completion bash)"    # in ~/.bashrc (zsh: ~/.zshrc)\n\n'
        "The same as argcomplete's `register-python-argcomplete nndsl`.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    completion.add_argument("shell", choices=("bash", "zsh"))
    completion.set_defaults(file=None)


def enable_completion(parser: argparse.ArgumentParser) -> None:
    """Tab completion through argcomplete, only when the shell asks for it (it sets
    _ARGCOMPLETE): an ordinary run neither imports argcomplete nor pays for it. Spec files
    complete to *.nn, --model to the spec's networks, --train to its train sections."""
    import os

    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete
    from argcomplete.completers import FilesCompleter

    completers = {"file": FilesCompleter(allowednames=("nn",), directories=True),
                  "model": _spec_names("networks"), "train": _spec_names("trains")}
    completers["more"] = completers["file"]
    for action in _actions(parser):
        if action.dest in completers:
            action.completer = completers[action.dest]
    argcomplete.autocomplete(parser)


def _actions(parser: argparse.ArgumentParser):
    """Every argument of every command."""
    for action in parser._actions:
        for command in getattr(action, "choices", None) or {}:
            if isinstance(action.choices[command], argparse.ArgumentParser):
                yield from action.choices[command]._actions


def _spec_names(what: str):
    """A completer: the names of the spec on the command line's networks or train sections."""

    def complete(prefix, parsed_args, **_):
        from nndsl.program import load

        try:
            program = load(parsed_args.file)
        except Exception:  # noqa: BLE001 - a half-typed command line completes to nothing
            return []
        names = program.networks if what == "networks" else \
            [t.name for t in program.trains if t.name]
        return [n for n in names if n.startswith(prefix)]

    return complete


def _render_command(sub) -> None:
    render = sub.add_parser("render", help="draw a network with graphviz",
                            description=RENDER_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(render)
    render.add_argument("--model", help="the network (default: the train section's model)")
    render.add_argument("-o", "--output", help="out.svg, .png, .pdf or .dot "
                        "(default <spec>-<network>.svg)")
    render.add_argument("--depth", type=_non_negative, metavar="K",
                        help="collapse clusters and scans nested deeper than K into one box "
                        "each")
    render.add_argument("--expand", action="store_true",
                        help="draw every copy of a repeated stage")
    render.add_argument("--train", nargs="?", const="", metavar="NAME",
                        help="draw the (named) train section's graph instead")


def _log_options(train: argparse.ArgumentParser) -> None:
    train.add_argument("--log", action="append", choices=("tensorboard",), default=[],
                       help="also write an experiment log: tensorboard writes RUN_DIR/"
                       "tensorboard/ (loss per step, every epoch figure, test figures, "
                       "hyperparameters, the network's picture; needs pip install "
                       "'nndsl[log]'); view it with tensorboard --logdir RUN_DIR")
    train.add_argument("--log-format", choices=("plain", "json"),
                       help="plain: lines only, no progress bar, also on a terminal (the "
                       "default in a pipe or log file); json: one JSON object per line on "
                       "stdout (start, epoch, best, test), other messages on stderr")


def _check_numerics(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check-numerics", action="store_true",
                        help="debug mode: run every step under jax.experimental.checkify, "
                        "checking ids and labels computed in the graph against what they "
                        "index and every op's output for NaN; the first failure is an error "
                        "naming the op (E087). Slower (the host waits for each step); off by "
                        "default. Ids and labels read from files are always checked (E081)")


def _training_commands(sub) -> None:
    train = sub.add_parser("train", help="train a spec's model", description=TRAIN_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(train)
    train.add_argument("--model", help="train this network instead of the section's model")
    train.add_argument("--train", help="the train section to run (train NAME { ... })")
    train.add_argument("--epochs", type=_positive, help="override the section's epochs")
    train.add_argument("--out", help="the run directory")
    train.add_argument("--runs", default="runs", help="where run directories live (default runs)")
    # Continuing a run and replacing it exclude each other.
    existing = train.add_mutually_exclusive_group()
    existing.add_argument("--resume", metavar="DIR", help="continue the run in DIR (same spec "
                          "graph, settings and --set values; --epochs N extends a finished "
                          "run)")
    existing.add_argument("--overwrite", action="store_true",
                          help="replace the run in --out DIR (else the newest run of the spec) "
                          "instead of starting a numbered new one")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _log_options(train)
    _check_numerics(train)
    parallel.add_arguments(train)
    evaluate = sub.add_parser("eval", help="evaluate a run's best parameters on a split",
                              description="Losses and metrics of a run's best.ckpt on a split "
                              "(every network of the train section). Without --run: the "
                              "spec's newest run (runs/<spec>-<name>[-N], highest N), named "
                              "on stderr. A run of another spec's graph (or of this one "
                              "with other --set values) is E205, as for every command that "
                              "reads a run."
                              "\n\nexample:  nndsl eval specs/mlp_digits.nn "
                              "--run runs/mlp_digits-MLP")
    _common(evaluate)
    evaluate.add_argument("--run", type=Path, help="the run directory (default: the spec's "
                          "newest run; not an exported .jax: it has no losses)")
    _runs(evaluate)
    evaluate.add_argument("--split", choices=("train", "val", "test"), default="test")
    evaluate.add_argument("--model", help="the network the run trained")
    evaluate.add_argument("--train", help="the train section the run used")
    evaluate.add_argument("--format", choices=("text", "json"), default="text",
                          help='json: {"split", "run", "results": {loss, metrics by name}} '
                          "on stdout, for scripts")
    _check_numerics(evaluate)
    parallel.add_device_arguments(evaluate, "evaluate on N devices (all: every one), as "
                                  "train's evaluation does; one machine")
    predict = sub.add_parser("predict", help="run a trained network on an input file",
                             description="Outputs of a trained network for inputs in a .npz "
                             "(one array per input name) or .csv (columns → input x) file. "
                             "Without --run: the spec's newest run, named on stderr. A run "
                             "of several networks (a GAN) needs --model NAME (E102 lists "
                             "them)."
                             "\n\nexample:  nndsl predict specs/mlp_digits.nn --run "
                             "runs/mlp_digits-MLP --input x.npz --output out.npz")
    _common(predict)
    predict.add_argument("--run", type=Path, help="the run directory, or a .jax artifact "
                         "from `nndsl export` (default: the spec's newest run)")
    _runs(predict)
    predict.add_argument("--input", required=True,
                         help="a .npz or .csv file, or a folder of images for a run trained on "
                         "images(...); a run of a csv or image folder encodes it as in "
                         "training and adds OUTPUT_label, the class names (docs/data.md)")
    predict.add_argument("--output", required=True, help="the .npz file to write")
    predict.add_argument("--model", help="the network (default: the one the run trained; "
                         "one of several, e.g. a GAN's Generator)")
    _check_numerics(predict)
    parallel.add_device_arguments(predict, "split the input rows over N devices (all: every "
                                  "one) when N divides their number; a run directory only")
    _export_command(sub)
    _sample_command(sub)


def _sample_command(sub) -> None:
    sample = _run_command(sub, "sample", "draw a trained generator's samples into a PNG",
                          SAMPLE_HELP)
    sample.add_argument("--model", help="the generator (default: the run's one generator)")
    sample.add_argument("--class", dest="klass", type=int, metavar="K",
                        help="only class K (default: every class, one row each)")
    sample.add_argument("-n", dest="count", type=_positive, metavar="N",
                        help="samples per class (default 500 points or 8 images; "
                        "unconditional: 500 points or 64 images in all)")
    sample.add_argument("-o", "--output", help="the PNG to write (default RUN/samples.png)")
    sample.add_argument("--seed", type=int, default=0, help="seed of the noise or of the "
                        "text's draws (default 0)")
    sampling_text.add_arguments(sample)  # the text mode: --text, --prompt, ...


def _runs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", default="runs", help="where run directories live, for the "
                        "default run (default runs)")


def _run_command(sub, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """A command that reads one run of a spec: FILE, the common options, --run and --runs."""
    parser = sub.add_parser(name, help=summary, description=description,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(parser)
    parser.add_argument("--run", type=Path, help="the run directory (default: the spec's "
                        "newest run)")
    _runs(parser)
    return parser


def _export_command(sub) -> None:
    export = _run_command(sub, "export", "write a trained network as .jax or .onnx",
                          EXPORT_HELP)
    export.add_argument("-o", "--output", required=True, help="model.jax or model.onnx")
    export.add_argument("--model", help="the network (default: the one the run trained; "
                        "one of several, e.g. a GAN's Generator)")
    export.add_argument("--vjp", action="store_true",
                        help="(.jax) also serialize the VJP, for gradients after loading")
