from __future__ import annotations

import libcst as cst

from ftlint.analysis.kinds import MODULE, kind_of, scope_kinds
from ftlint.analysis.scopes import child_body
from ftlint.analysis.values import string_value
from ftlint.outline import Outline
from ftlint.rules.base import Rule
from ftlint.walk import walk


def _reads_own_flag(class_def: cst.ClassDef) -> bool:
    """Whether a class uses a `requires_grad` of its own: it defines one at class level
    (a field, a property) or reads `self.requires_grad` somewhere."""
    found = False

    class _Find(cst.CSTVisitor):
        def __init__(self) -> None:
            self.stores: set[int] = set()

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            self.stores.add(id(node.target))

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            nonlocal found
            found = found or node.name.value == "requires_grad"

        def visit_Attribute(self, node: cst.Attribute) -> None:
            nonlocal found
            if (
                node.attr.value == "requires_grad"
                and isinstance(node.value, cst.Name)
                and node.value.value == "self"
                and id(node) not in self.stores
            ):
                found = True

    walk(class_def.body, _Find())
    for stmt in child_body(class_def):
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [
                    getattr(small, "target", None)
                ]
                if any(isinstance(t, cst.Name) and t.value == "requires_grad" for t in targets):
                    return True
    return found


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


class RequiresGradOnModule(Rule):
    code = "FTL106"
    name = "requires-grad-on-module"
    fix = "mixed"
    tokens = ("requires_grad", "requires_grad_")
    message = (
        "{owner} is an nn.Module: {owner}.requires_grad = ... only sets a plain attribute, "
        "no parameter is frozen or unfrozen and all keep training; call "
        "{owner}.requires_grad_({flag})"
    )
    docs = """\
## What it does
Finds `m.requires_grad = False` (or `True`, or `setattr(m, "requires_grad", ...)`) where
`m` is known to be an `nn.Module`: built in the file from `torch.nn`,
`torchvision.models`, `timm.create_model`, a transformers model's `from_pretrained`, or a
class of the file deriving from `nn.Module`; `self` in such a class; `self.x` assigned
such a module in `__init__`; a loop variable over `m.modules()` or `m.children()`; a
parameter annotated `nn.Module`.

## Why is this bad?
`requires_grad` is an attribute of tensors, not of modules. On a module the assignment
stores a plain attribute that nothing reads: no error, every parameter keeps
`requires_grad=True`, and the part you meant to freeze keeps training (and, with an
optimizer over it, keeps moving). `Module.requires_grad_(False)` sets the flag on every
parameter of the module.

Tensors, parameters (`nn.Parameter(...)`, `m.weight`) and objects ftlint cannot tell
are modules are not reported.

## Example
```python
model = torchvision.models.resnet50(weights="DEFAULT")
model.requires_grad = False
model.fc = nn.Linear(2048, 10)
```

## Use instead
```python
model = torchvision.models.resnet50(weights="DEFAULT")
model.requires_grad_(False)
model.fc = nn.Linear(2048, 10)
```

## Fix safety
The fix writes `m.requires_grad_(flag)` in place of the assignment (or of the `setattr`),
so that the module's parameters are frozen or unfrozen as the code meant. With a literal
`True` or `False` it is safe. With any other value it is unsafe (applied with
`--unsafe-fixes`): `requires_grad_` takes a bool, and code elsewhere that read the plain
attribute back (`if model.requires_grad:`) no longer finds it. An assignment to several
targets at once gets no fix.

## References
- [torch.nn.Module.requires_grad_](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.requires_grad_)
- [Finetuning torchvision models](https://pytorch.org/tutorials/beginner/finetuning_torchvision_models_tutorial.html)
"""
    valid = (
        # iterating an nn.ModuleDict gives its keys; its values are reached by key
        """\
import torch
from torch import nn
heads = nn.ModuleDict({"a": nn.Linear(2, 2)})
for name in heads:
    name.requires_grad = False
""",
        # the method on a module; the attribute on parameters and tensors
        """\
import torch
import torch.nn as nn
import torchvision
model = torchvision.models.resnet18()
model.requires_grad_(False)
for p in model.parameters():
    p.requires_grad = False
w = nn.Parameter(torch.zeros(3))
w.requires_grad = False
x = torch.randn(2, 3)
x.requires_grad = True
model.fc.weight.requires_grad = False
""",
        # unknown objects: an attribute of a module may be a parameter, so not reported
        """\
import torchvision
model = torchvision.models.resnet18()
model.pos_embed.requires_grad = False
backbone.requires_grad = False
""",
        # the name was rebound to a tensor
        """\
import torch.nn as nn
layer = nn.Linear(4, 4)
layer = layer.weight
layer.requires_grad = False
""",
        # a class that is not a module
        """\
class Variable:
    def detach_(self):
        self._grad_fn = None
        self.requires_grad = False
""",
        # self.x in __init__ is only a module when the file says so
        """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self, backbone, dim):
        super().__init__()
        self.backbone = backbone
        self.scale = nn.Parameter(torch.ones(dim))

    def freeze(self):
        self.backbone.requires_grad = False
        self.scale.requires_grad = False
""",
        # a module class that keeps and reads a flag of its own called requires_grad
        """\
import torch
import torch.nn as nn
class PositionalEmbedding(nn.Module):
    def __init__(self, n, dim, requires_grad=False):
        super().__init__()
        self.requires_grad = requires_grad
        self.table = nn.Parameter(torch.zeros(n, dim), requires_grad=self.requires_grad)
""",
        # a parameter annotated as a tensor
        """\
import torch
def freeze(t: torch.Tensor):
    t.requires_grad = False
""",
    )
    fix_examples = (
        (
            """\
from torchvision import models
import torch.nn as nn
model = models.resnet50(weights="DEFAULT")
model.requires_grad = False  # the backbone
model.fc = nn.Linear(2048, 10)
model.fc.requires_grad = True; print("head trains")
setattr(model.fc, "requires_grad", True)
""",
            """\
from torchvision import models
import torch.nn as nn
model = models.resnet50(weights="DEFAULT")
model.requires_grad_(False)  # the backbone
model.fc = nn.Linear(2048, 10)
model.fc.requires_grad_(True); print("head trains")
model.fc.requires_grad_(True)
""",
        ),
        # a computed flag is an unsafe fix; several targets get none
        (
            """\
import torch.nn as nn
head = nn.Linear(8, 2)
head.requires_grad = not args.freeze_head
head.requires_grad = other.flag = False
""",
            """\
import torch.nn as nn
head = nn.Linear(8, 2)
head.requires_grad_(not args.freeze_head)
head.requires_grad = other.flag = False
""",
        ),
    )
    invalid = (
        # the items of an nn.ModuleList or nn.Sequential are modules too
        """\
import torch
from torch import nn
blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
blocks[0].requires_grad = False  # expect: FTL106
for block in blocks:
    block.requires_grad = False  # expect: FTL106
""",
        """\
import torch
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    def freeze(self):
        for block in self.blocks:
            block.requires_grad = False  # expect: FTL106
""",
        # a torchvision model, aliased imports
        """\
from torchvision import models
import torch.nn as nn
model = models.resnet50(weights=models.ResNet50_Weights.DEFAULT)
model.requires_grad = False  # expect: FTL106
model.fc = nn.Linear(2048, 10)
model.fc.requires_grad = True  # expect: FTL106
""",
        # modules and children in a loop
        """\
import torch
for child in list(model.children())[:-1]:
    child.requires_grad = False  # expect: FTL106
for name, m in model.named_modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.requires_grad = False  # expect: FTL106
""",
        # self in a module class, self.x from __init__, a class deriving from one in the file
        """\
import torch.nn as nn
import torchvision
class Base(nn.Module):
    pass

class Head(Base):
    def __init__(self):
        super().__init__()
        self.encoder = torchvision.models.vit_b_16()
        self.proj = nn.Sequential(nn.Linear(768, 256), nn.ReLU())
        self.encoder.requires_grad = False  # expect: FTL106

    def freeze(self):
        self.requires_grad = False  # expect: FTL106
        self.proj.requires_grad = False  # expect: FTL106
""",
        # a module built from a class of the file, moved to a device; setattr; an annotation
        """\
import torch
from torch import nn
class Adapter(nn.Module):
    pass

adapter = Adapter().to("cuda")
setattr(adapter, "requires_grad", False)  # expect: FTL106

def freeze(module: nn.Module) -> None:
    module.requires_grad = False  # expect: FTL106
""",
        # a module-level model used in a function, timm and transformers
        """\
import timm
from transformers import AutoModelForSequenceClassification
backbone = timm.create_model("resnet50", pretrained=True)
bert = AutoModelForSequenceClassification.from_pretrained("bert-base-uncased")

def setup():
    backbone.requires_grad = False  # expect: FTL106
    bert.bert.requires_grad = False
    bert.requires_grad = False  # expect: FTL106
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        """Something is stored into a `requires_grad` attribute, and not only into loop
        variables over parameters (`for p in model.parameters(): p.requires_grad = ...`),
        which never hold a module."""
        if not super().may_report(outline):
            return False
        facts = outline.facts
        return any(
            owner is None or not facts.bound_only_by_parameter_loops(owner)
            for owner in facts.owners_stored_into("requires_grad")
        )

    def visit_Module(self, node: cst.Module) -> None:
        classes = dict(self.ctx.functions_with_class)
        for owner in self.ctx.scopes:
            class_def = classes.get(owner)
            # Once per class, not once per method: the scan covers the whole class body.
            own_flag = class_def is not None and self.ctx.cached(
                "reads own requires_grad", class_def, lambda: _reads_own_flag(class_def)
            )
            kinds = scope_kinds(self.ctx, owner)
            for step in self.ctx.steps(owner):
                env = kinds[step.index]
                stmt = step.node
                if isinstance(stmt, cst.Assign):
                    for target in stmt.targets:
                        attr = target.target
                        if isinstance(attr, cst.Attribute) and attr.attr.value == "requires_grad":
                            if own_flag and _is_self(attr.value):
                                continue  # the class keeps a flag of its own by that name
                            if kind_of(self.ctx, attr.value, env) == MODULE:
                                self._report(stmt, attr.value, stmt.value, attr.attr)
                                break
                for call in step.calls:
                    func = call.func
                    if (
                        isinstance(func, cst.Name)
                        and func.value == "setattr"
                        and len(call.args) == 3
                        and not any(arg.star for arg in call.args)
                        and string_value(call.args[1].value) == "requires_grad"
                        and kind_of(self.ctx, call.args[0].value, env) == MODULE
                    ):
                        self._report(call, call.args[0].value, call.args[2].value)

    def _report(
        self,
        node: cst.CSTNode,
        owner: cst.BaseExpression,
        value: cst.BaseExpression,
        attr: cst.Name | None = None,
    ) -> None:
        text = self.ctx.module.code_for_node(owner)
        if len(text) > 40 or "\n" in text:
            text = "module"
        flag = self.ctx.module.code_for_node(value)
        if len(flag) > 30 or "\n" in flag:
            flag = "False"
        fix = self._fix(node, owner, value, attr)
        self.report(node, self.message.format(owner=text, flag=flag), fix)

    def _fix(self, node, owner, value, attr):
        """`owner.requires_grad_(value)` in place of the assignment or the setattr call."""
        if isinstance(value, cst.Tuple) and not value.lpar:
            return None  # `m.requires_grad = a, b`: not one argument
        flag = self.ctx.module.code_for_node(value)
        safe = isinstance(value, cst.Name) and value.value in ("True", "False")
        description = f"call requires_grad_({flag})"
        if isinstance(node, cst.Assign):
            if len(node.targets) != 1:
                return None
            # From the attribute name to the end of the value: `owner.` and all around stay.
            edit = self.replace_span(attr, value, f"requires_grad_({flag})")
        else:
            owner_code = self.ctx.module.code_for_node(owner)
            edit = self.replace(node, f"{owner_code}.requires_grad_({flag})")
        return self.fix_with(description, edit, safe=safe)
