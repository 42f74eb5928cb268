"""What the first pass knows of a file before libcst parses it.

Two stages, each far cheaper than the parse it may save: the file's words, then a few
facts read from Python's own syntax tree (about ten times faster to build than libcst's,
and handed over for free by flake8). Rules ask for them in `Rule.may_report`. Every fact
over-approximates what the rules see in the libcst tree of the same text: a call is a
call in both trees, and an import alias is resolved to every name it is bound to anywhere
in the file, where the rules resolve it to one.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cached_property

from ftlint.gc_pause import collector_paused

_WORD = re.compile(r"\w+")
_ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_YIELDS = (ast.Yield, ast.YieldFrom)
_LOOPS = (ast.For, ast.AsyncFor, ast.comprehension)
_PARAMETER_METHODS = frozenset({"parameters", "named_parameters"})
# Nodes that bind their `name`: functions and classes (the latter also read below),
# `except E as name`, `case [*name]`, `case x as name`.
_NAMED_BINDINGS = (*_FUNCTIONS, ast.ExceptHandler, ast.MatchStar, ast.MatchAs)
# Nodes no fact is read from and that have no children worth a visit (a name that is
# stored into is visited: it is a binding).
_LEAVES = (ast.Name, ast.Constant, ast.expr_context, ast.operator, ast.cmpop, ast.unaryop)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
# An assignment's fields but its value, which is walked marked as assigned.
_TARGET_FIELDS = {
    kind: tuple(f for f in kind._fields if f not in ("value", "ctx")) for kind in _ASSIGNMENTS
}


class Facts:
    """Facts about the calls and statements of a file, read from its `ast` tree."""

    def __init__(self, tree: ast.Module) -> None:
        self._aliases: dict[str, set[str]] = defaultdict(set)
        self._dotted: list[list[str]] = []
        self._bases: list[list[str]] = []
        self._called: set[str] = set()
        self._assigned: set[str] = set()
        self._called_by: dict[ast.AST, set[str]] = defaultdict(set)
        self._generators: set[ast.AST] = set()
        self._membership_filter = False
        self._compares_for_nothing = False
        # `a.b` written anywhere: ("a", "b") for `x.a.b`.
        self._attribute_pairs: set[tuple[str, str]] = set()
        # attribute -> owners stored into: `x.attr = ...`, `setattr(x, "attr", ...)`; an
        # owner is a name, or None for any other expression.
        self._stored_attributes: dict[str, set[str | None]] = defaultdict(set)
        # (callee's last name, keyword or position among the plain positional arguments)
        # of every literal False passed: ("load_state_dict", "strict"), ("f", 1); and the
        # same with the callee's dotted name, resolved below like every callee's.
        self._false_arguments: set[tuple[str, str | int]] = set()
        self._false_to_dotted: list[tuple[list[str], str | int]] = []
        self._loop_targets: set[ast.AST] = set()  # name nodes bound by parameter loops
        self._bound_by_parameter_loops: set[str] = set()
        self._bound_otherwise: set[str] = set()
        self._read(tree)
        self._calls = self._resolve(self._dotted)
        self._class_bases = self._resolve(self._bases)
        self._false_to_qualified = {
            (name, argument)
            for parts, argument in self._false_to_dotted
            for name in self._resolve([parts])
        }

    def calls_any(self, names: Iterable[str]) -> bool:
        """Whether a callee may be one of these qualified names (`torch.save`)."""
        return not self._calls.isdisjoint(names)

    def calls_matching(self, predicate: Callable[[str], bool]) -> bool:
        """Whether a callee may have a qualified name the predicate accepts."""
        return any(predicate(name) for name in self._calls)

    def derives_from(self, predicate: Callable[[str], bool]) -> bool:
        """Whether a class of the file may have a base the predicate accepts."""
        return any(predicate(name) for name in self._class_bases)

    def calls_method(self, names: Iterable[str]) -> bool:
        """Whether a callee's last name is one of these: `m.module.load_state_dict(...)`."""
        return not self._called.isdisjoint(names)

    def assigns_result_of(self, names: Iterable[str]) -> bool:
        """Whether a call of one of these last names sits in an assigned value
        (`params = model.parameters()`), or in a top-level generator function, whose
        result its callers assign."""
        names = set(names)
        if not self._assigned.isdisjoint(names):
            return True
        return any(not self._called_by[f].isdisjoint(names) for f in self._generators)

    def passes_false(self, method: str, argument: str | int) -> bool:
        """Whether a call whose callee's last name is `method` (`m.load_state_dict`)
        passes a literal False as the keyword `argument`, or at that position among its
        unstarred positional ones."""
        return (method, argument) in self._false_arguments

    def passes_false_to(self, callees: Iterable[str], argument: str | int) -> bool:
        """The same for a callee that may be one of these qualified names, import
        aliases resolved (`torch_load(p, weights_only=False)` for `torch.load`)."""
        return any((callee, argument) in self._false_to_qualified for callee in callees)

    def writes_attribute_of(self, owner_attribute: str, attribute: str) -> bool:
        """Whether `x.<owner_attribute>.<attribute>` is written somewhere."""
        return (owner_attribute, attribute) in self._attribute_pairs

    def owners_stored_into(self, attribute: str) -> set[str | None]:
        """What `x.attribute = ...` and `setattr(x, "attribute", ...)` store into: the
        name `x`, or None when `x` is another expression."""
        return self._stored_attributes.get(attribute, set())

    def stores_attribute_matching(self, predicate: Callable[[str], bool]) -> bool:
        """Whether some attribute stored into has a name the predicate accepts."""
        return any(predicate(name) for name in self._stored_attributes)

    def bound_only_by_parameter_loops(self, name: str) -> bool:
        """Whether every binding of `name` in the file is a loop target over
        `parameters()`/`named_parameters()`: then it never holds a module."""
        return name in self._bound_by_parameter_loops and name not in self._bound_otherwise

    def filters_dict_by_membership(self) -> bool:
        """`{k: v for k, v in sd.items() if k in keys}`: one `for`, an `if` testing `in`."""
        return self._membership_filter

    def compares_for_nothing(self) -> bool:
        """An expression statement that compares, or a comprehension of comparisons."""
        return self._compares_for_nothing

    def _resolve(self, dotted: list[list[str]]) -> frozenset[str]:
        """Each dotted name as written, and through every import of its first name."""
        names = set()
        for parts in dotted:
            names.add(".".join(parts))
            for qualified in self._aliases.get(parts[0], ()):
                names.add(".".join([qualified, *parts[1:]]))
        return frozenset(names)

    def _read(self, tree: ast.Module) -> None:
        top_functions = {stmt for stmt in tree.body if isinstance(stmt, _FUNCTIONS)}
        # (node, inside an assigned value, the top-level function it is in)
        stack: list[tuple[ast.AST, bool, ast.AST | None]] = [(tree, False, None)]
        push = stack.append
        while stack:
            node, assigned, function = stack.pop()
            kind = type(node)
            if kind is ast.Call:
                self._call(node, assigned, function)
            elif kind in _ASSIGNMENTS:
                assigned_value = node.value
                if assigned_value is not None:
                    push((assigned_value, True, function))
                    _push_children(node, _TARGET_FIELDS[kind], assigned, function, push)
                    continue
            elif kind in _YIELDS:
                if function is not None:
                    self._generators.add(function)
            elif kind is ast.Attribute:
                self._attribute(node)
            elif kind is ast.Name:  # only stores are visited
                if node in self._loop_targets:
                    self._bound_by_parameter_loops.add(node.id)
                else:
                    self._bound_otherwise.add(node.id)
            elif kind in _LOOPS:
                if _loops_over_parameters(node):
                    self._loop_targets.update(_names_in(node.target))
            elif kind is ast.arg:
                self._bound_otherwise.add(node.arg)
            elif kind in _NAMED_BINDINGS:
                if node.name is not None:
                    self._bound_otherwise.add(node.name)
                if node in top_functions:
                    function = node
            elif kind is ast.Import or kind is ast.ImportFrom:
                self._import(node)
            elif kind is ast.MatchMapping and node.rest is not None:
                self._bound_otherwise.add(node.rest)
            elif kind is ast.ClassDef:
                self._bound_otherwise.add(node.name)
                self._bases.extend(p for p in map(_dotted_parts, node.bases) if p is not None)
            elif kind is ast.DictComp:
                self._membership_filter = self._membership_filter or _membership_filter(node)
            elif kind is ast.Expr:
                value = node.value
                if isinstance(value, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
                    value = value.elt
                self._compares_for_nothing |= isinstance(value, ast.Compare)
            fields = _CHILD_FIELDS.get(kind)
            if fields is None:
                fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f != "ctx")
            _push_children(node, fields, assigned, function, push)

    def _call(self, call: ast.Call, assigned: bool, function: ast.AST | None) -> None:
        func = call.func
        if isinstance(func, ast.Attribute):
            last = func.attr
        elif isinstance(func, ast.Name):
            last = func.id
        else:
            return
        self._called.add(last)
        parts = _dotted_parts(func)
        if parts is not None:
            self._dotted.append(parts)
        positional = [arg for arg in call.args if type(arg) is not ast.Starred]
        false_arguments = [k.arg for k in call.keywords if k.arg and _is_false(k.value)]
        false_arguments += [i for i, arg in enumerate(positional) if _is_false(arg)]
        for argument in false_arguments:
            self._false_arguments.add((last, argument))
            if parts is not None:
                self._false_to_dotted.append((parts, argument))
        if last == "setattr" and len(call.args) >= 2:
            attribute = call.args[1]
            if isinstance(attribute, ast.Constant) and isinstance(attribute.value, str):
                self._stored_attributes[attribute.value].add(_name_of(call.args[0]))
        if assigned:
            self._assigned.add(last)
        if function is not None:
            self._called_by[function].add(last)

    def _attribute(self, node: ast.Attribute) -> None:
        owner = node.value
        if type(owner) is ast.Attribute:
            self._attribute_pairs.add((owner.attr, node.attr))
        if type(node.ctx) is ast.Store:
            self._stored_attributes[node.attr].add(_name_of(owner))

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            self._bound_otherwise.add(alias.asname or alias.name.split(".", 1)[0])
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is not None:
                    self._aliases[alias.asname].add(alias.name)
                else:
                    first = alias.name.split(".", 1)[0]
                    self._aliases[first].add(first)
        elif node.module is not None and not node.level:
            for alias in node.names:
                self._aliases[alias.asname or alias.name].add(f"{node.module}.{alias.name}")


