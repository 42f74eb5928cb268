"""Jupyter notebooks: their code cells, linted as one script, findings placed in cells.

The code cells run in one namespace, so they are joined in order and linted together
(an optimizer built in one cell and a freeze in a later one are seen). IPython magics
(`%time`, a `%%bash` cell), shell escapes (`!pip install`, `files = !ls`) and help
(`model?`) are not Python: each such line becomes `pass` at its indentation, and the lines
its trailing backslashes continue become blank, which keeps lines and blocks where they
were. Only a line that begins a logical line can be one, as in IPython: `% b` inside
brackets or after a backslash is the modulo of a broken line. Cells are numbered from 1
among all cells, as a reader counts them in the notebook.

IPython compiles each cell alone, and runs the others when one does not parse: so when
Python's parser rejects the joined cells, each cell it rejects alone gets its own FTL000
(Python's message, at that cell's line and column) and the other cells are joined and
linted as before. While the joined cells parse, none is reported broken, not even one that
continues a construct of the cell before it.

A finding's fix is kept when each of its edits lies on lines of the finding's cell that
are the cell's own (not a magic that became `pass`): its edits then count lines within
that cell, as the finding does. `Notebook.with_sources` writes fixed sources back into
the JSON text, every other character as it was.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterator

from ftlint.finding import PARSE_ERROR, Finding, Fix, file_finding
from ftlint.outline import Outline
from ftlint.parsing import NEWLINE, SourceError, python_syntax_error

_NOT_PYTHON = re.compile(
    r"^(\s*)(?:[%!?]"  # %magic, !shell, ?help
    r"|[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*[%!]"  # files = !ls, t = %timeit -o f()
    r"|[\w.]+\?{1,2}\s*$)"  # model?, model??
)


_LINE = re.compile(r"\bline (\d+)\b")

# Outside a string: what opens a string, a bracket, a comment, or ends the line continued.
_TOKEN = re.compile(r"""'''|\"\"\"|['"]|[][(){}]|#|\\$""")
# Inside a string: up to its closing quote, escapes skipped (as in a raw string: r"\"" goes on).
_STRING_END = {
    quote: re.compile(r"(?:[^\\]|\\.)*?" + quote) for quote in ("'''", '"""', "'", '"')
}
_ESCAPED_TO_THE_END = re.compile(r"(?:[^\\]|\\.)*")  # no lone backslash last
_BREAK = re.compile(f"({NEWLINE.pattern})")  # splits, keeping the line breaks


class NotebookError(Exception):
    """The file is not a notebook ftlint can read; the message says why."""


class _LineScanner:
    """Whether the next line begins a logical line: it does not when the lines before
    leave a bracket open, end with a backslash, or are inside a string that goes on."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote: str | None = None
        self.backslash = False

    def at_logical_line(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.backslash

    def read(self, line: str) -> None:
        self.backslash = False
        position = 0
        while True:
            if self.quote is not None:
                end = _STRING_END[self.quote].match(line, position)
                if end is None:
                    # A one-quote string goes on only after a backslash; else it is
                    # unterminated, which the parser reports.
                    if len(self.quote) == 1 and _ESCAPED_TO_THE_END.fullmatch(line, position):
                        self.quote = None
                    return
                self.quote, position = None, end.end()
            token = _TOKEN.search(line, position)
            if token is None or token[0] == "#":
                return
            position = token.end()
            if token[0] in "([{":
                self.depth += 1
            elif token[0] in ")]}":
                self.depth = max(self.depth - 1, 0)
            elif token[0] == "\\":
                self.backslash = True
            else:
                self.quote = token[0]


def _python_lines(lines: list[str]) -> Iterator[tuple[str, bool]]:
    """The cell's lines (without their breaks) as Python, one for one, each with whether
    it is the cell's own line."""
    scanner = _LineScanner()
    in_command = False  # on a line that a magic's or shell escape's backslash continues
    for line in lines:
        if in_command:
            in_command = line.endswith("\\")
            yield "", False  # blank, not `pass`: its indentation may be deeper than the block's
        elif scanner.at_logical_line() and (match := _NOT_PYTHON.match(line)):
            in_command = line.endswith("\\")
            yield match.group(1) + "pass", False
        else:
            scanner.read(line)
            yield line, True


@dataclasses.dataclass(frozen=True)
class CodeCell:
    """A code cell's source, and its code as Python, line for line."""

    number: int  # among all cells, from 1
    source: str  # as the notebook holds it
    code: str  # as Python, line for line, with the source's line breaks
    lines: tuple[str, ...]  # of `code`, as Python numbers them (a last empty one left out)
    rewritten: frozenset[int]  # the numbers of the lines of `code` not as in `source`


