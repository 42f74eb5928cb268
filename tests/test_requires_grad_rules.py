"""FTL104-FTL108 together with the rest: what one rule says, the others do not contradict."""

from __future__ import annotations

from ftlint.engine import lint_source
from ftlint.rules import ALL_RULES


def _codes(source: str) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in lint_source("example.py", source, ALL_RULES)]


def test_requires_grad_assigned_on_a_module_freezes_nothing_for_the_flow_rules():
    source = """\
import torch
import torchvision
model = torchvision.models.resnet50()
model.requires_grad = False
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
"""
    assert _codes(source) == [(4, "FTL106")]


def test_a_misspelled_freeze_freezes_nothing_for_the_flow_rules():
    source = """\
import torch
for p in model.backbone.parameters():
    p.require_grad = False
opt = torch.optim.SGD(model.parameters(), lr=0.1)
"""
    assert _codes(source) == [(3, "FTL104")]


def test_the_seeds_adam_with_momentum():
    source = """\
import torch
ignored_params = list(map(id, model.decoder.parameters()))
base_params = filter(lambda p: id(p) not in ignored_params, model.parameters())
optimizer = torch.optim.Adam([{'params':base_params,'lr':1e-6},
                              {'params':model.decoder.parameters()}
                              ],
                              lr=1e-4, momentum=0.9)
"""
    assert (7, "FTL108") in _codes(source)


def test_a_misspelled_freeze_of_a_module_is_one_finding_with_the_method_as_the_fix():
    """FTL106 is about the right spelling on a module; the typo is FTL104's alone."""
    source = """\
import torch
import torch.nn as nn
head = nn.Linear(8, 2)
head.require_grad = False
opt = torch.optim.SGD(head.parameters(), lr=0.1)
"""
    [finding] = lint_source("example.py", source, ALL_RULES)
    assert (finding.line, finding.code) == (4, "FTL104")
    assert finding.message.endswith("head is an nn.Module: call head.requires_grad_(False)")
    assert finding.fix.safe and finding.fix.edits[0].content == "requires_grad_(False)"
