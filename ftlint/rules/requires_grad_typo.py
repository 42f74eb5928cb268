from __future__ import annotations

import functools

import libcst as cst

from ftlint.analysis.kinds import MODULE, OTHER, PARAMETER, TENSOR, kind_of, kinds_at
from ftlint.analysis.scopes import Step
from ftlint.analysis.spelling import is_near_miss
from ftlint.analysis.values import string_value
from ftlint.finding import Edit, Fix
from ftlint.outline import Outline
from ftlint.rules.base import Rule
from ftlint.walk import walk

_INTENDED = "requires_grad"


@functools.lru_cache(maxsize=4096)  # the first pass asks about the same words file after file
def misspelled(attr: str) -> bool:
    """`require_grad`, `requires_gard`, `requires_grads`, `requires_grad_`, ...: not the
    real attribute, and not a longer name that merely starts alike."""
    return is_near_miss(attr, _INTENDED)


def _parameter_loop_name(loop: cst.For) -> str | None:
    """`p` in `for p in m.parameters():`, `for name, p in m.named_parameters():`, and in
    either under `enumerate`: `for i, p in enumerate(m.parameters()):`."""
    iterated, target = loop.iter, loop.target
    if (
        isinstance(iterated, cst.Call)
        and isinstance(iterated.func, cst.Name)
        and iterated.func.value == "enumerate"
        and iterated.args
    ):
        if not (isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2):
            return None
        iterated, target = iterated.args[0].value, target.elements[1].value
    if not (isinstance(iterated, cst.Call) and isinstance(iterated.func, cst.Attribute)):
        return None
    method = iterated.func.attr.value
    if method == "named_parameters" and isinstance(target, (cst.Tuple, cst.List)):
        target = target.elements[1].value if len(target.elements) == 2 else None
    elif method != "parameters":
        return None
    return target.value if isinstance(target, cst.Name) else None


def _parameter_names(steps: list[Step]) -> list[frozenset[str]]:
    """For each step of a scope, the names that hold a parameter just before it: loop
    variables over `parameters()`, until something else binds the name."""
    held: set[str] = set()
    before = []
    for step in steps:
        before.append(frozenset(held))
        held.difference_update(step.bound_names)
        if isinstance(step.node, cst.For):
            name = _parameter_loop_name(step.node)
            if name is not None:
                held.add(name)
    return before


class _OwnNames(cst.CSTVisitor):
    """Names the file declares as its own: parameters, keywords, class-level fields, and
    attributes it reads back (`if self.require_grad:`): a typo is written, never read."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self._stores: set[int] = set()

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._stores.add(id(node.target))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._stores.add(id(node.target))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if id(node) not in self._stores and misspelled(node.attr.value):
            self.names.add(node.attr.value)

    def visit_Param(self, node: cst.Param) -> None:
        self.names.add(node.name.value)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.names.add(node.keyword.value)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        for stmt in node.body.body if isinstance(node.body, cst.IndentedBlock) else ():
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    target = getattr(small, "target", None)
                    if isinstance(small, cst.Assign) and len(small.targets) == 1:
                        target = small.targets[0].target
                    if isinstance(target, cst.Name):
                        self.names.add(target.value)


class RequiresGradTypo(Rule):
    code = "FTL104"
    name = "requires-grad-typo"
    fix = "mixed"

    message = (
        "'{attr}' is not requires_grad: the assignment creates a new attribute, nothing is "
        "frozen and the parameters keep training; {advice}"
    )
    method_message = (
        "assigning to the method requires_grad_ replaces it with a plain value on this "
        "object and freezes nothing; {advice}"
    )
    # What to write instead, by what the owner is known to be.
    tensor_advice = "write {owner}.requires_grad = {flag}"
    module_advice = "{owner} is an nn.Module: call {owner}.requires_grad_({flag})"
    unknown_advice = "call {owner}.requires_grad_({flag}), which a tensor and a module both have"
    docs = """\
## What it does
Finds an assignment to a misspelling of `requires_grad` (`p.require_grad = False`,
`requires_gard`, `required_grad`, `requires_grads`, a different case) and an assignment
to the method `requires_grad_` (`p.requires_grad_ = False`).

