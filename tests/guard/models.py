"""Tiny real models for the guard's tests: small enough to train a step in milliseconds."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn1(self.conv1(x))) + x


class Backbone(nn.Module):
    """Names like torchvision's ResNet: backbone.layer1.0.conv1.weight."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.layer1 = nn.Sequential(Block(width), Block(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer1(self.stem(x)).mean(dim=(2, 3))


class Classifier(nn.Module):
    def __init__(self, classes: int = 3, width: int = 4) -> None:
        super().__init__()
        self.backbone = Backbone(width)
        self.fc = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x))


def mlp() -> nn.Sequential:
    return nn.Sequential(OrderedDict(hidden=nn.Linear(6, 8), act=nn.ReLU(), out=nn.Linear(8, 2)))


def freeze(module: nn.Module) -> None:
    """Freeze properly: no gradients, and BatchNorm statistics kept (eval mode)."""
    for p in module.parameters():
        p.requires_grad = False
    module.eval()


def trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def batch(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(model, Classifier):
        return torch.randn(4, 3, 6, 6), torch.randint(0, 3, (4,))
    return torch.randn(4, 6), torch.randint(0, 2, (4,))


def train_step(model: nn.Module, opt: torch.optim.Optimizer, set_to_none: bool = True) -> float:
    x, y = batch(model)
    opt.zero_grad(set_to_none=set_to_none)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def snapshot(params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def moved(before: list[torch.Tensor], params) -> bool:
    return any(not torch.equal(b, p.detach()) for b, p in zip(before, params))
