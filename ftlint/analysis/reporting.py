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


def size_reported(steps: Sequence[Step], name: str) -> bool:
    """Whether `len(name)` is printed, logged or asserted anywhere in the scope."""
    return name in _scope_reported(steps)[0]


def name_reported(steps: Sequence[Step], name: str) -> bool:
    """Whether `name` itself (or its size) is printed, logged or asserted in the scope."""
    return name in _scope_reported(steps)[1]


def _scope_reported(steps: Sequence[Step]) -> tuple[frozenset[str], frozenset[str]]:
    """`_reported` over every step of the scope, once per scope (kept in its facts)."""
    facts = getattr(steps, "facts", None)
    found = facts.get("reported") if facts is not None else None
    if found is None:
        per_step = [_reported(step) for step in steps]
        found = (
            frozenset().union(*(sizes for sizes, _ in per_step)),
            frozenset().union(*(names for _, names in per_step)),
        )
        if facts is not None:
            facts["reported"] = found
    return found


def _reported(step: Step) -> tuple[frozenset[str], frozenset[str]]:
    """(names whose len() the step reports, names it reports), found once per step: rules
    ask for every load or filter of a scope, and searching again each time made a long
    script's cost grow with its square."""
    found = step.__dict__.get("_ftlint_reported")
    if found is None:
        sizes: set[str] = set()
        names: set[str] = set()
        for node in reporting_nodes(step):
            for call in [node, *calls_within(node)]:
                if _len_argument(call) is not None:
                    sizes.add(_len_argument(call))
            names.update(read.value for read in names_read_within(node))
        found = (frozenset(sizes), frozenset(names))
        step.__dict__["_ftlint_reported"] = found  # a frozen dataclass: its cache, as cached_property
    return found


def _len_argument(node: cst.CSTNode) -> str | None:
    """`x` for `len(x)`."""
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Name)
        and node.func.value == "len"
        and len(node.args) == 1
        and isinstance(node.args[0].value, cst.Name)
    ):
        return node.args[0].value.value
    return None


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