## Why is this bad?
Tensors and modules accept any new attribute, so nothing raises: the assignment simply
creates an attribute nobody reads, and the parameter stays trainable. The layer you meant
to freeze keeps training, silently. Assigning `requires_grad_ = False` also replaces the
method with a bool on that object, so a later `p.requires_grad_(True)` fails with
"'bool' object is not callable".

Names that merely start alike (`require_gradient_checkpointing`), and names the file
itself declares as its own (a function parameter, a keyword argument, a class field
called `require_grad`, an attribute it reads back such as `if self.require_grad:`), are
not reported.

## Example
```python
for p in model.backbone.parameters():
    p.require_grad = False
model.head.require_grad = False
```

## Use instead
```python
for p in model.backbone.parameters():
    p.requires_grad = False
model.head.requires_grad_(False)
```

## Fix safety
What is right depends on what the object is, and the fix follows what the file shows
(as FTL106 decides it):
- a tensor or parameter (a loop variable over `m.parameters()` or `m.named_parameters()`,
  `nn.Parameter(...)`, `torch.zeros(...)`, `m.weight` of a known module): the fix renames
  the attribute to `requires_grad` (in `setattr`, the string too), which then freezes or
  unfreezes the tensor as written. It is safe. On `p.data`, a new tensor on every access
  (FTL105), the fix also drops `.data`.
- a module (see FTL106): the fix writes `m.requires_grad_(flag)` in place of the
  assignment or the `setattr`, since even a correctly spelled `m.requires_grad = False`
  freezes nothing on a module. Safe with a literal `True` or `False`, unsafe otherwise:
  `requires_grad_` takes a bool only.
- anything else (`model.fc`, an attribute of a module, may be a module or a parameter):
  the fix writes `x.requires_grad_(flag)`, which freezes a tensor and every parameter of a
  module alike. It is unsafe (applied with `--unsafe-fixes`): an object that is neither
  has no `requires_grad_` and now raises. Respelling instead would leave a module as
  unfrozen as before, with nothing left to report it.

An assignment to several targets gets only the renaming, and only on a known tensor; an
object known to be neither (a `PackedSequence`, a dataset) gets no fix.

