"""The realistic scripts in fixtures/ carry their expected findings in `# expect:` comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftlint.config import Settings
from ftlint.rules import RULES_BY_CODE
from ftlint.runner import enabled_rules, lint_file
from tests.expectations import expected_findings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCRIPTS = sorted(FIXTURES.glob("*.py"))


def test_there_are_enough_fixtures():
    assert len(SCRIPTS) >= 6


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_fixture_findings_match_expectations(script):
    settings = Settings(root=FIXTURES)
    found = sorted((f.line, f.code) for f in lint_file(script, settings, enabled_rules(settings)))
    expected = expected_findings(script.read_text())
    assert {code for _, code in expected} <= set(RULES_BY_CODE)
    assert found == expected


def test_every_static_rule_has_a_fixture_line():
    expected = {code for script in SCRIPTS for _, code in expected_findings(script.read_text())}
    static = {code for code, rule in RULES_BY_CODE.items() if not rule.runtime_only}
    assert static <= expected


def test_clean_fixture_is_silent_for_every_rule():
    settings = Settings(root=FIXTURES)
    assert lint_file(FIXTURES / "clean_finetune.py", settings, enabled_rules(settings)) == []
