"""The README's rule table and the registry describe the same rules."""

from __future__ import annotations

import re
from pathlib import Path

from ftlint.rules import ALL_RULES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_table_lists_every_rule_with_its_name_and_anchor():
    rows = re.findall(r'^\| <a id="(ftl\d+)"></a>(FTL\d+) \| ([a-z-]+) \|', README, re.M)
    assert rows == [(rule.code.lower(), rule.code, rule.name) for rule in ALL_RULES]


def test_readme_test_command_is_the_one_ci_runs():
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    command = [line for line in ci.splitlines() if "pytest" in line and not line.startswith("#")]
    assert command == ["python -m pytest"]
    assert "\npython -m pytest\n" in README
