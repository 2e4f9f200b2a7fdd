"""Commands that help a user start: `nndsl init` writes a commented starter spec, `nndsl
completion bash|zsh` prints the shell's tab-completion script (argcomplete)."""

from __future__ import annotations

import sys
from pathlib import Path

COMMANDS = ("init", "completion")
DEFAULT_PATH = "model.nn"

STARTER = """\
# A starter spec from `nndsl init`: a small multilayer perceptron on the 8x8 handwritten
# digits that ship with nndsl. Try:
#   nndsl check {name}                 # shapes and parameter counts, no training
#   nndsl summary {name}               # per layer: shapes, parameters, FLOPs
#   nndsl render {name} -o {stem}.png  # a picture of the network
#   nndsl train {name}                 # train; results in runs/{stem}-MLP/
#   nndsl train {name} --set hidden=128 --set epochs=5 --set optimizer.lr=0.01
# The language: docs/language.md; train settings: docs/train.md.

# `let` constants: change them here or with --set NAME=VALUE.
let hidden = 64
let rate = 0.1

network MLP {{
    # B is the batch, a symbolic size; the digits are 8x8 images with one channel.
    input x: [B, 8, 8, 1]
    output logits = x -> flatten
                      -> dense(hidden) -> relu -> dropout(rate)
                      -> dense(10)          # one score per digit class
}}

train {{
    model     = MLP                          # its input `x` is the data field `x`
    data      = digits(val=0.1, test=0.2, seed=0)   # fields x: [B, 8, 8, 1], y: [B] labels
    loss      = cross_entropy(logits, y)
    metrics   = accuracy(logits, y)          # reported as val_accuracy and accuracy
    optimizer = adam(lr=1e-3)
    batch     = 32
    epochs    = 30
    early_stopping = patience(5, monitor=val_accuracy)   # keep the best epoch
    seed      = 0
}}
"""


def init(args) -> int:
    """`nndsl init [PATH]`: write the starter spec; never overwrite an existing file."""
    path = Path(args.file)
    text = STARTER.format(name=path.name, stem=path.stem)
    try:
        with open(path, "x") as f:  # "x": fails if the file exists, even if created just now
            f.write(text)
    except FileExistsError:
        print(f"nndsl: init: {path} already exists; not overwriting it (give another path: "
              "nndsl init NEW.nn)", file=sys.stderr)
        return 1
    print(f"wrote {path}; next: nndsl check {path} && nndsl train {path}")
    return 0


def completion(args) -> int:
    """`nndsl completion bash|zsh`: the script that makes the shell complete nndsl's commands,
    options, spec files and network names (`eval "$(nndsl completion bash)"`)."""
    import argcomplete

    sys.stdout.write(argcomplete.shellcode(["nndsl"], shell=args.shell))
    return 0
