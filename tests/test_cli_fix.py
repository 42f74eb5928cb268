"""`ftlint check --fix`, `--diff` and `--unsafe-fixes` end to end through a subprocess."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import libcst as cst

from tests.conftest import BUGGY

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FIXED_BUGGY = BUGGY.replace(
    "Adam(model.parameters())", "Adam(filter(lambda p: p.requires_grad, model.parameters()))"
)
# A finding without a fix, to see what remains after fixing.
DETACH = "y.detach_()\nprint(y)\n"


def test_fix_applies_safe_fixes_only_and_says_more_are_available(tmp_path, run_ftlint):
    path = tmp_path / "train.py"
    path.write_text(BUGGY)
    result = run_ftlint("check", "--fix", "train.py")
    assert path.read_text() == BUGGY  # FTL101's fix is unsafe
    assert result.returncode == 1
    assert result.stdout.startswith("train.py:3:7: FTL101 ")
    assert result.stderr == "Found 1 finding (1 fixable with --fix --unsafe-fixes).\n"


def test_unsafe_fixes_then_only_the_remaining_findings_are_printed(tmp_path, run_ftlint):
    path = tmp_path / "train.py"
    path.write_text(BUGGY + DETACH)
    result = run_ftlint("check", "--fix", "--unsafe-fixes", "train.py")
    assert path.read_text() == FIXED_BUGGY + DETACH
    assert result.returncode == 1
    assert [line.split(": ")[:2] for line in result.stdout.splitlines()] == [
        ["train.py:4:1", "FTL301 y.detach_() cuts y off the graph for every holder, so the "
         "later use at line 5 sends no gradient to whatever computed it; use y.detach() "
         "where the detached value is needed"],
    ]  # fmt: skip
    assert result.stderr == "ftlint: 1 fix applied to 1 file\nFound 1 finding.\n"


def test_fix_exits_zero_when_nothing_remains(tmp_path, run_ftlint):
    (tmp_path / "train.py").write_text(BUGGY)
    result = run_ftlint("check", "--fix", "--unsafe-fixes", "--format", "json", "train.py")
    assert (result.returncode, result.stdout) == (0, "[]\n")


def test_diff_writes_nothing_and_exits_one_while_there_is_a_change(tmp_path, run_ftlint):
    path = tmp_path / "train.py"
    path.write_text(BUGGY)
    result = run_ftlint("check", "--diff", "--unsafe-fixes", "train.py")
    assert path.read_text() == BUGGY
    assert result.returncode == 1
    assert result.stdout == (
        "--- a/train.py\n+++ b/train.py\n@@ -1,3 +1,3 @@\n import torch\n"
        " model.requires_grad_(False)\n-opt = torch.optim.Adam(model.parameters())\n"
        "+opt = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()))\n"
    )
    assert result.stderr == "ftlint: 1 fix would change 1 file\n"
    safe_only = run_ftlint("check", "--diff", "train.py")
    assert (safe_only.returncode, safe_only.stdout) == (0, "")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_quotes_a_file_name_that_is_not_utf8_as_git_does(tmp_path, run_ftlint):
    path = tmp_path / os.fsdecode(b"bad\xff.py")
    path.write_text(BUGGY)
    result = run_ftlint("check", "--diff", "--unsafe-fixes", ".")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith('--- "a/bad\\377.py"\n+++ "b/bad\\377.py"\n@@ ')
    subprocess.run(["git", "apply", "-"], input=result.stdout, text=True, cwd=tmp_path, check=True)
    assert path.read_text() == FIXED_BUGGY


def test_fix_honours_noqa_selection_and_per_file_ignores(tmp_path, run_ftlint):
    noqa = BUGGY.replace("parameters())", "parameters())  # noqa: FTL101")
    (tmp_path / "noqa.py").write_text(noqa)
    (tmp_path / "ignored.py").write_text(BUGGY)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ftlint]\nper-file-ignores = { "ignored.py" = ["FTL1"] }\n'
    )
    result = run_ftlint("check", "--fix", "--unsafe-fixes", ".")
    assert result.returncode == 0, result.stdout
    assert (tmp_path / "noqa.py").read_text() == noqa
    assert (tmp_path / "ignored.py").read_text() == BUGGY
    (tmp_path / "other.py").write_text(BUGGY)
    unselected = run_ftlint("check", "--fix", "--unsafe-fixes", "--select", "FTL3", "other.py")
    assert unselected.returncode == 0 and (tmp_path / "other.py").read_text() == BUGGY


def test_an_unparsable_file_is_reported_and_the_others_fixed(tmp_path, run_ftlint):
    (tmp_path / "bad.py").write_text("def f(:\n")
    (tmp_path / "latin.py").write_bytes(b"x = '\xe9'\n")
    (tmp_path / "train.py").write_text(BUGGY)
    result = run_ftlint("check", "--fix", "--unsafe-fixes", ".")
    assert (tmp_path / "train.py").read_text() == FIXED_BUGGY
    assert result.returncode == 1
    assert [line.split(": ")[:2] for line in result.stdout.splitlines()] == [
        ["bad.py:1:7", "FTL000 could not parse"],
        ["latin.py:1:1", "FTL000 could not parse"],
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_fix_over_the_fixtures_parses_and_settles(tmp_path, run_ftlint):
    copy = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, copy)
    before = {path.name: path.read_text() for path in copy.glob("*.py")}

    first = run_ftlint("check", "--fix", "--unsafe-fixes", ".", cwd=copy)
    assert first.returncode in (0, 1), first.stderr
    assert re.fullmatch(r"ftlint: \d+ fixes applied to \d+ files\nFound \d+ findings\.\n", first.stderr)
    after = {path.name: path.read_text() for path in copy.glob("*.py")}
    changed = [name for name in after if after[name] != before[name]]
    assert changed, "the fixtures hold fixable findings"
    for name in changed:
        ast.parse(after[name], filename=name)
        cst.parse_module(after[name])

    second = run_ftlint("check", "--fix", "--unsafe-fixes", ".", cwd=copy)
    assert {path.name: path.read_text() for path in copy.glob("*.py")} == after
    assert "applied" not in second.stderr
    assert second.stdout == first.stdout  # the same findings remain
    diff = run_ftlint("check", "--diff", "--unsafe-fixes", ".", cwd=copy)
    assert (diff.returncode, diff.stdout) == (0, "")


def test_rule_docs_say_whether_and_how_safely_a_rule_fixes(run_ftlint):
    fixable = run_ftlint("rule", "FTL101").stdout
    assert "\nFix: unsafe (applied by --fix --unsafe-fixes)\n" in fixable
    assert "## Fix safety" in fixable
    assert "\nFix: safe or unsafe depending on the case" in run_ftlint("rule", "FTL205").stdout
    assert "\nFix: none\n" in run_ftlint("rule", "FTL201").stdout
