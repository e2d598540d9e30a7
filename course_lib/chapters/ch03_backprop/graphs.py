"""Draw a scalar ``Value``'s computation graph with matplotlib (no graphviz needed).

    L = ((w * x + b).tanh() - y) ** 2
    L.backward()
    draw_graph(L)

Every Value is a box showing its label, its data and (after ``backward``)
its gradient; every operation is a small circle between its inputs and its
result. Inputs sit on the left, the output on the right.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from course_lib.checks import _fail
from course_lib.scratch.autograd import Value


def graph_layout(value: Value) -> dict[int, tuple[float, float]]:
    """Positions ``{id(node): (column, row)}`` for every node of ``value``'s graph.

    Columns: a result sits one column right of its latest input (so the
    output is rightmost); a leaf sits one column left of its first use.
    Rows: leaves take consecutive rows in the order a depth-first walk from
    the output meets them; a result sits at the mean row of its inputs.

    Shapes: a Value -> dict with one (float, float) per node.
    """
    _check_value(value, "graph_layout")
    nodes, _ = value.graph()
    column: dict[int, float] = {}
    for node in nodes:  # topological order: inputs before results
        if node.children:
            column[id(node)] = 1.0 + max(column.get(id(c), 0.0) for c in node.children)
        else:
            column[id(node)] = 0.0
    for node in reversed(nodes):  # pull each leaf next to its first consumer
        for child in node.children:
            if not child.children:
                column[id(child)] = max(column[id(child)], column[id(node)] - 1.0)
    row: dict[int, float] = {}
    next_leaf = [0.0]

    def place(node: Value) -> float:  # recursion depth = graph depth, fine for drawable graphs
        if id(node) in row:
            return row[id(node)]
        if not node.children:
            row[id(node)] = next_leaf[0]
            next_leaf[0] += 1.0
        else:
            rows = [place(child) for child in node.children]
            row[id(node)] = sum(rows) / len(rows)
        return row[id(node)]

    place(value)
    return {key: (column[key], row[key]) for key in column}


def draw_graph(value: Value, ax=None, show_grad: bool = True, fmt: str = ".4g"):
    """Draw the computation graph that produced ``value``; returns the matplotlib Axes.

    Each box reads ``label``, ``data`` and, with ``show_grad``, ``grad``
    (d output / d node, filled in by ``value.backward()``). Unlabelled
    constants (the 2 of ``x * 2``) show only their data.

    Shapes: a Value -> Axes.
    Twin: torchviz.make_dot (graphviz), for torch tensors.
    """
    func = "draw_graph"
    _check_value(value, func)
    if not isinstance(show_grad, bool):
        _fail(TypeError, func, "show_grad to be True or False", repr(show_grad), None)
    if not isinstance(fmt, str):
        _fail(TypeError, func, "fmt to be a format spec such as '.4g'", type(fmt).__name__, None)
    nodes, edges = value.graph()
    layout = graph_layout(value)
    dx, dy = 2.2, 1.1  # distance between columns and rows, in data units
    pos = {key: (c * dx, -r * dy) for key, (c, r) in layout.items()}
    if ax is None:
        columns = 1 + max(c for c, _ in layout.values())
        rows = 1 + max(r for _, r in layout.values())
        _, ax = plt.subplots(figsize=(1.6 * columns + 0.6, 0.9 * rows + 0.8))
    box = dict(boxstyle="round,pad=0.3", facecolor="#eef3fb", edgecolor="#4a6fa5")
    circle = dict(boxstyle="circle,pad=0.25", facecolor="#fdf1dc", edgecolor="#c08a2b")
    arrow = dict(arrowstyle="->", color="0.45", lw=1.0, shrinkA=16, shrinkB=12)
    op_offset = 0.85
    for node in nodes:
        x, y = pos[id(node)]
        lines = [f"{node.label} = {node.data:{fmt}}" if node.label else f"{node.data:{fmt}}"]
        if show_grad:
            lines.append(f"grad {node.grad:{fmt}}")
        ax.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=8, bbox=box, zorder=3)
        if node.children:
            ax.text(x - op_offset, y, node.op, ha="center", va="center", fontsize=8, bbox=circle, zorder=3)
            ax.annotate("", xy=(x - 0.45, y), xytext=(x - op_offset, y),
                        arrowprops={**arrow, "shrinkA": 8, "shrinkB": 2}, zorder=2)
    for child, parent in edges:
        xp, yp = pos[id(parent)]
        ax.annotate("", xy=(xp - op_offset, yp), xytext=pos[id(child)], arrowprops=arrow, zorder=1)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.9, max(xs) + 0.9)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_axis_off()
    return ax


def _check_value(value, func: str) -> None:
    if not isinstance(value, Value):
        hint = "draw_graph draws course_lib.scratch.autograd.Value graphs; wrap numbers with Value(x)"
        if type(value).__name__ == "Tensor":
            hint = "for a torch tensor use torchviz; here build the expression from Value objects"
        _fail(TypeError, func, "a Value (the output of a scalar expression)", type(value).__name__, hint)
