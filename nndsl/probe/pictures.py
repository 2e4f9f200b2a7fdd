"""The pictures of `explain` and `attack` (matplotlib, Agg: no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# Pairs (input, heat map) per row of an explain grid; examples per row of an attack picture.
PAIRS_PER_ROW = 4
ATTACK_COLUMNS = 8


def _figure(rows: int, cols: int, size: float = 1.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 1.15),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _shown(image: np.ndarray) -> np.ndarray:
    """An image [H, W, C] as imshow takes it: one channel as a 2-D array."""
    return image[..., 0] if image.shape[-1] == 1 else np.clip(image, 0, 1)


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
        axes[row, 2 * col].imshow(_shown(inputs[i]), cmap="gray")
        axes[row, 2 * col].set_title(titles[i], fontsize=8)
        axes[row, 2 * col + 1].imshow(_heat(maps[i]), cmap="hot")
        axes[row, 2 * col + 1].set_title("saliency", fontsize=8)
    fig.suptitle(heading, fontsize=9)
    _save(fig, path)


def saliency_bars(maps: np.ndarray, titles: list[str], path: Path, heading: str) -> None:
    """Other inputs: a bar chart of each example's saliency per feature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(maps)
    flat = maps.reshape(n, -1)
    fig, axes = plt.subplots(n, 1, figsize=(max(4.0, 0.3 * flat.shape[1]), 1.6 * n),
                             squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        ax.bar(np.arange(flat.shape[1]), flat[i], color=np.where(flat[i] >= 0, "C3", "C0"))
        ax.set_title(titles[i], fontsize=8)
        ax.set_ylabel("saliency", fontsize=7)
        ax.set_xticks(np.arange(0, flat.shape[1], max(1, flat.shape[1] // 16)))
    axes[-1, 0].set_xlabel("feature")
    fig.suptitle(heading, fontsize=9)
    _save(fig, path)


def image_grid(images: np.ndarray, titles: list[str], path: Path, heading: str) -> None:
    """Images alone (activation maximisation: the input found for each unit)."""
    n = len(images)
    cols = min(n, 2 * PAIRS_PER_ROW)
    fig, axes = _figure(math.ceil(n / cols), cols)
    for i in range(n):
        ax = axes[i // cols, i % cols]
        ax.imshow(_shown(images[i]), cmap="gray")
        ax.set_title(titles[i], fontsize=8)
    fig.suptitle(heading, fontsize=9)
    _save(fig, path)


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
        top.imshow(_shown(original[i]), cmap="gray", vmin=low_value, vmax=high_value)
        top.set_title(f"label {labels[i]} → {clean[i]}", fontsize=8)
        mid.imshow(_shown(delta[i] / (2 * scale) + 0.5), cmap="gray", vmin=0, vmax=1)
        mid.set_title("perturbation", fontsize=8)
        low.imshow(_shown(adversarial[i]), cmap="gray", vmin=low_value, vmax=high_value)
        low.set_title(f"adversarial → {fooled[i]}", fontsize=8,
                      color="C3" if fooled[i] != labels[i] else "black")
    fig.suptitle(heading, fontsize=9)
    _save(fig, path)
