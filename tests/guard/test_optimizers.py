"""FTL101, FTL102, FTL103: what optimizers are given, and what step() will do."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import ftlint.guard as guard_api  # noqa: E402
from tests.guard.models import Classifier, freeze, mlp, moved, snapshot, train_step, trainable  # noqa: E402

GuardError = guard_api.GuardError


def _frozen_backbone() -> Classifier:
    model = Classifier()
    freeze(model.backbone)
    return model


# FTL101: a frozen parameter given to an optimizer


def test_frozen_parameters_at_construction_are_named_and_counted(strict_guard):
    model = _frozen_backbone()
    with pytest.raises(GuardError) as caught:
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    err = caught.value
    assert err.code == "FTL101"
    assert "SGD was given 8 parameters" in err.message
    assert "backbone.stem.weight" in err.message
    assert "backbone.layer1.0.conv1.weight" in err.message
    assert "and 4 more" in err.message
    assert "p.requires_grad" in err.message  # how to filter them out
    assert "allow=['FTL101']" in err.message  # how to allow it
    assert err.where.startswith("test_optimizers.py:")


def test_trainable_parameters_only_pass_and_train(strict_guard, no_warnings):
    model = _frozen_backbone()
    opt = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1, momentum=0.9)
    before = snapshot(model.fc.parameters())
    train_step(model, opt)
    train_step(model, opt)
    assert moved(before, model.fc.parameters())


def test_a_generator_is_not_consumed_before_the_optimizer_sees_it(warn_guard):
    model = _frozen_backbone()
    with pytest.warns(guard_api.GuardWarning, match="FTL101"):
        opt = torch.optim.AdamW((p for p in model.parameters()), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == len(list(model.parameters())) == 10


def test_warn_mode_warns_once_and_training_goes_on(warn_guard):
    model = _frozen_backbone()
    with pytest.warns(guard_api.GuardWarning) as record:
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        before = snapshot(model.fc.parameters())
        for _ in range(3):
            train_step(model, opt)
    assert [w.message.code for w in record] == ["FTL101"]
    assert record[0].filename == __file__  # points at the user's line, not torch's
    assert moved(before, model.fc.parameters())


def test_later_add_param_group_is_checked(strict_guard):
    model = _frozen_backbone()
    opt = torch.optim.SGD(model.fc.parameters(), lr=0.1)
    with pytest.raises(GuardError, match="FTL101 SGD was given 2 parameters") as caught:
        opt.add_param_group({"params": list(model.backbone.stem.parameters()), "lr": 0.01})
    assert "backbone.stem.weight, backbone.stem.bias" in caught.value.message


def test_custom_optimizer_subclass_is_checked(strict_guard):
    class Lion(torch.optim.Optimizer):
        def __init__(self, params, lr=1e-4):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            pass

    model = _frozen_backbone()
    with pytest.raises(GuardError, match="FTL101 Lion was given 8 parameters"):
        Lion(model.parameters())


def test_named_parameters_given_to_the_optimizer_name_the_message(strict_guard):
    model = mlp()
    freeze(model.hidden)
    with pytest.raises(GuardError, match="hidden.weight, hidden.bias"):
        torch.optim.SGD(model.named_parameters(), lr=0.1)


def test_model_built_before_install_is_still_named():
    model = _frozen_backbone()  # the registry never saw these modules
    with guard_api.guard("strict"), pytest.raises(GuardError, match=r"backbone\.stem\.weight"):
        torch.optim.SGD(model.parameters(), lr=0.1)


def test_bare_tensors_are_described_by_shape(strict_guard):
    with pytest.raises(GuardError, match=r"<tensor \(3,\)>"):
        torch.optim.SGD([torch.zeros(3)], lr=0.1)


def test_allowed_code_is_not_reported(no_warnings):
    with guard_api.guard("error", allow=["FTL101"]):
        torch.optim.SGD(_frozen_backbone().parameters(), lr=0.1)


# FTL102: step() with a frozen parameter that still has a gradient


def _freeze_after_training(set_to_none: bool):
    """Train everything, then freeze the backbone and keep training (fine-tuning stage 2)."""
    model = Classifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    train_step(model, opt, set_to_none=set_to_none)
    freeze(model.backbone)
    return model, opt


def test_step_that_would_move_frozen_weights_is_caught():
    with guard_api.guard("error", allow=["FTL101"]):
        model, opt = _freeze_after_training(set_to_none=False)
        before = snapshot(model.backbone.parameters())
        with pytest.raises(GuardError) as caught:
            train_step(model, opt, set_to_none=False)
    assert caught.value.code == "FTL102"
    assert "SGD.step() is about to update 8 parameters" in caught.value.message
    assert "backbone.layer1.0.conv1.weight" in caught.value.message
    assert "zero_grad(set_to_none=True)" in caught.value.message
    assert not moved(before, model.backbone.parameters())  # the step did not run


def test_step_after_clearing_grads_passes():
    with guard_api.guard("error", allow=["FTL101"]):
        model, opt = _freeze_after_training(set_to_none=True)
        before = snapshot(model.backbone.parameters())
        train_step(model, opt, set_to_none=True)
        train_step(model, opt, set_to_none=True)
    assert not moved(before, model.backbone.parameters())


def test_warn_mode_warns_and_the_frozen_weights_really_move():
    with guard_api.guard("warn", allow=["FTL101"]):
        model, opt = _freeze_after_training(set_to_none=False)
        before = snapshot(model.backbone.parameters())
        with pytest.warns(guard_api.GuardWarning, match="FTL102") as record:
            for _ in range(3):
                train_step(model, opt, set_to_none=False)
    assert len(record) == 1  # once per problem, not once per step
    assert moved(before, model.backbone.parameters())  # what the guard warned about


def test_optimizer_built_before_install_is_checked_at_its_step():
    model, opt = _freeze_after_training(set_to_none=False)
    with guard_api.guard("error"), pytest.raises(GuardError, match="FTL102"):
        train_step(model, opt, set_to_none=False)


# FTL103: a trainable parameter with a gradient that no optimizer holds


def test_layer_replaced_after_the_optimizer_was_built_is_caught(strict_guard):
    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.fc = nn.Linear(4, 5)  # new head for the new task, but opt holds the old one
    before = snapshot(model.fc.parameters())
    with pytest.raises(GuardError) as caught:
        train_step(model, opt)
    assert caught.value.code == "FTL103"
    assert "2 trainable parameters" in caught.value.message
    assert "of Classifier" in caught.value.message
    assert "fc.weight, fc.bias" in caught.value.message
    assert not moved(before, model.fc.parameters())


def test_model_built_before_install_is_found_at_the_first_step():
    model = Classifier()  # the registry never saw these modules
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.fc = nn.Linear(4, 5)
    with guard_api.guard("error"), pytest.raises(GuardError, match=r"FTL103 .* fc\.weight, fc\.bias"):
        train_step(model, opt)


def test_optimizer_built_after_replacing_the_layer_passes(strict_guard, no_warnings):
    model = Classifier()
    model.fc = nn.Linear(4, 5)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    before = snapshot(model.fc.parameters())
    train_step(model, opt)
    train_step(model, opt)
    assert moved(before, model.fc.parameters())


def test_unfreezing_without_adding_a_param_group_is_caught(strict_guard):
    model = _frozen_backbone()
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    train_step(model, opt)
    for p in model.backbone.layer1.parameters():
        p.requires_grad = True  # stage 2: unfreeze the last layer...
    with pytest.raises(GuardError, match=r"FTL103 6 trainable parameters .* backbone\.layer1\.0\.conv1\.weight"):
        train_step(model, opt)  # ...but opt never got it


def test_unfreezing_with_add_param_group_passes(strict_guard, no_warnings):
    model = _frozen_backbone()
    opt = torch.optim.SGD(trainable(model), lr=0.1)
    train_step(model, opt)
    for p in model.backbone.layer1.parameters():
        p.requires_grad = True
    opt.add_param_group({"params": list(model.backbone.layer1.parameters()), "lr": 0.01})
    before = snapshot(model.backbone.layer1.parameters())
    train_step(model, opt)
    assert moved(before, model.backbone.layer1.parameters())


def test_warn_mode_warns_and_training_goes_on_without_the_new_layer(warn_guard):
    model = Classifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.fc = nn.Linear(4, 3)
    before = snapshot(model.fc.parameters())
    with pytest.warns(guard_api.GuardWarning, match="FTL103") as record:
        losses = [train_step(model, opt) for _ in range(3)]
    assert len(record) == 1
    assert len(losses) == 3
    assert not moved(before, model.fc.parameters())  # what the guard warned about


def test_one_optimizer_per_part_of_the_model_passes(strict_guard, no_warnings):
    model = Classifier()
    slow = torch.optim.SGD(model.backbone.parameters(), lr=0.01)
    fast = torch.optim.SGD(model.fc.parameters(), lr=0.1)
    x, y = torch.randn(4, 3, 6, 6), torch.randint(0, 3, (4,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    slow.step()
    fast.step()


def test_another_model_with_gradients_is_not_the_optimizers_business(strict_guard, no_warnings):
    student, teacher = mlp(), mlp()
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    x = torch.randn(4, 6)
    (student(x) - teacher(x)).pow(2).mean().backward()  # the teacher gets grads too
    opt.step()


def test_checks_are_off_once_the_code_is_allowed(no_warnings):
    with guard_api.guard("error", allow=["FTL103"]):
        model = Classifier()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.fc = nn.Linear(4, 3)
        train_step(model, opt)
