"""FTL111 frozen-batchnorm-updating: always a warning, in both modes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import ftlint.guard as guard_api  # noqa: E402
from tests.guard.models import Classifier, train_step, trainable  # noqa: E402


def _frozen_without_eval() -> Classifier:
    model = Classifier()
    for p in model.backbone.parameters():
        p.requires_grad = False  # frozen, but the backbone stays in train mode
    return model


@pytest.mark.parametrize("mode", ["error", "warn"])
def test_frozen_batchnorm_in_train_mode_warns_and_training_goes_on(mode):
    model = _frozen_without_eval()
    stats = model.backbone.layer1[0].bn1.running_mean.clone()
    with guard_api.guard(mode), pytest.warns(guard_api.GuardWarning) as record:
        opt = torch.optim.SGD(trainable(model), lr=0.1)
        train_step(model, opt)
        train_step(model, opt)
    assert [w.message.code for w in record] == ["FTL111"]  # once, for every such layer
    message = str(record[0].message)
    assert "2 BatchNorm layers with frozen weights are in train mode" in message
    assert "backbone.layer1.0.bn1 (BatchNorm2d), backbone.layer1.1.bn1 (BatchNorm2d)" in message
    assert ".eval()" in message
    assert not torch.equal(stats, model.backbone.layer1[0].bn1.running_mean)  # what it warned about


def test_no_grad_forward_updates_statistics_too(warn_guard):
    model = _frozen_without_eval()
    with pytest.warns(guard_api.GuardWarning, match="FTL111"), torch.no_grad():
        model(torch.randn(2, 3, 6, 6))


def test_frozen_batchnorm_in_eval_mode_passes(strict_guard, no_warnings):
    model = _frozen_without_eval()
    model.backbone.eval()
    stats = model.backbone.layer1[0].bn1.running_mean.clone()
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    train_step(model, opt)
    assert torch.equal(stats, model.backbone.layer1[0].bn1.running_mean)


def test_trainable_batchnorm_in_train_mode_passes(strict_guard, no_warnings):
    model = Classifier()
    train_step(model, torch.optim.SGD(model.parameters(), lr=0.1))


def test_model_train_after_backbone_eval_is_caught(warn_guard):
    model = _frozen_without_eval()
    model.backbone.eval()
    model.train()  # undoes backbone.eval()
    with pytest.warns(guard_api.GuardWarning, match="FTL111"):
        model(torch.randn(2, 3, 6, 6))


def test_allowed_code_is_quiet(no_warnings):
    with guard_api.guard("error", allow=["FTL111"]):
        _frozen_without_eval()(torch.randn(2, 3, 6, 6))
