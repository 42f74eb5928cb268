"""The guard's codes are the catalog's: same code, a rule documented for it, and the
README's table of runtime checks lists exactly them."""

from __future__ import annotations

import re
from pathlib import Path

from ftlint.guard._state import CODES
from ftlint.rules import ALL_RULES, RULES_BY_CODE

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_guard_code_is_a_catalog_rule():
    assert set(CODES) <= set(RULES_BY_CODE)


def test_every_runtime_only_rule_is_checked_by_the_guard():
    assert {rule.code for rule in ALL_RULES if rule.runtime_only} <= set(CODES)


def test_the_readme_table_of_runtime_checks_lists_the_guard_codes():
    guard_section = README.read_text(encoding="utf-8").split("## Runtime guard", 1)[1]
    rows = re.findall(r"^\| (FTL\d{3}) \|", guard_section, flags=re.MULTILINE)
    assert sorted(set(rows)) == sorted(CODES)
