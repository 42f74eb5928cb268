from __future__ import annotations

import libcst as cst

from ftlint.analysis.flow import FreezeChange, OptimizerBuilt
from ftlint.analysis.optimizer_use import uses_after_change
from ftlint.analysis.optimizers import (
    may_build_optimizer,
    may_use_optimizer_by_role,
)
from ftlint.analysis.values import Source, contains
from ftlint.outline import Outline
from ftlint.rules.base import Rule


def _holds_frozen(built: OptimizerBuilt, change: FreezeChange) -> bool:
    """Whether parameters frozen by `change` are among those `built` was given."""
    if change.thaw or change.replaced:
        return False
    for source in built.sources:
        if contains(change.path, source.path):
            # The freeze covers this source: all of it, or some of exactly these params.
            if change.whole or (change.path == source.path and not source.part):
                return True
        elif contains(source.path, change.path) and not source.part:
            # The frozen module is inside what the optimizer holds. A requires_grad
            # filter kept it only if it was trainable when the optimizer was built.
            if source.filtered and built.state.frozen_in(Source(change.path)) is not None:
                continue
            return True
    return False


class ParamsFrozenAfterOptimizer(Rule):
    code = "FTL102"
    name = "params-frozen-after-optimizer"
    # a freeze is a requires_grad assignment or requires_grad_ call
    tokens = ("requires_grad", "requires_grad_")
    message = (
        "parameters frozen here are still held by optimizer '{opt}' (built at line {built}, "
        "used at line {use}): a gradient left on them lets momentum and weight decay keep "
        "moving them; freeze before building the optimizer, or rebuild it over the "
        "trainable parameters"
    )
    docs = """\
## What it does
Finds parameters frozen (`p.requires_grad = False`, `m.requires_grad_(False)`, or a
same-file helper that does so) after an optimizer holding them was built, when that same
optimizer object is used afterwards (`optimizer.step()`, passed to a scheduler or a
training function) before its variable is bound to a new optimizer.

## Why is this bad?
Setting `requires_grad = False` does not take a parameter out of an optimizer that
already holds it. Built-in optimizers skip a parameter only while its `.grad` is `None`:
a frozen weight that still has a gradient tensor (frozen between `backward()` and
`step()`, gradients zeroed with `zero_grad(set_to_none=False)`, or never cleared) keeps
being moved by momentum and weight decay at every step, and Adam-style state for it is
kept for the whole run. Nothing raises; the "frozen" layers silently drift.

## Example
```python
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for epoch in range(epochs):
    if epoch == 5:
        model.backbone.requires_grad_(False)
    train_one_epoch(model, loader, optimizer)
```

## Use instead
Rebuild the optimizer over the parameters that are still trainable:
```python
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for epoch in range(epochs):
    if epoch == 5:
        model.backbone.requires_grad_(False)
        optimizer = torch.optim.SGD(
            (p for p in model.parameters() if p.requires_grad), lr=0.01, momentum=0.9
        )
    train_one_epoch(model, loader, optimizer)
```
Or freeze first and build the optimizer once, over the trainable parameters only.

## At run time
With `ftlint.guard` installed, every `step()` checks the optimizer's parameters: one with
`requires_grad=False` that still holds a `.grad` is reported before the step moves it
(in error mode the step does not run). Set those gradients to `None` when freezing
(`optimizer.zero_grad(set_to_none=True)`) and rebuild the optimizer over trainable
parameters.

## References
- [torch.optim: per-parameter options](https://pytorch.org/docs/stable/optim.html#per-parameter-options)
- [torch.optim.Optimizer.zero_grad](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html)
"""
    valid = (
        # a call given parameters whose result is never stepped is no optimizer
        """\
summary = describe(model.parameters())
for p in model.backbone.parameters():
    p.requires_grad = False
env.step(0)
""",
        # frozen first, optimizer built afterwards (FTL101's business, and filtered here)
        """\
import torch
model.backbone.requires_grad_(False)
opt = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()))
opt.step()
""",
        # rebuilt before it is used again
        """\
import torch
opt = torch.optim.Adam(model.parameters())
opt.step()
model.backbone.requires_grad_(False)
opt = torch.optim.Adam(model.head.parameters())
opt.step()
""",
        # rebuilt in the same branch as the freeze, inside the training loop
        """\
import torch
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for epoch in range(10):
    if epoch == 5:
        model.backbone.requires_grad_(False)
        optimizer = torch.optim.SGD(
            (p for p in model.parameters() if p.requires_grad), lr=0.01, momentum=0.9
        )
    train(model, optimizer)
""",
        # the optimizer is only saved or inspected after the freeze (evaluation, export)
        """\
import torch
opt = torch.optim.Adam(model.parameters())
train(model, opt)
model.requires_grad_(False)
evaluate(model)
print("final lr", opt.param_groups[0]["lr"])
torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, "last.pt")
""",
        # the optimizer holds another part of the model
        """\
import torch
opt = torch.optim.Adam(model.head.parameters())
model.backbone.requires_grad_(False)
opt.step()
""",
        # another model (teacher frozen after the student's optimizer)
        """\
import torch
opt = torch.optim.AdamW(student.parameters())
teacher.requires_grad_(False)
opt.step()
""",
        # unfreezing after the optimizer is not a freeze
        """\
import torch
opt = torch.optim.Adam(model.parameters())
model.backbone.requires_grad_(True)
for p in model.parameters():
    p.requires_grad = True
opt.step()
""",
        # the freeze and the optimizer are in different branches
        """\
import torch
if args.finetune:
    opt = torch.optim.Adam(model.parameters())
else:
    model.requires_grad_(False)
    opt = None
run(opt)
""",
        # an unknown flag, and an optimizer over an unknown expression
        """\
import torch
opt = torch.optim.Adam(get_params(cfg), **kwargs)
model.requires_grad_(cfg.train_all)
model.backbone.requires_grad_(False)
opt.step()
""",
        # the optimizer is not bound to a name
        """\
import torch
def configure(model):
    return torch.optim.Adam(model.parameters())
""",
        # the name was rebound to another object in between
        """\
import torch
opt = torch.optim.Adam(model.parameters())
opt = make_optimizer(model)
model.backbone.requires_grad_(False)
opt.step()
""",
        # `model` names another model by the time it is frozen
        """\
import torch
opt = torch.optim.Adam(model.parameters())
train(model, opt)
model = load_teacher()
model.requires_grad_(False)
distill(model, student, opt)
""",
        # the loop that freezes also rebuilds the optimizer each stage
        """\
import torch
opt = torch.optim.Adam(model.parameters())
for stage in stages:
    opt.step()
    stage.module.requires_grad_(False)
    opt = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()))
""",
    )
    invalid = (
        # an optimizer from a factory, known by its use
        """\
from utils import build_optimizer
opt = build_optimizer(cfg, model.parameters())
for p in model.backbone.parameters():
    p.requires_grad = False  # expect: FTL102
for batch in loader:
    opt.step()
""",
        # the model wrapped after the optimizer was built: still the same parameters
        """\
import torch
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
model = fabric.setup_module(model)
for p in model.module.backbone.parameters():
    p.requires_grad = False  # expect: FTL102
for batch in loader:
    opt.step()
""",
        # annotated assignments bind as plain ones do
        """\
import torch
from torch import nn
opt: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
head: nn.Module = model.head
for p in head.parameters():
    p.requires_grad = False  # expect: FTL102
for batch in loader:
    opt.step()
""",
        """\
import torch
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
model.backbone.requires_grad_(False)  # expect: FTL102
opt.step()
""",
        # freezing inside the training loop: the next iterations use the optimizer
        """\
import torch.optim as optim
optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
for epoch in range(10):
    optimizer.zero_grad(set_to_none=False)
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    if epoch == 5:
        for p in model.backbone.parameters():
            p.requires_grad = False  # expect: FTL102
""",
        # a freeze by name, the optimizer passed on to a training function
        """\
from torch.optim import AdamW as AW
def main(model):
    opt = AW(model.parameters())
    for name, p in model.named_parameters():
        if name.startswith("encoder."):
            p.requires_grad = False  # expect: FTL102
    fit(model, opt)
""",
        # a same-file helper, and the optimizer given to a scheduler
        """\
import torch

def freeze(module):
    for p in module.parameters():
        p.requires_grad = False

opt = torch.optim.SGD(model.parameters(), lr=0.1)
freeze(model.encoder)  # expect: FTL102
scheduler = torch.optim.lr_scheduler.StepLR(opt, 10)
""",
        # a filter on requires_grad at build time kept what was trainable then
        """\
import torch
params = filter(lambda p: p.requires_grad, model.parameters())
optimizer = torch.optim.Adam(params, lr=1e-4)
model.embed.weight.requires_grad = False  # expect: FTL102
optimizer.step()
""",
        # moved to a device in between: still the same model
        """\
import torch
opt = torch.optim.SGD(model.parameters(), lr=0.1)
model = model.to(device)
model.requires_grad_(False)  # expect: FTL102
opt.step()
""",
        # inside a method; an alias of a submodule
        """\
import torch
class Trainer:
    def fit(self, model):
        opt = torch.optim.Adam(model.parameters())
        backbone = model.backbone
        backbone.requires_grad_(False)  # expect: FTL102
        self.loop(model, opt)
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        # An optimizer ftlint knows, or one it recognises by its use (a factory).
        return super().may_report(outline) and (
            may_build_optimizer(outline) or may_use_optimizer_by_role(outline)
        )

    def visit_Module(self, node: cst.Module) -> None:
        for use in uses_after_change(self.ctx, _holds_frozen):
            positions = self.ctx.positions
            self.report(
                use.change.node,
                self.message.format(
                    opt=use.built.target,
                    built=positions[use.built.call].start.line,
                    use=positions[use.reader.node].start.line,
                ),
            )