class _AnyFacts(Facts):
    """Stands in when Python's parser rejects the file: every fact may hold."""

    def __init__(self) -> None:
        pass

    def calls_any(self, names: Iterable[str]) -> bool:
        return True

    def calls_matching(self, predicate: Callable[[str], bool]) -> bool:
        return True

    def derives_from(self, predicate: Callable[[str], bool]) -> bool:
        return True

    def calls_method(self, names: Iterable[str]) -> bool:
        return True

    def assigns_result_of(self, names: Iterable[str]) -> bool:
        return True

    def filters_dict_by_membership(self) -> bool:
        return True

    def passes_false(self, method: str, argument: str | int) -> bool:
        return True

    def passes_false_to(self, callees: Iterable[str], argument: str | int) -> bool:
        return True

    def writes_attribute_of(self, owner_attribute: str, attribute: str) -> bool:
        return True

    def owners_stored_into(self, attribute: str) -> set[str | None]:
        return {None}

    def stores_attribute_matching(self, predicate: Callable[[str], bool]) -> bool:
        return True

    def bound_only_by_parameter_loops(self, name: str) -> bool:
        return False

    def compares_for_nothing(self) -> bool:
        return True


def _push_children(node, fields, assigned, function, push) -> None:
    for field in fields:
        value = getattr(node, field, None)
        if type(value) is list:
            for item in value:
                if isinstance(item, ast.AST) and _visited(item):
                    push((item, assigned, function))
        elif isinstance(value, ast.AST) and _visited(value):
            push((value, assigned, function))


