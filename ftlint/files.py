"""Which files a run lints: the paths given, directories searched recursively."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ftlint.config import Settings, matches

NOTEBOOK_SUFFIX = ".ipynb"
SOURCE_SUFFIXES = (".py", ".pyi", NOTEBOOK_SUFFIX)
SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "__pycache__", "build", "dist", ".venv", "venv",
        ".tox", ".nox", ".eggs", "node_modules", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", ".ftlint_cache", "site-packages", ".ipynb_checkpoints",
    }
)  # fmt: skip


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _is_virtualenv(directory: Path) -> bool:
    return (directory / "pyvenv.cfg").is_file()


def _excluded(path: Path, settings: Settings) -> bool:
    # Resolving a path costs system calls: none when nothing is excluded.
    return bool(settings.exclude) and matches(_relative(path, settings.root), settings.exclude)


def discover(paths: list[Path], settings: Settings) -> Iterator[Path]:
    """Files to lint, in a stable order. Excluded patterns apply even to files named
    explicitly, so pre-commit (which names files) honours them too."""
    for path in paths:
        if path.is_dir():
            yield from _walk(path, settings)
        elif not _excluded(path, settings):
            yield path


def _walk(top: Path, settings: Settings) -> Iterator[Path]:
    for directory, subdirs, files in os.walk(top):
        here = Path(directory)
        subdirs[:] = sorted(
            name
            for name in subdirs
            if name not in SKIPPED_DIRS
            and not _is_virtualenv(here / name)
            and not _excluded(here / name, settings)
        )
        for name in sorted(files):
            path = here / name
            if name.endswith(SOURCE_SUFFIXES) and not _excluded(path, settings):
                yield path


def relative_to_root(path: Path, settings: Settings) -> str:
    return _relative(path, settings.root)
