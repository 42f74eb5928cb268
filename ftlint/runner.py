"""Lint files as the CLI and pre-commit do: read, lint, select, apply per-file ignores."""

from __future__ import annotations

from pathlib import Path

from ftlint.config import Settings, is_enabled, matches
from ftlint.engine import lint_source
from ftlint.files import relative_to_root
from ftlint.finding import Finding
from ftlint.rules import ALL_RULES
from ftlint.rules.base import Rule

# Findings about the run itself are never filtered away by selection.
ALWAYS_REPORTED = ("FTL000", "FTL999")


def enabled_rules(settings: Settings) -> list[type[Rule]]:
    return [
        rule for rule in ALL_RULES if is_enabled(rule.code, settings.select, settings.ignore)
    ]


def _ignored_here(path: Path, settings: Settings) -> tuple[str, ...]:
    relative = relative_to_root(path, settings)
    ignored: list[str] = []
    for pattern, codes in settings.per_file_ignores.items():
        if matches(relative, (pattern,)):
            ignored.extend(codes)
    return tuple(ignored)


def lint_file(path: Path, settings: Settings, rules: list[type[Rule]]) -> list[Finding]:
    shown = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        return [Finding(shown, 1, 1, 1, 1, "FTL000", "parse-error", f"could not read: {reason}")]
    return lint_data(path, data, settings, rules)


def lint_data(
    path: Path, data: bytes | str, settings: Settings, rules: list[type[Rule]]
) -> list[Finding]:
    """Findings for the contents of `path` (read, or as a fix would leave them)."""
    ignored = _ignored_here(path, settings)
    return [
        finding
        for finding in lint_source(str(path), data, rules)
        if finding.code in ALWAYS_REPORTED or not (ignored and finding.code.startswith(ignored))
    ]


def lint_paths(files: list[Path], settings: Settings) -> list[Finding]:
    rules = enabled_rules(settings)
    findings: list[Finding] = []
    for path in files:
        findings.extend(lint_file(path, settings, rules))
    return sorted(findings)
