"""The speed paths never change what is found: the first pass (rule tokens), the lazy
positions, the syntax check of files no rule needs."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from ftlint.context import Positions
from ftlint.engine import lint_source, rules_for
from ftlint.outline import Outline
from ftlint.rules import ALL_RULES
from ftlint.rules.base import Rule

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
STATIC_RULES = [rule for rule in ALL_RULES if not rule.runtime_only]


def _examples():
    for path in sorted(FIXTURES.glob("*.py")):
        yield path.name, path.read_bytes()
    for rule in STATIC_RULES:
        for index, source in enumerate((*rule.valid, *rule.invalid)):
            yield f"{rule.code}-{index}", source
        for index, (before, after) in enumerate(getattr(rule, "fix_examples", ())):
            yield f"{rule.code}-fix-{index}", before
            yield f"{rule.code}-fixed-{index}", after


@pytest.mark.parametrize(("name", "source"), list(_examples()), ids=lambda v: str(v)[:24])
def test_the_first_pass_never_changes_findings(name, source):
    assert lint_source(name, source, ALL_RULES) == lint_source(
        name, source, ALL_RULES, first_pass=False
    )


def test_every_rule_that_is_fired_by_an_example_needs_its_tokens():
    for rule in STATIC_RULES:
        for source in rule.invalid:
            assert rule in rules_for(Outline(source), [rule]), rule.code


def test_a_rule_without_tokens_always_runs_and_one_with_tokens_only_when_they_occur():
    class Everywhere(Rule):
        code, name, message, docs = "FTL997", "everywhere", "m", ""

    class Specific(Rule):
        code, name, message, docs = "FTL996", "specific", "m", ""
        tokens = ("detach_", "weights_only")

    assert rules_for(Outline("x = 1\n"), [Everywhere, Specific]) == [Everywhere]
    assert rules_for(Outline("y.detach_()\n"), [Everywhere, Specific]) == [Everywhere, Specific]
    # whole words: a longer name that contains a token is not it
    assert rules_for(Outline("y.detach_all()\n"), [Specific]) == []
    assert rules_for(Outline('setattr(y, "weights_only", 1)\n'), [Specific]) == [Specific]


def test_a_file_no_rule_needs_still_gets_its_parse_error():
    for bad in ("x = 1\ndef f(:\n", "x = (\n", "def f():\n  return 1\n    y = 2\n"):
        skipped = lint_source("bad.py", bad, [])
        assert [f.code for f in skipped] == ["FTL000"]
        assert skipped == lint_source("bad.py", bad, ALL_RULES, first_pass=False)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.py")), ids=lambda p: p.name)
def test_lazy_positions_are_libcsts(path):
    module = cst.parse_module(path.read_text())
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    positions = Positions(module)
    assert all(positions[node] == where for node, where in expected.items())


def test_optimizer_tokens_cover_every_optimizer_name():
    from ftlint.analysis import optimizers

    names = (*optimizers._OPTIMIZER_MODULES, *optimizers._KNOWN_OPTIMIZERS, *optimizers._BASES)
    for name in names:
        assert not set(name.split(".")).isdisjoint(optimizers.OPTIMIZER_TOKENS), name


# Each rule whose first pass reads callees, reached only through an import alias: the
# facts must resolve the alias as the rule does, or the finding is lost.
ONLY_THROUGH_AN_ALIAS = {
    "FTL101": """\
from torch.optim import AdamW as AW
for p in model.backbone.parameters():
    p.requires_grad = False
opt = AW(model.parameters(), lr=1e-3)
""",
    "FTL108": """\
from torch.optim import SGD as S
opt = S(model.parameters(), lr=0.1, betas=(0.9, 0.99))
""",
    "FTL203": """\
from torch import load as L
sd = L("ckpt.pt", weights_only=False)
""",
    "FTL204": """\
from torch import save as S
import torch.nn as nn
model = nn.Linear(2, 2)
S(model, "model.pt")
""",
    "FTL205": """\
from torchvision.models import resnet18 as r18
model = r18(pretrained=True)
""",
}


@pytest.mark.parametrize("code", sorted(ONLY_THROUGH_AN_ALIAS))
def test_a_finding_reached_only_through_an_import_alias_survives_the_first_pass(code):
    source = ONLY_THROUGH_AN_ALIAS[code]
    assert code in {finding.code for finding in lint_source("a.py", source, ALL_RULES)}
    assert lint_source("a.py", source, ALL_RULES) == lint_source(
        "a.py", source, ALL_RULES, first_pass=False
    )
