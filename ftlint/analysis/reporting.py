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


def keys_compared(steps: Sequence[Step], name: str) -> bool:
    """Whether the scope works out which keys of `name` match another dict itself:
    `[k for k in own if k not in sd]`, `set(sd) - set(own)`, `sd.keys() - own.keys()`.
    Code that computes its missing and unexpected keys has checked its load."""
    facts = getattr(steps, "facts", None)
    compared = facts.get("keys-compared") if facts is not None else None
    if compared is None:
        compared = frozenset(
            found for step in steps for found in _containers_compared(step)
        )
        if facts is not None:
            facts["keys-compared"] = compared
    return name in compared


def _containers_compared(step: Step) -> set[str]:
    """Dicts whose keys a comprehension filters by (`[k for k in a if k not in sd]`) or a
    set difference takes apart. A lone `if "model" in sd:` only looks for one key."""
    names: set[str] = set()
    for kind in (cst.ListComp, cst.SetComp, cst.GeneratorExp):
        for comprehension in nodes_in(step.node, kind):
            for condition in comprehension.for_in.ifs:
                test = condition.test
                if isinstance(test, cst.Comparison):
                    for target in test.comparisons:
                        if isinstance(target.operator, (cst.In, cst.NotIn)):
                            names.update(_dict_named(target.comparator))
    for operation in nodes_in(step.node, cst.BinaryOperation):
        if isinstance(operation.operator, cst.Subtract):
            names.update(_dict_named(operation.left))
            names.update(_dict_named(operation.right))
    return names


def _dict_named(node: cst.BaseExpression) -> set[str]:
    """`sd`, `sd.keys()`, `set(sd)`, `set(sd.keys())`: the name of the dict whose keys
    these are."""
    if isinstance(node, cst.Name):
        return {node.value}
    if isinstance(node, cst.Call) and len(node.args) <= 1:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "keys" and not node.args:
            return _dict_named(func.value)
        if isinstance(func, cst.Name) and func.value in ("set", "frozenset") and node.args:
            return _dict_named(node.args[0].value)
    return set()
