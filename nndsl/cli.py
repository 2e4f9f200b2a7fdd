"""The `nndsl` command: parse arguments, call the stages, print. No logic of its own."""

from __future__ import annotations

import argparse
import math
import os
import resource
import signal
import sys
import threading
import time
import traceback

from nndsl.source import SpecError

# When the command started: `train` reports the time to its first step from here.
STARTED = time.perf_counter()

EXIT_OK, EXIT_SPEC, EXIT_INTERNAL = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
# Deep specs recurse deeply; the work runs on a thread with a 512 MiB stack to match.
RECURSION_LIMIT = 200_000
# check, summary and render run under these limits (see _guard): far above any real spec.
GUARDED_COMMANDS = ("check", "summary", "render")
GUARD_SECONDS = 120
GUARD_BYTES = 4 * 2**30

CHECK_HELP = """\
Parse, elaborate and statically check every network, train and sweep section of each FILE:
shapes (with symbolic batch/time), parameter counts, hyperparameters, and which parameters
each loss can train. Prints one line per network; on errors prints file:line:col, the
source line with a caret, and a hint, and exits 1. See docs/errors.md for every error code.

example:  nndsl check specs/mlp_digits.nn --set hidden=256
"""

SUMMARY_HELP = """\
Per layer: hierarchical name, op, output shape, trainable parameters and FLOPs per example
(a multiply-add counts 2). Totals: trainable parameters, non-trainable state (batch-norm
statistics), FLOPs, activation memory per example, and with --batch N the training memory
(parameters, gradients, optimizer state, activations).

example:  nndsl summary specs/resnet.nn --model ResNet18 --format json
"""


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
                        help="override a `let` constant or a network hyperparameter "
                        "(Net.param=value); repeatable")
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
                       "(code, span, message, hint), for editors and CI")
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
    sweep.add_argument("--runs", default="runs", help="where run directories live")
    return parser


SWEEP_HELP = """\
Search the `let` constants named in the spec's `sweep` section: `choice(...)`,
`uniform(low, high)`, `loguniform(low, high)`, `int(low, high)`; random search with `trials`
draws by default, every combination of `choice` values with `method = grid`. Each trial is a
`nndsl train` run with --set values, in its own directory (trial-000, ...); a live table
shows the trials, a final table ranks them by the train section's monitored quantity
(early_stopping's monitor, else the validation loss), and the best --set line is printed.
Draws come from the seed: rerunning an interrupted sweep skips the trials already done.

example:  nndsl sweep specs/mlp_digits.nn --trials 4 --epochs 20
"""


GRADCHECK_HELP = """\
In float64, on random small inputs shaped by the spec (batch and other symbolic sizes bound
to 3), compare jax.grad of a fixed random projection of the network's outputs with central
finite differences on N random entries of every parameter tensor. Prints one row per tensor
(max absolute and relative error; relative to max(|numeric|, |analytic|, 1)) and exits 1 when
any exceeds the tolerance. Stochastic ops run with a fixed key; ops through which no gradient
flows are listed, not differenced.

example:  nndsl gradcheck specs/lstm_adding.nn --model LSTMAdder --set T=5
"""


RENDER_HELP = """\
Draw a network as graphviz sees it from the checked graph: ops with key hyperparameters and
parameter counts, tensor shapes on edges (symbolic sizes kept), blocks as clusters labelled
with their call, `Stage * n` as one cluster marked × n (every copy with --expand), a cell's
step inside a loop cluster with its states drawn back as dashed edges, shared instances
outlined in blue, ops through which no gradient flows outlined in red. --depth K collapses
clusters nested deeper than K into one box with their parameters and shapes. --train draws a
train section's graph: losses, metrics, and which step trains each layer.

example:  nndsl render specs/resnet.nn --model ResNet18 -o resnet18.png
"""


