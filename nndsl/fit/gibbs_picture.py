"""Pictures of an RBM's Gibbs chains in the run directory (`gibbs.png`, one per `rbm` layer).

After training, for every trained (not frozen) `rbm` layer that reads a data field through
parameter-free ops only (`flatten`, `reshape`) and whose visible units make a square image
(8x8 digits: 64), eight chains start from that field's test images and run block Gibbs
sampling with the best parameters; the picture shows p(v | h) along each chain (a row) at
growing step counts (columns), so one sees what the model has learnt to generate. Plain
NumPy: the chains are short and the layers small.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nndsl.ir import Graph
from nndsl.pictures import axes_grid, save, show

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
    """Draw RUN_DIR/gibbs.png (gibbs_<layer>.png when several) for each `rbm` layer of images."""
    layers = [(n, field) for n in graph if n.op == "rbm" and all(
        s.trainable for s in n.params.values()) for field in [_data_field(graph, n)]
        if field in test and math.isqrt(n.params["w"].shape[0]) ** 2 == n.params["w"].shape[0]]
    written = []
    for node, field in layers:
        p = {name: np.asarray(params[spec.key.rpartition(".")[0]][name], np.float64)
             for name, spec in node.params.items()}
        size = p["w"].shape[0]
        images = np.asarray(test[field]).reshape(len(test[field]), -1)[:CHAINS]
        path = run_dir / ("gibbs.png" if len(layers) == 1 else f"gibbs_{node.id}.png")
        _draw(chain_pictures(p["w"], p["b"], p["b_visible"], images), math.isqrt(size), path)
        written.append(path)
        if say:
            say(f"Gibbs chains of {node.id}: {path}")
    return written


def _data_field(graph: Graph, node) -> str | None:
    """The data field `node` reads through parameter-free ops only (flatten, reshape), if any."""
    source = graph.nodes[node.inputs[0].node]
    while source.op != "input":
        if source.params or len(source.inputs) != 1:
            return None
        source = graph.nodes[source.inputs[0].node]
    return source.attrs.get("name")


def _draw(pictures: np.ndarray, side: int, path: Path) -> None:
    chains, steps = pictures.shape[:2]
    fig, axes = axes_grid(chains, steps, steps * 0.8, chains * 0.8 + 0.4)
    for i in range(chains):
        for j in range(steps):
            show(axes[i][j], pictures[i, j].reshape(side, side))
            if i == 0:
                axes[i][j].set_title(str(STEPS[j]) if steps == len(STEPS) else str(j),
                                     fontsize=8)
    fig.suptitle("Gibbs chains: p(v | h) after n steps (columns), from test images (rows)",
                 fontsize=9)
    save(fig, path, dpi=80)
