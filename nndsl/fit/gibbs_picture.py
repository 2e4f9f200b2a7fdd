"""Pictures of an RBM's Gibbs chains in the run directory (`gibbs.png`, one per `rbm` layer).

After training, for every `rbm` layer whose visible units make a square image (8x8 digits:
64), eight chains start from test images when the data gives images of that size (else from
noise) and run block Gibbs sampling with the best parameters; the picture shows p(v | h) along
each chain (a row) at growing step counts (columns), so one sees what the model has learnt to
generate. Plain NumPy: the chains are short and the layers small.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nndsl.ir import Graph

STEPS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
CHAINS = 8


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def chain_pictures(w, b, b_visible, start: np.ndarray, steps=STEPS, seed: int = 0) -> np.ndarray:
    """p(v | h) of each chain at each of `steps` (block Gibbs from `start`): [chains, steps, V]."""
    rng = np.random.RandomState(seed)
    v, shown, done = start.astype(np.float64), [], 0
    for target in steps:
        probs = v
        for _ in range(target - done):
            h = (rng.rand(len(v), w.shape[1]) < sigmoid(v @ w + b)).astype(np.float64)
            probs = sigmoid(h @ w.T + b_visible)
            v = (rng.rand(*probs.shape) < probs).astype(np.float64)
        done = target
        shown.append(probs)
    return np.stack(shown, axis=1)


def write_gibbs_pictures(graph: Graph, params: dict, test: dict, run_dir: Path,
                         say=None) -> list[Path]:
    """Draw RUN_DIR/gibbs.png (gibbs_<layer>.png when several) for each square `rbm` layer."""
    layers = [n for n in graph if n.op == "rbm"]
    written = []
    for node in layers:
        p = {name: np.asarray(params[spec.key.rpartition(".")[0]][name], np.float64)
             for name, spec in node.params.items()}
        size = p["w"].shape[0]
        side = math.isqrt(size)
        if side * side != size:
            continue
        path = run_dir / ("gibbs.png" if len(layers) == 1 else f"gibbs_{node.id}.png")
        _draw(chain_pictures(p["w"], p["b"], p["b_visible"], _starts(test, size)), side, path)
        written.append(path)
        if say:
            say(f"Gibbs chains of {node.id}: {path}")
    return written


def _starts(test: dict, size: int) -> np.ndarray:
    """Test images of `size` pixels when the data has them, else Bernoulli(1/2) noise."""
    for value in test.values():
        flat = np.asarray(value).reshape(len(value), -1)
        if flat.shape[1] == size and np.issubdtype(flat.dtype, np.floating):
            return flat[:CHAINS]
    return (np.random.RandomState(0).rand(CHAINS, size) < 0.5).astype(np.float64)


def _draw(pictures: np.ndarray, side: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chains, steps = pictures.shape[:2]
    fig, axes = plt.subplots(chains, steps, figsize=(steps * 0.8, chains * 0.8 + 0.4),
                             squeeze=False)
    for i in range(chains):
        for j in range(steps):
            ax = axes[i][j]
            ax.imshow(pictures[i, j].reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(str(STEPS[j]) if steps == len(STEPS) else str(j), fontsize=8)
    fig.suptitle("Gibbs chains: p(v | h) after n steps (columns), from test images (rows)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