def _visited(node: ast.AST) -> bool:
    if not isinstance(node, _LEAVES):
        return True
    return type(node) is ast.Name and type(node.ctx) is ast.Store


def _is_false(node: ast.expr) -> bool:
    """A literal False, or a conditional expression that may be one (as
    `analysis.names.may_be_false`; a rule that wants the literal alone still asks)."""
    while type(node) is ast.IfExp:
        if _is_false(node.body):
            return True
        node = node.orelse
    return type(node) is ast.Constant and node.value is False


def _name_of(node: ast.expr) -> str | None:
    return node.id if type(node) is ast.Name else None


def _loops_over_parameters(loop: ast.For | ast.AsyncFor | ast.comprehension) -> bool:
    iterated = loop.iter
    return (
        type(iterated) is ast.Call
        and type(iterated.func) is ast.Attribute
        and iterated.func.attr in _PARAMETER_METHODS
    )


def _names_in(target: ast.expr) -> list[ast.Name]:
    return [node for node in ast.walk(target) if type(node) is ast.Name]


def _dotted_parts(node: ast.expr) -> list[str] | None:
    """`analysis.names.dotted_parts` for Python's ast: `a.b.c` -> ["a", "b", "c"]."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    parts.reverse()
    return parts


def _membership_filter(comp: ast.DictComp) -> bool:
    if len(comp.generators) != 1:
        return False
    return any(
        isinstance(node, ast.Compare) and any(isinstance(op, ast.In) for op in node.ops)
        for condition in comp.generators[0].ifs
        for node in ast.walk(condition)
    )


class Outline:
    """A file's text, its words, and the facts of its `ast` tree, each computed once, on
    first use. `tree` is flake8's, when it has one."""

    def __init__(self, text: str, tree: ast.Module | None = None) -> None:
        self.text = text
        self._tree = tree
        self.syntax_error: BaseException | None = None

    @cached_property
    def words(self) -> frozenset[str]:
        """Its distinct words: identifiers, attribute, keyword and imported names, and
        the words of strings and comments (runs of letters, digits and _)."""
        return frozenset(_WORD.findall(self.text))

    @cached_property
    def tree(self) -> ast.Module | None:
        """Python's syntax tree of the text, or None when Python's parser rejects it
        (`syntax_error` says why)."""
        if self._tree is not None:
            return self._tree
        try:
            # The file's own warnings (an invalid escape, `"a"()`) are not ftlint's to
            # print, nor to turn into errors under `-W error`.
            with collector_paused(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return compile(self.text, "<source>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            self.syntax_error = error
            return None

    @cached_property
    def facts(self) -> Facts:
        tree = self.tree
        if tree is None:
            return _AnyFacts()
        try:
            return Facts(tree)
        except RecursionError:
            return _AnyFacts()
