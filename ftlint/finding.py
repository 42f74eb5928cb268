"""A finding: one problem at one place in one file, and the fix for it if there is one."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Edit:
    """Replace the source from (line, column) up to, not including, (end_line, end_column)
    with `content`. Lines and columns are 1-based, as in `Finding`."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str

    def as_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "content": self.content,
        }


@dataclass(frozen=True)
class Fix:
    """Edits that resolve a finding, applied all together or not at all.

    `safe`: the fix keeps what the program does apart from the bug itself; an unsafe fix
    may change behaviour and is applied only with `--unsafe-fixes`.
    """

    description: str
    edits: tuple[Edit, ...]
    safe: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "description": self.description,
            "applicability": "safe" if self.safe else "unsafe",
            "edits": [edit.as_dict() for edit in self.edits],
        }


@dataclass(frozen=True, order=True)
class Finding:
    """Positions are 1-based lines and 1-based columns, as editors show them."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    name: str
    message: str
    fix: Fix | None = field(default=None, compare=False)
    # In a notebook: the cell (numbered from 1 among all cells); `line` is in that cell.
    cell: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "fix": self.fix.as_dict() if self.fix else None,
        } | ({"cell": self.cell} if self.cell is not None else {})

    def sort_key(self) -> tuple:
        """Path, then cell, then position: how reports are ordered."""
        return (self.path, self.cell or 0, self)


# The codes of findings about a run itself rather than about the code: a file that could
# not be read or parsed, and a rule that failed on it. Never filtered away by selection.
PARSE_ERROR = ("FTL000", "parse-error")
INTERNAL_ERROR = ("FTL999", "internal-error")
RUN_PROBLEM_CODES = (PARSE_ERROR[0], INTERNAL_ERROR[0])
# About `noqa` directives: codes that silence nothing (reported when asked for), and
# FTL codes no rule has (always).
UNUSED_NOQA = ("FTL001", "unused-noqa")
UNKNOWN_NOQA_CODE = ("FTL002", "unknown-noqa-code")


def file_finding(
    path: str, kind: tuple[str, str], message: str, line: int = 1, column: int = 1
) -> Finding:
    """A finding about a whole file (or directory), placed at one position."""
    code, name = kind
    return Finding(path, line, column, line, column, code, name, message)
