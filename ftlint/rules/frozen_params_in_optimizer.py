from __future__ import annotations

import libcst as cst

from ftlint.analysis.flow import OptimizerBuilt, file_flows
from ftlint.analysis.optimizers import may_build_optimizer
from ftlint.outline import Outline
from ftlint.rules.base import Rule


def _params_argument(call: cst.Call) -> cst.BaseExpression | None:
    """The optimizer's parameters: the first positional argument or `params=`."""
    for arg in call.args:
        if arg.keyword is None and arg.star == "":
            return arg.value
        if arg.keyword is not None and arg.keyword.value == "params":
            return arg.value
    return None


def _parameters_call(node: cst.BaseExpression | None) -> str | None:
    """`parameters` or `named_parameters` when `node` is a direct `x.<that>()` call."""
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in ("parameters", "named_parameters")
    ):
        return node.func.attr.value
    return None


class FrozenParamsInOptimizer(Rule):
    code = "FTL101"
    name = "frozen-params-in-optimizer"
    # a freeze is a requires_grad assignment or requires_grad_ call
    tokens = ("requires_grad", "requires_grad_")
    fix = "unsafe"
    message = (
        "optimizer is given parameters frozen at line {line}: they are skipped only while "
        "their .grad is None, and once a stale gradient is left, momentum and weight decay "
        "move them; pass filter(lambda p: p.requires_grad, ...) instead"
    )
    docs = """\
## What it does
Finds an optimizer built over parameters of which some were frozen before
(`p.requires_grad = False`, `m.requires_grad_(False)`, or a helper in the same file that
does so), when the parameters are not filtered on `requires_grad`. An optimizer class
defined in the project is left alone: its own `step` may use the frozen weights.

## Why is this bad?
PyTorch optimizers skip a parameter only while its `.grad` is `None`. A frozen weight
that still holds a gradient (frozen after training began, gradients zeroed with
`set_to_none=False`, or never cleared) is moved by momentum and weight decay at every
step, silently. Adam-style state is also kept for every frozen weight, and `Adagrad`
allocates state for each at construction. The bug stays latent until gradients go stale,
then the "frozen" backbone drifts.

## Example
```python
for p in model.backbone.parameters():
    p.requires_grad = False
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
```

## Use instead
```python
for p in model.backbone.parameters():
    p.requires_grad = False
optimizer = torch.optim.AdamW(
    (p for p in model.parameters() if p.requires_grad), lr=1e-4, weight_decay=0.01
)
```
Or give the optimizer only the trainable part: `model.head.parameters()`.

## Fix safety
The fix wraps a direct `x.parameters()` argument in
`filter(lambda p: p.requires_grad, x.parameters())` (and keeps only the trainable pairs of
`x.named_parameters()`), leaving the call's other arguments as they are. It is unsafe: a
parameter frozen now and unfrozen later (staged unfreezing) is then never updated unless
you add it with `optimizer.add_param_group`, and an optimizer checkpoint saved before the
change no longer matches the optimizer's parameters. Parameter groups and names holding
parameters get no fix.

## At run time
With `ftlint.guard` installed (pytest `--ftlint-guard`, or `ftlint run`), any optimizer
that receives a parameter with `requires_grad=False`, at construction or through
`add_param_group`, is reported with the qualified names of those parameters.

## References
- [torch.optim: per-parameter options](https://pytorch.org/docs/stable/optim.html#per-parameter-options)
- [Finetuning torchvision models](https://pytorch.org/tutorials/beginner/finetuning_torchvision_models_tutorial.html)
"""
    valid = (
        # a factory may leave frozen parameters out itself (timm's create_optimizer_v2 does)
        """\
for p in model.backbone.parameters():
    p.requires_grad = False
opt = create_optimizer_v2(model, "adamw", lr=1e-4)
opt2 = build_optimizer(cfg, model.parameters())
opt.step()
opt2.step()
""",
        # prepare() of several objects returns a tuple: nothing is assumed about it
        """\
import torch
for p in model.backbone.parameters():
    p.requires_grad = False
model, loader = accelerator.prepare(model, loader)
opt = torch.optim.AdamW(filter(lambda p: p.requires_grad, model.parameters()), lr=1e-4)
""",
        # a new head, bound to a name first, replaces the frozen one
        """\
import torch
from torch import nn
for p in model.parameters():
    p.requires_grad = False
classifier = nn.Sequential(nn.Linear(768, 10))
model.classifier = classifier
opt = torch.optim.AdamW(model.classifier.parameters(), lr=1e-4)
""",
        # an optimizer class of the project: its step may rely on the frozen weights
        """\
import torch
class LoraFAOptimizer(torch.optim.Optimizer):
    def step(self, closure=None):
        pass
for p in model.base.parameters():
    p.requires_grad = False
opt = LoraFAOptimizer(model.parameters(), lr=1e-4)
""",
        # the freeze and the optimizer sit in different branches: at most one runs
        """\
import torch
if args.freeze:
    for p in model.backbone.parameters():
        p.requires_grad = False
else:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
""",
        # filtered with filter()
        """\
import torch
for p in model.backbone.parameters():
    p.requires_grad = False
opt = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()), lr=1e-3)
""",
        # filtered with a comprehension, bound to a name first
        """\
from torch import optim
model.requires_grad_(False)
model.fc = nn.Linear(512, 10)
params = [p for p in model.parameters() if p.requires_grad]
opt = optim.SGD(params, lr=0.1, momentum=0.9)
""",
        # a loop that skips frozen ones
        """\
import torch
for p in model.encoder.parameters():
    p.requires_grad = False
trainable = []
for p in model.parameters():
    if not p.requires_grad:
        continue
    trainable.append(p)
opt = torch.optim.AdamW(trainable)
""",
        # only the part that was not frozen: the head replaced after freezing everything
        """\
import torch.optim as optim
import torch.nn as nn
for param in model.parameters():
    param.requires_grad = False
model.fc = nn.Linear(512, 100)
optimizer = optim.SGD(model.fc.parameters(), lr=1e-2, momentum=0.9)
""",
        # a part that was never frozen
        """\
import torch
model.backbone.requires_grad_(False)
opt = torch.optim.Adam(model.head.parameters())
""",
        # the frozen model is another one (teacher and student)
        """\
import torch
teacher.requires_grad_(False)
opt = torch.optim.Adam(student.parameters())
""",
        # everything frozen was unfrozen again before the optimizer
        """\
import torch
for p in model.parameters():
    p.requires_grad = False
for p in model.parameters():
    p.requires_grad = True
opt = torch.optim.Adam(model.parameters())
""",
        # the name was rebound to a fresh model
        """\
import torch
model.requires_grad_(False)
model = build_model()
opt = torch.optim.Adam(model.parameters())
""",
        # optimizer built before the freeze (that is FTL102's business), and not torch's
        """\
import torch
opt = torch.optim.Adam(model.parameters())
model.requires_grad_(False)
other = MyOptimizer(model.parameters())
""",
        # an unrelated method called requires_grad_ with a variable flag
        """\
import torch
model.requires_grad_(args.train_backbone)
opt = torch.optim.Adam(model.parameters())
""",
        # Lightning style, but the optimizer filters
        """\
import torch
import lightning as L
class Module(L.LightningModule):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.backbone.requires_grad_(False)

    def configure_optimizers(self):
        return torch.optim.Adam(self.head.parameters(), lr=1e-3)
""",
        # freezing by name inside a loop, optimizer over another part
        """\
import torch
for name, p in model.named_parameters():
    if "layer4" not in name:
        p.requires_grad = False
opt = torch.optim.SGD(model.fc.parameters(), lr=0.1)
""",
    )
    invalid = (
        # through a wrapper that keeps the parameters, and its .module
        """\
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
ddp = DDP(model)
for p in ddp.module.backbone.parameters():
    p.requires_grad = False
opt = torch.optim.AdamW(ddp.parameters(), lr=1e-4)  # expect: FTL101
""",
        """\
import torch
for p in model.backbone.parameters():
    p.requires_grad = False
model = torch.compile(model)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)  # expect: FTL101
""",
        # annotated assignments bind as plain ones do
        """\
import torch
from torch import nn
backbone: nn.Module = model.backbone
for p in backbone.parameters():
    p.requires_grad = False
opt: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # expect: FTL101
""",
        # different branches, but a loop runs one after the other
        """\
import torch
for epoch in range(3):
    if epoch == 0:
        for p in model.backbone.parameters():
            p.requires_grad = False
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)  # expect: FTL101
""",
        """\
import torch
for p in model.backbone.parameters():
    p.requires_grad = False
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)  # expect: FTL101
""",
        # the seeds' recipe, fed the whole model
        """\
import torch.optim as optim
import torch.nn as nn
for param in model.parameters():
    param.requires_grad = False
model.fc = nn.Linear(512, 100)
optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)  # expect: FTL101
""",
        # aliases: from-import with a new name, a module reached through a variable
        """\
from torch.optim import AdamW as AW
backbone = model.backbone
backbone.requires_grad_(False)
opt = AW(model.parameters())  # expect: FTL101
""",
        # import torch as t; named_parameters; a conditional freeze by name
        """\
import torch as t
for name, p in model.named_parameters():
    if name.startswith("encoder."):
        p.requires_grad = False
opt = t.optim.SGD(model.named_parameters(), lr=0.1)  # expect: FTL101
""",
        # parameter groups
        """\
from torch import optim
model.encoder.requires_grad_(False)
opt = optim.Adam(  # expect: FTL101
    [
        {"params": model.encoder.parameters(), "lr": 1e-5},
        {"params": model.decoder.parameters()},
    ],
    lr=1e-3,
)
""",
        # a helper in the same file
        """\
import torch

def freeze(module):
    for p in module.parameters():
        p.requires_grad = False

freeze(model.backbone)
opt = torch.optim.SGD(model.parameters(), lr=0.1)  # expect: FTL101
""",
        # freezing inside a function body, third-party optimizer
        """\
import bitsandbytes as bnb

def setup(model):
    model.vision_tower.requires_grad_(False)
    return bnb.optim.AdamW8bit(model.parameters(), lr=2e-5)  # expect: FTL101
""",
        # a single weight frozen by name
        """\
from transformers import Adafactor
model.embed.weight.requires_grad = False
opt = Adafactor(model.parameters())  # expect: FTL101
""",
        # Lightning style: __init__ freezes, configure_optimizers takes everything
        """\
import torch
import lightning as L
class Module(L.LightningModule):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.backbone.requires_grad_(False)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)  # expect: FTL101
""",
        # a method helper called from __init__
        """\
import torch
class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.freeze_encoder()

    def freeze_encoder(self):
        for p in self.encoder.parameters():
            p.requires_grad = False

    def make_optimizer(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)  # expect: FTL101
""",
        # freezing through children()
        """\
import torch
for child in list(model.children())[:-1]:
    for p in child.parameters():
        p.requires_grad = False
opt = torch.optim.SGD(model.parameters(), lr=0.1)  # expect: FTL101
""",
    )
    fix_examples = (
        (
            """\
import torch
for p in model.backbone.parameters():
    p.requires_grad = False
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)  # the head too
""",
            """\
import torch
for p in model.backbone.parameters():
    p.requires_grad = False
opt = torch.optim.AdamW(filter(lambda p: p.requires_grad, model.parameters()), lr=1e-4)  # the head too
""",
        ),
        # params= over several lines, comments kept; named_parameters keeps the pairs
        (
            """\
from torch import optim
model.requires_grad_(False)
model.fc = nn.Linear(512, 10)
opt = optim.SGD(
    params=model.parameters(),  # all of it
    lr=0.1,
    momentum=0.9,
)
named = optim.Adam(model.named_parameters(), lr=1e-3)
""",
            """\
from torch import optim
model.requires_grad_(False)
model.fc = nn.Linear(512, 10)
opt = optim.SGD(
    params=filter(lambda p: p.requires_grad, model.parameters()),  # all of it
    lr=0.1,
    momentum=0.9,
)
named = optim.Adam([(name, p) for name, p in model.named_parameters() if p.requires_grad], lr=1e-3)
""",
        ),
        # parameter groups get no fix
        (
            """\
from torch import optim
model.encoder.requires_grad_(False)
opt = optim.Adam([{"params": model.encoder.parameters(), "lr": 1e-5}], lr=1e-3)
""",
            """\
from torch import optim
model.encoder.requires_grad_(False)
opt = optim.Adam([{"params": model.encoder.parameters(), "lr": 1e-5}], lr=1e-3)
""",
        ),
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        return super().may_report(outline) and may_build_optimizer(outline)

    def visit_Module(self, node: cst.Module) -> None:
        for flow in file_flows(self.ctx):
            for event in flow.events:
                if isinstance(event, OptimizerBuilt):
                    self._judge(event)

    def _judge(self, event: OptimizerBuilt) -> None:
        if event.by_role or event.cls in self.ctx.classes:
            # A factory may leave frozen parameters out itself (timm's create_optimizer_v2
            # does); an optimizer written in the project may use frozen weights on purpose
            # (as PEFT's LoRA-FA optimizer does): its own step decides, not torch's.
            return
        for source in event.sources:
            if source.filtered:
                continue
            frozen = event.state.frozen_in(source)
            if frozen is not None:
                line = self.ctx.positions[frozen.node].start.line
                self.report(event.call, self.message.format(line=line), self._fix(event.call))
                return

    def _fix(self, call: cst.Call):
        params = _params_argument(call)
        kind = _parameters_call(params)
        if kind is None:
            return None
        code = self.ctx.module.code_for_node(params)
        if kind == "parameters":
            new = f"filter(lambda p: p.requires_grad, {code})"
        else:
            new = f"[(name, p) for name, p in {code} if p.requires_grad]"
        description = "keep only the parameters that require grad"
        return self.fix_with(description, self.replace(params, new))
