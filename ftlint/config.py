"""Settings from `[tool.ftlint]` in the nearest pyproject.toml, and rule selection."""

from __future__ import annotations

import difflib
import fnmatch
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ftlint.rules import RULE_CODES
from ftlint.targets import LIBRARIES, Release, Targets, parse_release, resolve

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_SELECT = ("FTL",)
TARGET_KEYS = tuple(f"target-{library}" for library in LIBRARIES)
KEYS = ("select", "ignore", "exclude", "per-file-ignores", *TARGET_KEYS)
# What an unknown code is compared with: every code, and every prefix of one ("FTL1").
_KNOWN_PREFIXES = sorted({code[:end] for code in RULE_CODES for end in range(3, len(code) + 1)})


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
    # The releases the code is meant for (ftlint.targets); None: installed, else newest.
    target_torch: Release | None = None
    target_torchvision: Release | None = None
    target_transformers: Release | None = None
    # Command-line only: report `noqa` codes that silence nothing (FTL001).
    report_unused_noqa: bool = False

    @property
    def targets(self) -> Targets:
        """The releases linted for: those configured, else the installed, else the newest."""
        return resolve(self.target_torch, self.target_torchvision, self.target_transformers)


def find_pyproject(start: Path) -> tuple[Path, object] | None:
    """The nearest pyproject.toml with a [tool.ftlint] table, from `start` upwards, and
    that table. A file on the way that might hold the table but cannot be read or parsed
    stops the search: the table in a parent directory may not be the one meant."""
    for directory in (start, *start.parents):
        found = _table_in(directory)
        if found is not None:
            return found
    return None


def _table_in(directory: Path) -> tuple[Path, object] | None:
    """This directory's pyproject.toml and its [tool.ftlint] table, if it has both."""
    candidate = directory / "pyproject.toml"
    if not candidate.is_file():
        return None
    # A broken file that cannot hold [tool.ftlint] is not ours to judge.
    found, table = _read_table(candidate, broken_ok_without_ftlint=True)
    return (candidate, table) if found else None