def code_cell(number: int, source: str) -> CodeCell:
    parts = _BREAK.split(source)
    lines, breaks = parts[0::2], parts[1::2]
    if source.lstrip().startswith("%%"):  # a cell magic: the whole cell is another language
        converted = [("", False)] * len(lines)
    else:
        converted = list(_python_lines(lines))
    python = [line for line, _ in converted]
    code = "".join(line + end for line, end in zip(python, [*breaks, ""]))
    rewritten = frozenset(n for n, (_, own) in enumerate(converted, start=1) if not own)
    numbered = python[:-1] if python[-1] == "" else python
    return CodeCell(number, source, code, tuple(numbered), rewritten)


def _source(number: int, cell: dict) -> str:
    """The cell's text: nbformat stores it as a string or a list of lines."""
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise NotebookError(f"not a valid notebook: the source of cell {number} is not text")


def code_cells(data: bytes | str) -> list[CodeCell]:
    """The code cells of a notebook's JSON; NotebookError when it cannot be read."""
    try:
        notebook = json.loads(data)
    except RecursionError:
        raise NotebookError("not a valid notebook: JSON nested too deeply") from None
    except ValueError as error:  # UnicodeDecodeError too
        raise NotebookError(f"not a valid notebook: not JSON ({error})") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise NotebookError("not a valid notebook: no list of cells")
    return [
        code_cell(number, _source(number, cell))
        for number, cell in enumerate(cells, start=1)
        if isinstance(cell, dict) and cell.get("cell_type") == "code"
    ]


def joined(cells: list[CodeCell]) -> str:
    """The cells' Python as one script."""
    return "".join(line + "\n" for cell in cells for line in cell.lines) or "\n"


def _syntax_error(code: str) -> SourceError | None:
    outline = Outline(code)
    return None if outline.tree is not None else python_syntax_error(outline.syntax_error)


def cells_to_lint(cells: list[CodeCell]) -> tuple[list[CodeCell], dict[int, SourceError]]:
    """The cells to lint as one script, and Python's error for each broken cell (by its
    number): none while the cells parse joined, else each that does not parse alone."""
    errors = {cell.number: error for cell in cells if (error := _syntax_error(cell.code))}
    if not errors or _syntax_error(joined(cells)) is None:
        return cells, {}
    return [cell for cell in cells if cell.number not in errors], errors


class _Script:
    """Code cells joined as one script, and the cell and line each line of it comes from."""

    def __init__(self, cells: list[CodeCell]) -> None:
        self.text = joined(cells)
        self.where = [(cell, line) for cell in cells for line in range(1, len(cell.lines) + 1)]

    def _at(self, line: int) -> tuple[CodeCell | None, int]:
        if not self.where:
            return None, 1
        return self.where[min(max(line, 1), len(self.where)) - 1]

    def _cell_line(self, match: re.Match) -> str:
        """Messages name other lines of the script ("frozen at line 4"): say where."""
        cell, line = self._at(int(match[1]))
        return f"cell {cell.number if cell else 1} line {line}"

    def _cell_lines(self, cell: CodeCell, first: int, last: int) -> tuple[int, int] | None:
        """Lines `first` to `last` of the script as lines of `cell`, when they all are
        lines of it as the cell holds them."""
        if not 1 <= first <= last <= len(self.where):
            return None
        lines = self.where[first - 1 : last]
        if any(here is not cell or line in cell.rewritten for here, line in lines):
            return None
        return lines[0][1], lines[-1][1]

    def _cell_fix(self, fix: Fix, cell: CodeCell) -> Fix | None:
        edits = []
        for edit in fix.edits:
            lines = self._cell_lines(cell, edit.line, edit.end_line)
            if lines is None:  # in another cell, across two, or on a magic
                return None
            edits.append(dataclasses.replace(edit, line=lines[0], end_line=lines[1]))
        return dataclasses.replace(fix, edits=tuple(edits))

    def in_cell(self, finding: Finding) -> Finding:
        """A finding of the script, placed in its cell."""
        cell, line = self._at(finding.line)
        fix = None if finding.fix is None or cell is None else self._cell_fix(finding.fix, cell)
        return dataclasses.replace(
            finding,
            cell=cell.number if cell else 1,
            line=line,
            end_line=self._at(finding.end_line)[1],
            message=_LINE.sub(self._cell_line, finding.message),
            fix=fix,
        )


def _broken_cell(path: str, cell: CodeCell, error: SourceError) -> Finding:
    """FTL000 for a cell that Python's parser rejects alone: its message and position."""
    line = min(error.line, max(len(cell.lines), 1))
    message = _LINE.sub(lambda match: f"cell {cell.number} line {match[1]}", str(error))
    finding = file_finding(path, PARSE_ERROR, f"could not parse: {message}", line, error.column)
    return dataclasses.replace(finding, cell=cell.number)


