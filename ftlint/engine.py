"""The one path from source text to findings, shared by every front end."""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable, Iterable, Sequence

import libcst as cst

from ftlint.context import FileContext
from ftlint.finding import Finding
from ftlint.gc_pause import collector_paused
from ftlint.outline import Outline
from ftlint.rules.base import Rule
from ftlint.walk import children, walk

PARSE_ERROR = ("FTL000", "parse-error")
INTERNAL_ERROR = ("FTL999", "internal-error")

_NOQA = re.compile(r"#\s*noqa(?::\s?(?P<codes>[A-Z]+[0-9]*(?:[,\s]+[A-Z]+[0-9]*)*))?", re.IGNORECASE)


class SourceError(Exception):
    """The file cannot be read as Python source; the message says why and where."""

    def __init__(self, reason: str, line: int = 1, column: int = 1) -> None:
        super().__init__(reason)
        self.line = line
        self.column = column


def decode_source(data: bytes) -> str:
    if b"\x00" in data:
        raise SourceError("binary file (contains NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        raise SourceError(f"not valid UTF-8 or declared encoding ({error})") from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise SourceError(f"not valid {encoding}: {error}") from None
    return text.removeprefix("\ufeff")


def _file_finding(path: str, kind: tuple[str, str], message: str, line: int = 1, column: int = 1):
    code, name = kind
    return Finding(path, line, column, line, column, code, name, message)


def parse(text: str) -> cst.Module:
    try:
        with collector_paused():
            return cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        raise SourceError(
            "syntax error: " + re.sub(r"^parser error: error at \d+:\d+: ", "", error.message),
            error.raw_line,
            error.raw_column + 1,
        ) from None
    except RecursionError:
        raise SourceError("nesting too deep for the parser") from None


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


def check_syntax(outline: Outline) -> None:
    """Raise SourceError exactly where and as `parse` would, for a file no rule needs
    parsed. Python's own parser, many times faster, accepts almost every file; only one
    it rejects goes to libcst, so the message is libcst's either way."""
    if outline.tree is None:
        parse(outline.text)


def lint_module(path: str, module: cst.Module, rule_types: Iterable[type[Rule]]) -> list[Finding]:
    ctx = FileContext(path, module)
    rules = [rule_type(ctx) for rule_type in rule_types if not rule_type.runtime_only]

    def on_crash(rule: Rule, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}".rstrip(": ")
        ctx.findings.append(
            _file_finding(path, INTERNAL_ERROR, f"internal error in {rule.code}: {reason}")
        )

    try:
        _Dispatcher(rules, on_crash).run(module)
    except RecursionError:
        ctx.findings.append(_file_finding(path, INTERNAL_ERROR, "internal error: nesting too deep"))
    return ctx.findings


def lint_source(
    path: str, data: bytes | str, rule_types: Iterable[type[Rule]], first_pass: bool = True
) -> list[Finding]:
    """Findings for one file, noqa applied, sorted by position. Never raises for bad input.
    `first_pass=False` runs every rule whatever its tokens (the tests compare the two)."""
    try:
        text = decode_source(data) if isinstance(data, bytes) else data
        if first_pass:
            outline = Outline(text)
            rule_types = rules_for(outline, rule_types)
            if not rule_types:
                check_syntax(outline)
                return []
        module = parse(text)
    except SourceError as error:
        message = f"could not parse: {error}"
        return [_file_finding(path, PARSE_ERROR, message, error.line, error.column)]
    findings = lint_module(path, module, rule_types)
    return sorted(apply_noqa(findings, text.splitlines()))


def apply_noqa(findings: Iterable[Finding], lines: Sequence[str]) -> list[Finding]:
    """Drop findings whose reported line says `# noqa` or `# noqa: <code or prefix>`."""

    def line(number: int) -> str:
        return lines[number - 1] if 0 < number <= len(lines) else ""

    return [finding for finding in findings if not silenced(line(finding.line), finding.code)]


def silenced(line: str, code: str) -> bool:
    """Whether a `noqa` comment on this source line covers `code`."""
    match = _NOQA.search(line)
    if match is None:
        return False
    codes = match.group("codes")
    if codes is None:
        return True  # a bare noqa silences everything on the line, as in flake8
    return code.startswith(tuple(c.upper() for c in re.split(r"[,\s]+", codes) if c))
