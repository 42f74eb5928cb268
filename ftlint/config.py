"""Settings from `[tool.ftlint]` in the nearest pyproject.toml, and rule selection."""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_SELECT = ("FTL",)


class ConfigError(Exception):
    """The configuration is unusable; the message says where and why."""


@dataclass
class Settings:
    select: tuple[str, ...] = DEFAULT_SELECT
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    per_file_ignores: dict[str, tuple[str, ...]] = field(default_factory=dict)
    root: Path = field(default_factory=Path.cwd)  # patterns are relative to this directory
    source: Path | None = None  # the pyproject.toml read, if any


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.ftlint] table, from `start` upwards."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if "ftlint" in data.get("tool", {}):
                return candidate
    return None


def _codes(value: object, where: str) -> tuple[str, ...]:
    return tuple(item.strip().upper() for item in _patterns(value, where) if item.strip())


def load_settings(start: Path | None = None) -> Settings:
    start = (start or Path.cwd()).resolve()
    pyproject = find_pyproject(start)
    if pyproject is None:
        return Settings(root=start)
    try:
        table = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["ftlint"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{pyproject}: {error}") from None
    known = {"select", "ignore", "exclude", "per-file-ignores"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{pyproject}: unknown [tool.ftlint] keys: {', '.join(unknown)}")
    settings = Settings(root=pyproject.parent, source=pyproject)
    if "select" in table:
        settings.select = _codes(table["select"], f"{pyproject}: select")
    if "ignore" in table:
        settings.ignore = _codes(table["ignore"], f"{pyproject}: ignore")
    if "exclude" in table:
        settings.exclude = _patterns(table["exclude"], f"{pyproject}: exclude")
    pfi = table.get("per-file-ignores", {})
    if not isinstance(pfi, dict):
        raise ConfigError(f"{pyproject}: per-file-ignores must be a table")
    settings.per_file_ignores = {
        pattern: _codes(codes, f"{pyproject}: per-file-ignores.{pattern}")
        for pattern, codes in pfi.items()
    }
    return settings


def _patterns(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)


def is_enabled(code: str, select: tuple[str, ...], ignore: tuple[str, ...]) -> bool:
    """The longest matching prefix decides, as in flake8: `--select FTL1 --ignore FTL`
    enables FTL1xx; `--select FTL --ignore FTL2` disables FTL2xx."""
    chosen = max((len(p) for p in select if code.startswith(p)), default=-1)
    dropped = max((len(p) for p in ignore if code.startswith(p)), default=-1)
    return chosen > dropped


def matches(relative: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether a path (relative, with /) matches a pattern, as a whole or by any part."""
    parts = relative.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(relative, pattern + "/*"):
            return True
        if "/" not in pattern and any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return True
    return False
