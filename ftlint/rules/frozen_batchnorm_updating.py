from __future__ import annotations

from ftlint.rules.base import Rule


class FrozenBatchnormUpdating(Rule):
    """Documentation only: the runtime guard reports this; no static check exists."""

    code = "FTL111"
    name = "frozen-batchnorm-updating"
    runtime_only = True
    message = (
        "BatchNorm layers with every parameter frozen are in train mode, so each forward "
        "overwrites their running statistics; call .eval() on the frozen part after model.train()"
    )
    docs = """\
## What it does
At run time (with `ftlint.guard` installed), warns when a BatchNorm layer whose parameters
are all frozen runs a forward pass in train mode. One warning lists every such layer of the
model. It is always a warning, never an error, even in error mode.

## Why is this bad?
`requires_grad = False` stops gradients, not statistics. In train mode every forward pass
normalises with the batch's statistics and overwrites `running_mean` and `running_var`,
even under `torch.no_grad()`. A "frozen" backbone therefore drifts towards the fine-tuning
data, and evaluation uses statistics that no longer match the pretrained weights. A
`backbone.eval()` done once is undone by the next `model.train()`.

Adapting the statistics to the new data can be intended; then allow FTL111.

## Example
```python
model.backbone.requires_grad_(False)
model.backbone.eval()
for epoch in range(epochs):
    model.train()  # puts the backbone's BatchNorm back in train mode
    train_one_epoch(model, loader, optimizer)
```

## Use instead
```python
model.backbone.requires_grad_(False)
for epoch in range(epochs):
    model.train()
    model.backbone.eval()  # after every model.train()
    train_one_epoch(model, loader, optimizer)
```

## References
- [torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html)
- [torch.nn.Module.train](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.train)
"""
