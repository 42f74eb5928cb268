"""From a file's bytes to libcst's tree, never handing libcst what it cannot survive.

Python's own parser goes first (the first pass builds its tree anyway): a file it rejects
is reported with Python's message and position, and never reaches libcst, whose native
parser crashes the process on input Python refuses as too deep (a 7,000-term `a + a + ...`).
A file above a stated size is not parsed at all: libcst needs about 900 bytes of memory
per byte of source. And where libcst rejects a statement Python accepts (`(x): int = 1`,
a few thousand implicitly concatenated strings), that statement alone is left out.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from ftlint.deep_stack import run_with_deep_stack
from ftlint.gc_pause import collector_paused

# About 1.8 GB of libcst's memory; real hand-written modules stay far below (the
# largest in CPython's standard library is about 0.5 MB).
MAX_SOURCE_CHARS = 2_000_000
# Statements libcst rejects that one file may skip before it is given up as a whole.
MAX_SKIPPED_STATEMENTS = 10
# What libcst counts as a line break, as Python's tokenizer does (`str.splitlines` also
# breaks at form feeds, \v, \x1c-\x1e, \x85 and U+2028/2029, which neither does).
NEWLINE = re.compile(r"\r\n|\r|\n")


class SourceError(Exception):
    """The file cannot be read as Python source; the message says why and where."""

    def __init__(self, reason: str, line: int = 1, column: int = 1) -> None:
        super().__init__(reason)
        self.line = line
        self.column = column


def source_lines(text: str) -> list[str]:
    """The lines of `text` as libcst and Python number them."""
    return NEWLINE.split(text)


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


def check_size(text: str) -> None:
    if len(text) > MAX_SOURCE_CHARS:
        raise SourceError(
            f"too large to analyse ({len(text):,} characters; the limit is {MAX_SOURCE_CHARS:,})"
        )


def python_syntax_error(error: BaseException) -> SourceError:
    """What Python's parser said, where it said it."""
    if isinstance(error, SyntaxError):
        line = error.lineno or 1
        column = error.offset or 1
        return SourceError(f"{type(error).__name__}: {error.msg}", line, max(column, 1))
    if isinstance(error, RecursionError):
        return SourceError("too deeply nested for Python's parser")
    if isinstance(error, MemoryError):
        return SourceError("too large for Python's parser")
    return SourceError(f"Python's parser rejects it: {error}")


def parse(text: str) -> cst.Module:
    """libcst's tree of `text`; SourceError with libcst's message where it rejects it."""

    def parse_here() -> cst.Module:
        with collector_paused():
            return cst.parse_module(text)

    try:
        return run_with_deep_stack(parse_here)
    except cst.ParserSyntaxError as error:
        raise SourceError(
            "syntax error: " + re.sub(r"^parser error: error at \d+:\d+: ", "", error.message),
            error.raw_line,
            error.raw_column + 1,
        ) from None
    except RecursionError:
        raise SourceError("nesting too deep for the parser") from None


@dataclass
class Parsed:
    module: cst.Module
    # Statements libcst rejected, left out of `module`: (line, column) of each, and
    # whether a rule might have reported something in it.
    skipped: list[tuple[int, int, bool]] = field(default_factory=list)


def parse_valid(text: str, tree: ast.Module, matters: Callable[[ast.Module, str], bool]) -> Parsed:
    """libcst's tree of `text`, which Python's parser accepted as `tree`. A statement
    libcst rejects is replaced by `pass` (lines keep their numbers) and noted;
    `matters(statement_tree, statement_text)` says whether a rule might have reported
    something in it. Raises SourceError when libcst cannot be satisfied."""
    statements: list[ast.stmt] | None = None  # found only when libcst first refuses
    skipped: list[tuple[int, int, bool]] = []
    left_out: set[int] = set()
    while True:
        try:
            return Parsed(parse(text), skipped)
        except SourceError as error:
            if len(skipped) == MAX_SKIPPED_STATEMENTS:
                raise
            if statements is None:
                statements = [node for node in ast.walk(tree) if isinstance(node, ast.stmt)]
            starts = _line_starts(text)
            statement = _rejected_statement(text, starts, statements, error.line, left_out)
            if statement is None:
                raise
            left_out.add(id(statement))
            start = _offset(text, starts, statement.lineno, statement.col_offset)
            end = _offset(text, starts, statement.end_lineno, statement.end_col_offset)
            segment = text[start:end]
            body = ast.Module(body=[statement], type_ignores=[])
            column = start - starts[statement.lineno - 1] + 1
            skipped.append((statement.lineno, column, matters(body, segment)))
            # The statement's line breaks stay, so every later line keeps its number.
            breaks = "".join(match.group() for match in NEWLINE.finditer(segment))
            text = text[:start] + "pass" + breaks + text[end:]


def _rejected_statement(
    text: str, starts: list[int], statements: list[ast.stmt], line: int, left_out: set[int]
) -> ast.stmt | None:
    """The statement libcst's error at `line` is about: the innermost one holding that
    line, or else the one ending just before it (libcst may report the token after the
    statement it could not finish), whichever libcst rejects on its own."""
    holding = [s for s in statements if s.lineno <= line <= (s.end_lineno or 0)]
    before = [s for s in statements if (s.end_lineno or 0) < line]
    candidates = [
        max(holding, key=lambda s: s.lineno, default=None),
        max(before, key=lambda s: (s.end_lineno, s.lineno), default=None),
    ]
    for statement in candidates:
        if statement is not None and id(statement) not in left_out:
            if not _accepted_alone(text, starts, statement):
                return statement
    return None


def _accepted_alone(text: str, starts: list[int], statement: ast.stmt) -> bool:
    """Whether libcst parses the lines of `statement` by themselves."""
    end = starts[statement.end_lineno] if statement.end_lineno < len(starts) else len(text)
    lines = text[starts[statement.lineno - 1] : end]
    if statement.col_offset:  # an indented statement: give it a block to be in
        lines = "if 1:\n" + lines
    try:
        parse(lines)
    except SourceError:
        return False
    return True


def _line_starts(text: str) -> list[int]:
    return [0] + [match.end() for match in NEWLINE.finditer(text)]


def _offset(text: str, starts: list[int], line: int, utf8_column: int) -> int:
    """The character offset in `text` of a position as ast gives it (its column counts
    UTF-8 bytes)."""
    start = starts[line - 1]
    prefix = text[start : start + utf8_column].encode("utf-8")[:utf8_column]
    return start + len(prefix.decode("utf-8", "ignore"))
