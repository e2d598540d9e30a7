"""A scalar automatic-differentiation engine.

Every arithmetic operation on ``Value`` objects builds a node of a graph
that remembers its inputs (``children``), the operation (``op``) and the
local derivatives of its output with respect to each input, worked out
while computing the forward value. ``backward()`` then walks the graph
from the output back to the inputs in reverse topological order and
applies the chain rule at each node:

    child.grad += local_derivative * node.grad

    a = Value(2.0, label="a"); b = Value(-3.0, label="b")
    c = a * b + a.exp()
    c.backward()
    a.grad   # d c / d a = b + exp(a)

As in torch, the gradients of leaves (Values made by you) accumulate over
calls to ``backward()``; gradients of intermediate nodes are recomputed.
Use ``zero_grad()`` on the output to reset every node of its graph.
"""

from __future__ import annotations

import math
import numbers


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class Value:
    """One scalar in a computation graph, with its gradient.

    Shapes: a Python float (data) and its gradient (grad); no arrays.
    Twin: a 0-dimensional torch.tensor(x, dtype=torch.float64, requires_grad=True)
    """

    __slots__ = ("data", "grad", "children", "local_grads", "op", "label")
    # NumPy must not treat a Value as one element of an object array: with this,
    # ``np.array([1.0, 2.0]) + Value(1.0)`` defers to Value.__radd__, which raises
    # a TypeError that explains, instead of silently building an array of Values.
    __array_ufunc__ = None

    def __init__(self, data, children: tuple = (), op: str = "", label: str = "", local_grads: tuple = ()):
        if not _is_number(data):
            hint = "pass a Python float, e.g. Value(float(x))"
            if type(data).__name__ in ("Tensor", "ndarray"):
                hint = "Value holds one number; use the layers in course_lib.scratch.layers for arrays"
            raise TypeError(
                f"Value: expected data to be a real number, got {type(data).__name__} {data!r}; {hint}"
            )
        self.data = float(data)
        self.grad = 0.0
        self.children = tuple(children)
        self.local_grads = tuple(local_grads)
        self.op = op
        self.label = label

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # ------------------------------------------------------------------ binary ops

    def _other(self, other, op: str) -> Value:
        if isinstance(other, Value):
            return other
        if _is_number(other):
            return Value(other)
        raise TypeError(
            f"Value.{op}: expected a Value or a real number, got {type(other).__name__}; "
            "a Value combines only with Values and Python numbers (convert with float(x))"
        )

    def __add__(self, other) -> Value:
        other = self._other(other, "__add__")
        return Value(self.data + other.data, (self, other), "+", local_grads=(1.0, 1.0))

    def __sub__(self, other) -> Value:
        other = self._other(other, "__sub__")
        return Value(self.data - other.data, (self, other), "-", local_grads=(1.0, -1.0))

    def __mul__(self, other) -> Value:
        other = self._other(other, "__mul__")
        return Value(self.data * other.data, (self, other), "*", local_grads=(other.data, self.data))

    def __truediv__(self, other) -> Value:
        other = self._other(other, "__truediv__")
        if other.data == 0.0:
            raise ZeroDivisionError(f"Value.__truediv__: expected a non-zero divisor, got {other!r}")
        inverse = 1.0 / other.data
        out = self.data * inverse
        return Value(out, (self, other), "/", local_grads=(inverse, -out * inverse))

    def __radd__(self, other) -> Value:
        return self._other(other, "__radd__") + self

    def __rsub__(self, other) -> Value:
        return self._other(other, "__rsub__") - self

    def __rmul__(self, other) -> Value:
        return self._other(other, "__rmul__") * self

    def __rtruediv__(self, other) -> Value:
        return self._other(other, "__rtruediv__") / self

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), "neg", local_grads=(-1.0,))

    def __pow__(self, exponent) -> Value:
        if not _is_number(exponent):
            raise TypeError(
                f"Value.__pow__: expected a number exponent, got {type(exponent).__name__}; "
                "x ** n supports constant n only (write (n * x.log()).exp() for a Value exponent)"
            )
        n = float(exponent)
        x = self.data
        if x == 0.0 and n < 0:
            raise ZeroDivisionError(f"Value.__pow__: expected a non-zero base for exponent {n:g}, got 0.0")
        if x < 0.0 and not n.is_integer():
            raise ValueError(
                f"Value.__pow__: expected a non-negative base for the non-integer exponent {n:g}, "
                f"got {x:g}; the result would be complex"
            )
        if n == 0.0:
            local = 0.0
        elif x == 0.0 and n < 1.0:
            local = math.inf  # e.g. sqrt at 0: the slope is vertical (torch gives inf too)
        else:
            local = n * x ** (n - 1)
        return Value(x**n, (self,), f"**{n:g}", local_grads=(local,))

    # ------------------------------------------------------------------ unary functions

    def exp(self) -> Value:
        out = math.exp(self.data)
        return Value(out, (self,), "exp", local_grads=(out,))

    def log(self) -> Value:
        if self.data <= 0.0:
            raise ValueError(
                f"Value.log: expected a positive value (log is defined on (0, inf)), got {self.data:g}; "
                "keep the argument positive, e.g. log(x * x + 1e-12) or a softplus"
            )
        return Value(math.log(self.data), (self,), "log", local_grads=(1.0 / self.data,))

    def tanh(self) -> Value:
        out = math.tanh(self.data)
        return Value(out, (self,), "tanh", local_grads=(1.0 - out * out,))

    def relu(self) -> Value:
        positive = self.data > 0.0
        return Value(self.data if positive else 0.0, (self,), "relu", local_grads=(1.0 if positive else 0.0,))

    def sigmoid(self) -> Value:
        x = self.data
        if x >= 0:
            out = 1.0 / (1.0 + math.exp(-x))
        else:
            z = math.exp(x)
            out = z / (1.0 + z)
        return Value(out, (self,), "sigmoid", local_grads=(out * (1.0 - out),))

    # ------------------------------------------------------------------ the backward pass

    def topological_order(self) -> list[Value]:
        """Every node this Value depends on, each after all of its children (self last).

        Iterative depth-first search, so graphs deeper than Python's recursion
        limit work.
        """
        order: list[Value] = []
        visited: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for child in node.children:
                if id(child) not in visited:
                    stack.append((child, False))
        return order

    def backward(self) -> None:
        """Fill ``grad`` of every node with d self / d node by the chain rule.

        Leaves accumulate (``+=``) like torch's ``.grad``; intermediate nodes
        are reset first, so calling backward twice on one graph doubles the
        leaves' gradients and nothing else.
        """
        order = self.topological_order()
        for node in order:
            if node.children:
                node.grad = 0.0
        self.grad = 1.0 if self.children else self.grad + 1.0
        for node in reversed(order):
            for child, local in zip(node.children, node.local_grads):
                child.grad += local * node.grad

    def zero_grad(self) -> None:
        """Set the gradient of every node in this Value's graph to 0."""
        for node in self.topological_order():
            node.grad = 0.0

    def graph(self) -> tuple[list[Value], list[tuple[Value, Value]]]:
        """The graph for drawing: (nodes in topological order, edges as (child, parent) pairs).

        Each node has ``data``, ``grad``, ``op`` ("" for a leaf, "+", "*",
        "exp", "**2", ...) and ``label``.

        Shapes: -> (list of Value, list of (Value, Value)).
        Twin: the grad_fn / next_functions chain of a torch tensor.
        """
        nodes = self.topological_order()
        edges = [(child, node) for node in nodes for child in node.children]
        return nodes, edges
