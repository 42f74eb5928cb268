"""The facts the first pass reads from Python's syntax tree: each must hold wherever a rule
could see what it stands for, so a wrong "no" here would silently lose findings."""

from __future__ import annotations

import ast

from ftlint.analysis.optimizers import may_build_optimizer
from ftlint.engine import rules_for
from ftlint.outline import Outline
from ftlint.rules import ALL_RULES


def facts(source: str):
    return Outline(source).facts


def test_callees_resolve_through_every_import_form():
    source = """\
import torch as t
import torch.serialization
from torch import load as torch_load
from torch.optim import AdamW as AW
t.save(m, p)
torch.serialization.load(p)
torch_load(p)
AW(ps)
"""
    found = facts(source)
    for name in ("torch.save", "torch.serialization.load", "torch.load", "torch.optim.AdamW"):
        assert found.calls_any({name}), name
    assert not found.calls_any({"torch.hub.load"})


def test_an_alias_bound_twice_resolves_to_both_names():
    source = """\
if fast:
    from torch import load
else:
    from safetensors.torch import load_file as load
load(p)
"""
    found = facts(source)
    assert found.calls_any({"torch.load"}) and found.calls_any({"safetensors.torch.load_file"})


def test_imports_and_calls_inside_functions_and_classes_count():
    source = """\
class Trainer:
    def save(self, model):
        import torch
        torch.save(model, self.path)
"""
    assert facts(source).calls_any({"torch.save"})


def test_methods_called_on_any_receiver():
    found = facts("get_model().module.load_state_dict(sd, strict=False)\n")
    assert found.calls_method({"load_state_dict"})
    assert not found.calls_method({"state_dict"})


def test_results_assigned_or_yielded_by_a_top_level_generator():
    assert facts("ps = model.parameters()\n").assigns_result_of({"parameters"})
    assert facts("ps: object = (p for p in m.parameters())\n").assigns_result_of({"parameters"})
    assert facts("if (ps := m.parameters()):\n    pass\n").assigns_result_of({"parameters"})
    helper = "def trainable(m):\n    yield from m.parameters()\nps = trainable(model)\n"
    assert facts(helper).assigns_result_of({"parameters"})
    # passed straight to a call or looped over: nothing is bound
    assert not facts("opt = f(1)\nAdam(m.parameters())\n").assigns_result_of({"parameters"})
    plain = "def trainable(m):\n    return list(m.parameters())\n"
    assert not facts(plain).assigns_result_of({"parameters"})


def test_class_bases_resolve_like_callees():
    source = "from torch import optim\nclass Lars(optim.Optimizer):\n    pass\n"
    assert facts(source).derives_from(lambda name: name == "torch.optim.Optimizer")
    assert may_build_optimizer(Outline(source))
    assert not may_build_optimizer(Outline("from torch.optim import Optimizer\nx: Optimizer\n"))


def test_dict_filters_and_comparisons_for_nothing():
    assert facts("d = {k: v for k, v in sd.items() if k in keys}\n").filters_dict_by_membership()
    assert not facts("d = {k: v for k, v in sd.items() if v}\n").filters_dict_by_membership()
    assert not facts("d = {k: v for k in a for v in b if k in v}\n").filters_dict_by_membership()
    assert facts("p.requires_grad == False\n").compares_for_nothing()
    assert facts("[p.requires_grad == False for p in ps]\n").compares_for_nothing()
    assert not facts("ok = p.requires_grad == False\n").compares_for_nothing()


def test_a_file_pythons_parser_rejects_keeps_every_rule_its_words_allow():
    outline = Outline("import torch\ntorch.save(model, p\n")
    assert outline.tree is None
    assert outline.facts.calls_any({"anything"}) and outline.facts.filters_dict_by_membership()
    assert [rule.code for rule in rules_for(outline, ALL_RULES)] == ["FTL204"]


def test_flake8s_tree_is_used_as_given():
    tree = ast.parse("torch.save(model, p)\n")
    outline = Outline("this text is not read for facts", tree)
    assert outline.tree is tree and outline.facts.calls_any({"torch.save"})


def test_the_tree_walk_survives_deep_nesting():
    deep = "x = " + "(" * 180 + "1" + ")" * 180 + "\n"
    assert not Outline(deep).facts.calls_method({"f"})


def test_attribute_pairs_and_stores():
    found = facts("x.data.requires_grad_(False)\nself.head.requires_grad = False\n")
    assert found.writes_attribute_of("data", "requires_grad_")
    assert not found.writes_attribute_of("data", "requires_grad")
    assert found.owners_stored_into("requires_grad") == {None}
    stores = facts('m.requires_grad = False\nsetattr(p, "requires_grad", False)\n')
    assert stores.owners_stored_into("requires_grad") == {"m", "p"}
    assert facts('setattr(p, name, False)\n').owners_stored_into("requires_grad") == set()


LOOP = "for n, p in model.named_parameters():\n    p.requires_grad = False\n"


def test_names_bound_only_by_loops_over_parameters():
    assert facts(LOOP).bound_only_by_parameter_loops("p")
    comprehension = '[setattr(p, "requires_grad", False) for p in m.parameters()]\n'
    assert facts(comprehension).bound_only_by_parameter_loops("p")
    assert not facts("for p in model.modules():\n    pass\n").bound_only_by_parameter_loops("p")
    assert not facts("x = 1\n").bound_only_by_parameter_loops("x")
    rebound_elsewhere = (
        "def f(p): ...",
        "p = nn.Linear(2, 2)",
        "import p",
        "from x import y as p",
        "with open(f) as p: ...",
        "try: ...\nexcept E as p: ...",
        "if (p := make()): ...",
        "for p in model.children(): ...",
        "match x:\n    case {**p}: ...",
        "match x:\n    case [*p]: ...",
        "match x:\n    case Net() as p: ...",
        "class p: ...",
        "def p(): ...",
        "f = lambda p: p",
        "p += 1",
    )
    for binding in rebound_elsewhere:
        assert not facts(LOOP + binding + "\n").bound_only_by_parameter_loops("p"), binding


def test_literal_false_arguments_by_keyword_and_unstarred_position():
    found = facts("m.load_state_dict(sd, strict=False)\nf(*rest, a, False)\nok(x=True, y=0)\n")
    assert found.passes_false("load_state_dict", "strict")
    assert found.passes_false("f", 1) and not found.passes_false("f", 2)
    assert not found.passes_false("ok", "x") and not found.passes_false("ok", "y")
    assert not found.passes_false("load_state_dict", "other")


def test_the_stand_in_for_an_unparsable_file_answers_every_question():
    from ftlint.outline import Facts, _AnyFacts

    questions = {name for name in vars(Facts) if not name.startswith("_")}
    assert questions <= set(vars(_AnyFacts)), questions - set(vars(_AnyFacts))


def test_literal_false_to_a_callee_resolves_its_import_alias():
    found = facts("from torch import load as torch_load\ntorch_load(p, weights_only=False)\n")
    assert found.passes_false_to({"torch.load"}, "weights_only")
    assert not found.passes_false_to({"torch.save"}, "weights_only")
    assert not facts("torch_load(p, weights_only=True)\n").passes_false_to(
        {"torch_load"}, "weights_only"
    )
