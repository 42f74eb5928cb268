"""FTL104's fixes, run: the fixed code freezes what the typo meant to freeze, or the bug is
still reported. A fix never trades the typo for a correctly spelled no-op that no rule
reports (`model.fc.requires_grad = False` on a module freezes nothing either)."""

from __future__ import annotations

import pytest

from ftlint.engine import lint_source
from ftlint.fixes import fix_text
from ftlint.rules import ALL_RULES

PRELUDE = """\
import torch
import torch.nn as nn

def build():
    model = nn.Sequential(nn.Linear(2, 2))
    model.fc = nn.Linear(2, 2)
    return model

model = build()  # what model.fc is, ftlint cannot tell
known = nn.Sequential(nn.Linear(2, 2))
weight = nn.Parameter(torch.zeros(2))
"""

# (the typo, what it meant to freeze, whether a safe fix may be offered)
CASES = [
    ("model.fc.require_grad = False", "model.fc", False),  # the issue's example
    ("model.require_grad = False", "model", False),
    ("model.fc.weight.requires_grad_ = False", "model.fc.weight", False),
    ("setattr(model.fc, 'requires_gard', False)", "model.fc", False),
    ("model.fc.weight.data.require_grad = False", "model.fc.weight", False),
    ("head = model.fc\nhead.Requires_grad = False", "model.fc", False),
    ("known.require_grad = False", "known", True),
    ("known.requires_grads: bool = False", "known", True),
    ("setattr(known, 'require_grad', False)", "known", True),
    ("weight.require_grad = False", "weight", True),
    ("weight.data.requires_gard = False", "weight", True),
    ("setattr(weight.data, 'require_grad', False)", "weight", True),
    ("for p in model.parameters():\n    p.require_grad = False", "model", True),
    ("for p in model.fc.parameters():\n    p.data.requires_grads = False", "model.fc", True),
    ("for n, p in model.named_parameters():\n    setattr(p, 'require_grad', False)", "model",
     True),
    ("for i, p in enumerate(model.parameters()):\n    p.required_grad = False", "model", True),
    ("for p in model.parameters():\n    p.requires_grad_ = False", "model", True),
    ("class Frozen(nn.Linear):\n    def freeze(self):\n        self.require_grad = False\n"
     "frozen = Frozen(2, 2)\nfrozen.freeze()", "frozen", True),
]  # fmt: skip

FREEZING_CODES = {"FTL104", "FTL105", "FTL106"}


def _lint(text: str):
    return lint_source("example.py", text, ALL_RULES)


def _frozen(text: str, target: str) -> bool:
    namespace: dict = {}
    exec(compile(text, "example.py", "exec"), namespace)
    obj = eval(target, namespace)
    tensors = [obj] if isinstance(obj, __import__("torch").Tensor) else list(obj.parameters())
    return not any(t.requires_grad for t in tensors)


@pytest.mark.parametrize(("typo", "target", "safe"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("unsafe", [False, True], ids=["safe fixes", "unsafe fixes too"])
def test_fixed_code_freezes_or_the_bug_is_still_reported(typo, target, safe, unsafe):
    source = PRELUDE + typo + "\n"
    assert not _frozen(source, target)  # the typo freezes nothing: the case is real
    typo_lines = set(range(PRELUDE.count("\n") + 1, source.count("\n") + 1))
    assert {(f.code, f.line in typo_lines) for f in _lint(source)} == {("FTL104", True)}
    result = fix_text(source, _lint, unsafe)
    if result.text == source:
        assert not safe and not unsafe  # nothing applied: only an unsafe fix was offered
    if _frozen(result.text, target):
        assert [f for f in _lint(result.text) if f.code in FREEZING_CODES] == []
    else:
        # Still a no-op: linted again, the fixed text must still say so.
        assert any(f.code in FREEZING_CODES for f in _lint(result.text)), result.text
    # What each case must come to: frozen by the safe fixes when the owner is known, by
    # the unsafe ones otherwise; reported as before when only safe fixes were applied.
    assert _frozen(result.text, target) == (safe or unsafe)


def test_the_issues_example_gets_only_an_unsafe_fix_to_the_method():
    source = PRELUDE + "model.fc.require_grad = False\n"
    [finding] = _lint(source)
    assert "call model.fc.requires_grad_(False)" in finding.message
    assert finding.fix is not None and not finding.fix.safe
    assert fix_text(source, _lint, unsafe=True).text.endswith("\nmodel.fc.requires_grad_(False)\n")


def test_a_known_module_gets_the_method_a_known_parameter_the_spelling():
    source = PRELUDE + "known.require_grad = False\nweight.require_grad = flag\n"
    module, parameter = _lint(source)
    assert "known is an nn.Module: call known.requires_grad_(False)" in module.message
    assert "write weight.requires_grad = flag" in parameter.message
    assert module.fix.safe and parameter.fix.safe
    assert fix_text(source, _lint, unsafe=False).text.endswith(
        "\nknown.requires_grad_(False)\nweight.requires_grad = flag\n"
    )


def test_a_computed_flag_on_a_module_is_an_unsafe_fix():
    """`requires_grad_` takes a bool only, where a module's plain attribute took anything."""
    source = PRELUDE + "known.require_grad = not train_all\n"
    [finding] = _lint(source)
    assert finding.fix.edits[0].content == "requires_grad_(not train_all)"
    assert not finding.fix.safe


def test_an_object_known_to_be_no_tensor_and_no_module_gets_no_fix():
    source = """\
from torch.nn.utils.rnn import pack_sequence
packed = pack_sequence([torch.ones(2)])
packed.require_grad = False
"""
    [finding] = _lint(source)
    assert (finding.line, finding.code, finding.fix) == (3, "FTL104", None)
