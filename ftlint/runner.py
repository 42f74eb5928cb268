"""Lint files as the CLI and pre-commit do: read, lint, select, apply per-file ignores.

A run whose files the result cache answers imports neither the engine nor the rules
(nor libcst): they are imported where a file is linted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ftlint.cache import ResultCache
from ftlint.config import Settings, is_enabled, matches
from ftlint.files import NOTEBOOK_SUFFIX, relative_to_root
from ftlint.finding import Finding
from ftlint.rules import RULE_CODES

if TYPE_CHECKING:
    from ftlint.rules.base import Rule

# Findings about the run itself are never filtered away by selection.
ALWAYS_REPORTED = ("FTL000", "FTL999")


def enabled_codes(settings: Settings) -> list[str]:
    return [code for code in RULE_CODES if is_enabled(code, settings.select, settings.ignore)]


def enabled_rules(settings: Settings) -> list[type[Rule]]:
    from ftlint.rules import RULES_BY_CODE

    return [RULES_BY_CODE[code] for code in enabled_codes(settings)]


def _ignored_here(path: Path, settings: Settings) -> tuple[str, ...]:
    if not settings.per_file_ignores:
        return ()
    relative = relative_to_root(path, settings)
    ignored: list[str] = []
    for pattern, codes in settings.per_file_ignores.items():
        if matches(relative, (pattern,)):
            ignored.extend(codes)
    return tuple(ignored)


def lint_file(
    path: Path, settings: Settings, rules: list[type[Rule]], cache: ResultCache | None = None
) -> list[Finding]:
    shown = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        return [Finding(shown, 1, 1, 1, 1, "FTL000", "parse-error", f"could not read: {reason}")]
    return lint_data(path, data, settings, rules, cache)


def lint_data(
    path: Path,
    data: bytes | str,
    settings: Settings,
    rules: list[type[Rule]],
    cache: ResultCache | None = None,
) -> list[Finding]:
    """Findings for the contents of `path` (read, or as a fix would leave them)."""
    return _without_ignored(path, settings, _lint_contents(str(path), data, rules, cache))


def _without_ignored(path: Path, settings: Settings, findings: list[Finding]) -> list[Finding]:
    ignored = _ignored_here(path, settings)
    return [
        finding
        for finding in findings
        if finding.code in ALWAYS_REPORTED or not (ignored and finding.code.startswith(ignored))
    ]


def _lint_contents(
    shown: str, data: bytes | str, rules: list[type[Rule]], cache: ResultCache | None
) -> list[Finding]:
    notebook = shown.endswith(NOTEBOOK_SUFFIX)
    key = None
    if cache is not None:
        raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
        key = cache.key(raw, _kind(shown))
        found = cache.get(key, shown)
        if found is not None:
            return found
    from ftlint.engine import lint_source

    if notebook:
        from ftlint.notebooks import lint_notebook

        findings = lint_notebook(shown, data, lambda path, text: lint_source(path, text, rules))
        findings.sort(key=Finding.sort_key)
    else:
        findings = lint_source(shown, data, rules)
    if key is not None:
        cache.put(key, findings)
    return findings


def _kind(shown: str) -> str:
    return "notebook" if shown.endswith(NOTEBOOK_SUFFIX) else "python"


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


# What each worker process lints with, set once per process by _start_worker.
_WORKER: tuple[Settings, list[type[Rule]], ResultCache | None] | None = None


def _start_worker(settings: Settings, rules: list[type[Rule]], cache: ResultCache | None) -> None:
    global _WORKER
    _WORKER = (settings, rules, cache)


def _lint_in_worker(path: Path) -> list[Finding]:
    assert _WORKER is not None
    return lint_file(path, *_WORKER)


def lint_paths(
    files: list[Path], settings: Settings, jobs: int | None = None, use_cache: bool = True
) -> list[Finding]:
    """Findings for `files`, sorted; the same whatever `jobs` and the cache hold. Files
    already in the cache are answered here; only the others go to `jobs` processes."""
    cache = ResultCache(settings.root, enabled_codes(settings)) if use_cache else None
    findings: list[Finding] = []
    pending: list[Path] = []
    for path in files:
        found = _cached(path, settings, cache)
        if found is None:
            pending.append(path)
        else:
            findings.extend(found)
    jobs = min(jobs or default_jobs(), len(pending))
    if pending:  # only now are the rules (and libcst) imported
        rules = enabled_rules(settings)
        if jobs > 1:
            findings.extend(_lint_parallel(pending, settings, rules, cache, jobs))
        else:
            for path in pending:
                findings.extend(lint_file(path, settings, rules, cache))
    return sorted(findings, key=Finding.sort_key)


def _cached(path: Path, settings: Settings, cache: ResultCache | None) -> list[Finding] | None:
    if cache is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None  # reported by lint_file
    found = cache.get(cache.key(data, _kind(str(path))), str(path))
    return None if found is None else _without_ignored(path, settings, found)


def _lint_parallel(
    files: list[Path],
    settings: Settings,
    rules: list[type[Rule]],
    cache: ResultCache | None,
    jobs: int,
) -> list[Finding]:
    # Largest files first, one at a time: the last process to finish is not left with
    # the biggest file while the others wait.
    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    from concurrent.futures import ProcessPoolExecutor

    ordered = sorted(files, key=size, reverse=True)
    findings: list[Finding] = []
    context = (settings, rules, cache)
    with ProcessPoolExecutor(jobs, initializer=_start_worker, initargs=context) as pool:
        for found in pool.map(_lint_in_worker, ordered):
            findings.extend(found)
    return findings
