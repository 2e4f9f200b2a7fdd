"""The options of `explain` and `attack` (nndsl/cli/probe.py); imports nothing of nndsl's
runtime, as parser.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from nndsl.cli.helptext import ATTACK_HELP, EXPLAIN_HELP

SALIENCY_METHODS = ("gradient", "gradient_x_input", "smoothgrad")  # nndsl.probe.gradients
ATTACK_METHODS = ("fgsm", "pgd", "fgsm,pgd", "pgd,fgsm")


def _run_options(parser: argparse.ArgumentParser, n_help: str, positive) -> None:
    """What both commands share: which run, which network, which split, how many examples."""
    parser.add_argument("--run", type=Path, help="the run directory (default: the spec's "
                        "newest run)")
    parser.add_argument("--runs", default="runs", help="where run directories live, for the "
                        "default run (default runs)")
    parser.add_argument("--model", help="the network the run trained (one of several)")
    parser.add_argument("--train", help="the train section the run used (its data)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--n", type=positive, default=16, help=n_help)
    parser.add_argument("--seed", type=int, default=0, help="noise, jitter and PGD's start")


def add_probe_commands(sub, common, positive, non_negative) -> None:
    """`nndsl explain` and `nndsl attack`; `common` adds the options every command takes,
    `positive` and `non_negative` are parser.py's whole-number types."""
    explain = sub.add_parser("explain", help="saliency maps and activation maximisation",
                             description=EXPLAIN_HELP,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    common(explain)
    _run_options(explain, "examples explained, or units maximised (default 16)", positive)
    explain.add_argument("--method", choices=SALIENCY_METHODS, default="gradient")
    explain.add_argument("--class", dest="cls", type=non_negative, metavar="K",
                         help="differentiate class K's logit instead of the predicted one "
                         "(a classifier only: E200)")
    explain.add_argument("--format", choices=("png", "npz"), default="png",
                         help="npz: the raw maps and inputs instead of a picture")
    explain.add_argument("-o", "--output", help="the file to write (default "
                         "<spec>-explain.png, .npz, or <spec>-maximise.png)")
    explain.add_argument("--maximise", metavar="LAYER[:UNIT]",
                         help="activation maximisation of a unit of LAYER (summary's name; "
                         "a unique last part will do: conv_1), or of its top --n units")
    explain.add_argument("--steps", type=positive, default=200,
                         help="gradient-ascent steps of --maximise (default 200)")
    attack = sub.add_parser("attack", help="adversarial examples: accuracy under FGSM / PGD",
                            description=ATTACK_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    common(attack)
    _run_options(attack, "examples in the picture (default 16)", positive)
    attack.add_argument("--method", choices=ATTACK_METHODS, default="fgsm",
                        help="fgsm, pgd, or both (fgsm,pgd: one column each)")
    attack.add_argument("--eps", default="0.05,0.1,0.2",
                        help="eps values, fractions of the valid range in (0, 1] (default "
                        "0.05,0.1,0.2)")
    attack.add_argument("--steps", type=positive, default=20, help="PGD's steps (default 20)")
    attack.add_argument("-o", "--output", help="the picture (default <spec>-attack.png); "
                        "the results JSON goes beside it (.json)")