## References
- [torch.Tensor.requires_grad](https://pytorch.org/docs/stable/generated/torch.Tensor.requires_grad.html)
- [torch.nn.Module.requires_grad_](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.requires_grad_)
- [Autograd mechanics: locally disabling gradient computation](https://pytorch.org/docs/stable/notes/autograd.html#locally-disabling-gradient-computation)
"""
    valid = (
        # the real attribute and the real method
        """\
for p in model.parameters():
    p.requires_grad = False
model.head.requires_grad_(True)
""",
        # names that merely start alike, and other real attributes
        """\
model.config.require_gradient_checkpointing = True
model.gradient_checkpointing = True
x.retains_grad
y.retain_grad()
""",
        # an attribute of the code's own that it reads back: not a typo of a tensor's flag
        """\
class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.require_grad = cfg.GRAD

    def train(self, mode=True):
        super().train(mode)
        if not self.require_grad:
            self.eval()
""",
        # a private field behind a property of the same name
        """\
class Buffer:
    def __init__(self, flag):
        self._requires_grad = flag

    @property
    def requires_grad(self):
        return self._requires_grad
""",
        # an attribute the file declares as its own: a parameter and a keyword
        """\
class LayerSpec:
    def __init__(self, require_grad=True):
        self.require_grad = require_grad

spec = LayerSpec(require_grad=False)
spec.require_grad = True
""",
        # a class field of the same name
        """\
from dataclasses import dataclass

@dataclass
class FreezeConfig:
    requires_grads: bool = False

cfg = FreezeConfig()
cfg.requires_grads = True
""",
        # a local variable of that name is not an attribute of a tensor; a misspelled
        # keyword is no assignment (torch raises on it)
        """\
require_grad = False
requires_grad_ = True
w = torch.zeros(3, require_grad=True)
""",
    )
    invalid = (
        # the common typo, in the seeds' freezing loop
        """\
for name, param in model.named_parameters():
    if "fc" not in name:
        param.require_grad = False  # expect: FTL104
""",
        # swapped letters, an extra d, a trailing s, a different case
        """\
model.fc.weight.requires_gard = False  # expect: FTL104
model.fc.bias.required_grad = False  # expect: FTL104
model.embed.weight.requires_grads = False  # expect: FTL104
model.pos.Requires_grad = False  # expect: FTL104
""",
        # assigning the method name
        """\
for p in model.encoder.parameters():
    p.requires_grad_ = False  # expect: FTL104
""",
        # inside a method, chained assignment, setattr, a one-line loop
        """\
import torch.nn as nn
class Net(nn.Module):
    def freeze(self):
        for p in self.backbone.parameters(): p.require_grad = False  # expect: FTL104
        self.head.weight.require_grad = self.head.bias.require_grad = False  # expect: FTL104
        setattr(self.proj.weight, "require_grad", False)  # expect: FTL104
""",
        # on a module, where the right spelling would freeze nothing either; on .data
        """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 2)
        self.head.require_grad = False  # expect: FTL104

    def freeze(self):
        self.requires_grads = False  # expect: FTL104
        for p in self.parameters():
            p.data.require_grad = False  # expect: FTL104
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        """The first pass: an attribute stored into, or named in a string to setattr, is a
        misspelling. Its name is a word of the text unless setattr spells it with a dash;
        a near miss differs in length by at most two letters."""
        words = outline.words
        lo, hi = len(_INTENDED) - 2, len(_INTENDED) + 2
        if "setattr" not in words and not any(
            misspelled(word) for word in words if lo <= len(word) <= hi
        ):
            return False
        return outline.facts.stores_attribute_matching(misspelled)

    fix_examples = (
        # on parameters: respelled
        (
            """\
import torch
import torch.nn as nn
for name, param in model.named_parameters():
    if "fc" not in name:
        param.require_grad = False  # freeze the backbone
for p in model.head.parameters():
    p.requires_grads = p.requires_grad_ = True
    setattr(p, 'require_grad', True)
scale = nn.Parameter(torch.ones(3))
scale.Requires_grad: bool = False
""",
            """\
import torch
import torch.nn as nn
for name, param in model.named_parameters():
    if "fc" not in name:
        param.requires_grad = False  # freeze the backbone
for p in model.head.parameters():
    p.requires_grad = p.requires_grad = True
    setattr(p, 'requires_grad', True)
scale = nn.Parameter(torch.ones(3))
scale.requires_grad: bool = False
""",
        ),
        # on a module: requires_grad_ in place of the assignment; on .data, FTL105 follows
        (
            """\
import timm
model = timm.create_model("resnet50", pretrained=True)
model.require_grad = False  # the backbone
setattr(model, "requires_gard", False)
model.requires_grad_: bool = True
for p in model.fc.parameters():
    p.data.require_grad = True
""",
            """\
import timm
model = timm.create_model("resnet50", pretrained=True)
model.requires_grad_(False)  # the backbone
model.requires_grad_(False)
model.requires_grad_(True)
for p in model.fc.parameters():
    p.requires_grad = True
""",
        ),
        # unknown objects: requires_grad_, an unsafe fix; several targets get no fix
        (
            """\
model.fc.require_grad = False
model.fc.weight.requires_gard = not args.train_head
setattr(a if c else b, "require_grad", False)
model.fc.require_grad = model.head.require_grad = False
""",
            """\
model.fc.requires_grad_(False)
model.fc.weight.requires_grad_(not args.train_head)
(a if c else b).requires_grad_(False)
model.fc.require_grad = model.head.require_grad = False
""",
        ),
    )

    def visit_Module(self, node: cst.Module) -> None:
        collector = _OwnNames()
        walk(node, collector)
        self._own = collector.names
        # Each statement and call of a scope, to ask what an owner holds just before it.
        self._steps: dict[int, tuple[cst.Module | cst.FunctionDef, Step]] = {}
        for scope in self.ctx.scopes:
            for step in self.ctx.steps(scope):
                self._steps[id(step.node)] = (scope, step)
                for call in step.calls:
                    self._steps[id(call)] = (scope, step)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Attribute):
                attr = target.target.attr
                if self._check(attr.value, target.target.value, node, attr, node.value):
                    return

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None and isinstance(node.target, cst.Attribute):
            target = node.target
            self._check(target.attr.value, target.value, node, target.attr, node.value)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        args = node.args
        if isinstance(func, cst.Name) and func.value == "setattr" and len(args) == 3:
            attr = string_value(args[1].value)
            if attr is not None and not any(arg.star for arg in args):
                self._check(attr, args[0].value, node, args[1].value, args[2].value)

    def _check(
        self,
        attr: str,
        owner: cst.BaseExpression,
        node: cst.CSTNode,
        spelled: cst.CSTNode,
        value: cst.BaseExpression,
    ) -> bool:
        if not misspelled(attr) or attr in self._own:
            return False
        env = self._env(node)
        kind = kind_of(self.ctx, owner, env)
        drop_data = ()
        if isinstance(owner, cst.Attribute) and owner.attr.value == "data":
            # `p.data` is a new tensor on every access (FTL105): the flag was meant for `p`.
            base_kind = kind_of(self.ctx, owner.value, env)
            if base_kind not in (MODULE, OTHER):
                drop_data = (self.replace(owner, owner.value),)
                owner, kind = owner.value, base_kind
        if kind in (PARAMETER, TENSOR):
            advice, fix = self.tensor_advice, self._respell(spelled, drop_data)
        else:  # the method serves a module, and a tensor too when ftlint cannot tell
            advice = self.module_advice if kind == MODULE else self.unknown_advice
            fix = None
            if kind != OTHER:
                fix = self._call_method(node, owner, value, spelled, kind == MODULE, drop_data)
        text = self.ctx.module.code_for_node(owner)
        if len(text) > 40 or "\n" in text:
            text = "module" if kind == MODULE else "p"
        flag = self.ctx.module.code_for_node(value)
        flag = flag if len(flag) <= 30 and "\n" not in flag else "False"
        template = self.method_message if attr == "requires_grad_" else self.message
        advice = advice.format(owner=text, flag=flag)
        self.report(node, template.format(attr=attr, advice=advice), fix)
        return True

    def _env(self, statement: cst.CSTNode) -> dict:
        """What names hold just before the statement (or setattr call) runs."""
        where = self._steps.get(id(statement))
        if where is None:  # a class body is no scope of its own
            return {}
        scope, step = where
        env = dict(kinds_at(self.ctx, scope, step))
        steps = self.ctx.steps(scope)
        parameters = self.ctx.cached("parameter loop names", scope, lambda: _parameter_names(steps))
        env.update(((name,), PARAMETER) for name in parameters[step.index])
        return env

    def _respell(self, spelled: cst.CSTNode, drop_data: tuple[Edit, ...]) -> Fix | None:
        """Respell the attribute name, or the string naming it in `setattr`."""
        if isinstance(spelled, cst.Name):
            new = _INTENDED
        elif isinstance(spelled, cst.SimpleString) and not spelled.prefix:
            new = f"{spelled.quote}{_INTENDED}{spelled.quote}"
        else:  # a concatenated or f-string: leave it to the author
            return None
        edits = (*drop_data, self.replace(spelled, new))
        return self.fix_with(f"write {_INTENDED}", *edits, safe=True)

    def _call_method(
        self,
        node: cst.CSTNode,
        owner: cst.BaseExpression,
        value: cst.BaseExpression,
        spelled: cst.CSTNode,
        on_module: bool,
        drop_data: tuple[Edit, ...],
    ) -> Fix | None:
        """`owner.requires_grad_(value)` in place of the assignment or the setattr call:
        safe on a known module with a literal flag, else unsafe (see Fix safety)."""
        if isinstance(value, cst.Tuple) and not value.lpar:
            return None  # `m.require_grad = a, b`: not one argument
        if isinstance(node, cst.Assign) and len(node.targets) != 1:
            return None
        flag = self.ctx.module.code_for_node(value)
        literal = isinstance(value, cst.Name) and value.value in ("True", "False")
        call = f"requires_grad_({flag})"
        if isinstance(node, cst.Call):
            owner_code = self.ctx.module.code_for_node(owner)
            if not isinstance(owner, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)):
                owner_code = f"({owner_code})" if not owner.lpar else owner_code
            edits = (self.replace(node, f"{owner_code}.{call}"),)
        else:  # from the attribute name to the end of the value: `owner.` and all around stay
            edits = (*drop_data, self.replace_span(spelled, value, call))
        return self.fix_with(f"call {call}", *edits, safe=literal and on_module)
