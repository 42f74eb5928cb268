"""Findings as a SARIF 2.1.0 log, the format GitHub code scanning and other dashboards load.

Paths are given relative to the repository root (`%SRCROOT%`) so that an upload matches
the repository's files; columns count code points, as libcst's do. A URI keeps the bytes
of a file name that is not UTF-8, percent-encoded (b"\\xff" is %FF).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ftlint import __version__
from ftlint.finding import Edit, Finding, Fix

if TYPE_CHECKING:
    from ftlint.rules.base import Rule

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
HOME = "https://github.com/ftlint/ftlint"
ROOT_ID = "%SRCROOT%"

# Findings about the run rather than the code: they are errors, the rules' are warnings.
RUN_PROBLEMS = {
    "FTL000": ("parse-error", "A file could not be read or parsed; it was not checked."),
    "FTL999": ("internal-error", "A rule failed on a file; the other rules' findings stand."),
}


# os.fsdecode gives each byte of a file name that is not UTF-8 as a lone surrogate (b"\xff"
# becomes "\udcff"), and a notebook's JSON may hold lone surrogates too. No report may carry
# one: UTF-8 cannot encode it, and JSON readers reject it.
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _escape_surrogate(match: re.Match) -> str:
    code = ord(match[0])
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a name: \xff, as backslashreplace shows it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def without_surrogates(text: str) -> str:
    """`text` with each lone surrogate written as a backslash escape: `bad\\xff.py`."""
    return text if text.isascii() else _LONE_SURROGATE.sub(_escape_surrogate, text)


def _without_surrogates(value: object) -> object:
    if isinstance(value, str):
        return without_surrogates(value)
    if isinstance(value, dict):
        return {key: _without_surrogates(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_surrogates(item) for item in value]
    return value


def json_text(value: object) -> str:
    """`value` as indented JSON, each string without lone surrogates (json would write
    them as \\udcff escapes, which are not valid Unicode)."""
    return json.dumps(_without_surrogates(value), indent=2) + "\n"


def help_uri(code: str) -> str:
    """The rule's section of the README."""
    return f"{HOME}#{code.lower()}"


def level(code: str) -> str:
    return "error" if code in RUN_PROBLEMS else "warning"


def docs_section(docs: str, title: str) -> str:
    """The text under `## <title>` in a rule's docs, without the heading."""
    _, found, rest = docs.partition(f"## {title}\n")
    return rest.split("\n## ", 1)[0].strip() if found else ""


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    head, dot, _ = flat.partition(". ")
    return head + "." if dot else flat


def _descriptor(rule: type[Rule]) -> dict[str, object]:
    what = docs_section(rule.docs, "What it does")
    why = docs_section(rule.docs, "Why is this bad?")
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": _first_sentence(what)},
        "fullDescription": {"text": " ".join(f"{what}\n\n{why}".split())},
        "help": {"text": rule.docs, "markdown": rule.docs},
        "helpUri": help_uri(rule.code),
        "defaultConfiguration": {"level": "warning"},
        "properties": {"fix": rule.fix or "none", "runtimeOnly": rule.runtime_only},
    }


def _run_problem_descriptor(code: str) -> dict[str, object]:
    name, text = RUN_PROBLEMS[code]
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": text},
        "fullDescription": {"text": text},
        "help": {"text": text, "markdown": text},
        "helpUri": f"{HOME}#what-it-finds",
        "defaultConfiguration": {"level": "error"},
    }


def find_root(start: Path) -> Path:
    """The top of the git work tree holding `start`, or `start` itself outside one."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start


def _location(path: str, root: Path) -> dict[str, object]:
    absolute = Path(path).resolve()
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(os.fsencode(relative.as_posix())), "uriBaseId": ROOT_ID}


def _region(line: int, column: int, end_line: int, end_column: int) -> dict[str, int]:
    return {"startLine": line, "startColumn": column, "endLine": end_line, "endColumn": end_column}


def _replacement(edit: Edit) -> dict[str, object]:
    return {
        "deletedRegion": _region(edit.line, edit.column, edit.end_line, edit.end_column),
        "insertedContent": {"text": edit.content},
    }


def _fix(fix: Fix, location: dict[str, object]) -> dict[str, object]:
    safety = "safe" if fix.safe else "unsafe: may change behaviour"
    return {
        "description": {"text": f"{fix.description} ({safety})"},
        "artifactChanges": [
            {"artifactLocation": location, "replacements": [_replacement(e) for e in fix.edits]}
        ],
    }


def cell_position(finding: Finding) -> str:
    return f"cell {finding.cell}, line {finding.line}, column {finding.column}"


def _result_location(finding: Finding, artifact: dict[str, object]) -> dict[str, object]:
    """Where a finding is. In a notebook its line counts within a cell, not within the
    .ipynb file: the location names the file only, and the message says the cell."""
    if finding.cell is not None:
        return {"physicalLocation": {"artifactLocation": artifact}}
    region = _region(finding.line, finding.column, finding.end_line, finding.end_column)
    return {"physicalLocation": {"artifactLocation": artifact, "region": region}}


def render_sarif(findings: Sequence[Finding], root: Path) -> str:
    from ftlint.rules import ALL_RULES

    descriptors = [_descriptor(rule) for rule in ALL_RULES]
    descriptors += [_run_problem_descriptor(code) for code in RUN_PROBLEMS]
    index = {descriptor["id"]: number for number, descriptor in enumerate(descriptors)}
    results = []
    for finding in findings:
        location = _location(finding.path, root)
        result: dict[str, object] = {"ruleId": finding.code}
        if finding.code in index:
            result["ruleIndex"] = index[finding.code]
        message = finding.message
        if finding.cell is not None:
            message = f"{cell_position(finding)}: {message}"
            result["properties"] = {"cell": finding.cell}
        result |= {
            "level": level(finding.code),
            "message": {"text": message},
            "locations": [_result_location(finding, location)],
        }
        if finding.fix is not None and finding.cell is None:  # fixes edit .py files only
            result["fixes"] = [_fix(finding.fix, location)]
        results.append(result)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ftlint",
                        "version": __version__,
                        "informationUri": HOME,
                        "rules": descriptors,
                    }
                },
                "originalUriBaseIds": {ROOT_ID: {"uri": root.resolve().as_uri().rstrip("/") + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json_text(log)
