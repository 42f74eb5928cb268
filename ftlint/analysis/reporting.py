"""Whether a scope tells a person about something: prints, logs, warnings, asserts.

The checkpoint rules stay silent when the code reports what a load kept or dropped: the
size of the loaded dict (`print(f"loaded {len(sd)} tensors")`), or the dropped keys
themselves (`logger.warning("skipped %s", skipped)`).
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from ftlint.analysis.scopes import Step, names_used, nodes_in
from ftlint.walk import walk

LOG_METHODS = frozenset(
    {"print", "info", "warning", "warn", "debug", "error", "log", "write", "echo", "add_text"}
)


def reporting_nodes(step: Step) -> list[cst.CSTNode]:
    """Places whose content reaches a person: print/log calls, f-strings, asserts."""
    found: list[cst.CSTNode] = [step.node] if isinstance(step.node, cst.Assert) else []
    found.extend(nodes_in(step.node, cst.FormattedString))
    for call in step.calls:
        func = call.func
        name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
        if name in LOG_METHODS or (isinstance(name, str) and "log" in name.lower()):
            found.append(call)
    return found


def is_len_of(node: cst.CSTNode, name: str) -> bool:
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Name)
        and node.func.value == "len"
        and len(node.args) == 1
        and isinstance(node.args[0].value, cst.Name)
        and node.args[0].value.value == name
    )


def size_reported(steps: Sequence[Step], name: str) -> bool:
    """Whether `len(name)` is printed, logged or asserted anywhere in the scope."""
    for step in steps:
        for node in reporting_nodes(step):
            if is_len_of(node, name) or any(is_len_of(call, name) for call in calls_within(node)):
                return True
    return False


def name_reported(steps: Sequence[Step], name: str) -> bool:
    """Whether `name` itself (or its size) is printed, logged or asserted in the scope."""
    for step in steps:
        for node in reporting_nodes(step):
            if any(read.value == name for read in names_read_within(node)):
                return True
    return False


def calls_within(node: cst.CSTNode) -> list[cst.Call]:
    calls: list[cst.Call] = []

    class _Find(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            calls.append(call)

    walk(node, _Find())
    return calls


def names_read_within(node: cst.CSTNode) -> list[cst.Name]:
    """Variable names an expression or statement reads (attribute and keyword names are
    not variables)."""
    if isinstance(node, cst.Assert):
        return names_used(node)[0]
    reads: list[cst.Name] = []

    class _Find(cst.CSTVisitor):
        def visit_Attribute(self, attr: cst.Attribute) -> bool:
            walk(attr.value, self)
            return False

        def visit_Arg(self, arg: cst.Arg) -> bool:
            walk(arg.value, self)
            return False

        def visit_Name(self, name: cst.Name) -> None:
            reads.append(name)

    walk(node, _Find())
    return reads
