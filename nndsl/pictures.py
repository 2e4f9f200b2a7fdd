"""What nndsl's pictures share: matplotlib without a display (every plot: curves, lottery,
landscapes), and for pictures of images (sample's grids, explain's and attack's, an RBM's
Gibbs chains) a grid of bare axes, one grey scale, one way to save. The layouts stay with the
code that draws them (nndsl/cli/pictures.py, nndsl/probe/pictures.py,
nndsl/fit/gibbs_picture.py, ...)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# One grey map for every picture of inputs: 0 is black, 1 (a digit's ink) white.
GREY = "gray"


def pyplot():
    """matplotlib.pyplot on the Agg backend: files only, no display needed, none opened."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def axes_grid(rows: int, cols: int, width: float, height: float):
    """A figure of rows x cols bare axes (no ticks or frame), `width` x `height` inches."""
    fig, axes = pyplot().subplots(rows, cols, figsize=(width, height), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def show(ax, image: np.ndarray, low: float = 0.0, high: float = 1.0) -> None:
    """An image [H, W], [H, W, 1] or [H, W, 3] on the grey scale from `low` to `high`
    (colour images clipped to [0, 1])."""
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3:
        ax.imshow(np.clip(image, 0.0, 1.0))
    else:
        ax.imshow(image, cmap=GREY, vmin=low, vmax=high)


def save(fig, path: Path, dpi: int = 110) -> None:
    """Write `fig` to `path` (its folder made if needed), laid out and trimmed, and close
    it so long runs do not accumulate figures."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
