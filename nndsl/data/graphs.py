"""Graphs as data: node features x [B, N, F], an edge list edges [B, E, 2] of (source,
target) node ids (each undirected edge both ways; -1 pads), and labels.

- `karate`: Zachary's karate club, as networkx ships it (real data: 34 members, 78
  friendships, the two factions after the split). One example, the whole graph, in every
  split: x is the identity (one feature per member), y the faction of every node, and `mask`
  the nodes a split scores: in train and val `labelled` members of each faction, picked by
  `seed`; in test every other member.
- `colored_graphs`: synthetic graph classification. Each graph has between `min_nodes` and
  `max_nodes` nodes, each one of `colors` colours (one-hot x, uniform), and 2 edges per node.
  In class 1 an edge joins two nodes of the same colour with probability `same`, in class 0
  it joins uniformly random nodes. Colours and degrees are distributed alike in both classes,
  so a bag of nodes (features pooled without edges) is at chance: only the edges tell.
  Graphs are padded to max_nodes nodes (`nodes` [B, N] is 1 for a real node) and 4 *
  max_nodes edges (-1).
"""

from __future__ import annotations

import numpy as np

FACTIONS = ("Mr. Hi", "Officer")


def karate_graph() -> tuple[np.ndarray, np.ndarray]:
    """The edge list [156, 2] (both ways) and the faction of each of the 34 members."""
    import networkx as nx

    g = nx.karate_club_graph()
    pairs = np.array(sorted(g.edges()), np.int32)
    edges = np.concatenate([pairs, pairs[:, ::-1]])
    factions = np.array([FACTIONS.index(g.nodes[i]["club"]) for i in sorted(g)], np.int32)
    return edges, factions


def karate(args: dict) -> dict:
    """The karate club graph with `labelled` training nodes per faction (chosen by seed)."""
    edges, y = karate_graph()
    n = len(y)
    rng = np.random.RandomState(args["seed"])
    train = np.zeros(n, np.float32)
    for faction in range(len(FACTIONS)):
        members = np.flatnonzero(y == faction)
        train[rng.choice(members, size=args["labelled"], replace=False)] = 1
    graph = {"x": np.eye(n, dtype=np.float32)[None], "edges": edges[None], "y": y[None]}
    return {"train": {**graph, "mask": train[None]}, "val": {**graph, "mask": train[None]},
            "test": {**graph, "mask": 1 - train[None]}}


def colored_graph(label: int, args: dict, rng) -> tuple[np.ndarray, np.ndarray]:
    """One graph's colours [n] and edge list [2 * 2n, 2] (both ways) for class `label`."""
    n = rng.randint(args["min_nodes"], args["max_nodes"] + 1)
    colors = rng.randint(args["colors"], size=n)
    pairs = []
    for u in np.repeat(np.arange(n), 2):
        same = np.flatnonzero((colors == colors[u]) & (np.arange(n) != u))
        pool = same if label == 1 and len(same) and rng.rand() < args["same"] else \
            np.flatnonzero(np.arange(n) != u)
        pairs.append((u, rng.choice(pool)))
    pairs = np.array(pairs, np.int32)
    return colors, np.concatenate([pairs, pairs[:, ::-1]])


def colored_graphs(args: dict) -> dict:
    """Train/val/test sets of padded coloured graphs, each split from its own seed."""
    from nndsl.data.sources import split_counts  # sources registers this loader

    top, colors = args["max_nodes"], args["colors"]

    def make(count, rng):
        y = rng.randint(2, size=count).astype(np.int32)
        x = np.zeros((count, top, colors), np.float32)
        edges = np.full((count, 4 * top, 2), -1, np.int32)
        nodes = np.zeros((count, top), np.float32)
        for i, label in enumerate(y):
            c, e = colored_graph(int(label), args, rng)
            x[i, np.arange(len(c)), c] = 1
            edges[i, :len(e)] = e
            nodes[i, :len(c)] = 1
        return {"x": x, "edges": edges, "nodes": nodes, "y": y}

    return split_counts(make, args)
