"""Checked graph → graphviz.Digraph: ops as boxes, shapes on edges, blocks as clusters.

Drawn from the graph IR, never from the text. A repeated stage is one cluster marked `× n`
(or n copies with `expand`); a scanned cell is its step inside a loop cluster with each state
drawn back as a dashed edge; `depth` collapses deeper clusters into one box each. Operations
through which no gradient flows are outlined in red.

Each box reads `name: op` when the layer has a name of its own and carries a tooltip (name, op,
attributes, output shape, parameters). Parameter figures are `summary`'s: a layer in a
repeated stage shows its total over the copies, a shared parameter counts where it is first
used, so the figures drawn add up to the network's total.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import graphviz

from nndsl.ir import Graph, Node, Ref, walk
from nndsl.ops import REGISTRY
from nndsl.ops.control import CONST, INPUT, REPEAT, SCAN

FAMILY_COLOURS = {
    "layer": "#cfe2f3", "norm": "#d9ead3", "activation": "#fff2cc", "pooling": "#fce5cd",
    "shape": "#eeeeee", "math": "#f3f3f3", "attention": "#d9d2e9", "stochastic": "#ead1dc",
    "gradient": "#f4cccc", "loss": "#e06666", "metric": "#f6b26b", "regulariser": "#ffd966",
    "io": "#ffffff", "control": "#ffffff",
    "sets": "#d0e0e3", "graph": "#c9daf8", "memory": "#d9d2e9",
}
SHARED_COLOUR = "#6fa8dc"
NO_GRADIENT = "#cc0000"


@dataclass
class _Drawing:
    """The state of one drawing: where each value is drawn, and what is hidden in boxes."""

    dot: graphviz.Digraph
    depth: int | None
    expand: bool
    trained_by: dict[str, str] = field(default_factory=dict)
    ends: dict[tuple[str, Ref], str] = field(default_factory=dict)
    counter: int = 0
    # Node id → (trainable parameters it is counted with, copies of its parameters).
    figures: dict[str, tuple[int, int]] = field(default_factory=dict)
    # (source, target, tensor) already joined: a folded box reading one tensor twice gets one.
    joined: set = field(default_factory=set)

    def fresh(self) -> str:
        self.counter += 1
        return f"n{self.counter}"

    def connect(self, source: str, target: str, tensor, label: str, **attrs) -> None:
        """One edge per source, target and tensor (on the root graph: in DOT, a node named
        in a cluster's edge joins that cluster)."""
        if (source, target, tensor) in self.joined or source == target:
            return
        self.joined.add((source, target, tensor))
        self.dot.edge(source, target, label=graphviz.escape(label), **attrs)

    def params_under(self, nodes) -> int:
        """The figures of `nodes` and of everything in their bodies."""
        return sum(self.figures[n.id][0] + (self.params_under(n.body) if n.body else 0)
                   for n in nodes)


def parameter_figures(graph: Graph) -> dict[str, tuple[int, int]]:
    """Each node's (trainable parameters, copies): its own, times the copies of a repeated
    body; a parameter shared by several nodes counts at the first (as `summary` counts)."""
    seen: set[str] = set()
    figures = {}
    for node, copies in walk(graph):
        fresh = [p for p in node.params.values() if p.trainable and p.key not in seen]
        seen.update(p.key for p in fresh)
        figures[node.id] = (sum(p.size for p in fresh) * copies, copies)
    return figures


def render(graph: Graph, depth: int | None = None, expand: bool = False,
           trained_by: dict[str, str] | None = None,
           outputs: dict[str, Ref] | None = None) -> graphviz.Digraph:
    """A picture of `graph`. `trained_by` maps parameter keys to the step that trains them;
    `outputs` replaces the graph's named outputs (a train graph's losses and metrics)."""
    figures = parameter_figures(graph)
    total = sum(params for params, _ in figures.values())
    title = f"{graph.name}: {total:,} trainable parameters"
    dot = graphviz.Digraph(graph.name, graph_attr={
        "rankdir": "TB", "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.25",
        "ranksep": "0.3", "label": graphviz.escape(title), "labelloc": "t"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                   "fontsize": "10", "height": "0.3"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8", "color": "#555555",
                   "arrowsize": "0.6"})
    drawing = _Drawing(dot, depth, expand, trained_by or {}, figures=figures)
    _draw_graph(drawing, dot, graph, "", 0, {})
    for name, ref in (graph.outputs if outputs is None else outputs).items():
        node_id = drawing.fresh()
        dot.node(node_id, graphviz.escape(name), shape="ellipse", style="filled",
                 fillcolor="#b6d7a8")
        _edge(drawing, dot, graph, "", ref, node_id)
    _legend(dot)
    return dot


def _draw_graph(drawing: _Drawing, dot, graph: Graph, space: str, level: int,
                feeds: dict[str, tuple[str, str]]) -> None:
    """Draw `graph`'s nodes; `feeds` maps body inputs to the drawn node outside that feeds them."""
    tree = _scope_tree(graph)
    _draw_scope(drawing, dot, graph, space, tree, "", level, feeds)


def _scope_tree(graph: Graph) -> dict[str, list]:
    """Scope prefix → its members in order: nodes, and child scopes (as `('scope', name)`)."""
    members: dict[str, list] = {"": []}
    for node in graph:
        parent = ""
        parts = node.id.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in graph.scopes:
                if prefix not in members:
                    members[prefix] = []
                    members[parent].append(("scope", prefix))
                parent = prefix
        members[parent].append(node)
    return members


def _draw_scope(drawing, dot, graph, space, tree, scope, level, feeds) -> None:
    for member in tree[scope]:
        if isinstance(member, tuple):
            _draw_cluster(drawing, dot, graph, space, tree, member[1], level + 1, feeds)
        else:
            _draw_node(drawing, dot, graph, space, member, level, feeds)


def _draw_cluster(drawing, dot, graph, space, tree, scope, level, feeds) -> None:
    info = graph.scopes[scope]
    nodes = _nodes_in(tree, scope)
    if drawing.depth is not None and level > drawing.depth:
        box = drawing.fresh()
        ins = [graph.type_of(r) for r in nodes[0].inputs[:1]]
        label = _folded(info.label, drawing.params_under(nodes), ins, nodes[-1].out)
        dot.node(box, label, tooltip=label, fillcolor="#dddddd",
                 penwidth="2" if info.shared else "1",
                 color=SHARED_COLOUR if info.shared else "black")
        inside = {n.id for n in nodes}
        for node in nodes:
            for i in range(len(node.outs)):
                drawing.ends[(space, Ref(node.id, i))] = box
            for ref in node.inputs:
                if ref.node not in inside:
                    _edge(drawing, dot, graph, space, ref, box)
        return
    with dot.subgraph(name=f"cluster_{drawing.fresh()}") as sub:
        label = info.label + (f"  (shared: {info.shared})" if info.shared else "")
        sub.attr(label=graphviz.escape(label), style="rounded", fontsize="10",
                 color=SHARED_COLOUR if info.shared else "#888888",
                 penwidth="2" if info.shared else "1")
        _draw_scope(drawing, sub, graph, space, tree, scope, level, feeds)


def _nodes_in(tree, scope) -> list[Node]:
    out = []
    for member in tree[scope]:
        out += _nodes_in(tree, member[1]) if isinstance(member, tuple) else [member]
    return out


def _lines(*lines: str) -> str:
    """A multi-line DOT label: each line escaped (any text a spec allows), joined by `\\n`."""
    return graphviz.nohtml("\\n".join(graphviz.escape(line) for line in lines))


def _folded(title: str, params: int, ins, out) -> str:
    """A folded block, repeat or scan: what it is, its parameters, its input → output."""
    return _lines(title, f"{params:,} params", f"{' '.join(map(str, ins))} → {out}")


def _draw_node(drawing, dot, graph: Graph, space: str, node: Node, level: int, feeds) -> None:
    op = REGISTRY[node.op]
    if op is INPUT and node.attrs["name"] in feeds:
        drawing.ends[(space, Ref(node.id))] = feeds[node.attrs["name"]]
        return
    if op is REPEAT:
        _draw_repeat(drawing, dot, graph, space, node, level)
        return
    if op is SCAN:
        _draw_scan(drawing, dot, graph, space, node, level)
        return
    node_id = drawing.fresh()
    dot.node(node_id, _label(node, drawing), tooltip=_tooltip(node, drawing), **_style(node))
    for i in range(len(node.outs)):
        drawing.ends[(space, Ref(node.id, i))] = node_id
    for ref in node.inputs:
        _edge(drawing, dot, graph, space, ref, node_id)


def _edge(drawing, dot, graph: Graph, space: str, ref: Ref, target: str, **attrs) -> None:
    source = drawing.ends.get((space, ref))
    if source is not None:
        drawing.connect(source, target, (space, ref), str(graph.type_of(ref)), **attrs)


def _draw_repeat(drawing, dot, graph: Graph, space: str, node: Node, level: int) -> None:
    """One cluster marked × n (its body drawn once), or n copies in sequence with `expand`."""
    times = node.times if drawing.expand else 1
    entry = (space, node.inputs[0])
    for copy in range(times):
        inner_space = f"{space}/{node.id}#{copy}"
        source = drawing.ends.get(entry)
        feeds = {"x": source} if source else {}
        title = node.label if not drawing.expand else f"{node.attrs['stage']} [{copy}]"
        if drawing.depth is not None and level + 1 > drawing.depth:
            box = drawing.fresh()
            label = _folded(title, drawing.params_under([node]), [node.out], node.out)
            dot.node(box, label, tooltip=label, fillcolor="#dddddd")
            if source:
                drawing.connect(source, box, entry, str(node.out))
            drawing.ends[(space, Ref(node.id))] = box
            return
        with dot.subgraph(name=f"cluster_{drawing.fresh()}") as sub:
            shared = " (one shared set of parameters)" if node.attrs["shared"] else ""
            sub.attr(label=graphviz.escape(title + shared), style="rounded,dashed",
                     fontsize="10", color="#3d85c6", penwidth="1.5")
            _draw_graph(drawing, sub, node.body, inner_space, level + 1, feeds)
        out = drawing.ends.get((inner_space, node.body.outputs["out"]))
        if out:
            drawing.ends[(space, Ref(node.id))] = out
            entry = (space, Ref(node.id))


def _draw_scan(drawing, dot, graph: Graph, space: str, node: Node, level: int) -> None:
    """A cell's step inside a loop cluster; each state goes back as a dashed edge."""
    body, hp = node.body, node.attrs
    inner_space = f"{space}/{node.id}"
    seq_names = [n for n in body.inputs if not n.startswith("state:") and n not in hp["statics"]]
    outer = dict(zip(seq_names + list(hp["statics"]), node.inputs))
    feeds = {}
    for name, ref in outer.items():
        source = drawing.ends.get((space, ref))
        if source:
            feeds[name] = source
    length = graph.type_of(node.inputs[0]).shape[hp["axis"]]
    title = f"{node.label} over {length} steps" + (", reversed" if hp["reverse"] else "")
    if drawing.depth is not None and level + 1 > drawing.depth:
        _fold_scan(drawing, dot, graph, space, node, title)
        return
    with dot.subgraph(name=f"cluster_{drawing.fresh()}") as sub:
        sub.attr(label=graphviz.escape(title), style="rounded,dashed", fontsize="10",
                 color="#674ea7", penwidth="1.5")
        _draw_graph(drawing, sub, body, inner_space, level + 1, {})
    for name, target_ref in body.inputs.items():
        target = drawing.ends.get((inner_space, target_ref))
        if name in feeds and target:
            drawing.connect(feeds[name], target, (space, outer[name]),
                            str(graph.type_of(outer[name])))
    for state in hp["states"]:
        source = drawing.ends.get((inner_space, body.outputs[f"state:{state}"]))
        target = drawing.ends.get((inner_space, body.inputs[f"state:{state}"]))
        if source and target:
            drawing.connect(source, target, state, f"{state} (next step)",
                            style="dashed", color="#674ea7", constraint="false")
    drawing.ends[(space, Ref(node.id))] = drawing.ends.get(
        (inner_space, body.outputs["out"]), "")


def _fold_scan(drawing, dot, graph: Graph, space: str, node: Node, title: str) -> None:
    """A scan below `depth`: one box, fed by every tensor the cell reads."""
    box = drawing.fresh()
    label = _folded(title, drawing.params_under([node]),
                    [graph.type_of(r) for r in node.inputs[:1]], node.out)
    dot.node(box, label, tooltip=label, fillcolor="#dddddd", color="#674ea7")
    for ref in node.inputs:
        _edge(drawing, dot, graph, space, ref, box)
    drawing.ends[(space, Ref(node.id))] = box


def layer_name(node: Node) -> str | None:
    """The name a layer was given (`name=`, a binding), None for a generated `op_k`."""
    local = node.id.rsplit(".", 1)[-1]
    return None if re.fullmatch(rf"{re.escape(node.op)}_\d+", local) else local


def _params_line(node: Node, drawing: _Drawing, expanded: bool) -> str | None:
    """`1,234 params`; in a repeated body `24 × 9,216 = 221,184 params` (one copy's
    share when each copy is drawn); frozen parameters as such."""
    total, copies = drawing.figures[node.id]
    if not total:
        frozen = sum(p.size for p in node.params.values() if not p.trainable)
        return f"{frozen:,} frozen params" if frozen else None
    if copies == 1:
        return f"{total:,} params"
    if expanded:
        return f"{total // copies:,} params (1 of {copies} copies)"
    return f"{copies} × {total // copies:,} = {total:,} params"


def _label(node: Node, drawing: _Drawing) -> str:
    name = layer_name(node)
    text = REGISTRY[node.op].describe(node)
    lines = [f"{name}: {text}" if name and REGISTRY[node.op] is not INPUT else text]
    params = _params_line(node, drawing, drawing.expand)
    if params:
        lines.append(params)
    steps = sorted({drawing.trained_by[p.key] for p in node.params.values()
                    if p.key in drawing.trained_by})
    if steps:
        lines.append("trained by " + ", ".join(steps))
    return _lines(*lines)


def _tooltip(node: Node, drawing: _Drawing) -> str:
    """What hovering a box shows: name, op, attributes, output shape, parameters."""
    attrs = ", ".join(f"{k}={v}" for k, v in node.attrs.items())
    shapes = ", ".join(str(t) for t in node.outs)
    name = node.attrs["name"] if REGISTRY[node.op] is INPUT else node.id
    return _lines(name, f"op: {node.op}" + (f"({attrs})" if attrs else ""),
                  f"output: {shapes}", _params_line(node, drawing, drawing.expand) or
                  "no parameters")


def _style(node: Node) -> dict:
    op = REGISTRY[node.op]
    style = {"fillcolor": FAMILY_COLOURS.get(op.family, "#ffffff")}
    if op is INPUT:
        style.update(shape="ellipse", fillcolor="#a4c2f4")
    elif op is CONST:
        style.update(shape="plaintext", style="")
    if op.blocks_gradient or op.kind == "metric":
        style.update(color=NO_GRADIENT, penwidth="2")
    if any(not p.trainable for p in node.params.values()):
        style.update(style="rounded,filled,dashed")
    return style


def _legend(dot: graphviz.Digraph) -> None:
    rows = [("input / output", "#a4c2f4", "black", "solid"),
            ("layer with parameters", FAMILY_COLOURS["layer"], "black", "solid"),
            ("no gradient flows back", "#ffffff", NO_GRADIENT, "solid"),
            ("shared instance", "#ffffff", SHARED_COLOUR, "solid"),
            ("repeated stage / cell step", "#ffffff", "#3d85c6", "dashed")]
    cells = "".join(f'<tr><td border="2" bgcolor="{fill}" color="{line}" '
                    f'style="{"rounded" if style == "solid" else "dashed"}">{text}</td></tr>'
                    for text, fill, line, style in rows)
    dot.node("legend", f'<<table border="0" cellspacing="3" cellpadding="3">'
             f'<tr><td><b>legend</b></td></tr>{cells}</table>>', shape="plaintext",
             style="", fontsize="8")
