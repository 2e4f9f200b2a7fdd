"""The vocabulary of `train` sections: signatures of optimizers, schedules, early stopping,
augmentations and scalar settings.

The checker owns it (`nndsl check` binds every call against it); the runtime (`nndsl.fit`)
imports it from here to turn checked settings into optax objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nndsl.ops.base import Hyper, HyperError, Word
from nndsl.precision import PRECISIONS


@dataclass(frozen=True)
class CountOrAuto(Hyper):
    """A whole number >= 1, or the word `auto` (the runtime chooses)."""

    def check(self, value: Any) -> Any:
        if (value.name if isinstance(value, Word) else value) == "auto":
            return "auto"
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        shown = f"`{value}`" if isinstance(value, (Word, str)) else repr(value)
        raise HyperError(self.name, f"`{self.name}` must be `auto` or a whole number >= 1, "
                         f"got {shown}", hint=f"{self.name} = auto, or e.g. {self.name} = 8")

_LR = Hyper("lr", "float", 1e-3, low=0, low_open=True)
_WD = Hyper("weight_decay", "float", 0.0, low=0)
_B1 = Hyper("b1", "float", 0.9, low=0, high=1, high_open=True)
_B2 = Hyper("b2", "float", 0.999, low=0, high=1, high_open=True)
_EPS = Hyper("eps", "float", 1e-8, low=0, low_open=True)

OPTIMIZERS: dict[str, tuple[Hyper, ...]] = {
    "sgd": (_LR, Hyper("momentum", "float", 0.0, low=0, high=1, high_open=True),
            Hyper("nesterov", "bool", False), _WD),
    "adam": (_LR, _B1, _B2, _EPS),
    "adamw": (_LR, _B1, _B2, _EPS, Hyper("weight_decay", "float", 1e-4, low=0)),
    "adagrad": (_LR, _EPS),
    "rmsprop": (_LR, Hyper("decay", "float", 0.9, low=0, high=1, high_open=True),
                Hyper("momentum", "float", 0.0, low=0, high=1, high_open=True), _EPS),
    # Learned learning rates (hypergradient descent, nndsl/fit/hypergrad.py): `lr` is where
    # the rate starts, `hyper_lr` the step of its own gradient descent (Baydin et al. 2018).
    "sgd_hd": (_LR, Hyper("momentum", "float", 0.0, low=0, high=1, high_open=True),
               Hyper("hyper_lr", "float", 1e-3, low=0)),
    "adam_hd": (_LR, _B1, _B2, _EPS, Hyper("hyper_lr", "float", 1e-7, low=0)),
    # The exact damped-Fisher natural gradient for small models (nndsl/fit/natural.py).
    "natural_gradient": (_LR, Hyper("damping", "float", 1e-3, low=0, low_open=True)),
    # K-FAC on kfac-jax for dense and 2-D conv layers (nndsl/fit/kfac.py): `ema` is the
    # running average's weight of the past Kronecker factors (0: this batch's alone); their
    # damped inverses (the costly part) are renewed every `inverse_every` steps.
    "kfac": (_LR, Hyper("damping", "float", 1e-3, low=0, low_open=True),
             Hyper("ema", "float", 0.95, low=0, high=1, high_open=True),
             Hyper("inverse_every", "int", 5, low=1)),
}
# Optimizer state per parameter, in copies of the parameters (for memory estimates).
OPTIMIZER_SLOTS = {"sgd": 1, "adam": 2, "adamw": 2, "adagrad": 1, "rmsprop": 2,
                   "sgd_hd": 2, "adam_hd": 3, "natural_gradient": 1, "kfac": 1}

SCHEDULES: dict[str, tuple[Hyper, ...]] = {
    "constant": (),
    "step": (Hyper("every", "int", low=1), Hyper("factor", "float", 0.1, low=0, low_open=True)),
    "exponential": (Hyper("decay", "float", low=0, low_open=True, high=1),),
    "cosine": (Hyper("warmup", "int", 0, low=0), Hyper("alpha", "float", 0.0, low=0, high=1)),
}

STOPPING: dict[str, tuple[Hyper, ...]] = {
    "patience": (Hyper("epochs", "int", low=1), Hyper("monitor", "any_word", "val_loss"),
                 Hyper("mode", "word", "auto", choices=("auto", "max", "min")),
                 Hyper("min_delta", "float", 0.0, low=0)),
}

AUGMENTS: dict[str, tuple[Hyper, ...]] = {
    "random_shift": (Hyper("pixels", "int", 1, low=1),),
    "random_flip": (),
}

# Lottery tickets (nndsl/elab/prune.py, nndsl/fit/lottery.py, docs/prune.md): iterative
# magnitude pruning, `rate` of the remaining weights per round, rewound to epoch `rewind`
# (0: the initial weights) and retrained; `reinit` also trains each mask from a fresh init.
PRUNING: dict[str, tuple[Hyper, ...]] = {
    "lottery": (Hyper("rounds", "int", 5, low=1, high=100),
                Hyper("rate", "float", 0.2, low=0, high=1, low_open=True, high_open=True),
                Hyper("rewind", "int", 0, low=0),
                Hyper("layers", "names", ()),
                Hyper("reinit", "bool", True)),
}

# Adversarial training (nndsl/fit/adversarial.py): eps is a fraction of the input's valid range.
_ADV_EPS = Hyper("eps", "float", low=0, low_open=True, high=1)
ADVERSARIAL: dict[str, tuple[Hyper, ...]] = {
    "fgsm": (_ADV_EPS,),
    "pgd": (_ADV_EPS, Hyper("steps", "int", 7, low=1)),
}

# Scalar settings of a train section: kind and lower bound.
SETTINGS: dict[str, Hyper] = {
    "batch": Hyper("batch", "int", 32, low=1),
    "epochs": Hyper("epochs", "int", 10, low=1),
    "seed": Hyper("seed", "int", 0),
    "clip_grad_norm": Hyper("clip_grad_norm", "float", None, low=0, low_open=True),
    # Mixed precision (nndsl/precision.py, docs/precision.md): bf16 computes in bfloat16 with
    # float32 parameters, optimizer state, losses and normalisation statistics.
    "precision": Hyper("precision", "word", "f32", choices=PRECISIONS),
    # Training steps per jitted call (nndsl/fit/dispatch.py, docs/train.md): `auto` times the
    # first steps and groups ~0.1 s of them; it never changes what is computed.
    "steps_per_dispatch": CountOrAuto("steps_per_dispatch", "int", "auto", low=1),
}
# A setting whose bad value has its own error code (the others: E024).
SETTING_CODES = {"steps_per_dispatch": "E190"}

# Other libraries' names for these arguments (optax, Keras, PyTorch): a call that uses one is
# told the name nndsl uses (`adam(learning_rate=0.1)`: did you mean `lr`?).
ALIASES: dict[str, str] = {
    "learning_rate": "lr", "beta1": "b1", "beta2": "b2", "epsilon": "eps",
    "decay_rate": "decay", "warmup_steps": "warmup", "transition_steps": "every",
    "step_size": "every", "gamma": "factor", "patience": "epochs", "shift": "pixels",
}

# Every train-section call by the field it is set with: `optimizer = adam(...)`.
CALLS: dict[str, dict[str, tuple[Hyper, ...]]] = {
    "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "early_stopping": STOPPING,
    "augment": AUGMENTS, "prune": PRUNING, "adversarial": ADVERSARIAL}

# Every field a train section sets; any other name it binds is a local name.
# `init` starts the model from earlier runs (nndsl/elab/init_load.py).
CONFIG_FIELDS = ("model", "data", "loss", "metrics", "init", *CALLS, *SETTINGS)