def _render_command(sub) -> None:
    render = sub.add_parser("render", help="draw a network with graphviz",
                            description=RENDER_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(render)
    render.add_argument("--model", help="the network (default: the train section's model)")
    render.add_argument("-o", "--output", help="out.svg, .png, .pdf or .dot "
                        "(default <spec>-<network>.svg)")
    render.add_argument("--depth", type=_non_negative, metavar="K",
                        help="collapse clusters nested deeper than K into one box each")
    render.add_argument("--expand", action="store_true",
                        help="draw every copy of a repeated stage")
    render.add_argument("--train", nargs="?", const="", metavar="NAME",
                        help="draw the (named) train section's graph instead")


TRAIN_HELP = """\
Fit the spec's train section: data on the device, one jitted step (forward, gradient,
clipping, optimizer update), a live progress bar and one line per epoch with train and
validation figures, then a test evaluation. The run directory (default
runs/<spec>-<train name or model>) holds spec.nn, config.json, last.ckpt and best.ckpt
(written atomically), metrics.csv, curves.png and results.json. Ctrl-C saves last.ckpt;
--resume DIR continues to the parameters an uninterrupted run reaches.

example:  nndsl train specs/mlp_digits.nn --epochs 20
"""


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
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _check_numerics(train)
    evaluate = sub.add_parser("eval", help="evaluate a run's best parameters on a split",
                              description="Losses and metrics of a run's best.ckpt on a split."
                              "\n\nexample:  nndsl eval specs/mlp_digits.nn "
                              "--run runs/mlp_digits-MLP")
    _common(evaluate)
    evaluate.add_argument("--run", required=True,
                          help="the run directory (not an exported .jax: it has no losses)")
    evaluate.add_argument("--split", choices=("train", "val", "test"), default="test")
    evaluate.add_argument("--model", help="the network the run trained")
    evaluate.add_argument("--train", help="the train section the run used")
    _check_numerics(evaluate)
    predict = sub.add_parser("predict", help="run a trained network on an input file",
                             description="Outputs of a trained network for inputs in a .npz "
                             "(one array per input name) or .csv (columns → input x) file."
                             "\n\nexample:  nndsl predict specs/mlp_digits.nn --run "
                             "runs/mlp_digits-MLP --input x.npz --output out.npz")
    _common(predict)
    predict.add_argument("--run", required=True,
                         help="the run directory, or a .jax artifact from `nndsl export`")
    predict.add_argument("--input", required=True, help="a .npz or .csv file")
    predict.add_argument("--output", required=True, help="the .npz file to write")
    predict.add_argument("--model", help="the network (default: the train section's model)")
    _check_numerics(predict)
    _export_command(sub)


EXPORT_HELP = """\
Write a run's trained network (best.ckpt) as a file that runs without nndsl. `-o model.jax`:
a jax.export artifact (serialized StableHLO) of the forward function in inference mode
(dropout off, batch-norm running statistics), parameters baked in, the batch size symbolic;
load it with jax.export.deserialize and call it with the inputs positionally, in the
network's declared input order; --vjp also serializes its VJP. `-o model.onnx`: the same
function through jax2onnx, checked with onnx.checker (needs pip install 'nndsl[export]');
an op that does not convert is named. Either way model.jax.json / model.onnx.json records
the inputs' and outputs' names, order, dtypes and shapes. `nndsl predict --run model.jax`
runs an artifact. See docs/export.md.

example:  nndsl export specs/mlp_digits.nn --run runs/mlp_digits-MLP -o mlp.jax
"""


def _export_command(sub) -> None:
    export = sub.add_parser("export", help="write a trained network as .jax or .onnx",
                            description=EXPORT_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(export)
    export.add_argument("--run", required=True, help="the run directory")
    export.add_argument("-o", "--output", required=True, help="model.jax or model.onnx")
    export.add_argument("--model", help="the network (default: the train section's model)")
    export.add_argument("--vjp", action="store_true",
                        help="(.jax) also serialize the VJP, for gradients after loading")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns (and exits with) 0, 1 for a bad spec, 2 for a bug."""
    args = build_parser().parse_args(argv)
    args.started = STARTED
    result: list[int] = []
    # Deep specs recurse deeply: give the work a large stack of its own.
    threading.stack_size(512 * 1024 * 1024)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    if argv is None:
        sys.stdout = _ReaderMayLeave(sys.stdout)
        if args.command in GUARDED_COMMANDS:
            _guard(args)
    worker = threading.Thread(target=lambda: result.append(_run(args)))
    worker.start()
    try:
        worker.join()
    except KeyboardInterrupt:
        _interrupted(args)
    code = result[0] if result else EXIT_INTERNAL
    if argv is None:
        sys.exit(code)
    return code


class _ReaderMayLeave:
    """Standard output that goes quiet once its reader has gone (`nndsl train ... | head -2`):
    the work goes on, its results land where they always do, and nothing is printed about it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        # Point the descriptor at /dev/null, so that no later flush (not even the
        # interpreter's own at exit) meets the closed pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _interrupted(args) -> None:
    """Ctrl-C reaches the main thread while the work runs on its own: end the process at
    once, without a traceback. A training run's directory keeps the checkpoint of its last
    finished epoch (last.ckpt is written after every epoch), so it resumes from there."""
    message = "interrupted"
    if args.command == "train":
        message += ("; the run keeps its last finished epoch: continue with "
                    f"`nndsl train {args.file} --resume RUN_DIR`")
    print(f"\n{message}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def _guard(args) -> None:
    """Limits for the commands that only read a spec (no JAX), so that no spec can take the
    machine down: address space and wall-clock time. Set for the real command only, never
    for a caller that runs `main([...])` in its own process."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = GUARD_BYTES if hard == resource.RLIM_INFINITY else min(GUARD_BYTES, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

    def out_of_time(signum, frame):
        print(f"{args.file}: error[E040]: `{args.command}` did not finish in {GUARD_SECONDS} s; "
              "the spec is too large to check", file=sys.stderr)
        sys.stderr.flush()
        os._exit(EXIT_SPEC)

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(GUARD_SECONDS)


def _run(args) -> int:
    from nndsl import commands

    try:
        return getattr(commands, {"eval": "evaluate"}.get(args.command, args.command))(args)
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic.render(), file=sys.stderr)
        return EXIT_SPEC
    except OSError as exc:
        # The machine's answer (no such directory, disk full, permission): not a bug of ours.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"nndsl: {args.command}: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_SPEC
    except MemoryError:
        print(f"{args.file}: error[E040]: `{args.command}` needs more than "
              f"{GUARD_BYTES // 2**30} GiB for this spec", file=sys.stderr)
        return EXIT_SPEC
    except RecursionError:
        print(f"{args.file}: error[E002]: the spec nests too deeply to elaborate",
              file=sys.stderr)
        return EXIT_SPEC
    except Exception:  # noqa: BLE001 - the last line of defence: never a traceback for users
        if args.debug:
            traceback.print_exc()
        else:
            print(f"nndsl: internal error while running `{args.command}` on {args.file}; "
                  "please report it with the spec (rerun with --debug for details)",
                  file=sys.stderr)
        return EXIT_INTERNAL



if __name__ == "__main__":
    main()
