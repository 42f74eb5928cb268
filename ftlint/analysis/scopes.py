"""Statements of one scope, in the order they run, and the names each reads and binds.

A scope is a module body or a function body. Nested functions and classes are scopes of
their own and are not entered. A statement inside an `if`/`for`/`while`/`try`/`match`
is marked `conditional`: it may or may not have happened by the time later code runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import libcst as cst

from ftlint.walk import children, walk

LOOPS = (cst.For, cst.While)
SCOPE_NODES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_SCOPE_TYPES = frozenset(SCOPE_NODES)  # libcst's node classes have no subclasses


@dataclass(frozen=True)
class Step:
    """One statement of a scope. For a compound statement only its header runs here
    (the `for` target and iterable, the `if` test); its body follows as further steps."""

    index: int
    node: cst.BaseSmallStatement | cst.BaseCompoundStatement
    conditional: bool
    loops: tuple[cst.For | cst.While, ...]  # enclosing loops inside this scope, outermost first
    guards: tuple[cst.CSTNode, ...]  # enclosing if/while/try/match/for nodes, outermost first

    @property
    def is_header(self) -> bool:
        return isinstance(self.node, cst.BaseCompoundStatement)

    @cached_property
    def calls(self) -> list[cst.Call]:
        """`nodes_in(self.node, cst.Call)`, found once: most rules and the flow analysis
        look at every step's calls, and the search was a fifth of ftlint's time."""
        return nodes_in(self.node, cst.Call)

    @cached_property
    def reads(self) -> list[cst.Name]:
        """The names this step reads, found once (`names_used`)."""
        return self._uses[0]

    @cached_property
    def binds(self) -> list[cst.Name]:
        """The names this step binds, found once (`names_used`)."""
        return self._uses[1]

    @cached_property
    def bound_names(self) -> frozenset[str]:
        return frozenset(name.value for name in self.binds)

    @cached_property
    def _uses(self) -> tuple[list[cst.Name], list[cst.Name]]:
        # Rules ask for a step's names again and again (every later step, per finding
        # candidate): computed each time, that made a flat script's cost quadratic.
        return names_used(self.node)


class Steps(list):
    """A scope's steps, in order, with `facts`: what an analysis found over the whole
    scope, kept so that asking once per candidate costs a lookup, not another pass."""

    facts: dict[str, object]


def scope_steps(body: Sequence[cst.BaseStatement]) -> Steps:
    steps = Steps()
    steps.facts = {}
    _collect(body, False, (), (), steps)
    return steps


def _collect(
    body: Sequence[cst.BaseStatement],
    conditional: bool,
    loops: tuple,
    guards: tuple,
    out: list[Step],
) -> None:
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                out.append(Step(len(out), small, conditional, loops, guards))
            continue
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            # The definition binds a name; its body is another scope.
            out.append(Step(len(out), stmt, conditional, loops, guards))
            continue
        out.append(Step(len(out), stmt, conditional, loops, guards))
        inner_loops = loops + (stmt,) if isinstance(stmt, LOOPS) else loops
        if isinstance(stmt, cst.With):
            _collect(_suite(stmt.body), conditional, loops, guards, out)
            continue
        for block in child_blocks(stmt):
            _collect(block, True, inner_loops, guards + (stmt,), out)


def child_blocks(stmt: cst.BaseCompoundStatement) -> Iterator[Sequence[cst.BaseStatement]]:
    if not isinstance(stmt, cst.Match):  # a `match` has only its cases
        yield _suite(stmt.body)
    orelse = getattr(stmt, "orelse", None)
    while orelse is not None:
        if isinstance(orelse, cst.If):
            # An `elif` is a nested `if`; its test is a header of its own.
            yield (orelse,)
            break
        yield _suite(orelse.body)
        orelse = None
    for handler in getattr(stmt, "handlers", ()):
        yield _suite(handler.body)
    finalbody = getattr(stmt, "finalbody", None)
    if finalbody is not None:
        yield _suite(finalbody.body)
    for case in getattr(stmt, "cases", ()):
        yield _suite(case.body)


def child_body(node: cst.FunctionDef | cst.ClassDef) -> Sequence[cst.BaseStatement]:
    return _suite(node.body)


def _suite(body: cst.BaseSuite) -> Sequence[cst.BaseStatement]:
    if isinstance(body, cst.IndentedBlock):
        return body.body
    # `if x: y = 1` on one line
    return (cst.SimpleStatementLine(body=body.body),)


def header_parts(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The parts of a statement that run at its own step (not its body)."""
    if isinstance(node, cst.For):
        return [node.target, node.iter]
    if isinstance(node, (cst.If, cst.While)):
        return [node.test]
    if isinstance(node, cst.With):
        return list(node.items)
    if isinstance(node, cst.Match):
        return [node.subject]
    if isinstance(node, cst.FunctionDef):
        return list(node.decorators) + [node.params]
    if isinstance(node, cst.ClassDef):
        return list(node.decorators) + list(node.bases) + list(node.keywords)
    if isinstance(node, cst.BaseCompoundStatement):
        return []  # try/else/finally: no header of their own
    return [node]


