"""The `nndsl` command: parse arguments, call the stages, print. No logic of its own."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import traceback

from nndsl.source import SpecError

EXIT_OK, EXIT_SPEC, EXIT_INTERNAL = 0, 1, 2

CHECK_HELP = """\
Parse, elaborate and statically check every network, train and sweep section of FILE:
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
            return name.strip(), convert(raw)
        except ValueError:
            pass
    if raw in ("true", "false"):
        return name.strip(), raw == "true"
    from nndsl.ops import Word

    return name.strip(), Word(raw)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the .nn spec")
    parser.add_argument("--set", dest="overrides", action="append", type=_parse_set,
                        default=[], metavar="NAME=VALUE",
                        help="override a `let` constant or a network hyperparameter "
                        "(Net.param=value); repeatable")
    parser.add_argument("--max-params", type=int, default=1_000_000_000, metavar="N",
                        help="refuse specs with more trainable parameters (default 1e9)")
    parser.add_argument("--debug", action="store_true",
                        help="show Python tracebacks for internal errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nndsl", description="A declarative graph compiler for neural-network specs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="check a spec statically", description=CHECK_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(check)
    check.add_argument("--gradients", action="store_true",
                       help="also list, for each loss, the parameters it trains and those it "
                       "cannot reach")
    summary = sub.add_parser("summary", help="per-layer shapes, parameters and FLOPs",
                             description=SUMMARY_HELP,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(summary)
    summary.add_argument("--model", help="the network (default: the train section's model)")
    summary.add_argument("--format", choices=("table", "json"), default="table")
    summary.add_argument("--batch", type=int, metavar="N",
                         help="also estimate training memory for batches of N")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns (and exits with) 0, 1 for a bad spec, 2 for a bug."""
    args = build_parser().parse_args(argv)
    result: list[int] = []
    # Deep specs recurse deeply: give the work a large stack of its own.
    threading.stack_size(512 * 1024 * 1024)
    sys.setrecursionlimit(200_000)
    worker = threading.Thread(target=lambda: result.append(_run(args)))
    worker.start()
    worker.join()
    code = result[0] if result else EXIT_INTERNAL
    if argv is None:
        sys.exit(code)
    return code


def _run(args) -> int:
    from nndsl import commands

    try:
        return getattr(commands, args.command)(args)
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic.render(), file=sys.stderr)
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


def print_json(data) -> None:
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
