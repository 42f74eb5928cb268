"""`walk` and `children` must match libcst's own traversal exactly, node for node."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from ftlint.rules import ALL_RULES
from ftlint.walk import children, walk

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TRICKY = '''\
@decorator(x if y else z)
async def f(a, /, b: int = 1, *args, c, **kw) -> "T":
    print(f"{value!r:>{width}.{precision}} {plain} {x=}")
    async with a as (b, c), d:
        async for i in aiter():
            yield [j async for j in i if j]
    match point:
        case Point(x=0, y=[1, *rest]) | {"k": _, **others} if rest:
            pass
    try:
        del a[1:2, ...], b.c
    except* (ValueError, TypeError) as error:
        raise RuntimeError from error
    return lambda *, k=1: {**kw, "k": k}
class C(Base, metaclass=Meta):
    x: list[int] = []
    global g
'''


def _sources():
    yield "tricky", TRICKY
    for path in sorted(FIXTURES.glob("*.py")):
        yield path.name, path.read_text()
    for rule in ALL_RULES:
        for index, source in enumerate((*rule.valid, *rule.invalid)):
            yield f"{rule.code}-{index}", source


class _Recorder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.events.append(("visit", id(node)))
        return not isinstance(node, cst.Lambda)  # pruning must work the same way

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.events.append(("leave", id(original_node)))


@pytest.mark.parametrize(("name", "source"), list(_sources()), ids=lambda value: str(value)[:20])
def test_children_and_walk_match_libcst(name, source):
    module = cst.parse_module(source)
    pending: list[cst.CSTNode] = [module]
    while pending:
        node = pending.pop()
        expected = list(node.children)
        assert [id(child) for child in children(node)] == [id(child) for child in expected], (
            type(node).__name__
        )
        pending.extend(expected)
    via_libcst, via_walk = _Recorder(), _Recorder()
    module.visit(via_libcst)
    walk(module, via_walk)
    assert via_walk.events == via_libcst.events


def test_walk_survives_nesting_deeper_than_the_recursion_limit():
    expression = cst.parse_expression("x")
    for _ in range(3000):
        expression = cst.UnaryOperation(cst.Minus(), expression)
    walk(expression, cst.CSTVisitor())


def test_ftlint_walks_trees_with_walk_never_with_libcsts_visit():
    """`node.visit` rebuilds every node it passes: one such walk per class or per step
    made a rule take most of a run's time."""
    package = Path(__file__).resolve().parent.parent / "ftlint"
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "walk.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if ".visit(" in line and not line.lstrip().startswith("#")
    ]
    assert offenders == [], "use ftlint.walk.walk(node, visitor) instead"
