"""`noqa` directives: on a line (`# noqa`, `# noqa: FTL101`), for a whole file
(`# ftlint: noqa`, `# ftlint: noqa: FTL2`), the ones that silence nothing, and writing
them (`--add-noqa`). Lines are numbered as Python and libcst number them."""

from __future__ import annotations

import difflib
import io
import re
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ftlint.finding import UNKNOWN_NOQA_CODE as UNKNOWN
from ftlint.finding import UNUSED_NOQA as UNUSED
from ftlint.finding import Edit, Finding, Fix

_CODES = r"[A-Z][A-Z0-9]*(?:[,\s]+[A-Z][A-Z0-9]*)*"
_LINE = re.compile(rf"#\s*noqa(?::\s?(?P<codes>{_CODES}))?", re.IGNORECASE)
_FILE = re.compile(rf"#\s*ftlint:\s*noqa(?::\s?(?P<codes>{_CODES}))?", re.IGNORECASE)


@dataclass(frozen=True)
class Directive:
    """A `# noqa` on one line: None for a bare one (everything), else its codes."""

    codes: tuple[str, ...] | None
    start: int  # column (0-based) where the comment text `# noqa...` starts
    end: int

    def covers(self, code: str) -> bool:
        return self.codes is None or code.startswith(self.codes)


def _codes(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(code.upper() for code in re.split(r"[,\s]+", text) if code)


def line_directive(line: str) -> Directive | None:
    """The line's `# noqa` (not `# ftlint: noqa`, which is for the whole file)."""
    match = _LINE.search(line) if "noqa" in line.lower() else None
    if match is None:
        return None
    return Directive(_codes(match.group("codes")), match.start(), match.end())


def silenced(line: str, code: str) -> bool:
    """Whether a `noqa` comment on this source line covers `code`."""
    directive = line_directive(line)
    return directive is not None and directive.covers(code)


def file_directives(lines: Sequence[str]) -> list[tuple[str, ...] | None]:
    """Each `# ftlint: noqa[: CODES]` of the file: None silences every finding."""
    return [
        _codes(match.group("codes"))
        for line in lines
        if "ftlint" in line
        for match in [_FILE.search(line)]
        if match is not None
    ]


def apply_noqa(findings: Iterable[Finding], lines: Sequence[str]) -> list[Finding]:
    """Drop findings a file-level directive covers, or a `noqa` on their reported line."""
    whole_file = file_directives(lines)
    if any(codes is None for codes in whole_file):
        return []
    file_codes = tuple(code for codes in whole_file for code in codes or ())

    def line(number: int) -> str:
        return lines[number - 1] if 0 < number <= len(lines) else ""

    return [
        finding
        for finding in findings
        if not (file_codes and finding.code.startswith(file_codes))
        and not silenced(line(finding.line), finding.code)
    ]


def unused_directives(
    path: str,
    findings: Sequence[Finding],
    lines: Sequence[str],
    enabled: Sequence[str],
    known: Sequence[str],
) -> list[Finding]:
    """For each line's `noqa`: FTL002 for an FTL code no rule has, and FTL001 for the
    codes of enabled rules that silence none of `findings` (the file's findings before
    noqa); each with a safe fix that removes those codes. Other tools' codes (E501) and
    bare directives are left alone: ftlint cannot know what they silence."""
    codes_by_line: dict[int, set[str]] = {}
    for finding in findings:
        codes_by_line.setdefault(finding.line, set()).add(finding.code)
    found: list[Finding] = []
    for number, line in enumerate(lines, start=1):
        directive = line_directive(line)
        if directive is None or directive.codes is None:
            continue
        ours = [code for code in directive.codes if code.startswith("FTL")]
        unknown = [c for c in ours if not any(k.startswith(c) for k in known)]
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1, cutoff=0.7)
            hint = f" (did you mean {close[0]}?)" if close else ""
            message = f"unknown rule code {unknown[0]} in noqa: it silences nothing{hint}"
            found.append(
                _directive_finding(path, number, line, directive, unknown, UNKNOWN, message)
            )
        reported = codes_by_line.get(number, set())
        idle = [
            code
            for code in ours
            if code not in unknown
            and any(e.startswith(code) for e in enabled)
            and not any(r.startswith(code) for r in reported)
        ]
        if idle:
            message = f"unused noqa for {', '.join(idle)}: nothing of that code is reported here"
            found.append(_directive_finding(path, number, line, directive, idle, UNUSED, message))
    return found


def _directive_finding(
    path: str,
    number: int,
    line: str,
    directive: Directive,
    dropped: list[str],
    kind: tuple[str, str],
    message: str,
) -> Finding:
    kept = [code for code in directive.codes or () if code not in dropped]
    if kept:
        start, content = directive.start, f"# noqa: {', '.join(kept)}"
    else:  # the whole directive goes, with the spaces before it
        start, content = len(line[: directive.start].rstrip()), ""
    edit = Edit(number, start + 1, number, directive.end + 1, content)
    fix = Fix(f"remove {', '.join(dropped)} from the noqa", (edit,), safe=True)
    column = directive.start + 1
    return Finding(path, number, column, number, directive.end + 1, *kind, message, fix)


def add_directives(text: str, findings: Sequence[Finding]) -> tuple[str, int, list[int]]:
    """`text` with `# noqa: CODES` on every line a finding is reported on, merged into a
    directive already there; the number of lines changed, and the lines that cannot take
    a comment (inside a multi-line string, or continued with a backslash)."""
    from ftlint.parsing import NEWLINE

    wanted: dict[int, list[str]] = {}
    for finding in findings:
        codes = wanted.setdefault(finding.line, [])
        if finding.code not in codes:
            codes.append(finding.code)
    pieces = NEWLINE.split(text)
    breaks = [match.group() for match in NEWLINE.finditer(text)]
    closed = _lines_taking_comments(text)
    changed, refused = 0, []
    for number, codes in sorted(wanted.items()):
        if not 0 < number <= len(pieces):
            continue
        line = pieces[number - 1]
        if number not in closed:
            refused.append(number)
            continue
        directive = line_directive(line)
        if directive is not None and directive.codes is None:
            continue  # a bare noqa already silences everything
        if directive is not None:
            merged = [*directive.codes, *(c for c in codes if not directive.covers(c))]
            if len(merged) == len(directive.codes):
                continue
            new = f"{line[: directive.start]}# noqa: {', '.join(merged)}{line[directive.end :]}"
        else:
            new = f"{line.rstrip()}  # noqa: {', '.join(codes)}"
        pieces[number - 1] = new
        changed += 1
    joined = "".join(piece + end for piece, end in zip(pieces, [*breaks, ""]))
    return joined, changed, refused


def _lines_taking_comments(text: str) -> set[int]:
    """Lines whose end is outside any string and not continued with a backslash."""
    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.start[0] != token.end[0] and token.type == tokenize.STRING:
                inside.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        return set()
    from ftlint.parsing import source_lines

    lines = source_lines(text)
    return {
        number
        for number, line in enumerate(lines, start=1)
        if number not in inside and not line.rstrip().endswith("\\")
    }
