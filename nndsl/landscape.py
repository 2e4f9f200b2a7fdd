"""Loss landscapes (Li et al. 2018, "Visualizing the loss landscape of neural nets"): the
training loss of a run along random filter-normalised directions around its parameters,
or along the line between two runs' parameters.

Filter normalisation (the paper's section 4): a random Gaussian direction d, with every
filter d_ij (layer i, filter j) rescaled to the norm of the same filter of the parameters,
d_ij <- d_ij / ||d_ij|| * ||theta_ij||, so that a step of 1 moves each filter by its own size
whatever the scale the network happens to have (the scale invariance of ReLU networks and
normalisation layers would otherwise distort the picture). A filter is one output unit: the
last axis of a weight tensor (dense [in, out], conv [h, w, in, out]). One-dimensional tensors
(biases, normalisation scales and offsets) get no direction, as in the paper's experiments.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


def random_direction(params, rng: np.random.RandomState):
    """A Gaussian direction shaped like the parameters."""
    return jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape), a.dtype), params)


def filter_normalised(direction, params):
    """The direction with each filter scaled to the norm of the parameters' filter (1-D
    tensors set to zero); see the module's docstring."""
    def scale(d, theta):
        if d.ndim < 2:
            return jnp.zeros_like(d)
        axes = tuple(range(d.ndim - 1))  # every axis but the filters'
        norm_d = jnp.sqrt(jnp.sum(d ** 2, axis=axes, keepdims=True))
        norm_t = jnp.sqrt(jnp.sum(theta ** 2, axis=axes, keepdims=True))
        return d / jnp.where(norm_d > 0, norm_d, 1.0) * norm_t

    return jax.tree.map(scale, direction, params)


def moved(params, steps):
    """params + alpha * direction for each (alpha, direction) of `steps` (alpha 0 leaves
    the parameters exactly as they are)."""
    for alpha, direction in steps:
        params = jax.tree.map(lambda t, d, alpha=alpha: t + alpha * d, params, direction)
    return params


def axis(steps: int, reach: float) -> np.ndarray:
    """`steps` coordinates from -reach to reach; an odd count has exactly 0 at its middle."""
    coords = np.linspace(-reach, reach, steps)
    if steps % 2:
        coords[steps // 2] = 0.0
    return coords


def surface(loss, params, directions: list, steps: int, reach: float):
    """The loss on a grid of `steps` points per direction (1 or 2 directions) around the
    parameters: the coordinates and the values (a line or a steps x steps array, rows
    along the second direction)."""
    coords = axis(steps, reach)
    if len(directions) == 1:
        values = np.array([loss(moved(params, [(a, directions[0])])) for a in coords])
        return coords, values
    values = np.array([[loss(moved(params, [(a, directions[0]), (b, directions[1])]))
                        for a in coords] for b in coords])
    return coords, values


def between(loss, start, end, steps: int, beyond: float = 0.5):
    """The loss along (1 - t) start + t end for t from -beyond to 1 + beyond (t = 0 and 1
    exactly on the grid when the steps allow)."""
    ts = np.linspace(-beyond, 1 + beyond, steps)
    values = np.array([loss(jax.tree.map(lambda a, b, t=t: (1 - t) * a + t * b, start, end))
                       for t in ts])
    return ts, values


def plot_line(path: Path, xs, values, xlabel: str, title: str, marks=()) -> None:
    """A line plot of the loss (log scale when it spans more than a decade)."""
    from nndsl.pictures import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, values, color="tab:blue")
    for x in marks:
        ax.axvline(x, color="grey", lw=0.8, ls="--")
    if spans_decades(np.nanmin(values), np.nanmax(values)):
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel="training loss", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def spans_decades(low: float, high: float) -> bool:
    """Whether losses from `low` to `high` are drawn on a log scale: all positive and more
    than a decade apart."""
    return low > 0 and high / low > 10


def contour_levels(finite: np.ndarray, count: int = 25) -> np.ndarray:
    """Contour levels over the finite losses: geometric when they are all positive and span
    more than a decade, else linear, so a loss that reaches zero or below (a regulariser,
    an energy) keeps its shape instead of being clipped flat."""
    low, high = float(finite.min()), float(finite.max())
    if high <= low:  # a flat grid still needs increasing levels
        high = low + max(abs(low), 1.0) * 1e-6
    if spans_decades(low, high):
        return np.geomspace(low, high, count)
    return np.linspace(low, high, count)


def plot_contour(path: Path, coords, values, title: str) -> None:
    """Filled contours of the loss over two directions (levels on a log scale when the loss
    spans decades), the parameters marked at the centre."""
    from matplotlib.colors import LogNorm, Normalize

    from nndsl.pictures import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    levels = contour_levels(values[np.isfinite(values)])
    norm = (LogNorm if spans_decades(levels[0], levels[-1]) else Normalize)(levels[0],
                                                                             levels[-1])
    clipped = np.clip(values, levels[0], levels[-1])
    shown = ax.contourf(coords, coords, clipped, levels=levels, norm=norm, cmap="viridis")
    ax.contour(coords, coords, clipped, levels=levels[::3], colors="white", linewidths=0.5)
    ax.plot([0], [0], marker="*", color="red", markersize=10)
    fig.colorbar(shown, ax=ax, label="training loss", format="%.3g")
    ax.set(xlabel="direction 1 (filter-normalised)", ylabel="direction 2", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
