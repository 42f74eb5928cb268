"""Generated valid programs through both front ends: the CLI's engine and the flake8
plugin never fail, never report an internal error, and agree. A bounded number of
examples here; `benchmarks/fuzz_engine.py` runs as many as it is given."""

from __future__ import annotations

import ast

import hypothesmith
from hypothesis import HealthCheck, given, settings

from ftlint.engine import lint_source
from ftlint.finding import INTERNAL_ERROR
from ftlint.flake8_plugin import Flake8Plugin
from ftlint.rules import ALL_RULES

# Words that wake the rules' first pass, so that generated code reaches the rules.
PRELUDE = (
    "import torch\n"
    "model = torch.nn.Linear(2, 2)\n"
    "opt = torch.optim.Adam(model.parameters())\n"
    "model.requires_grad_(False)\n"
)


def engine_findings(source: str) -> list[tuple[int, int, str]]:
    return [(f.line, f.column, f.code) for f in lint_source("gen.py", source, ALL_RULES)]


def flake8_findings(source: str) -> list[tuple[int, int, str]]:
    plugin = Flake8Plugin(ast.parse(source), source.splitlines(keepends=True), "gen.py")
    return [(line, column + 1, message.split()[0]) for line, column, message, _ in plugin.run()]


def check(source: str) -> None:
    found = engine_findings(source)
    assert INTERNAL_ERROR[0] not in {code for _, _, code in found}, found
    try:
        ast.parse(source)
    except SyntaxError:  # the prelude can make it invalid (a late __future__ import)
        assert [code for _, _, code in found] == ["FTL000"]
        return
    # flake8 applies noqa itself, so compare only where the source has none.
    if "noqa" not in source:
        assert sorted(flake8_findings(source)) == sorted(found)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_grammar())
def test_generated_programs(source):
    check(source)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_grammar())
def test_generated_programs_after_a_torch_prelude(source):
    check(PRELUDE + source)
