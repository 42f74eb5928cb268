"""The engine: imports, bad input, one rule failing, noqa, determinism."""

from __future__ import annotations

import os
import subprocess
import sys

import libcst as cst

from ftlint.analysis.names import ImportMap
from ftlint.engine import lint_source
from ftlint.noqa import apply_noqa
from ftlint.finding import Finding
from ftlint.rules import ALL_RULES, RULES_BY_CODE
from ftlint.rules.base import Rule

FROZEN = "import torch\nmodel.requires_grad_(False)\nopt = torch.optim.Adam(model.parameters())\n"


def codes(findings):
    return [f.code for f in findings]


def test_imports_resolve_to_torch_optim():
    source = (
        "import torch.optim as optim\nfrom torch import optim as o2\n"
        "from torch.optim import AdamW as AW\nimport torch as t\n"
    )
    imports = ImportMap(cst.parse_module(source))
    for expr in ("optim.SGD", "o2.SGD", "t.optim.SGD"):
        assert imports.qualified_name(cst.parse_expression(expr)) == "torch.optim.SGD"
    assert imports.qualified_name(cst.parse_expression("AW")) == "torch.optim.AdamW"
    assert imports.qualified_name(cst.parse_expression("local.SGD")) is None


def test_codes_are_unique_and_names_are_kebab_case():
    assert len({rule.code for rule in ALL_RULES}) == len(ALL_RULES)
    for rule in ALL_RULES:
        assert rule.name == rule.name.lower() and " " not in rule.name and "_" not in rule.name
        for section in ("## What it does", "## Why is this bad?", "## Example",
                        "## Use instead", "## References"):  # fmt: skip
            assert section in rule.docs, (rule.code, section)
        assert "\n" not in rule.message


def test_syntax_error_is_one_parse_finding_at_its_place():
    findings = lint_source("bad.py", "x = 1\ndef f(:\n", ALL_RULES)
    assert [(f.code, f.line) for f in findings] == [("FTL000", 2)]
    assert findings[0].message == "could not parse: SyntaxError: invalid syntax"


def test_bad_encoding_binary_and_empty_files():
    assert codes(lint_source("latin.py", b"x = '\xe9'\n", ALL_RULES)) == ["FTL000"]
    assert "not valid UTF-8" in lint_source("latin.py", b"x = '\xe9'\n", ALL_RULES)[0].message
    assert "binary" in lint_source("bin.py", b"\x00\x01\x02", ALL_RULES)[0].message
    assert lint_source("empty.py", b"", ALL_RULES) == []


def test_declared_encoding_and_bom_are_honoured():
    latin = b"# -*- coding: latin-1 -*-\n" + FROZEN.encode() + b"x = '\xe9'\n"
    assert codes(lint_source("latin.py", latin, ALL_RULES)) == ["FTL101"]
    assert codes(lint_source("bom.py", b"\xef\xbb\xbf" + FROZEN.encode(), ALL_RULES)) == ["FTL101"]


def test_a_crashing_rule_is_reported_and_the_others_still_run():
    class Crashes(Rule):
        code, name, message, docs = "FTL998", "always-crashes", "never shown", ""

        def visit_Call(self, node):
            raise ValueError("boom")

    findings = lint_source("x.py", FROZEN, [Crashes, *ALL_RULES])
    assert codes(findings) == ["FTL999", "FTL101"]
    assert findings[0].message == "internal error in FTL998: ValueError: boom"


def test_surprising_call_shapes_do_not_crash():
    source = (
        "import torch\nfrom torchvision import models\n"
        "m = models.resnet18(pretrained=cfg.x)\n"
        "opt = torch.optim.Adam(*groups, **kwargs)\n"
        "opt = torch.optim.Adam()\n"
        "model.load_state_dict(**kw)\n"
        "model.requires_grad_(*flags)\n"
        "x.detach_()\n"
        "f = lambda: model.load_state_dict(sd, strict=False)\n"
        "class A: pass\n"
        "def g(): return torch.optim.SGD(params=model.parameters())\n"
    )
    assert [f for f in lint_source("x.py", source, ALL_RULES) if f.code == "FTL999"] == []


def test_noqa_bare_specific_prefix_and_other_codes():
    finding = Finding("x.py", 1, 1, 1, 2, "FTL101", "n", "m")
    assert apply_noqa([finding], ["x  # noqa"]) == []
    assert apply_noqa([finding], ["x  # noqa: FTL101"]) == []
    assert apply_noqa([finding], ["x  # noqa:FTL1"]) == []
    assert apply_noqa([finding], ["x  # NOQA: E501, FTL101"]) == []
    assert apply_noqa([finding], ["x  # noqa: FTL201"]) == [finding]
    assert apply_noqa([finding], ["x"]) == [finding]


def test_noqa_applies_on_the_reported_line_of_a_multiline_call():
    source = FROZEN.replace(
        "opt = torch.optim.Adam(model.parameters())",
        "opt = torch.optim.Adam(  # noqa: FTL101\n    model.parameters(),\n)",
    )
    assert lint_source("x.py", source, ALL_RULES) == []


def test_same_findings_whatever_the_hash_seed(tmp_path):
    fixtures = os.path.join(os.path.dirname(__file__), "..", "fixtures")
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-m", "ftlint", "check", "--format", "json", fixtures],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_every_rule_is_registered_once():
    assert set(RULES_BY_CODE) == {rule.code for rule in ALL_RULES}