class _NameUse(cst.CSTVisitor):
    """Names read and bound by the code of one step, without entering nested scopes."""

    def __init__(self) -> None:
        self.reads: list[cst.Name] = []
        self.binds: list[cst.Name] = []
        self._stores: set[int] = set()

    def _store(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self._stores.add(id(target))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._store(element.value)
        elif isinstance(target, cst.StarredElement):
            self._store(target.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._store(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._store(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._store(node.target)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._store(node.target)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._store(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._store(node.name)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> bool:
        if node.asname is None:
            parts = node.name
            while isinstance(parts, cst.Attribute):
                parts = parts.value
            if isinstance(parts, cst.Name):
                self.binds.append(parts)
        return True

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                if alias.asname is None and isinstance(alias.name, cst.Name):
                    self.binds.append(alias.name)
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        walk(node.value, self)
        return False  # the attribute name is not a variable

    def visit_Arg(self, node: cst.Arg) -> bool:
        walk(node.value, self)
        return False  # keyword names are not variables

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) in self._stores:
            self.binds.append(node)
        else:
            self.reads.append(node)

    def visit_Del(self, node: cst.Del) -> None:
        self._store(node.target)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.binds.append(node.name)
        for decorator in node.decorators:
            walk(decorator, self)
        for param in node.params.params + node.params.kwonly_params:
            if param.default is not None:
                walk(param.default, self)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.binds.append(node.name)
        for part in (*node.decorators, *node.bases, *node.keywords):
            walk(part, self)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        # A lambda's own parameters shadow outer names; its body reads the rest.
        own = {p.name.value for p in node.params.params}
        inner = _NameUse()
        walk(node.body, inner)
        self.reads.extend(n for n in inner.reads if n.value not in own)
        return False


def names_used(step_node: cst.CSTNode) -> tuple[list[cst.Name], list[cst.Name]]:
    """(reads, binds) of one step; an augmented assignment both reads and binds."""
    use = _NameUse()
    if isinstance(step_node, cst.For):
        use._store(step_node.target)
    for part in header_parts(step_node):
        walk(part, use)
    if isinstance(step_node, cst.AugAssign) and isinstance(step_node.target, cst.Name):
        use.binds.append(step_node.target)
    return use.reads, use.binds


def nodes_in(step_node: cst.CSTNode, node_type: type) -> list:
    """Nodes of a type in the code that runs at this step, outside nested scopes."""
    found: list = []
    # A plain pre-order stack walk, in `walk`'s order: rules call this for every step,
    # and a visitor class built per call cost more than the search itself. Type
    # identity, not isinstance (an ABC check on libcst's classes), where it is the same.
    exact = not node_type.__subclasses__()
    for part in header_parts(step_node):
        stack = [part]
        while stack:
            node = stack.pop()
            kind = type(node)
            if kind is node_type if exact else isinstance(node, node_type):
                found.append(node)
            if kind not in _SCOPE_TYPES:
                stack.extend(reversed(children(node)))
    return found


def functions_in(
    body: Sequence[cst.BaseStatement], class_def: cst.ClassDef | None
) -> Iterator[tuple[cst.FunctionDef, cst.ClassDef | None]]:
    for stmt in body:
        if isinstance(stmt, cst.FunctionDef):
            yield stmt, class_def
            yield from functions_in(child_body(stmt), None)
        elif isinstance(stmt, cst.ClassDef):
            yield from functions_in(child_body(stmt), stmt)
        elif isinstance(stmt, cst.BaseCompoundStatement):
            for block in child_blocks(stmt):
                yield from functions_in(block, class_def)


def _encloses(outer: Step, inner: Step) -> bool:
    """Whether `inner` runs whenever `outer`'s block runs (same block, or an outer one)."""
    return inner.guards == outer.guards[: len(inner.guards)]


def next_read(steps: Sequence[Step], after: Step, name: str) -> Step | None:
    """The first later step that reads `name` before it is surely rebound, if any."""
    for step in steps[after.index + 1 :]:
        if exclusive(after, step):
            continue  # the other branch of an `if` never runs after this one
        reads, binds = step.reads, step.binds
        if any(read.value == name for read in reads):
            return step
        if any(bind.value == name for bind in binds) and _encloses(after, step):
            return None
    return None


def _branch(stmt: cst.CSTNode, node: cst.CSTNode) -> int | None:
    """Which child block of `stmt` holds the statement `node` directly, if any."""
    for index, block in enumerate(child_blocks(stmt)):
        for item in block:
            if item is node or (
                isinstance(item, cst.SimpleStatementLine) and any(s is node for s in item.body)
            ):
                return index
    return None


def exclusive(first: Step, second: Step) -> bool:
    """Whether two steps sit in different branches of one `if`/`elif`/`else` or `match`,
    so that at most one of them runs."""
    common = 0
    while (
        common < min(len(first.guards), len(second.guards))
        and first.guards[common] is second.guards[common]
    ):
        common += 1
    if common == 0:
        return False
    stmt = first.guards[common - 1]
    if not isinstance(stmt, (cst.If, cst.Match)):
        return False
    inner = [
        step.guards[common] if len(step.guards) > common else step.node
        for step in (first, second)
    ]
    branches = [_branch(stmt, node) for node in inner]
    return None not in branches and branches[0] != branches[1]


def rebound_in_loop(steps: Sequence[Step], after: Step, name: str) -> bool:
    """Whether `name` is bound again later in the innermost loop around `after`."""
    if not after.loops:
        return False
    loop = after.loops[-1]
    for step in steps[after.index + 1 :]:
        if loop not in step.loops:
            break
        binds = step.binds
        if any(bind.value == name for bind in binds):
            return True
    return False
