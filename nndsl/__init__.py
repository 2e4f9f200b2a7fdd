"""nndsl: a declarative graph compiler for neural-network specifications."""

from nndsl.elab import Limits
from nndsl.source import Diagnostic, SpecError
from nndsl.spec import CheckReport, Spec, load

__all__ = ["load", "Spec", "CheckReport", "Limits", "Diagnostic", "SpecError"]
