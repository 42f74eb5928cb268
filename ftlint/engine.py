"""The one path from source text to findings, shared by every front end."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Sequence

import libcst as cst

from ftlint.context import FileContext
from ftlint.deep_stack import run_with_deep_stack
from ftlint.finding import INTERNAL_ERROR, PARSE_ERROR, Finding, file_finding
from ftlint.noqa import apply_noqa, unused_directives
from ftlint.outline import Outline
from ftlint.parsing import (
    SourceError,
    check_size,
    decode_source,
    parse_valid,
    python_syntax_error,
    source_lines,
)
from ftlint.rules import RULE_CODES
from ftlint.rules.base import Rule
from ftlint.targets import Targets
from ftlint.walk import children, walk


class _Dispatcher(cst.CSTVisitor):
    """Runs every rule's visit_/leave_ methods from a single walk of the tree.

    A rule that raises is reported once as FTL999 and sits out the rest of the file; the
    other rules carry on.
    """

    def __init__(self, rules: Sequence[Rule], on_crash: Callable[[Rule, BaseException], None]):
        self.visits: dict[str, list[tuple[Rule, Callable]]] = {}
        self.leaves: dict[str, list[tuple[Rule, Callable]]] = {}
        self.crashed: set[int] = set()
        self.on_crash = on_crash
        for rule in rules:
            for attr in dir(type(rule)):
                if attr.startswith("visit_"):
                    self.visits.setdefault(attr[6:], []).append((rule, getattr(rule, attr)))
                elif attr.startswith("leave_"):
                    self.leaves.setdefault(attr[6:], []).append((rule, getattr(rule, attr)))

    def _call(self, table: dict[str, list[tuple[Rule, Callable]]], node: cst.CSTNode) -> None:
        for rule, method in table.get(type(node).__name__, ()):
            if id(rule) in self.crashed:
                continue
            try:
                method(node)
            except Exception as error:  # one rule must not silence the rest
                self.crashed.add(id(rule))
                self.on_crash(rule, error)

    def on_visit(self, node: cst.CSTNode) -> bool:
        self._call(self.visits, node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self._call(self.leaves, original_node)

    def run(self, module: cst.Module) -> None:
        if set(self.visits).union(self.leaves) <= {"Module"}:
            # Rules that analyse whole scopes themselves need no walk of the tree.
            self.on_visit(module)
            self.on_leave(module)
        elif self.leaves:
            walk(module, self)
        else:
            # Visits only: the same order as `walk`, without a call for each of the many
            # nodes no rule looks at, nor the bookkeeping of leaves.
            visits = self.visits
            stack: list[cst.CSTNode] = [module]
            while stack:
                node = stack.pop()
                if type(node).__name__ in visits:
                    self._call(visits, node)
                stack.extend(reversed(children(node)))


def rules_for(outline: Outline, rule_types: Iterable[type[Rule]]) -> list[type[Rule]]:
    """The first pass: the static rules that may report something in the file, by the
    words and syntax facts each asks for. Both cost far less than libcst's parse."""
    return [rule for rule in rule_types if not rule.runtime_only and rule.may_report(outline)]


def lint_module(
    path: str,
    module: cst.Module,
    rule_types: Iterable[type[Rule]],
    targets: Targets | None = None,
) -> list[Finding]:
    ctx = FileContext(path, module, targets)
    rules = [rule_type(ctx) for rule_type in rule_types if not rule_type.runtime_only]

    def on_crash(rule: Rule, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}".rstrip(": ")
        ctx.findings.append(
            file_finding(path, INTERNAL_ERROR, f"internal error in {rule.code}: {reason}")
        )

    try:
        # libcst computes positions recursively: deep code needs a deep stack.
        run_with_deep_stack(lambda: _Dispatcher(rules, on_crash).run(module))
    except RecursionError:
        ctx.findings.append(file_finding(path, INTERNAL_ERROR, "internal error: nesting too deep"))
    return ctx.findings


def lint_source(
    path: str,
    data: bytes | str,
    rule_types: Iterable[type[Rule]],
    first_pass: bool = True,
    targets: Targets | None = None,
) -> list[Finding]:
    """Findings for one file, noqa applied, sorted by position. Never raises for bad input.
    `first_pass=False` runs every rule whatever its tokens (the tests compare the two).
    `targets` are the releases linted for (None: the installed ones, else the newest)."""
    try:
        text = decode_source(data) if isinstance(data, bytes) else data
    except SourceError as error:
        return [_parse_error(path, error)]
    rule_types = list(rule_types)
    findings = lint_text(path, text, rule_types, first_pass=first_pass, targets=targets)
    lines = source_lines(text)
    enabled = [rule.code for rule in rule_types]
    # FTL001 is dropped later unless asked for; it is computed here, where the findings
    # before noqa are known, and cached with the rest.
    directives = unused_directives(path, findings, lines, enabled, RULE_CODES)
    return sorted(apply_noqa(findings, lines) + directives)


def lint_text(
    path: str,
    text: str,
    rule_types: Iterable[type[Rule]],
    tree: ast.Module | None = None,
    first_pass: bool = True,
    targets: Targets | None = None,
) -> list[Finding]:
    """Findings for the decoded text of one file, before noqa: the path every front end
    takes. `tree` is Python's syntax tree of `text` when the caller has one (flake8)."""
    rule_types = list(rule_types)
    try:
        check_size(text)
        outline = Outline(text, tree)
        if outline.tree is None:
            raise python_syntax_error(outline.syntax_error)
        if first_pass:
            rule_types = rules_for(outline, rule_types)
            if not rule_types:
                return []
        parsed = parse_valid(
            text, outline.tree, lambda body, segment: _matters(body, segment, rule_types)
        )
    except SourceError as error:
        return [_parse_error(path, error)]
    findings = [
        file_finding(path, PARSE_ERROR, _SKIPPED, line, column)
        for line, column, matters in parsed.skipped
        if matters
    ]
    return findings + lint_module(path, parsed.module, rule_types, targets)


_SKIPPED = (
    "could not analyse this statement: libcst cannot parse it, though Python can; "
    "the rules did not see it"
)


def _matters(body: ast.Module, segment: str, rule_types: Iterable[type[Rule]]) -> bool:
    """Whether a rule might report something in a statement, by the first pass."""
    return bool(rules_for(Outline(segment, body), rule_types))


def _parse_error(path: str, error: SourceError) -> Finding:
    return file_finding(path, PARSE_ERROR, f"could not parse: {error}", error.line, error.column)
