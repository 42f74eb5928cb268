"""flake8 entry point `FTL`: the same engine, findings in flake8's shape.

flake8 runs a plugin once per file only when its constructor takes `tree`; ftlint parses
the file's `lines` with libcst instead and ignores the ast. A file libcst cannot parse
yields nothing here: flake8 reports E999 for it itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence

from ftlint import __version__
from ftlint.engine import PARSE_ERROR, SourceError, lint_module, parse, rules_for_text
from ftlint.rules import ALL_RULES


class Flake8Plugin:
    name = "ftlint"
    version = __version__

    def __init__(self, tree: ast.AST, lines: Sequence[str], filename: str = "") -> None:
        self.lines = lines
        self.filename = filename

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        text = "".join(self.lines)
        rules = rules_for_text(text, ALL_RULES)  # the first pass: most files stop here
        if not rules:
            return
        try:
            module = parse(text)
        except SourceError:
            return
        # flake8 does the selection (--select/--ignore/--extend-select) and the noqa itself.
        for finding in lint_module(self.filename, module, rules):
            if finding.code == PARSE_ERROR[0]:
                continue
            message = f"{finding.code} {finding.message}"
            yield finding.line, finding.column - 1, message, type(self)
