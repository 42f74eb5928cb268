from __future__ import annotations

import libcst as cst

from ftlint.analysis.flow import FreezeChange, OptimizerBuilt
from ftlint.analysis.optimizer_use import (
    LaterUse,
    add_param_group_args,
    uses_after_change,
)
from ftlint.analysis.optimizers import (
    OPTIMIZER_TOKENS,
    may_build_optimizer,
    may_use_optimizer_by_role,
)
from ftlint.analysis.values import Path, contains
from ftlint.outline import Outline
from ftlint.rules.base import Rule


def _overlaps(a: Path, b: Path) -> bool:
    return contains(a, b) or contains(b, a)


def _replaces_held(built: OptimizerBuilt, change: FreezeChange) -> bool:
    """Whether `change` swaps out a part of a module whose parameters `built` holds."""
    if not change.replaced:
        return False
    for source in built.sources:
        if contains(change.path, source.path):
            return True  # the module the optimizer holds (or one around it) is replaced
        if contains(source.path, change.path) and not source.part:
            return True  # a part of a module the optimizer holds all of
    return False


class LayerReplacedAfterOptimizer(Rule):
    code = "FTL103"
    name = "layer-replaced-after-optimizer"
    tokens = OPTIMIZER_TOKENS
    message = (
        "{what} is replaced after optimizer '{opt}' (line {built}) took its parameters, and "
        "'{opt}' is used at line {use}: the new parameters get gradients but are never "
        "updated; replace it before building the optimizer, or rebuild the optimizer"
    )
    docs = """\
## What it does
Finds a submodule or parameter replaced (`model.fc = nn.Linear(...)`,
`setattr(model, "fc", ...)`, `model.head[-1] = ...`, `model.w = nn.Parameter(...)`) after
an optimizer over that module's parameters was built, when that same optimizer object is
used afterwards. The new value must look like a module or parameter: a `torch.nn` call, a
class of the file deriving from one, or another CamelCase constructor. Plain values
(`model.num_classes = 10`) are not reported.

## Why is this bad?
An optimizer holds the parameter objects it was given. Assigning a new layer creates new
parameters the optimizer has never seen: they receive gradients in `backward()` but
`step()` never updates them, while it keeps updating the old, detached weights. Nothing
raises and the loss still falls, because the rest of the model trains; the new head
simply stays at its random initialisation.

## Example
```python
model = torchvision.models.resnet18(weights="DEFAULT")
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
model.fc = nn.Linear(model.fc.in_features, 10)
train(model, optimizer)
```

## Use instead
```python
model = torchvision.models.resnet18(weights="DEFAULT")
model.fc = nn.Linear(model.fc.in_features, 10)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
train(model, optimizer)
```
If the optimizer must be kept, add the new parameters to it:
`optimizer.add_param_group({"params": model.fc.parameters()})`.

## At run time
With `ftlint.guard` installed, every `step()` checks the models the optimizer trains: a
trainable parameter that has a `.grad` but is in no live optimizer is reported, with its
qualified name. Build the optimizer after changing the model, or add the new parameters
with `optimizer.add_param_group(...)`.

## References
- [Finetuning torchvision models](https://pytorch.org/tutorials/beginner/finetuning_torchvision_models_tutorial.html)
- [torch.optim.Optimizer.add_param_group](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.add_param_group.html)
"""
    valid = (
        # replaced first, optimizer built afterwards (the seeds' recipe)
        """\
import torch.nn as nn
import torch.optim as optim
for param in model.parameters():
    param.requires_grad = False
model.fc = nn.Linear(512, 100)
optimizer = optim.SGD(model.fc.parameters(), lr=1e-2, momentum=0.9)
optimizer.step()
""",
        # a plain attribute, not a module
        """\
import torch
opt = torch.optim.Adam(model.parameters())
model.num_classes = 10
model.fc.out_features = 10
model.name = str(cfg.name)
opt.step()
""",
        # rebuilt before it is used again
        """\
import torch
import torch.nn as nn
opt = torch.optim.Adam(model.parameters())
model.fc = nn.Linear(512, 10)
opt = torch.optim.Adam(model.parameters())
opt.step()
""",
        # the new parameters are added to the optimizer
        """\
import torch
import torch.nn as nn
opt = torch.optim.Adam(model.backbone.parameters())
model.head = nn.Linear(512, 10)
opt.add_param_group({"params": model.head.parameters(), "lr": 1e-3})
opt.step()
""",
        # the optimizer holds another part of the model
        """\
import torch
import torch.nn as nn
opt = torch.optim.Adam(model.head.parameters())
model.backbone.layer4 = nn.Identity()
opt.step()
""",
        # the optimizer is never used after the replacement
        """\
import torch
import torch.nn as nn
opt = torch.optim.Adam(model.parameters())
train(model, opt)
model.fc = nn.Identity()
features = model(images)
""",
        # a local name rebound to a new layer is not a replacement inside the model
        """\
import torch
import torch.nn as nn
opt = torch.optim.Adam(model.parameters())
head = nn.Linear(512, 10)
opt.step()
""",
        # replaced in the other branch
        """\
import torch
import torch.nn as nn
if resume:
    opt = torch.optim.Adam(model.parameters())
    opt.load_state_dict(state)
else:
    model.fc = nn.Linear(512, 10)
""",
        # only some parameters (selected by id) and a computed value
        """\
import torch
ignored = set(map(id, model.fc.parameters()))
base = filter(lambda p: id(p) not in ignored, model.parameters())
opt = torch.optim.Adam(base)
model.fc = make_head(cfg)
model.head = heads[cfg.task]
opt.step()
""",
    )
    invalid = (
        # an optimizer from a factory, known by its use
        """\
from utils import build_optimizer
from torch import nn
opt = build_optimizer(cfg, model.parameters())
model.fc = nn.Linear(512, 10)  # expect: FTL103
for batch in loader:
    opt.step()
    opt.zero_grad()
""",
        # the new layer bound to a name first
        """\
import torch
from torch import nn
opt = torch.optim.SGD(model.parameters(), lr=0.1)
head = nn.Linear(512, 10)
model.fc = head  # expect: FTL103
for batch in loader:
    opt.step()
""",
        """\
import torch
import torch.nn as nn
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
model.fc = nn.Linear(512, 10)  # expect: FTL103
train(model, optimizer)
""",
        # setattr, a subscript and a parameter; the seeds' groups
        """\
import torch
from torch import nn
ignored_params = list(map(id, model.fc.parameters()))
base_params = filter(lambda p: id(p) not in ignored_params, model.parameters())
optimizer = torch.optim.SGD(
    [{"params": base_params}, {"params": model.fc.parameters(), "lr": 1e-2}],
    lr=1e-3,
    momentum=0.9,
)
setattr(model, "fc", nn.Linear(512, 10))  # expect: FTL103
optimizer.step()
""",
        """\
import torch
import torch.nn as nn
opt = torch.optim.AdamW(model.parameters())
model.classifier[-1] = nn.Linear(4096, 10).to(device)  # expect: FTL103
model.w = nn.Parameter(torch.zeros(10))  # expect: FTL103
opt.step()
""",
        # a same-file module class, inside a function, the optimizer returned
        """\
import torch
class Head(torch.nn.Module):
    pass

def build(model):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.head = Head()  # expect: FTL103
    return model, opt
""",
        # inside the training loop: the next epochs use the optimizer
        """\
import torch.optim as optim
import torch.nn as nn
optimizer = optim.Adam(model.parameters())
for epoch in range(10):
    train_one_epoch(model, optimizer)
    if epoch == 0:
        model.fc = nn.Linear(512, 10)  # expect: FTL103
""",
        # the optimizer holds exactly the module that is replaced
        """\
import torch
from torch import nn
opt = torch.optim.SGD(model.fc.parameters(), lr=0.1)
model.fc = nn.Sequential(nn.Dropout(0.2), nn.Linear(512, 10))  # expect: FTL103
opt.step()
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        # An optimizer ftlint knows, or one it recognises by its use (a factory).
        known = super().may_report(outline) and may_build_optimizer(outline)
        return known or may_use_optimizer_by_role(outline)

    def visit_Module(self, node: cst.Module) -> None:
        positions = self.ctx.positions
        for use in uses_after_change(self.ctx, _replaces_held):
            if _new_params_added(use):
                continue
            self.report(
                use.change.node,
                self.message.format(
                    what=self._describe(use.change),
                    opt=use.built.target,
                    built=positions[use.built.call].start.line,
                    use=positions[use.reader.node].start.line,
                ),
            )

    def _describe(self, change: FreezeChange) -> str:
        node = change.node
        if isinstance(node, cst.Assign):
            return self.ctx.module.code_for_node(node.targets[0].target)
        dotted = ".".join(change.path)
        return dotted if change.whole else f"a part of {dotted}"


def _new_params_added(use: LaterUse) -> bool:
    """`opt.add_param_group({"params": model.fc.parameters()})` after the replacement."""
    evaluator = use.built.evaluator
    if evaluator is None:
        return False
    for step in use.later_uses():
        for arg in add_param_group_args(step, use.built.target):
            if any(_overlaps(s.path, use.change.path) for s in evaluator.sources(arg)):
                return True
    return False
