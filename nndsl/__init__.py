"""nndsl: a declarative graph compiler for neural-network specifications."""

from nndsl.api import CheckReport, Spec, load
from nndsl.elab import Limits
from nndsl.source import Diagnostic, SpecError

__all__ = ["load", "Spec", "CheckReport", "Limits", "Diagnostic", "SpecError"]
