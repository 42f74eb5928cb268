"""Jupyter notebooks: their code cells, linted as one script, findings placed in cells.

The code cells run in one namespace, so they are joined in order and linted together
(an optimizer built in one cell and a freeze in a later one are seen). IPython magics
(`%time`, a `%%bash` cell), shell escapes (`!pip install`, `files = !ls`) and help
(`model?`) are not Python: each such line becomes `pass` at its indentation, which keeps
lines and blocks where they were. Cells are numbered from 1 among all cells, as a
reader counts them in the notebook.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable

from ftlint.engine import PARSE_ERROR
from ftlint.finding import Finding

_NOT_PYTHON = re.compile(
    r"^(\s*)(?:[%!?]"  # %magic, !shell, ?help
    r"|[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*[%!]"  # files = !ls, t = %timeit -o f()
    r"|[\w.]+\?{1,2}\s*$)"  # model?, model??
)


_LINE = re.compile(r"\bline (\d+)\b")


class NotebookError(Exception):
    """The file is not a notebook ftlint can read; the message says why."""


def _code(cell: dict) -> str:
    source = cell.get("source", "")
    text = "".join(source) if isinstance(source, list) else source
    if not isinstance(text, str):
        raise NotebookError("a cell's source is not text")
    if text.lstrip().startswith("%%"):
        return "\n" * text.count("\n")  # a cell magic: the whole cell is another language
    lines = text.split("\n")
    return "\n".join(
        match.group(1) + "pass" if (match := _NOT_PYTHON.match(line)) else line
        for line in lines
    )


def code_cells(data: bytes) -> list[tuple[int, str]]:
    """(cell number, Python code) of each code cell."""
    try:
        notebook = json.loads(data)
        cells = notebook["cells"]
        if not isinstance(cells, list):
            raise TypeError
    except (ValueError, KeyError, TypeError) as error:
        raise NotebookError(f"not a valid notebook ({type(error).__name__})") from None
    found = []
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            found.append((number, _code(cell)))
    return found


def _place(where: list[tuple[int, int]], line: int) -> tuple[int, int]:
    if not where:
        return 1, 1
    return where[min(max(line, 1), len(where)) - 1]


def _cell_line(where: list[tuple[int, int]], match: re.Match) -> str:
    """Messages name other lines of the joined script ("frozen at line 4"): say where."""
    return "cell {} line {}".format(*_place(where, int(match[1])))


def lint_notebook(
    path: str, data: bytes, lint: Callable[[str, str], list[Finding]]
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
