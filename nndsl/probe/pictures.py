"""The pictures of `explain` and `attack` (matplotlib, Agg: no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nndsl.pictures import axes_grid, pyplot, save, show

# Pairs (input, heat map) per row of an explain grid; examples per row of an attack picture.
PAIRS_PER_ROW = 4
ATTACK_COLUMNS = 8


def _figure(rows: int, cols: int, size: float = 1.6):
    return axes_grid(rows, cols, cols * size, rows * size * 1.15)


def _range(image: np.ndarray) -> tuple[float, float]:
    """An image's own grey scale: its minimum to its maximum (inputs that maximise a unit
    leave the data's range)."""
    return float(np.min(image)), float(np.max(image))


def _heat(saliency: np.ndarray) -> np.ndarray:
    """A saliency map [H, W, C] as one magnitude per pixel (max over channels)."""
    return np.max(np.abs(saliency), axis=-1)


def saliency_grid(inputs: np.ndarray, maps: np.ndarray, titles: list[str], path: Path,
                  heading: str) -> None:
    """Image inputs: each example beside its heat map (|saliency|), titled."""
    n = len(inputs)
    rows = math.ceil(n / PAIRS_PER_ROW)
    fig, axes = _figure(rows, 2 * min(n, PAIRS_PER_ROW))
    for i in range(n):
        row, col = divmod(i, PAIRS_PER_ROW)
        show(axes[row, 2 * col], inputs[i], *_range(inputs[i]))
        axes[row, 2 * col].set_title(titles[i], fontsize=8)
        axes[row, 2 * col + 1].imshow(_heat(maps[i]), cmap="hot")
        axes[row, 2 * col + 1].set_title("saliency", fontsize=8)
    fig.suptitle(heading, fontsize=9)
    save(fig, path)


def saliency_bars(maps: np.ndarray, titles: list[str], path: Path, heading: str) -> None:
    """Other inputs: a bar chart of each example's saliency per feature."""
    n = len(maps)
    flat = maps.reshape(n, -1)
    fig, axes = pyplot().subplots(n, 1, figsize=(max(4.0, 0.3 * flat.shape[1]), 1.6 * n),
                             squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        ax.bar(np.arange(flat.shape[1]), flat[i], color=np.where(flat[i] >= 0, "C3", "C0"))
        ax.set_title(titles[i], fontsize=8)
        ax.set_ylabel("saliency", fontsize=7)
        ax.set_xticks(np.arange(0, flat.shape[1], max(1, flat.shape[1] // 16)))
    axes[-1, 0].set_xlabel("feature")
    fig.suptitle(heading, fontsize=9)
    save(fig, path)


def image_grid(images: np.ndarray, titles: list[str], path: Path, heading: str) -> None:
    """Images alone (activation maximisation: the input found for each unit)."""
    n = len(images)
    cols = min(n, 2 * PAIRS_PER_ROW)
    fig, axes = _figure(math.ceil(n / cols), cols)
    for i in range(n):
        ax = axes[i // cols, i % cols]
        show(ax, images[i], *_range(images[i]))
        ax.set_title(titles[i], fontsize=8)
    fig.suptitle(heading, fontsize=9)
    save(fig, path)


def attack_picture(original: np.ndarray, adversarial: np.ndarray, labels: np.ndarray,
                   clean: np.ndarray, fooled: np.ndarray, path: Path, heading: str,
                   value_range: tuple[float, float]) -> None:
    """Three rows per group of examples: originals (label, prediction), the perturbations
    (amplified to the full grey scale), the adversarial inputs (their predictions); inputs
    on the one grey scale of the valid range."""
    n = len(original)
    cols = min(n, ATTACK_COLUMNS)
    groups = math.ceil(n / cols)
    fig, axes = _figure(3 * groups, cols)
    delta = adversarial - original
    low_value, high_value = value_range
    scale = max(float(np.max(np.abs(delta))), 1e-12)
    for i in range(n):
        group, col = divmod(i, cols)
        top, mid, low = (axes[3 * group + k, col] for k in range(3))
        show(top, original[i], low_value, high_value)
        top.set_title(f"label {labels[i]} → {clean[i]}", fontsize=8)
        show(mid, delta[i] / (2 * scale) + 0.5)
        mid.set_title("perturbation", fontsize=8)
        show(low, adversarial[i], low_value, high_value)
        low.set_title(f"adversarial → {fooled[i]}", fontsize=8,
                      color="C3" if fooled[i] != labels[i] else "black")
    fig.suptitle(heading, fontsize=9)
    save(fig, path)
