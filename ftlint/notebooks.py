"""Jupyter notebooks: their code cells, linted as one script, findings placed in cells.

The code cells run in one namespace, so they are joined in order and linted together
(an optimizer built in one cell and a freeze in a later one are seen). IPython magics
(`%time`, a `%%bash` cell), shell escapes (`!pip install`, `files = !ls`) and help
(`model?`) are not Python: each such line becomes `pass` at its indentation, and the lines
its trailing backslashes continue become blank, which keeps lines and blocks where they
were. Only a line that begins a logical line can be one, as in IPython: `% b` inside
brackets or after a backslash is the modulo of a broken line. Cells are numbered from 1
among all cells, as a reader counts them in the notebook.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator

from ftlint.engine import PARSE_ERROR
from ftlint.finding import Finding

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
        line = line.removesuffix("\r")
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


def _ends_continued(line: str) -> bool:
    return line.removesuffix("\r").endswith("\\")


def _python_lines(lines: list[str]) -> Iterator[str]:
    """The cell's lines as Python, one for one."""
    scanner = _LineScanner()
    in_command = False  # on a line that a magic's or shell escape's backslash continues
    for line in lines:
        if in_command:
            in_command = _ends_continued(line)
            yield ""  # blank, not `pass`: its indentation may be deeper than the block's
        elif scanner.at_logical_line() and (match := _NOT_PYTHON.match(line)):
            in_command = _ends_continued(line)
            yield match.group(1) + "pass"
        else:
            scanner.read(line)
            yield line


def _source(number: int, cell: dict) -> str:
    """The cell's text: nbformat stores it as a string or a list of lines."""
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise NotebookError(f"not a valid notebook: the source of cell {number} is not text")


def _code(text: str) -> str:
    if text.lstrip().startswith("%%"):
        return "\n" * text.count("\n")  # a cell magic: the whole cell is another language
    return "\n".join(_python_lines(text.split("\n")))


def code_cells(data: bytes | str) -> list[tuple[int, str]]:
    """(cell number, Python code) of each code cell."""
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
        (number, _code(_source(number, cell)))
        for number, cell in enumerate(cells, start=1)
        if isinstance(cell, dict) and cell.get("cell_type") == "code"
    ]


def _place(where: list[tuple[int, int]], line: int) -> tuple[int, int]:
    if not where:
        return 1, 1
    return where[min(max(line, 1), len(where)) - 1]


def _cell_line(where: list[tuple[int, int]], match: re.Match) -> str:
    """Messages name other lines of the joined script ("frozen at line 4"): say where."""
    return "cell {} line {}".format(*_place(where, int(match[1])))


def lint_notebook(
    path: str, data: bytes | str, lint: Callable[[str, str], list[Finding]]
) -> list[Finding]:
    """Findings in the code cells of a notebook; `lint(path, text)` lints a script."""
    try:
        cells = code_cells(data)
    except NotebookError as error:
        return [Finding(path, 1, 1, 1, 1, *PARSE_ERROR, f"could not parse: {error}")]
    script: list[str] = []
    where: list[tuple[int, int]] = []  # script line -> (cell, line in the cell)
    for number, code in cells:
        lines = code.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        script.extend(lines)
        where.extend((number, index) for index in range(1, len(lines) + 1))
    findings = []
    for finding in lint(path, "\n".join(script) + "\n"):
        cell, line = _place(where, finding.line)
        end = _place(where, finding.end_line)[1]
        # Fixes are edits of the joined script, not of the notebook's JSON: not offered.
        message = _LINE.sub(lambda match: _cell_line(where, match), finding.message)
        findings.append(
            dataclasses.replace(
                finding, cell=cell, line=line, end_line=end, message=message, fix=None
            )
        )
    return findings
