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
_STUBS = cst.CSTVisitor  # its visit_<Node>/leave_<Node> stubs do nothing
_STUB_CLASSES = frozenset(_STUBS.__mro__)


def _handlers(kind: type, prefix: str) -> dict[str, object] | None:
    """A visitor class's own `visit_<Node>` (or `leave_<Node>`) functions by node type
    name, when it keeps libcst's `on_visit` (`on_leave`) that looks them up by name;
    None when it overrides that. libcst's lookup (an f-string and a getattr per node,
    finding a do-nothing stub for most) cost more than many visitors' own work."""
    if getattr(kind, "on_" + prefix[:-1]) is not getattr(_STUBS, "on_" + prefix[:-1]):
        return None
    # Kept on the class itself, not in a global table: many visitor classes are local
    # to a function, made per call, and must be freed with it.
    key = "_ftlint_" + prefix
    table = kind.__dict__.get(key)
    if table is None:
        # Only the classes below CSTVisitor define real handlers; reading their own
        # dicts (nearest first) is far cheaper than dir() over libcst's ~500 stubs.
        table = {}
        for base in kind.__mro__:
            if base in _STUB_CLASSES:
                continue
            for attr, value in vars(base).items():
                if attr.startswith(prefix):
                    table.setdefault(attr[len(prefix) :], value)
        setattr(kind, key, table)
    return table


def walk(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """`node.visit(visitor)` for a visitor that only reads. Iterative: deep nesting
    cannot exhaust the interpreter's stack here."""
    stack: list[object] = [node]
    on_visit, on_leave = visitor.on_visit, visitor.on_leave
    visits = _handlers(type(visitor), "visit_")
    leaves = _handlers(type(visitor), "leave_")
    needs_leave = leaves is None or bool(leaves)
    while stack:
        item = stack.pop()
        if item is _LEAVE:
            left = stack.pop()
            if leaves is None:
                on_leave(left)
            else:
                method = leaves.get(type(left).__name__)
                if method is not None:
                    method(visitor, left)
            continue
        if needs_leave:
            stack.append(item)
            stack.append(_LEAVE)
        if visits is None:
            descend = on_visit(item)
        else:
            method = visits.get(type(item).__name__)
            descend = method is None or method(visitor, item) is not False
        if descend:
            stack.extend(reversed(children(item)))


def nodes_of(node: cst.CSTNode, kind: type) -> list:
    """Every node of a type under `node` (itself included), in `walk`'s order; nested
    scopes too. Iterative, as `walk` is."""
    found = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, kind):
            found.append(item)
        stack.extend(reversed(children(item)))
    return found
