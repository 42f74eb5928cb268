"""Every rule's own valid and invalid examples are the first part of its spec."""

from __future__ import annotations

import pytest

from ftlint.engine import lint_source
from ftlint.rules import ALL_RULES
from tests.expectations import expected_findings

STATIC_RULES = [rule for rule in ALL_RULES if not rule.runtime_only]


def _cases(kind: str):
    for rule in STATIC_RULES:
        for index, source in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, source, id=f"{rule.code}-{kind}-{index}")


def _found(rule, source: str) -> list[tuple[int, str]]:
    findings = lint_source("example.py", source, ALL_RULES)
    assert not [f for f in findings if f.code in ("FTL000", "FTL999")], findings
    return sorted((f.line, f.code) for f in findings if f.code == rule.code)


@pytest.mark.parametrize(("rule", "source"), list(_cases("valid")))
def test_valid_example_is_silent(rule, source):
    assert _found(rule, source) == []


@pytest.mark.parametrize(("rule", "source"), list(_cases("invalid")))
def test_invalid_example_is_reported_where_marked(rule, source):
    expected = [item for item in expected_findings(source) if item[1] == rule.code]
    assert expected, "an invalid example must mark at least one expected finding"
    assert _found(rule, source) == expected


@pytest.mark.parametrize("rule", STATIC_RULES, ids=lambda rule: rule.code)
def test_rule_has_examples_both_ways(rule):
    assert rule.valid and rule.invalid
