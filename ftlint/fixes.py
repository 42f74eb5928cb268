"""Applying the fixes that findings carry: `ftlint check --fix` and `--diff`.

A pass lints the text, takes the fixes that may be applied (safe ones, or unsafe ones too
when asked; none that touches a line whose `noqa` covers the finding's code), drops those
overlapping one already taken, and applies them from the end. A result that does not parse
is never kept. Passes repeat, up to a bound, until nothing changes: fixing one finding may
reveal or resolve another.

In a notebook a finding's fix edits its cell (`ftlint.notebooks` keeps only such fixes):
each is applied to that cell's source, and the notebook's JSON is written back with only
the sources of the changed cells replaced. A fix is kept only if the same cells are still
linted together and their joined script still parses.
"""

from __future__ import annotations

import ast
import difflib
import functools
import io
import json
import os
import tokenize
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ftlint.config import Settings
from ftlint.files import NOTEBOOK_SUFFIX, SOURCE_SUFFIXES, read_file, replace_file
from ftlint.finding import Finding, Fix
from ftlint.noqa import silenced
from ftlint.notebooks import (
    CodeCell,
    Notebook,
    NotebookError,
    cells_to_lint,
    code_cell,
    joined,
)
from ftlint.parsing import NEWLINE, SourceError, decode_source, parse, source_lines
from ftlint.runner import enabled_rules, lint_data, lint_file

MAX_PASSES = 10


@dataclass
class FixedText:
    text: str
    applied: int  # fixes applied over all passes
    findings: list[Finding]  # what remains in `text`
    descriptions: list[str] = field(default_factory=list)  # "line N: CODE what it did"


def _line_starts(text: str) -> list[int]:
    return [0] + [match.end() for match in NEWLINE.finditer(text)]


def _spans(fix: Fix, starts: list[int]) -> list[tuple[int, int, str]]:
    """Each edit as (start offset, end offset, content)."""
    return [
        (starts[edit.line - 1] + edit.column - 1, starts[edit.end_line - 1] + edit.end_column - 1,
         edit.content)
        for edit in fix.edits
    ]  # fmt: skip


def apply_fixes(text: str, fixes: Sequence[Fix]) -> str:
    """`text` with the edits of `fixes`, which must not overlap, all made."""
    starts = _line_starts(text)
    spans = sorted((span for fix in fixes for span in _spans(fix, starts)), reverse=True)
    for start, end, content in spans:
        text = text[:start] + content + text[end:]
    return text


def _touched_lines(fix: Fix) -> range:
    return range(min(e.line for e in fix.edits), max(e.end_line for e in fix.edits) + 1)


def may_apply(finding: Finding, lines: Sequence[str], unsafe: bool) -> bool:
    fix = finding.fix
    if fix is None or not fix.edits or not (fix.safe or unsafe):
        return False
    return not any(
        silenced(lines[number - 1], finding.code)
        for number in _touched_lines(fix)
        if 0 < number <= len(lines)
    )


def _without_overlaps(fixes: list[Fix], starts: list[int]) -> list[Fix]:
    """The fixes in order, skipping each that overlaps (or touches) one already taken."""
    taken: list[Fix] = []
    used: list[tuple[int, int]] = []
    for fix in fixes:
        ranges = [(start, end) for start, end, _ in _spans(fix, starts)]
        if any(start <= e and s <= end for start, end in ranges for s, e in used):
            continue
        taken.append(fix)
        used.extend(ranges)
    return taken


def parses(text: str) -> bool:
    """Whether both libcst and Python's own parser accept `text`."""
    try:
        parse(text)
        with warnings.catch_warnings():  # the code's own warnings, not ours (`-W error`)
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SourceError, SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


_Code = TypeVar("_Code", str, dict[int, str])  # a file's text, or a notebook's cell sources