def _read_table(path: Path, broken_ok_without_ftlint: bool = False) -> tuple[bool, object]:
    """(whether `path` has a [tool.ftlint] table, the table); ConfigError when it cannot
    be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 text ({error})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        if broken_ok_without_ftlint and "ftlint" not in text:
            return False, None
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    tool = data.get("tool")
    if isinstance(tool, dict) and "ftlint" in tool:
        return True, tool["ftlint"]
    return False, None


def load_settings(start: Path | None = None) -> Settings:
    """The settings for files in `start` (default: the working directory)."""
    start = (start or Path.cwd()).resolve()
    found = find_pyproject(start)
    if found is None:
        return Settings(root=start)
    return settings_from(*found)


def load_config_file(path: Path) -> Settings:
    """The settings of one named file (`--config PATH`), for every file linted."""
    found, table = _read_table(path)
    if not found:
        raise ConfigError(f"{path}: has no [tool.ftlint] table")
    return settings_from(path.resolve(), table)


class SettingsResolver:
    """The settings of each file linted: those of the nearest pyproject.toml with a
    [tool.ftlint] table above the file itself (as Ruff finds its configuration), or of
    the one file given with `--config`. Each configuration is read once, and files under
    the same one share one Settings object; `adjust` applies the command line's options
    to each."""

    def __init__(
        self, config: Path | None = None, adjust: Callable[[Settings], None] | None = None
    ) -> None:
        self._adjust = adjust or (lambda settings: None)
        self._fixed = self._adjusted(load_config_file(config)) if config else None
        self._by_directory: dict[Path, Settings] = {}
        self._by_source: dict[Path | None, Settings] = {}
        self._by_given: dict[Path, Settings] = {}

    def for_path(self, path: Path) -> Settings:
        if self._fixed is not None:
            return self._fixed
        # Keyed first by the path as given: resolving (system calls per part) once per
        # directory, not once per file, keeps a run the cache answers fast.
        found = self._by_given.get(path)
        if found is None:
            directory = path if path.is_dir() else path.parent
            found = self._by_given.get(directory)
            if found is None:
                found = self._by_given[directory] = self._for_directory(directory.resolve())
            self._by_given[path] = found
        return found

    def _for_directory(self, directory: Path) -> Settings:
        # Walk up only as far as a directory already answered: one read per directory.
        pending: list[Path] = []
        current: Path | None = directory
        found: Settings | None = None
        while current is not None:
            found = self._by_directory.get(current)
            if found is not None:
                break
            pending.append(current)
            table = _table_in(current)
            if table is not None:
                found = self._loaded(*table)
                break
            current = current.parent if current.parent != current else None
        if found is None:  # no configuration up to the root: the defaults, rooted here
            found = self._by_source.get(None) or self._adjusted(Settings(root=Path.cwd()))
            self._by_source[None] = found
        for seen in pending:
            self._by_directory[seen] = found
        return found

    def _loaded(self, pyproject: Path, table: object) -> Settings:
        settings = self._by_source.get(pyproject)
        if settings is None:
            settings = self._by_source[pyproject] = self._adjusted(settings_from(pyproject, table))
        return settings

    def _adjusted(self, settings: Settings) -> Settings:
        self._adjust(settings)
        return settings


def settings_from(pyproject: Path, table: object) -> Settings:
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.ftlint]: expected a table, got {_kind(table)}")
    unknown = [key for key in table if key not in KEYS]
    if unknown:
        hints = [_did_you_mean(key, KEYS) for key in unknown]
        named = ", ".join(f"{_shown(key)}{hint}" for key, hint in zip(unknown, hints))
        known = "" if all(hints) else f"; the keys are {', '.join(KEYS)}"
        raise ConfigError(f"{pyproject}: unknown [tool.ftlint] keys: {named}{known}")
    settings = Settings(root=pyproject.parent, source=pyproject)
    where = f"{pyproject}: [tool.ftlint]"
    if "select" in table:
        settings.select = _codes(table["select"], f"{where} select")
    if "ignore" in table:
        settings.ignore = _codes(table["ignore"], f"{where} ignore")
    if "exclude" in table:
        settings.exclude = _strings(table["exclude"], f"{where} exclude")
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise ConfigError(
            f"{where} per-file-ignores: expected a table of lists of codes, such as "
            f'{{ "tests/*" = ["FTL2"] }}, got {_kind(per_file)}'
        )
    settings.per_file_ignores = {
        pattern: _codes(codes, f"{where} per-file-ignores.{pattern!r}")
        for pattern, codes in per_file.items()
    }
    for key in TARGET_KEYS:
        if key in table:
            setattr(settings, key.replace("-", "_"), _release(table[key], f"{where} {key}"))
    return settings


def check_codes(codes: tuple[str, ...], where: str) -> None:
    """Each code or prefix (upper case) must start some rule's code: `FTL104`, `FTL1`."""
    for code in codes:
        if not any(known.startswith(code) for known in RULE_CODES):
            same_length = [known for known in _KNOWN_PREFIXES if len(known) == len(code)]
            hint = _did_you_mean(code, same_length or _KNOWN_PREFIXES)
            hint = hint or " (ftlint's codes start with FTL; 'FTL' alone selects every rule)"
            raise ConfigError(f"{where}: unknown rule code {code!r}{hint}")


def _codes(value: object, where: str) -> tuple[str, ...]:
    codes = tuple(item.strip().upper() for item in _strings(value, where) if item.strip())
    check_codes(codes, where)
    return codes


def _release(value: object, where: str) -> Release:
    release = parse_release(value) if isinstance(value, str) else None
    if release is None:
        # A TOML number would lose the difference between 2.1 and 2.10.
        quote = "; quote it: as a number, 2.10 is 2.1" if isinstance(value, float) else ""
        raise ConfigError(
            f'{where}: expected a release "MAJOR.MINOR" such as "2.1", got {_kind(value)}{quote}'
        )
    return release


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}: expected a list of strings, got {_kind(value)}")
    return tuple(value)


def _did_you_mean(word: str, known) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _shown(key: str) -> str:
    """A key as written in the file, or quoted when it holds a line break or such."""
    return key if key.isprintable() else repr(key)


def _kind(value: object) -> str:
    """A TOML value's type, as the error message names it."""
    if isinstance(value, list):
        odd = next((item for item in value if not isinstance(item, str)), None)
        return "a list" if odd is None else f"a list holding {_kind(odd)}"
    names = {bool: "a boolean", str: "a string", int: "an integer", float: "a float"}
    name = names.get(type(value), "a table" if isinstance(value, dict) else "a date or time")
    return f"{name} ({value!r})" if isinstance(value, (str, int, float)) else name


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
