"""Elaboration: a parsed program → checked graphs (networks) and training plans.

Modules, from the bottom up: `values` (what expressions evaluate to), `fold` (constant
folding), `builder` (the graph being built and where we are in it), `definitions`,
`recurrence`, `repeat`, `builtins` and `calls` (applying callables), `interp` (the
expression and statement interpreter, one body runner), `vocabulary`, `config`, `train`
(train sections → TrainPlan) and `sweep` (sweep sections).
"""

from nndsl.elab.builder import Limits
from nndsl.elab.config import Config
from nndsl.elab.interp import Elaborator
from nndsl.elab.sweep import check_sweep
from nndsl.elab.train import Objective, TrainPlan, elaborate_train

__all__ = ["Elaborator", "Limits", "Config", "Objective", "TrainPlan", "elaborate_train",
           "check_sweep"]