def lint_notebook(
    path: str, data: bytes | str, lint: Callable[[str, str], list[Finding]]
) -> list[Finding]:
    """Findings in the code cells of a notebook; `lint(path, text)` lints a script."""
    try:
        cells = code_cells(data)
    except NotebookError as error:
        return [Finding(path, 1, 1, 1, 1, *PARSE_ERROR, f"could not parse: {error}")]
    script = _Script(cells)
    findings = lint(path, script.text)
    broken: dict[int, SourceError] = {}
    if any(finding.code == PARSE_ERROR[0] for finding in findings):  # maybe a broken cell
        linted, broken = cells_to_lint(cells)
        if broken:
            script = _Script(linted)
            findings = lint(path, script.text)
    by_number = {cell.number: cell for cell in cells}
    return [script.in_cell(finding) for finding in findings] + [
        _broken_cell(path, by_number[number], error) for number, error in broken.items()
    ]


_WHITESPACE = re.compile(r"[ \t\n\r]*")
# A \u escape of a character beyond ASCII: its backslash is not itself escaped.
_ESCAPED_NON_ASCII = re.compile(r"(?<!\\)(?:\\\\)*\\u(?!00[0-7])[0-9a-fA-F]{4}")
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


@dataclasses.dataclass
class _Container:
    """An object or list open while reading JSON: what it is in the notebook, and where
    in it reading is."""

    role: str  # "notebook", "cells" or "cell"
    # A cell's number; in "cells", how many cells come before the one being read.
    number: int = 0
    key: str | None = None  # in an object, of the value being read; None before a key


def _source_spans(text: str) -> dict[int, tuple[int, int]]:
    """Where the "source" value of each cell is in a notebook's JSON `text`: cell number
    -> (start, end). Only the notebook object, its cells and each cell's keys are read
    here; json's own decoder skips every other value (outputs, metadata) whole."""
    decoder = json.JSONDecoder()
    spans: dict[int, tuple[int, int]] = {}
    open_: list[_Container] = []
    position = 0
    while (position := _WHITESPACE.match(text, position).end()) < len(text):
        char = text[position]
        inside = open_[-1] if open_ else None
        if char in ",:]}":
            if char in "]}":
                open_.pop()
            elif char == "," and inside.role == "cells":
                inside.number += 1
            elif char == ",":
                inside.key = None
            position += 1
            continue
        if inside is not None and inside.role != "cells" and inside.key is None:
            inside.key, position = decoder.raw_decode(text, position)
            continue
        role = _role(inside)
        if role in ("notebook", "cells", "cell") and char == ("[" if role == "cells" else "{"):
            if role == "cells":  # a repeated "cells" key: the last one counts, as in json
                spans.clear()
            open_.append(_Container(role, inside.number + 1 if role == "cell" else 0))
            position += 1
            continue
        _, end = decoder.raw_decode(text, position)
        if role == "source":
            spans[inside.number] = (position, end)
        position = end
    return spans


def _role(inside: _Container | None) -> str | None:
    """What the value read next is, by the container it is read in."""
    if inside is None:
        return "notebook"
    if inside.role == "cells":
        return "cell"
    if (inside.role, inside.key) in (("notebook", "cells"), ("cell", "source")):
        return inside.key
    return None


def _source_json(old: str, source: str, ensure_ascii: bool) -> str:
    """`source` as JSON in the form of `old`, the JSON of the source it replaces: a
    string, or a list of lines laid out as `old`'s were, a line `old` holds written as
    it was."""
    if not old.startswith("["):
        return json.dumps(source, ensure_ascii=ensure_ascii)
    items = list(_JSON_STRING.finditer(old))  # a source's list holds strings only
    written = {json.loads(item[0]): item[0] for item in reversed(items)}
    opening = old[1 : items[0].start()] if items else ""
    between = old[items[0].end() : items[1].start()] if len(items) > 1 else "," + opening
    closing = old[items[-1].end() : -1] if items else ""
    lines = [
        written.get(line) or json.dumps(line, ensure_ascii=ensure_ascii)
        for line in _LINE_WITH_END.findall(source)
    ]
    return f"[{opening}{between.join(lines)}{closing}]" if lines else "[]"


class Notebook:
    """A notebook's JSON text and its code cells. Raises NotebookError, as code_cells."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cells = code_cells(text)

    @functools.cached_property
    def _spans(self) -> dict[int, tuple[int, int]]:
        return _source_spans(self.text)

    def with_sources(self, sources: dict[int, str]) -> str:
        """The JSON text with the source of each code cell `sources` numbers (a cell with
        a "source" key) replaced where it differs: as a list of lines or a string, as it
        was, and beyond ASCII escaped if the file escapes it. Every other character (the
        other cells, outputs, metadata, indentation, key order) stays as it was."""
        changed = {
            cell.number: sources[cell.number]
            for cell in self.cells
            if sources.get(cell.number, cell.source) != cell.source
        }
        ensure_ascii = self.text.isascii() and _ESCAPED_NON_ASCII.search(self.text) is not None
        pieces: list[str] = []
        position = 0
        for number in sorted(changed, key=self._spans.__getitem__):
            start, end = self._spans[number]
            new = _source_json(self.text[start:end], changed[number], ensure_ascii)
            pieces += [self.text[position:start], new]
            position = end
        return "".join(pieces) + self.text[position:]
