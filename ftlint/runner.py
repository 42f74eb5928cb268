"""Lint files as the CLI and pre-commit do: read, lint, select, apply per-file ignores.

A run whose files the result cache answers imports neither the engine nor the rules
(nor libcst): they are imported where a file is linted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ftlint.cache import ResultCache
from ftlint.config import Settings, is_enabled, matches
from ftlint.files import NOTEBOOK_SUFFIX, read_file, relative_to_root
from ftlint.finding import (
    INTERNAL_ERROR,
    PARSE_ERROR,
    RUN_PROBLEM_CODES,
    UNUSED_NOQA,
    Finding,
    file_finding,
)
from ftlint.rules import RULE_CODES

if TYPE_CHECKING:
    from ftlint.rules.base import Rule
    from ftlint.targets import Targets


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
        data = read_file(path)
    except OSError as error:
        reason = error.strerror or str(error)
        return [file_finding(shown, PARSE_ERROR, f"could not read: {reason}")]
    return lint_data(path, data, settings, rules, cache)


def lint_data(
    path: Path,
    data: bytes | str,
    settings: Settings,
    rules: list[type[Rule]],
    cache: ResultCache | None = None,
) -> list[Finding]:
    """Findings for the contents of `path` (read, or as a fix would leave them)."""
    findings = _lint_contents(str(path), data, rules, settings.targets, cache)
    return _without_ignored(path, settings, findings)


def _without_ignored(path: Path, settings: Settings, findings: list[Finding]) -> list[Finding]:
    ignored = _ignored_here(path, settings)
    return [
        finding
        for finding in findings
        if (finding.code != UNUSED_NOQA[0] or settings.report_unused_noqa)
        and (
            finding.code in RUN_PROBLEM_CODES
            or not (ignored and finding.code.startswith(ignored))
        )
    ]


def _lint_contents(
    shown: str,
    data: bytes | str,
    rules: list[type[Rule]],
    targets: Targets,
    cache: ResultCache | None,
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

        findings = lint_notebook(
            shown, data, lambda path, text: lint_source(path, text, rules, targets=targets)
        )
        findings.sort(key=Finding.sort_key)
    else:
        findings = lint_source(shown, data, rules, targets=targets)
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


# What a configuration lints with: its settings, rules and result cache.
_Context = tuple[Settings, "list[type[Rule]]", "ResultCache | None"]
# What each worker process lints with, set once per process by _start_worker.
_WORKER: list[_Context] | None = None


def _start_worker(parent: int, contexts: list[_Context]) -> None:
    global _WORKER
    _die_with_parent(parent)
    _WORKER = contexts


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive a run that was killed (SIGTERM, SIGKILL): Linux kills
    it when its parent dies; elsewhere the pool's own shutdown has to do."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _lint_in_worker(task: tuple[Path, int]) -> list[Finding]:
    assert _WORKER is not None
    path, context = task
    return lint_file(path, *_WORKER[context])


def lint_paths(
    files: list[Path],
    settings_for: Callable[[Path], Settings],
    jobs: int | None = None,
    use_cache: bool = True,
) -> list[Finding]:
    """Findings for `files`, each linted with `settings_for(path)`, sorted; the same
    whatever `jobs` and the cache hold. Files already in the cache are answered here;
    only the others go to `jobs` processes."""
    contexts: list[tuple[Settings, ResultCache | None]] = []
    numbered: dict[int, int] = {}  # id of a Settings -> its index in `contexts`
    findings: list[Finding] = []
    pending: list[tuple[Path, int]] = []
    for path in files:
        settings = settings_for(path)
        index = numbered.get(id(settings))
        if index is None:
            index = numbered[id(settings)] = len(contexts)
            cache = (
                ResultCache(settings.root, enabled_codes(settings), settings.targets)
                if use_cache
                else None
            )
            contexts.append((settings, cache))
        found = _cached(path, *contexts[index])
        if found is None:
            pending.append((path, index))
        else:
            findings.extend(found)
    if not pending:
        return sorted(findings, key=Finding.sort_key)
    # Only now are the rules (and libcst) imported.
    linting = [(settings, enabled_rules(settings), cache) for settings, cache in contexts]
    jobs = min(jobs or default_jobs(), len(pending))
    if jobs > 1:
        findings.extend(_lint_parallel(pending, linting, jobs))
    else:
        for path, index in pending:
            findings.extend(lint_file(path, *linting[index]))
    return sorted(findings, key=Finding.sort_key)


def _cached(path: Path, settings: Settings, cache: ResultCache | None) -> list[Finding] | None:
    if cache is None:
        return None
    try:
        data = read_file(path)
    except OSError:
        return None  # reported by lint_file
    found = cache.get(cache.key(data, _kind(str(path))), str(path))
    return None if found is None else _without_ignored(path, settings, found)


def _lint_parallel(
    tasks: list[tuple[Path, int]], contexts: list[_Context], jobs: int
) -> list[Finding]:
    """Findings of the files of `tasks` from `jobs` processes. A process that dies (a
    native crash, the out-of-memory killer) takes the files it and its siblings still
    held: those are linted again in a fresh pool, then any still lost one at a time, so
    that only the file that kills its process goes unlinted, reported as FTL999."""

    # Largest files first, one at a time: the last process to finish is not left with
    # the biggest file while the others wait.
    def size(task: tuple[Path, int]) -> int:
        try:
            return task[0].stat().st_size
        except OSError:
            return 0

    initargs = (os.getpid(), contexts)
    findings, lost = _in_pool(sorted(tasks, key=size, reverse=True), initargs, jobs)
    if lost:
        found, lost = _in_pool(lost, initargs, jobs)
        findings.extend(found)
    for task in lost:
        found, still_lost = _in_pool([task], initargs, 1)
        findings.extend(found)
        if still_lost:
            message = "internal error: the process linting this file died; it was not linted"
            findings.append(file_finding(str(task[0]), INTERNAL_ERROR, message))
    return findings


def _in_pool(
    tasks: list[tuple[Path, int]], initargs: tuple, jobs: int
) -> tuple[list[Finding], list[tuple[Path, int]]]:
    """The findings of the tasks a pool of `jobs` processes did, and the tasks lost when
    one of its processes died."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    findings: list[Finding] = []
    lost: list[tuple[Path, int]] = []
    workers = min(jobs, len(tasks))
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=initargs) as pool:
        futures = [(task, pool.submit(_lint_in_worker, task)) for task in tasks]
        for task, future in futures:
            try:
                findings.extend(future.result())
            except BrokenProcessPool:
                lost.append(task)
    return findings, lost
