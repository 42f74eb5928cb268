"""flake8 entry point `FTL`: the same engine, findings in flake8's shape.

flake8 runs a plugin once per file only when its constructor takes `tree`; ftlint's first
pass reads that ast, and the rules a file still needs then get libcst's parse of the
file's `lines`. flake8 reports a file Python cannot parse as E999 and runs no plugin on
it.

flake8 has its own selection, ignores and per-file-ignores; from `[tool.ftlint]` in the
nearest pyproject.toml above each file the plugin reads only what flake8 lacks, the
target releases (`target-torch`, ...). A configuration that cannot be used gets one
FTL000 at line 1 of each file under it, which is then linted without those targets: a
finding per file, as flake8 reports (and parallelises) per file.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator, Sequence
from pathlib import Path

from ftlint import __version__
from ftlint.config import ConfigError, load_settings
from ftlint.engine import lint_text
from ftlint.finding import INTERNAL_ERROR, PARSE_ERROR
from ftlint.rules import ALL_RULES
from ftlint.rules.base import Rule
from ftlint.targets import Targets

# The targets of each directory's configuration, or why it cannot be used; read once.
_TARGETS: dict[Path, Targets | ConfigError] = {}


def _targets_for(filename: str) -> Targets | ConfigError:
    directory = Path(filename).resolve().parent  # "stdin" and "-": the working directory
    found = _TARGETS.get(directory)
    if found is None:
        try:
            found = load_settings(directory).targets
        except ConfigError as error:
            found = error
        _TARGETS[directory] = found
    return found


class Flake8Plugin:
    name = "ftlint"
    version = __version__
    # The rules whose codes flake8 can report in this run (see parse_options).
    rules: tuple[type[Rule], ...] = tuple(ALL_RULES)

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        """Run only the rules flake8 will report. flake8 runs every installed plugin on
        every file whatever `--select` says, so without this `flake8 --select E,F` paid
        for ftlint's parse and rules only to drop their findings.

        flake8 reports a code when a selected prefix matches it; an explicit `select`
        replaces the default (which includes FTL), `extend-select` adds to either, and an
        empty selection selects everything. Ignores are left to flake8 (a longer select
        prefix can override them): only selection can narrow the rules here."""
        select = getattr(options, "select", None)
        if select is None:
            cls.rules = tuple(ALL_RULES)
            return
        chosen = [*select, *(getattr(options, "extend_select", None) or ())]
        if not chosen:
            cls.rules = tuple(ALL_RULES)
            return
        cls.rules = tuple(
            r for r in ALL_RULES if any(r.code.startswith(s) for s in chosen)
        )
        if any(INTERNAL_ERROR[0].startswith(s) for s in chosen) and not cls.rules:
            # FTL999 alone selected: it can only come from a rule, so run them all.
            cls.rules = tuple(ALL_RULES)

    def __init__(self, tree: ast.AST, lines: Sequence[str], filename: str = "") -> None:
        self.tree = tree
        self.lines = lines
        self.filename = filename

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        if not self.rules:
            return  # no FTL code is selected in this flake8 run
        targets = _targets_for(self.filename)
        if isinstance(targets, ConfigError):
            message = f"configuration error, linted without its targets: {targets}"
            yield 1, 0, f"{PARSE_ERROR[0]} {message}", type(self)
            targets = None
        # flake8 does the selection (--select/--ignore/--extend-select) and the noqa itself.
        tree = self.tree if isinstance(self.tree, ast.Module) else None
        text = "".join(self.lines)
        for finding in lint_text(self.filename, text, self.rules, tree, targets=targets):
            message = f"{finding.code} {finding.message}"
            yield finding.line, finding.column - 1, message, type(self)
