"""Differentiability: which parameters a loss can reach, and where a gradient dies.

A gradient flows backwards from the loss through every op input that the op's registry entry
marks differentiable. A parameter whose node the loss depends on but which receives no
gradient is an error, unless every path is cut on purpose (`stop_gradient`, frozen `load`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import networkx as nx

from nndsl.ir import Graph, Ref, walk
from nndsl.ops import REGISTRY
from nndsl.source import Diagnostic


@dataclass
class GradientReport:
    """For one loss: the parameters it trains and those it cannot reach, with why."""

    trained: list[str]
    blocked: dict[str, str]
    diagnostics: list[Diagnostic]


def receives_gradient(graph: Graph, loss: Ref) -> set[str]:
    """Ids of the nodes whose output the loss's gradient reaches."""
    reached = {loss.node}
    queue = deque([loss.node])
    while queue:
        node = graph.nodes[queue.popleft()]
        op = REGISTRY[node.op]
        for i, ref in enumerate(node.inputs):
            if op.grad_through(i) and ref.node not in reached:
                reached.add(ref.node)
                queue.append(ref.node)
    return reached


def param_owners(graph: Graph) -> dict[str, list[str]]:
    """Parameter key → top-level nodes that use it (a scan or repeat stands for its body)."""
    owners: dict[str, list[str]] = {}
    for node in graph:
        for inner, _ in walk_one(node):
            for p in inner.params.values():
                owners.setdefault(p.key, []).append(node.id)
    for node in graph:
        if REGISTRY[node.op].kind == "regulariser":
            for key in owners:
                if key.startswith(node.attrs["scope"]):
                    owners[key].append(node.id)
    return owners


def walk_one(node):
    yield node, 1
    if node.body is not None:
        yield from walk(node.body)


def check(graph: Graph, loss: Ref, keys: list[str], loss_label: str) -> GradientReport:
    """Report which of `keys` the loss trains; diagnose those a non-differentiable op cuts off."""
    reached = receives_gradient(graph, loss)
    owners = param_owners(graph)
    ancestors = nx.ancestors(graph.dag, loss.node) | {loss.node}
    trained, blocked, cut_by = [], {}, {}
    for key in keys:
        users = owners.get(key, [])
        if any(u in reached for u in users):
            trained.append(key)
            continue
        connected = [u for u in users if u in ancestors]
        if not connected:
            blocked[key] = "not used by this loss"
            continue
        path, blocker = _blocking_path(graph, connected[0], loss.node)
        if blocker is None or _intentional(graph.nodes[blocker]):
            blocked[key] = "cut by stop_gradient"
            continue
        blocked[key] = f"cut by {graph.nodes[blocker].op}"
        cut_by.setdefault(blocker, []).append((key, path))
    diagnostics = [_diagnostic(graph, blocker, items, loss_label)
                   for blocker, items in cut_by.items()]
    return GradientReport(trained, blocked, diagnostics)


def _intentional(node) -> bool:
    """Whether the node's op exists to cut the gradient (stop_gradient)."""
    return REGISTRY[node.op].intentional_cut


def _blocking_path(graph: Graph, start: str, loss: str):
    """A path from `start` to the loss, avoiding stop_gradient if possible, and its first cut."""
    intentional = {n.id for n in graph if _intentional(n)}
    view = nx.subgraph_view(graph.dag, filter_node=lambda n: n not in intentional or n == start)
    try:
        path = nx.shortest_path(view, start, loss)
    except nx.NetworkXNoPath:
        return nx.shortest_path(graph.dag, start, loss), next(
            (n for n in nx.shortest_path(graph.dag, start, loss) if n in intentional), None)
    for a, b in zip(path, path[1:]):
        node = graph.nodes[b]
        op = REGISTRY[node.op]
        indices = [i for i, ref in enumerate(node.inputs) if ref.node == a]
        if not any(op.grad_through(i) for i in indices):
            return path, b
    return path, None


def _diagnostic(graph: Graph, blocker: str, items, loss_label: str) -> Diagnostic:
    node = graph.nodes[blocker]
    keys = [k for k, _ in items]
    shown = ", ".join(f"`{k}`" for k in keys[:4]) + (" ..." if len(keys) > 4 else "")
    path = items[0][1]
    steps = [keys[0], *path, loss_label]
    notes = ["path: " + " → ".join(steps)]
    entry = _entry_input(graph, path, blocker)
    if entry is not None:  # an op with a gradient, entered by an input it does not differentiate
        return Diagnostic(
            "E050", f"no gradient reaches {shown}: every path to the loss enters `{node.op}` "
            f"through `{entry}`, which carries no gradient", node.span,
            hint=f"`{entry}` of `{node.op}` only selects or scores (a mask, labels, targets) and "
            "is not differentiated: train these parameters through another term, or "
            "stop_gradient(...) them if that is intended", notes=notes)
    return Diagnostic(
        "E050", f"no gradient reaches {shown}: every path to the loss crosses `{node.op}`, "
        "which has no gradient", node.span,
        hint=f"`{node.op}` is piecewise constant; use a smooth activation (e.g. sigmoid) while "
        "training, or stop_gradient(...) if cutting the gradient is intended", notes=notes)


def _entry_input(graph: Graph, path: list[str], blocker: str) -> str | None:
    """The name of the input by which `path` enters `blocker` (`mask`, `labels`) when the op
    differentiates some other input; None for an op with no gradient at all (step, argmax)."""
    node = graph.nodes[blocker]
    op = REGISTRY[node.op]
    if op.blocks_gradient or blocker not in path[1:]:
        return None
    before = path[path.index(blocker) - 1]
    names = [n.lstrip("*") for n in op.inputs] + [k for k, _ in op.keyword_inputs]
    entered = [i for i, ref in enumerate(node.inputs) if ref.node == before]
    return names[entered[0]] if entered and entered[0] < len(names) else None
