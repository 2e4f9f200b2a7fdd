"""The pictures `nndsl sample` writes (matplotlib, Agg): a grid of images, one row per class,
or a scatter plot of 2-D points coloured by class."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nndsl.pictures import axes_grid, pyplot, save, show


def image_grid(images: np.ndarray, classes: np.ndarray | None, path: Path, title: str) -> None:
    """`images` [N, H, W] or [N, H, W, C] (C 1 or 3), values clipped to [0, 1]; with
    `classes`, one row per class in the order given, else a near-square grid."""
    images = np.clip(images, 0.0, 1.0)
    rows = _rows(classes, len(images))
    columns = max(len(r) for _, r in rows)
    figure, axes = axes_grid(len(rows), columns, 0.8 * columns + 0.6, 0.8 * len(rows) + 0.5)
    for i, (label, members) in enumerate(rows):
        for j, k in enumerate(members):
            show(axes[i, j], images[k])
        if label is not None:
            axes[i, 0].text(-0.15, 0.5, str(label), transform=axes[i, 0].transAxes,
                            ha="right", va="center")
    figure.suptitle(title, fontsize=9)
    save(figure, path, dpi=100)


def _rows(classes: np.ndarray | None, count: int) -> list[tuple[int | None, list[int]]]:
    """(class or None, indices) for each row of the grid."""
    if classes is None:
        width = math.ceil(math.sqrt(count))
        return [(None, list(range(start, min(start + width, count))))
                for start in range(0, count, width)]
    return [(int(c), list(np.flatnonzero(classes == c))) for c in dict.fromkeys(classes)]


def scatter(points: np.ndarray, classes: np.ndarray | None, path: Path, title: str) -> None:
    """`points` [N, 2], coloured by class (a legend names them) when `classes` is given."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5, 5))
    if classes is None:
        axis.scatter(points[:, 0], points[:, 1], s=4, alpha=0.5)
    else:
        colours = plt.get_cmap("tab10" if classes.max() < 10 else "tab20")
        for c in dict.fromkeys(classes):
            chosen = points[classes == c]
            axis.scatter(chosen[:, 0], chosen[:, 1], s=4, alpha=0.5, color=colours(int(c) % 20),
                         label=str(c))
        axis.legend(title="class", markerscale=3, fontsize=7, loc="best")
    axis.set_aspect("equal")
    axis.set_title(title, fontsize=9)
    save(figure, path, dpi=100)
