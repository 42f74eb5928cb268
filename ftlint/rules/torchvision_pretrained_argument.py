from __future__ import annotations

import re

import libcst as cst

from ftlint.analysis.values import string_value
from ftlint.outline import Outline
from ftlint.rules.base import Rule

# Deprecated keyword -> its replacement.
_RENAMED = {"pretrained": "weights", "pretrained_backbone": "weights_backbone"}
# The release that brought weights=; before it, pretrained= is the only way.
_WEIGHTS_API = (0, 13)
# Lowercase members of torchvision.models that are not model builders.
_NOT_BUILDERS = frozenset({"get_weight", "get_model_weights", "get_model_builder", "list_models"})


def _is_builder(qualified: str) -> bool:
    """`torchvision.models.resnet18`, `torchvision.models.detection.fasterrcnn_resnet50_fpn`,
    `torchvision.models.get_model`: functions that build a model (lowercase names)."""
    if not qualified.startswith("torchvision.models."):
        return False
    last = qualified.rsplit(".", 1)[-1]
    return last[:1].islower() and last not in _NOT_BUILDERS


def _is_vision_hub_load(ctx, call: cst.Call) -> bool:
    """`torch.hub.load("pytorch/vision", "resnet18", ...)` calls a torchvision builder."""
    if ctx.qualified_name(call.func) != "torch.hub.load" or not call.args:
        return False
    repo = string_value(call.args[0].value) if call.args[0].keyword is None else None
    if repo is None:
        return False
    name, _, ref = repo.partition(":")
    return name == "pytorch/vision" and not _before_weights_api(ref)


def _before_weights_api(ref: str) -> bool:
    """A pinned tag older than torchvision 0.13, where `pretrained=` is the only way."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", ref)
    return match is not None and (int(match[1]), int(match[2])) < _WEIGHTS_API


class TorchvisionPretrainedArgument(Rule):
    code = "FTL205"
    name = "torchvision-pretrained-argument"
    tokens = ("pretrained", "pretrained_backbone")
    fix = "mixed"
    message = (
        "torchvision's {old}= is deprecated since 0.13: it warns on every call and may be "
        "removed; pass {new}=\"DEFAULT\" for the best weights available ({old}=True loads "
        "the first ones published, such as \"IMAGENET1K_V1\") or {new}=None"
    )
    docs = """\
## What it does
Finds torchvision model builders called with the deprecated `pretrained=` (or
`pretrained_backbone=`) argument: `torchvision.models.resnet18(pretrained=True)` under any
import alias (`from torchvision import models`, `import torchvision.models as tvm`,
`from torchvision.models import resnet18`), the builders in `torchvision.models.detection`,
`.segmentation`, `.video` and so on, and `torch.hub.load("pytorch/vision", ..., pretrained=True)` (unless the hub reference pins a
release older than 0.13, where `pretrained=` is the only way).

The builders are not reported when the target torchvision is older than 0.13
(`target-torchvision` in `[tool.ftlint]` or `--target-torchvision`, else the installed
torchvision, else the newest): there `weights=` does not exist. A hub load follows its
reference instead, since it runs the repository's code, not the installed torchvision.

Other libraries' `pretrained=` (timm's `create_model(..., pretrained=True)`,
`from_pretrained`, your own builders) are not torchvision's and are not reported.

