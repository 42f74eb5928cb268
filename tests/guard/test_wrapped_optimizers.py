"""Optimizers inside optimizers, and transformers' layer-wise dummy: no false alarms."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

import torch.distributed as dist  # noqa: E402

import ftlint.guard as guard_api  # noqa: E402
from tests.guard.models import Classifier, freeze, mlp, moved, snapshot, train_step  # noqa: E402


@pytest.fixture
def process_group(tmp_path):
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _zero(params):
    with warnings.catch_warnings():  # its first import warns about torch.jit.script
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch.distributed.optim import ZeroRedundancyOptimizer

    return ZeroRedundancyOptimizer(params, optimizer_class=torch.optim.AdamW, lr=0.01)


def test_zero_redundancy_optimizer_trains_without_false_alarm(process_group, strict_guard, no_warnings):
    model = mlp()
    opt = _zero(model.parameters())
    before = snapshot(model.parameters())
    train_step(model, opt)
    train_step(model, opt)
    assert moved(before, model.parameters())


def test_zero_redundancy_optimizer_is_reported_once_not_again_for_its_local_optimizer(process_group, warn_guard):
    model = mlp()
    freeze(model.hidden)
    with pytest.warns(guard_api.GuardWarning) as record:
        _zero(model.parameters())
    messages = [str(w.message) for w in record if w.category is guard_api.GuardWarning]
    assert len(messages) == 1, messages
    assert messages[0].startswith("FTL101 ZeroRedundancyOptimizer was given 2 parameters")


class ShardedSGD(torch.optim.Optimizer):
    """Like ZeroRedundancyOptimizer on rank 0 of 2: the outer optimizer holds every
    parameter, its local optimizer only this rank's shard."""

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})
        everything = [p for group in self.param_groups for p in group["params"]]
        self.local = torch.optim.SGD(everything[::2], lr=lr)

    def step(self, closure=None):
        self.local.step()


def test_a_local_optimizer_holding_a_shard_trains_without_false_alarm(strict_guard, no_warnings):
    model = Classifier()
    opt = ShardedSGD(model.parameters(), lr=0.1)
    train_step(model, opt)
    train_step(model, opt)


def test_a_local_optimizer_is_not_reported_again(warn_guard):
    model = mlp()
    freeze(model.out)
    with pytest.warns(guard_api.GuardWarning) as record:
        ShardedSGD(model.parameters(), lr=0.1)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1, messages
    assert messages[0].startswith("FTL101 ShardedSGD was given 2 parameters")


class LayerWiseDummyOptimizer(torch.optim.Optimizer):
    """As transformers defines it (trainer_pt_utils): the Trainer steps this do-nothing
    optimizer while one optimizer per parameter steps from a gradient hook."""

    def __init__(self, optimizer_dict=None, *args, **kwargs):
        dummy_tensor = torch.randn(1, 1)  # requires_grad=False
        self.optimizer_dict = optimizer_dict
        super().__init__([dummy_tensor], {"lr": kwargs.get("lr", 1e-03)})

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def step(self, closure=None):
        pass


def test_transformers_layer_wise_training_passes(strict_guard, no_warnings):
    model = Classifier()
    freeze(model.backbone.stem)
    optimizer_dict = {p: torch.optim.AdamW([p], lr=0.01) for p in model.parameters() if p.requires_grad}

    def optimizer_hook(param):
        optimizer_dict[param].step()
        optimizer_dict[param].zero_grad()

    for param in optimizer_dict:
        param.register_post_accumulate_grad_hook(optimizer_hook)
    opt = LayerWiseDummyOptimizer(optimizer_dict=optimizer_dict, lr=0.01)
    before = snapshot(model.fc.parameters())
    train_step(model, opt)
    train_step(model, opt)
    assert moved(before, model.fc.parameters())
