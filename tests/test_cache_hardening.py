"""A cache entry is read back only if it is exactly what ftlint writes: anything else,
however it was made, is a miss, and the run reports what it reports without the cache."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ftlint.cache import ResultCache
from ftlint.config import load_settings
from ftlint.finding import Edit, Finding, Fix
from ftlint.runner import enabled_codes
from tests.conftest import BUGGY


def _cache(root: Path) -> ResultCache:
    settings = load_settings(root)
    return ResultCache(settings.root, enabled_codes(settings))


def _entry(root: Path, name: str) -> Path:
    cache = _cache(root)
    return cache._entry(cache.key((root / name).read_bytes(), "python"))


def _check(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ftlint", "check", "--format", "json", *args, "."],
        capture_output=True, text=True, cwd=root, timeout=120,
    )  # fmt: skip


def _changed(change: Callable[[list], object]) -> Callable[[list], object]:
    """A crafted entry: the real one, changed."""

    def craft(real: list) -> object:
        entry = copy.deepcopy(real)
        return entry if (result := change(entry)) is None else result

    return craft


def _set(where: Callable[[list], dict], key: str, value: object) -> Callable[[list], object]:
    return _changed(lambda entry: where(entry).__setitem__(key, value))


def _finding(entry: list) -> dict:
    return entry[0]


def _fix(entry: list) -> dict:
    return entry[0]["fix"]


def _edits(entry: list) -> list:
    return entry[0]["fix"]["edits"]["__tuple__"]


def _edit(entry: list) -> dict:
    return _edits(entry)[0]


DEEP = 100_000
CRAFTED: dict[str, Callable[[list], object] | bytes] = {
    "line is text": _set(_finding, "line", "3"),
    "line is a float": _set(_finding, "line", 3.0),
    "line is a bool": _set(_finding, "line", True),
    "line is 0": _set(_finding, "line", 0),
    "column is negative": _set(_finding, "column", -7),
    "line is huge": _set(_finding, "end_line", 10**30),
    "line is infinite": _set(_finding, "line", float("inf")),  # json reads 1e400 so too
    "line is not a number": _set(_finding, "line", float("nan")),
    "a number json refuses": b"[" + b"9" * 5000 + b"]",
    "message is null": _set(_finding, "message", None),
    "code is a list": _set(_finding, "code", ["FTL101"]),
    "cell is 0": _set(_finding, "cell", 0),
    "cell is text": _set(_finding, "cell", "2"),
    "a field missing": _changed(lambda entry: entry[0].pop("message")),
    "an extra field": _set(_finding, "extra", 1),
    "a keyword only Python has": _set(_finding, "__class__", "Finding"),
    "type Path": _set(_finding, "__type__", "Path"),
    "type Edit where a Finding belongs": _set(_finding, "__type__", "Edit"),
    "type is not text": _set(_finding, "__type__", ["Finding"]),
    "type missing": _changed(lambda entry: entry[0].pop("__type__")),
    "only a type": b'[{"__type__": "Path"}]',
    "fix is text": _set(_finding, "fix", "keep only the parameters that require grad"),
    "fix is a Finding": _changed(lambda entry: entry[0].__setitem__("fix", entry[0] | {})),
    "edits is a number": _set(_fix, "edits", 3),
    "edits is a plain list": _changed(lambda e: e[0]["fix"].__setitem__("edits", [_edit(e)])),
    "edits is a tuple with more": _set(_fix, "edits", {"__tuple__": [], "extra": 1}),
    "an edit without its type": _changed(lambda e: _edit(e).pop("__type__")),
    "an edit is a Fix": _changed(lambda e: _edits(e).append(copy.deepcopy(_fix(e)))),
    "edit content is a number": _set(_edit, "content", 5),
    "safe is text": _set(_fix, "safe", "false"),
    "safe is a number": _set(_fix, "safe", 0),
    "a dict where the list belongs": _changed(lambda entry: entry[0]),
    "a tuple where the list belongs": _changed(lambda entry: {"__tuple__": entry}),
    "a list in the list": _changed(lambda entry: [entry]),
    "a number in the list": _changed(lambda entry: [*entry, 1]),
    "null": b"null",
    "nested garbage": b'[{"__tuple__": [{"__tuple__": [{"__type__": "Finding"}]}]}]',
    "nested too deeply": b"[" * DEEP + b"]" * DEEP,
    "not UTF-8": b'[{"__type__": "Finding", "message": "\xff"}]',
    "not JSON": b"[{",
    "empty": b"",
}


def _crafted(craft: Callable[[list], object] | bytes, real: list) -> bytes:
    return craft if isinstance(craft, bytes) else json.dumps(craft(real)).encode()


def test_crafted_entries_are_misses_and_the_run_reports_what_it_does_uncached(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.ftlint]\n")  # the cache's root is here
    names = [f"crafted_{number}.py" for number in range(len(CRAFTED))]
    for number, name in enumerate(names):
        (tmp_path / name).write_text(f"{BUGGY}# {number}\n")  # each its own key
    (tmp_path / "believed.py").write_text(BUGGY)
    assert _check(tmp_path, "--jobs", "1").returncode == 1  # fills the cache
    real = json.loads(_entry(tmp_path, "believed.py").read_bytes())
    assert real[0]["code"] == "FTL101" and real[0]["fix"]["edits"]["__tuple__"]

    uncached = _check(tmp_path, "--no-cache")
    assert uncached.returncode == 1 and "error" not in uncached.stderr, uncached.stderr
    expected = [f for f in json.loads(uncached.stdout) if f["path"] != "believed.py"]
    assert {f["path"] for f in expected} == set(names)
    for jobs in ("1", "2"):  # answered in the main process, and in the workers
        for name, craft in zip(names, CRAFTED.values()):
            _entry(tmp_path, name).write_bytes(_crafted(craft, real))
        # A well-formed entry is believed: the keys are the run's, and the cache is read.
        _entry(tmp_path, "believed.py").write_text("[]")
        result = _check(tmp_path, "--jobs", jobs)
        assert result.returncode == 1 and "error" not in result.stderr, result.stderr
        assert json.loads(result.stdout) == expected


def test_every_kind_of_finding_goes_through_the_cache_unchanged(tmp_path):
    cache = _cache(tmp_path)
    fix = Fix("materialise", (Edit(2, 1, 2, 5, "list(x)"), Edit(3, 1, 4, 1, "")), safe=True)
    largest = 2**31 - 1
    findings = [
        Finding("", 2, 5, 2, 9, "FTL109", "name", "used twice", fix=fix, cell=3),
        Finding("", 1, 1, 1, 1, "FTL000", "parse-error", "could not parse: é\n"),
        Finding("", largest, largest, largest, largest, "FTL101", "n", "", fix=None),
    ]
    cache.put("k" * 64, findings)
    stored = cache.get("k" * 64, "nb.ipynb")
    assert stored == [dataclasses.replace(finding, path="nb.ipynb") for finding in findings]
    assert [finding.fix for finding in stored] == [fix, None, None]  # not compared above


@pytest.mark.parametrize("craft", CRAFTED.values(), ids=CRAFTED)
def test_each_crafted_entry_is_a_miss(tmp_path, craft):
    cache = _cache(tmp_path)
    fix = Fix("keep", (Edit(3, 24, 3, 42, "filter(...)"),), safe=False)
    cache.put("k" * 64, [Finding("", 3, 7, 3, 43, "FTL101", "n", "m", fix=fix)])
    assert cache.get("k" * 64, "a.py") is not None
    real = json.loads(cache._entry("k" * 64).read_bytes())
    cache._entry("k" * 64).write_bytes(_crafted(craft, real))
    assert cache.get("k" * 64, "a.py") is None