## Why is this bad?
Since torchvision 0.13 the builders take `weights=`. `pretrained=` still works through a
compatibility shim that emits a `UserWarning` on every call ("The parameter 'pretrained' is
deprecated since 0.13 and may be removed in the future"), so a script that relies on it
can stop working with a torchvision upgrade.

It is also less clear than it looks: `pretrained=True` always means the first weights
published for the model (`IMAGENET1K_V1` for the classifiers, `COCO_V1` for most detection
models), while several models now have better ones, which only `weights=` can select. A value that is not a literal (`pretrained=cfg.pretrained`) is
reported too: the argument is deprecated whatever it holds.

## Example
```python
from torchvision import models

model = models.resnet50(pretrained=True)
backbone = models.resnet18(pretrained=False)
```

## Use instead
```python
from torchvision import models

model = models.resnet50(weights="IMAGENET1K_V1")  # exactly what pretrained=True loaded
model = models.resnet50(weights=models.ResNet50_Weights.DEFAULT)  # the best available
backbone = models.resnet18(weights=None)
```
`weights="DEFAULT"` and the enum members (`ResNet50_Weights.IMAGENET1K_V2`) are both
accepted. Detection models take `weights_backbone=` in place of `pretrained_backbone=`.

## Fix safety
`pretrained=False` becomes `weights=None` (and `pretrained_backbone=False` becomes
`weights_backbone=None`): the same model, a safe fix. `pretrained=True` becomes
`weights="DEFAULT"`, which is unsafe: the default weights of some models (`resnet50`,
`resnet101`, `efficientnet_b1`, ...) are newer than the `IMAGENET1K_V1` weights that
`pretrained=True` loaded, so results can change; write `weights="IMAGENET1K_V1"` by hand to
keep them. A value that is not a literal, or a call that already passes `weights=`, gets no
fix.

## References
- [torchvision models: initializing pre-trained models](https://pytorch.org/vision/stable/models.html#initializing-pre-trained-models)
- [Introducing torchvision's multi-weight support API](https://pytorch.org/blog/introducing-torchvision-new-multi-weight-support-api/)
"""
    valid = (
        # the weights= API
        """\
import torchvision
from torchvision import models
a = torchvision.models.resnet18(weights="DEFAULT")
b = models.resnet50(weights=models.ResNet50_Weights.IMAGENET1K_V2)
c = models.vit_b_16(weights=None)
""",
        # other libraries' pretrained=
        """\
import timm
from transformers import AutoModel
backbone = timm.create_model("resnet50", pretrained=True, num_classes=0)
encoder = AutoModel.from_pretrained("bert-base-uncased")
model = build_model(cfg.arch, pretrained=True)
head = MyNet(pretrained=True)
""",
        # a local `models` package, not torchvision's
        """\
import models
from models import resnet18
net = models.resnet50(pretrained=True)
net = resnet18(pretrained=True)
""",
        # torch.hub for another repository; unknown builders; **kwargs
        """\
import torch
from torchvision import models
m = torch.hub.load("facebookresearch/dino:main", "dino_vits16", pretrained=True)
m = torch.hub.load(repo, name, pretrained=True)
m = torch.hub.load("pytorch/vision:v0.10.0", "resnet18", pretrained=True)  # before weights=
m = models.resnet18(**kwargs)
weights = models.get_weight("ResNet50_Weights.IMAGENET1K_V2")
""",
    )
    invalid = (
        # the seed idioms
        """\
import torchvision
from torchvision import models
model = torchvision.models.resnet18(pretrained=True)  # expect: FTL205
resnet = models.resnet152(pretrained=True)  # expect: FTL205
""",
        # aliases, submodules, non-literal values
        """\
import torchvision.models as tvm
from torchvision.models import resnet18 as r18
from torchvision.models.detection import fasterrcnn_resnet50_fpn
a = tvm.resnet50(pretrained=cfg.pretrained)  # expect: FTL205
b = r18(pretrained=False, num_classes=10)  # expect: FTL205
c = fasterrcnn_resnet50_fpn(pretrained_backbone=True)  # expect: FTL205
d = tvm.segmentation.deeplabv3_resnet50(  # expect: FTL205
    pretrained=True,
    progress=False,
)
""",
        # inside a class, and through torch.hub
        """\
import torch
from torchvision import models

class Net(torch.nn.Module):
    def __init__(self, pretrained=True):
        super().__init__()
        self.backbone = models.resnet34(pretrained=pretrained)  # expect: FTL205

hub_model = torch.hub.load("pytorch/vision", "resnet18", pretrained=True)  # expect: FTL205
""",
    )

    fix_examples = (
        (
            """\
import torchvision
from torchvision import models
a = torchvision.models.resnet18(pretrained=False, num_classes=10)
b = models.resnet50(pretrained=True)  # backbone
c = models.detection.fasterrcnn_resnet50_fpn(pretrained=False, pretrained_backbone=False)
""",
            """\
import torchvision
from torchvision import models
a = torchvision.models.resnet18(weights=None, num_classes=10)
b = models.resnet50(weights="DEFAULT")  # backbone
c = models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
""",
        ),
        # no fix for a computed value, or when weights= is given too
        (
            """\
from torchvision import models
a = models.resnet18(pretrained=cfg.pretrained)
b = models.resnet18(pretrained=True, weights=None)
""",
            """\
from torchvision import models
a = models.resnet18(pretrained=cfg.pretrained)
b = models.resnet18(pretrained=True, weights=None)
""",
        ),
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        if not super().may_report(outline):
            return False
        facts = outline.facts
        return facts.calls_matching(_is_builder) or facts.calls_any({"torch.hub.load"})

    def visit_Call(self, node: cst.Call) -> None:
        deprecated = [
            arg for arg in node.args if arg.keyword is not None and arg.keyword.value in _RENAMED
        ]
        if not deprecated:
            return
        qualified = self.ctx.qualified_name(node.func)
        builder = (
            qualified is not None
            and _is_builder(qualified)
            and self.ctx.targets.torchvision >= _WEIGHTS_API
        )
        if not (builder or _is_vision_hub_load(self.ctx, node)):
            return
        old = deprecated[0].keyword.value
        self.report(node, self.message.format(old=old, new=_RENAMED[old]), self._fix(node))

    def _fix(self, call: cst.Call):
        given = {arg.keyword.value for arg in call.args if arg.keyword is not None}
        edits = []
        safe = True
        for arg in call.args:
            if arg.keyword is None or arg.keyword.value not in _RENAMED:
                continue
            new = _RENAMED[arg.keyword.value]
            value = arg.value
            if new in given or not (isinstance(value, cst.Name) and value.value in ("True", "False")):
                return None
            safe = safe and value.value == "False"
            edits.append(self.replace(arg.keyword, new))
            edits.append(self.replace(value, "None" if value.value == "False" else '"DEFAULT"'))
        description = "use weights= in place of pretrained=" if safe else (
            'use weights= in place of pretrained= (True becomes "DEFAULT": maybe newer weights)'
        )
        return self.fix_with(description, *edits, safe=safe)
