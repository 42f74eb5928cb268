"""Read-only traversal of libcst trees, several times faster than `node.visit(visitor)`.

libcst's `visit` rebuilds every node it passes, even for a read-only `CSTVisitor`
(`_visit_and_replace_children` constructs and validates a new node), and that was most
of ftlint's time. `walk` makes the same calls on the visitor — `on_visit` (so
`visit_<Node>`, whose `False` skips the children), then the children, then `on_leave` —
reading the children straight from the node's fields, in the order libcst visits them.
"""

from __future__ import annotations

import libcst as cst

# Per node type, the fields holding children, in libcst's visiting order.
_DEFAULT = cst.MaybeSentinel.DEFAULT
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
# The one field libcst 1.x visits only when it is set (it comes last). The test suite
# compares `children` with libcst's own on every node of the fixtures and examples.
_VISITED_ONLY_WHEN_SET = {cst.FormattedStringExpression: ("format_spec",)}


class _FieldRecorder(cst.CSTVisitor):
    """Learns a node type's child fields from libcst itself, once per type: every
    `_visit_and_replace_children` announces each field it visits, even an empty one."""

    def __init__(self) -> None:
        self.fields: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return False

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        self.fields.append(attribute)


def _child_fields(node: cst.CSTNode) -> tuple[str, ...]:
    kind = type(node)
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        recorder = _FieldRecorder()
        node._visit_and_replace_children(recorder)
        rest = _VISITED_ONLY_WHEN_SET.get(kind, ())
        fields = _CHILD_FIELDS[kind] = tuple(dict.fromkeys([*recorder.fields, *rest]))
    return fields


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The same nodes, in the same order, as libcst's `node.children`."""
    found: list[cst.CSTNode] = []
    fields = _CHILD_FIELDS.get(type(node))
    for name in fields if fields is not None else _child_fields(node):
        value = getattr(node, name)
        # A visited field holds a node, a sequence of nodes, None or MaybeSentinel.
        if value is None or value is _DEFAULT:
            continue
        if type(value) is tuple or type(value) is list:
            found.extend(value)
        else:
            found.append(value)
    return found


_LEAVE = object()


def walk(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """`node.visit(visitor)` for a visitor that only reads. Iterative: deep nesting
    cannot exhaust the interpreter's stack here."""
    stack: list[object] = [node]
    on_visit, on_leave = visitor.on_visit, visitor.on_leave
    while stack:
        item = stack.pop()
        if item is _LEAVE:
            on_leave(stack.pop())
            continue
        stack.append(item)
        stack.append(_LEAVE)
        if on_visit(item):
            stack.extend(reversed(children(item)))
