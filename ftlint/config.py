"""Settings from `[tool.ftlint]` in the nearest pyproject.toml, and rule selection."""

from __future__ import annotations

import difflib
import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ftlint.rules import RULE_CODES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_SELECT = ("FTL",)
KEYS = ("select", "ignore", "exclude", "per-file-ignores")
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


def find_pyproject(start: Path) -> tuple[Path, object] | None:
    """The nearest pyproject.toml with a [tool.ftlint] table, from `start` upwards, and
    that table. A file on the way that might hold the table but cannot be read or parsed
    stops the search: the table in a parent directory may not be the one meant."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            text = candidate.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{candidate}: cannot be read: {error.strerror or error}") from None
        except UnicodeDecodeError as error:
            raise ConfigError(f"{candidate}: invalid TOML: not UTF-8 text ({error})") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            if "ftlint" not in text:
                continue  # a broken file that cannot hold [tool.ftlint] is not ours to judge
            raise ConfigError(f"{candidate}: invalid TOML: {error}") from None
        tool = data.get("tool")
        if isinstance(tool, dict) and "ftlint" in tool:
            return candidate, tool["ftlint"]
    return None


def load_settings(start: Path | None = None) -> Settings:
    start = (start or Path.cwd()).resolve()
    found = find_pyproject(start)
    if found is None:
        return Settings(root=start)
    pyproject, table = found
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
