"""Layer names: `dense(10, name=head)`, and the name a binding gives the layer it binds.

A layer's name is its node's name in the graph and the middle of its parameter keys
(`head.w`, `Basic_0.head.w`); summary rows, pictures, checkpoints and gradient messages all
read it from there. Without a name a layer is called after its op (`dense_0`, `dense_1`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nndsl.elab.values import source_text
from nndsl.hyper import Arg
from nndsl.source import Span, error

# The one keyword every op takes besides its hyperparameters.
NAME_KEYWORD = "name"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class LayerName:
    """A name given with `name=...`, and where it was written (for duplicate errors)."""

    id: str
    span: Span


def take_name(kwargs: list[tuple[str, Arg]], op: str) -> tuple[list[tuple[str, Arg]],
                                                               LayerName | None]:
    """Split `name=...` off an op's keyword arguments; the rest are its hyperparameters.

    The name is read from the source text, not evaluated: `name=h` names the layer `h` even
    where `h` is also a tensor or a constant."""
    rest = [(k, arg) for k, arg in kwargs if k != NAME_KEYWORD]
    given = [arg for k, arg in kwargs if k == NAME_KEYWORD]
    if not given:
        return rest, None
    arg = given[0]
    text = source_text(arg.span).partition("=")[2].strip()
    if isinstance(arg.value, str) or not _IDENTIFIER.fullmatch(text):
        bare = str(arg.value).strip() if isinstance(arg.value, str) else ""
        raise error("E121", f"`{op}`: a layer name is an identifier, got `{text}`", arg.span,
                    hint=f"write `name={bare}`" if _IDENTIFIER.fullmatch(bare) else
                    "letters, digits and `_`, not starting with a digit: `name=head`")
    return rest, LayerName(text, arg.span)