def _one_pass(
    code: _Code,
    fixes: list[Fix],
    apply: Callable[[_Code, list[Fix]], _Code],
    keeps: Callable[[_Code], bool],
) -> tuple[_Code, list[Fix]]:
    """Apply as many of `fixes` as leave code that `keeps` (that parses); the code, and
    those applied."""
    fixed = apply(code, fixes)
    if keeps(fixed):
        return fixed, fixes
    # Keep only the fixes that parse on their own; if together they still do not, take
    # the first alone and let the next pass, which lints again, see to the rest.
    alone = [fix for fix in fixes if keeps(apply(code, [fix]))]
    fixed = apply(code, alone)
    if alone and keeps(fixed):
        return fixed, alone
    return (apply(code, alone[:1]), alone[:1]) if alone else (code, [])


def fix_text(text: str, lint: Callable[[str], list[Finding]], unsafe: bool) -> FixedText:
    descriptions: list[str] = []
    findings = lint(text)
    for _ in range(MAX_PASSES):
        lines = NEWLINE.split(text)
        # A notebook's finding (in a cell) has a fix for its cell: fix_notebook's.
        fixable = [f for f in sorted(findings) if f.cell is None and may_apply(f, lines, unsafe)]
        by_fix = {id(f.fix): f for f in fixable}
        wanted = _without_overlaps([f.fix for f in fixable], _line_starts(text))
        fixed, applied = _one_pass(text, wanted, apply_fixes, parses)
        if fixed == text:
            break
        for fix in applied:
            finding = by_fix[id(fix)]
            descriptions.append(f"line {finding.line}: {finding.code} {fix.description}")
        text = fixed
        findings = lint(text)
    return FixedText(text, len(descriptions), findings, descriptions)


def _in_cells(sources: dict[int, str], fixes: list[Fix], cell_of: dict[int, int]) -> dict[int, str]:
    """`sources` with each fix applied to the source of its cell (`cell_of[id(fix)]`)."""
    return {
        number: apply_fixes(source, [fix for fix in fixes if cell_of[id(fix)] == number])
        for number, source in sources.items()
    }


def fix_notebook(text: str, lint: Callable[[str], list[Finding]], unsafe: bool) -> FixedText:
    """fix_text for the JSON `text` of a notebook: each fix goes to its finding's cell."""
    findings = lint(text)
    try:
        notebook = Notebook(text)
    except NotebookError:  # the findings say why
        return FixedText(text, 0, findings)
    sources = {cell.number: cell.source for cell in notebook.cells}

    def linted(fixed: dict[int, str]) -> list[CodeCell]:
        return cells_to_lint([code_cell(number, source) for number, source in fixed.items()])[0]

    linted_before = [cell.number for cell in linted(sources)]

    def keeps(fixed: dict[int, str]) -> bool:
        cells = linted(fixed)
        return [cell.number for cell in cells] == linted_before and parses(joined(cells))

    descriptions: list[str] = []
    for _ in range(MAX_PASSES):
        fixable = [
            f
            for f in sorted(findings)
            if f.cell in sources and may_apply(f, source_lines(sources[f.cell]), unsafe)
        ]
        by_fix = {id(f.fix): f for f in fixable}
        cell_of = {id(f.fix): f.cell for f in fixable}
        wanted = [
            fix
            for number, source in sources.items()
            for fix in _without_overlaps(
                [f.fix for f in fixable if f.cell == number], _line_starts(source)
            )
        ]
        apply = functools.partial(_in_cells, cell_of=cell_of)
        fixed, applied = _one_pass(sources, wanted, apply, keeps)
        if fixed == sources:
            break
        for fix in applied:
            finding = by_fix[id(fix)]
            descriptions.append(
                f"cell {finding.cell} line {finding.line}: {finding.code} {fix.description}"
            )
        sources = fixed
        text = notebook.with_sources(sources)
        findings = lint(text)
    return FixedText(text, len(descriptions), findings, descriptions)


def fix_contents(
    name: str, text: str, lint: Callable[[str], list[Finding]], unsafe: bool
) -> FixedText:
    """fix_notebook or fix_text, as `name` is a notebook's or not."""
    fix = fix_notebook if name.endswith(NOTEBOOK_SUFFIX) else fix_text
    return fix(text, lint, unsafe)


