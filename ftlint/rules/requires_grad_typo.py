from __future__ import annotations

import functools

import libcst as cst

from ftlint.analysis.spelling import is_near_miss
from ftlint.analysis.values import string_value
from ftlint.outline import Outline
from ftlint.rules.base import Rule
from ftlint.walk import walk

_INTENDED = "requires_grad"


@functools.lru_cache(maxsize=4096)  # the first pass asks about the same words file after file
def misspelled(attr: str) -> bool:
    """`require_grad`, `requires_gard`, `requires_grads`, `requires_grad_`, ...: not the
    real attribute, and not a longer name that merely starts alike."""
    return is_near_miss(attr, _INTENDED)


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
    fix = "safe"

    message = (
        "'{attr}' is not requires_grad: the assignment creates a new attribute, nothing is "
        "frozen and the parameter keeps training; write {owner}.requires_grad = ..."
    )
    method_message = (
        "assigning to the method requires_grad_ replaces it with a plain value on this "
        "object and freezes nothing; write {owner}.requires_grad = False or call "
        "{owner}.requires_grad_(False)"
    )
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
```

## Use instead
```python
for p in model.backbone.parameters():
    p.requires_grad = False
```
or, for a whole module, `model.backbone.requires_grad_(False)`.

## Fix safety
The fix renames the attribute to `requires_grad` (in `setattr`, the string too), which is
what the code meant: the assignment then freezes (or unfreezes) the tensor as written. It
is safe. On a module, `m.requires_grad = ...` is still no freeze: FTL106 then reports it,
and its own fix turns it into `m.requires_grad_(...)`.

## References
- [torch.Tensor.requires_grad](https://pytorch.org/docs/stable/generated/torch.Tensor.requires_grad.html)
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
        # a local variable of that name is not an attribute of a tensor
        """\
require_grad = False
requires_grad_ = True
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
        (
            """\
for name, param in model.named_parameters():
    if "fc" not in name:
        param.require_grad = False  # freeze the backbone
model.head.weight.requires_gard = model.head.bias.requires_grad_ = True
setattr(model.proj.weight, 'require_grad', False)
model.pos.Requires_grad: bool = False
""",
            """\
for name, param in model.named_parameters():
    if "fc" not in name:
        param.requires_grad = False  # freeze the backbone
model.head.weight.requires_grad = model.head.bias.requires_grad = True
setattr(model.proj.weight, 'requires_grad', False)
model.pos.requires_grad: bool = False
""",
        ),
        # on a module: respelled here, then FTL106's fix calls requires_grad_
        (
            """\
import torchvision
model = torchvision.models.resnet18()
model.require_grad = False
""",
            """\
import torchvision
model = torchvision.models.resnet18()
model.requires_grad_(False)
""",
        ),
    )

    def visit_Module(self, node: cst.Module) -> None:
        collector = _OwnNames()
        walk(node, collector)
        self._own = collector.names

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Attribute):
                attr = target.target.attr
                if self._check(attr.value, target.target.value, node, attr):
                    return

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None and isinstance(node.target, cst.Attribute):
            self._check(node.target.attr.value, node.target.value, node, node.target.attr)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name) and func.value == "setattr" and len(node.args) == 3:
            attr = string_value(node.args[1].value)
            if attr is not None and not node.args[0].star:
                self._check(attr, node.args[0].value, node, node.args[1].value)

    def _check(
        self, attr: str, owner: cst.BaseExpression, node: cst.CSTNode, spelled: cst.CSTNode
    ) -> bool:
        if not misspelled(attr) or attr in self._own:
            return False
        text = self.ctx.module.code_for_node(owner)
        owner_text = text if len(text) <= 40 and "\n" not in text else "p"
        template = self.method_message if attr == "requires_grad_" else self.message
        self.report(node, template.format(attr=attr, owner=owner_text), self._fix(spelled))
        return True

    def _fix(self, spelled: cst.CSTNode):
        """Respell the attribute name, or the string naming it in `setattr`."""
        if isinstance(spelled, cst.Name):
            new = _INTENDED
        elif isinstance(spelled, cst.SimpleString) and not spelled.prefix:
            new = f"{spelled.quote}{_INTENDED}{spelled.quote}"
        else:  # a concatenated or f-string: leave it to the author
            return None
        return self.fix_with(f"write {_INTENDED}", self.replace(spelled, new))

