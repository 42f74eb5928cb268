"""Fixes: each rule's examples, and how `ftlint.fixes` applies edits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ftlint.engine import lint_source
from ftlint.finding import Edit, Finding, Fix
from ftlint.fixes import MAX_PASSES, apply_fixes, fix_file, fix_text, parses
from ftlint.rules import ALL_RULES
from ftlint.rules.base import FIX_KINDS
from tests.conftest import BUGGY

FIXABLE = [rule for rule in ALL_RULES if rule.fix is not None]


def lint(text: str) -> list[Finding]:
    return lint_source("example.py", text, ALL_RULES)


def fixed(text: str, unsafe: bool = True) -> str:
    return fix_text(text, lint, unsafe).text


def _examples():
    for rule in FIXABLE:
        for index, (before, after) in enumerate(rule.fix_examples):
            yield pytest.param(rule, before, after, id=f"{rule.code}-{index}")


@pytest.mark.parametrize(("rule", "before", "after"), list(_examples()))
def test_fix_example_gives_the_expected_text(rule, before, after):
    assert fixed(before) == after
    assert parses(after)


@pytest.mark.parametrize(("rule", "before", "after"), list(_examples()))
def test_fixing_twice_changes_nothing(rule, before, after):
    again = fix_text(after, lint, unsafe=True)
    assert (again.text, again.applied) == (after, 0)
    assert not [f for f in again.findings if f.code == rule.code and f.fix is not None]


@pytest.mark.parametrize(("rule", "before", "after"), list(_examples()))
def test_noqa_for_the_code_keeps_the_line_as_it_is(rule, before, after):
    lines = before.splitlines(keepends=True)
    for finding in lint(before):
        if finding.code == rule.code and finding.fix is not None:
            line = lines[finding.line - 1]
            lines[finding.line - 1] = line.rstrip("\n") + f"  # noqa: {rule.code}\n"
    silenced = "".join(lines)
    assert fixed(silenced) == silenced


@pytest.mark.parametrize(("rule", "before", "after"), list(_examples()))
def test_fix_safety_matches_the_rule_declaration(rule, before, after):
    fixes = [f.fix for f in lint(before) if f.code == rule.code and f.fix is not None]
    if rule.fix == "safe":
        assert all(fix.safe for fix in fixes)
    elif rule.fix == "unsafe":
        assert not any(fix.safe for fix in fixes)
    if not any(fix.safe for fix in fixes):  # without --unsafe-fixes nothing is applied
        assert fixed(before, unsafe=False) == before


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.code)
def test_fix_declaration_docs_and_examples_agree(rule):
    assert rule.fix in (None, *FIX_KINDS)
    assert bool(rule.fix) == bool(rule.fix_examples)
    assert bool(rule.fix) == ("## Fix safety" in rule.docs)
    for before, after in rule.fix_examples:
        if before != after:
            assert any(f.code == rule.code and f.fix for f in lint(before))


def _finding(line: int, fix: Fix | None, code: str = "FTL101") -> Finding:
    return Finding("x.py", line, 1, line, 2, code, "name", "message", fix)


def _fix(*edits: Edit, safe: bool = True) -> Fix:
    return Fix("test fix", edits, safe)


def test_edits_are_applied_from_the_end_across_lines():
    text = "a = 1\nbb = 2\r\nccc = 3\n"
    fixes = [_fix(Edit(1, 1, 1, 2, "x")), _fix(Edit(2, 6, 3, 4, "20; y"))]
    assert apply_fixes(text, fixes) == "x = 1\nbb = 20; y = 3\n"


def test_a_fix_that_would_not_parse_is_never_applied():
    text = "x = 1\ny = 2\n"
    broken = _fix(Edit(1, 5, 1, 6, "(("))
    good = _fix(Edit(2, 5, 2, 6, "3"))

    def offers(current: str) -> list[Finding]:
        findings = [_finding(1, broken)]
        if current.endswith("2\n"):
            findings.append(_finding(2, good))
        return findings

    result = fix_text(text, offers, unsafe=True)
    assert (result.text, result.applied) == ("x = 1\ny = 3\n", 1)


def test_overlapping_fixes_wait_for_the_next_pass():
    calls = []

    def offers(current: str) -> list[Finding]:
        calls.append(current)
        if current == "x = 1\n":
            inner = _fix(Edit(1, 5, 1, 6, "2"))
            whole = _fix(Edit(1, 1, 1, 6, "y = 9"))
            return [_finding(1, inner), _finding(1, whole)]
        return []

    result = fix_text("x = 1\n", offers, unsafe=True)
    assert result.text == "x = 2\n"
    assert calls == ["x = 1\n", "x = 2\n"]


def test_passes_are_bounded_when_a_fix_never_settles():
    def offers(current: str) -> list[Finding]:
        return [_finding(1, _fix(Edit(1, 1, 1, 1, "x = 0\n")))]

    result = fix_text("", offers, unsafe=True)
    assert result.applied == MAX_PASSES


def test_noqa_on_any_line_a_fix_touches_blocks_it():
    text = "x = (1,\n     2)  # noqa: FTL101\n"
    fix = _fix(Edit(1, 5, 2, 8, "3"))
    assert fix_text(text, lambda _: [_finding(1, fix)], unsafe=True).text == text
    other = _finding(1, fix, code="FTL205")
    result = fix_text(text, lambda t: [other] if "(" in t else [], unsafe=True)
    assert result.text == "x = 3  # noqa: FTL101\n"


def test_unsafe_fixes_need_the_flag():
    fix = _fix(Edit(1, 5, 1, 6, "2"), safe=False)
    assert fix_text("x = 1\n", lambda _: [_finding(1, fix)], unsafe=False).text == "x = 1\n"


def test_fix_file_keeps_encoding_byte_order_mark_and_line_endings(tmp_path):
    path = tmp_path / "train.py"
    source = (
        "import torch\r\n"
        "model.requires_grad_(False)\r\n"
        "opt = torch.optim.Adam(model.parameters())  # é\r\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + source.encode("utf-8"))
    result = fix_file(path, lambda _, text: lint_source("train.py", text, ALL_RULES), True, True)
    assert result is not None and result.applied == 1
    assert path.read_bytes() == b"\xef\xbb\xbf" + source.replace(
        "Adam(model.parameters())", "Adam(filter(lambda p: p.requires_grad, model.parameters()))"
    ).encode("utf-8")
    assert "+opt = torch.optim.Adam(filter(" in result.diff()


def test_a_file_that_cannot_be_written_keeps_its_findings(tmp_path, monkeypatch):
    path = tmp_path / "train.py"
    path.write_text(BUGGY)

    def refuse(source, target):  # the rename that would put the fixed text in place
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("ftlint.files.os.replace", refuse)
    result = fix_file(path, lambda _, text: lint_source("train.py", text, ALL_RULES), True, True)
    assert result.error == "cannot write: Permission denied"
    assert (result.applied, result.after == result.before) == (0, True)
    assert [f.code for f in result.findings] == ["FTL101"]
    # The original is untouched and no temporary file is left beside it.
    assert path.read_text() == BUGGY and [p.name for p in tmp_path.iterdir()] == ["train.py"]


def test_readme_lists_the_rules_with_fixes():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    sentence = re.search(r"Fixes exist for (.*?)\.\s", readme, re.S)
    assert sentence is not None
    assert set(re.findall(r"FTL\d{3}", sentence.group(1))) == {rule.code for rule in FIXABLE}