@dataclass
class FixedFile:
    path: Path
    before: str
    after: str
    applied: int
    findings: list[Finding]
    error: str | None = None  # why the fixed text could not be written back
    descriptions: list[str] = field(default_factory=list)  # of the fixes applied

    def diff(self) -> str:
        """A unified diff from `before` to `after`, as `git diff` writes one (of the JSON
        text, for a notebook)."""
        lines = difflib.unified_diff(
            _lines_with_ends(self.before),
            _lines_with_ends(self.after),
            fromfile=_diff_name("a/", self.path),
            tofile=_diff_name("b/", self.path),
        )
        return "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in lines
        )


# How git writes a byte of a file name in a diff header, beside \ooo for the others it quotes.
_GIT_ESCAPES = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 34: '"', 92: "\\"}


def _diff_name(prefix: str, path: Path) -> str:
    """`prefix` and the path, C-quoted as git quotes it when a byte of it is a control
    character, a quote, a backslash or beyond ASCII (a name that is not UTF-8, decoded
    with surrogates, has its own bytes back): `"a/bad\\377.py"`."""
    name = os.fsencode(prefix + path.as_posix())
    if all(32 <= byte < 127 and byte not in _GIT_ESCAPES for byte in name):
        return name.decode("ascii")
    quoted = "".join(
        f"\\{_GIT_ESCAPES[byte]}" if byte in _GIT_ESCAPES
        else chr(byte) if 32 <= byte < 127
        else f"\\{byte:03o}"
        for byte in name
    )  # fmt: skip
    return f'"{quoted}"'


def _lines_with_ends(text: str) -> list[str]:
    """Lines as Python counts them, each with its line break (a form feed is not one)."""
    ends = [match.end() for match in NEWLINE.finditer(text)]
    starts = [0, *ends]
    lines = [text[start:end] for start, end in zip(starts, ends)]
    return lines + [text[starts[-1] :]] if starts[-1] < len(text) else lines


def _decoded(path: Path, data: bytes) -> tuple[str, str]:
    """The encoding of a file's bytes and their text, as linting reads them (a notebook
    as JSON does: UTF-8 unless a byte order mark says otherwise)."""
    if path.name.endswith(NOTEBOOK_SUFFIX):
        encoding = json.detect_encoding(data)
        return encoding, data.decode(encoding)
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return encoding, decode_source(data)


def fix_file(
    path: Path, lint: Callable[[Path, bytes | str], list[Finding]], unsafe: bool, write: bool
) -> FixedFile | None:
    """Fix one file, writing it back in its own encoding when `write`; None when the file
    cannot be read or decoded (linting it reports why)."""
    try:
        data = read_file(path)
        encoding, before = _decoded(path, data)
    except (OSError, SyntaxError, SourceError, UnicodeDecodeError):
        return None
    result = fix_contents(str(path), before, lambda text: lint(path, text), unsafe)
    fixed = FixedFile(
        path, before, result.text, result.applied, result.findings, None, result.descriptions
    )
    if write and result.text != before:
        try:
            # utf-8-sig puts back the byte order mark that decoding removed.
            replace_file(path, result.text.encode(encoding))
        except (OSError, UnicodeEncodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            return FixedFile(path, before, before, 0, lint(path, before), f"cannot write: {reason}")
    return fixed


def fix_paths(
    files: list[Path], settings_for: Callable[[Path], Settings], unsafe: bool, write: bool
) -> tuple[list[FixedFile], list[Finding]]:
    """Fix each source file, with `settings_for(path)`; the findings are what remains in
    all `files`, sorted."""
    rules_by_settings: dict[int, list] = {}
    fixed: list[FixedFile] = []
    findings: list[Finding] = []
    for path in files:
        settings = settings_for(path)
        rules = rules_by_settings.get(id(settings))
        if rules is None:
            rules = rules_by_settings[id(settings)] = enabled_rules(settings)
        result = None
        if path.suffix in SOURCE_SUFFIXES:
            result = fix_file(
                path,
                lambda path, data: lint_data(path, data, settings, rules),  # noqa: B023 - called here
                unsafe,
                write,
            )
        if result is None:  # unreadable, or not Python source: linting says what it can
            findings.extend(lint_file(path, settings, rules))
        else:
            fixed.append(result)
            findings.extend(result.findings)
    return fixed, sorted(findings)
