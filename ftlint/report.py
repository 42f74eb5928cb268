"""Render findings for people and for tools.

No report carries a lone surrogate, which a file name that is not UTF-8 decodes to: each
is written as a backslash escape (`bad\\xff.py`), so a report is always valid UTF-8.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from ftlint.finding import Finding
from ftlint.sarif import (
    cell_position,
    find_root,
    json_text,
    level,
    render_sarif,
    without_surrogates,
)


def _file(finding: Finding) -> str:
    """`path`, or `path:cell N` for a finding in a notebook."""
    return finding.path if finding.cell is None else f"{finding.path}:cell {finding.cell}"


_BOLD, _RED, _CYAN, _RESET = "\033[1m", "\033[31m", "\033[36m", "\033[0m"


def render_text(findings: Sequence[Finding], root: Path, color: bool = False) -> str:
    """One line per finding; `[*]` marks one that `--fix` resolves, as Ruff marks it."""

    def line(f: Finding) -> str:
        where, code = f"{_file(f)}:{f.line}:{f.column}:", f.code
        mark = " [*]" if f.fix is not None and f.fix.safe else ""
        if color:
            where, code = f"{_BOLD}{where}{_RESET}", f"{_BOLD}{_RED}{code}{_RESET}"
            mark = mark and f" {_CYAN}[*]{_RESET}"
        return f"{where} {code}{mark} {f.message}\n"

    return without_surrogates("".join(line(f) for f in findings))


def render_json(findings: Sequence[Finding], root: Path) -> str:
    return json_text([f.as_dict() for f in findings])


def _escape_data(text: str) -> str:
    """GitHub workflow commands: `%`, CR and LF are written as %25, %0D and %0A."""
    text = without_surrogates(text)  # before: its escapes have no `%`
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _repository_path(path: str, root: Path) -> str:
    """GitHub resolves annotation paths from the repository root."""
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return path


def render_github(findings: Sequence[Finding], root: Path) -> str:
    """Workflow commands that GitHub Actions shows as annotations on the pull request.
    A notebook finding annotates the whole file: its line counts within a cell, not
    within the .ipynb file, so the cell and line go in the message instead."""
    lines = []
    for f in findings:
        where: tuple[tuple[str, object], ...] = (
            ("line", f.line),
            ("col", f.column),
            ("endLine", f.end_line),
            ("endColumn", f.end_column),
        )
        message = f.message
        if f.cell is not None:
            where, message = (), f"{cell_position(f)}: {message}"
        properties = ",".join(
            f"{key}={_escape_property(str(value))}"
            for key, value in (
                ("file", _repository_path(f.path, root)),
                *where,
                ("title", f"{f.code} ({f.name})"),
            )
        )
        lines.append(f"::{level(f.code)} {properties}::{_escape_data(message)}\n")
    return "".join(lines)


FORMATS: dict[str, Callable[[Sequence[Finding], Path], str]] = {
    "text": render_text,
    "json": render_json,
    "github": render_github,
    "sarif": render_sarif,
}


def render(
    format_name: str, findings: Sequence[Finding], start: Path | None = None, color: bool = False
) -> str:
    """The report in one of `FORMATS`, paths taken relative to the repository holding
    `start` (the current directory by default) where a format needs them so; `color`
    for text on a terminal."""
    root = find_root(start or Path.cwd())
    if format_name == "text":
        return render_text(findings, root, color)
    return FORMATS[format_name](findings, root)


def render_statistics(findings: Sequence[Finding]) -> str:
    """How many findings of each code, most frequent first, and how many a fix resolves."""
    counts = Counter((f.code, f.name) for f in findings)
    safe = Counter(f.code for f in findings if f.fix is not None and f.fix.safe)
    unsafe = Counter(f.code for f in findings if f.fix is not None and not f.fix.safe)
    width = len(str(max(counts.values(), default=0)))
    lines = []
    for (code, name), count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        notes = []
        if safe[code]:
            notes.append(f"{safe[code]} fixable with --fix")
        if unsafe[code]:
            notes.append(f"{unsafe[code]} fixable with --fix --unsafe-fixes")
        note = f"  ({', '.join(notes)})" if notes else ""
        lines.append(f"{count:>{width}}  {code}  {name}{note}\n")
    return without_surrogates("".join(lines))
