"""FTL201: load_state_dict(strict=False) that silently skipped keys."""

from __future__ import annotations

import inspect

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present  # noqa: E402

import ftlint.guard as guard_api  # noqa: E402
from tests.guard.models import Classifier, moved, snapshot, train_step  # noqa: E402

GuardError = guard_api.GuardError


def _pretrained_backbone_only() -> dict:
    """The seeds' idiom: keep the checkpoint keys whose name and shape fit the new model."""
    pretrained = Classifier(classes=10).state_dict()
    model_dict = Classifier(classes=3).state_dict()
    return {k: v for k, v in pretrained.items() if k in model_dict and v.shape == model_dict[k].shape}


def test_partial_load_is_caught_with_the_missing_keys(strict_guard):
    model = Classifier(classes=3)
    with pytest.raises(GuardError) as caught:
        model.load_state_dict(_pretrained_backbone_only(), strict=False)
    err = caught.value
    assert err.code == "FTL201"
    assert "left 2 model keys (fc.weight, fc.bias) unloaded" in err.message
    assert "keep the values they had" in err.message
    assert "strict=True" in err.message


def test_complete_non_strict_load_passes(strict_guard, no_warnings):
    source, model = Classifier(), Classifier()
    result = model.load_state_dict(source.state_dict(), strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(model.fc.weight, source.fc.weight)


def test_warn_mode_warns_and_returns_the_result(warn_guard):
    model = Classifier(classes=3)
    with pytest.warns(guard_api.GuardWarning, match="FTL201") as record:
        result = model.load_state_dict(_pretrained_backbone_only(), False)  # strict positionally
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        before = snapshot(model.fc.parameters())
        train_step(model, opt)
    assert len(record) == 1
    assert result.missing_keys == ["fc.weight", "fc.bias"]
    assert moved(before, model.fc.parameters())


def test_unexpected_keys_are_reported(strict_guard):
    model = Classifier()
    checkpoint = dict(model.state_dict(), **{"aux.weight": torch.zeros(2)})
    with pytest.raises(GuardError, match=r"ignored 1 checkpoint key \(aux\.weight\)"):
        model.load_state_dict(checkpoint, strict=False)


def test_data_parallel_prefix_loads_nothing(strict_guard):
    source, model = Classifier(), Classifier()
    checkpoint = {f"module.{k}": v for k, v in source.state_dict().items()}
    with pytest.raises(GuardError) as caught:
        model.load_state_dict(checkpoint, strict=False)
    message = caught.value.message
    assert caught.value.code == "FTL201"
    assert "loaded nothing" in message
    assert "start with 'module.'" in message
    assert "consume_prefix_in_state_dict_if_present(state_dict, 'module.')" in message


def test_warn_mode_never_raises_even_when_nothing_loaded(warn_guard):
    source, model = Classifier(), Classifier()
    checkpoint = {f"module.{k}": v for k, v in source.state_dict().items()}
    with pytest.warns(guard_api.GuardWarning, match="FTL201 .* loaded nothing: .* start with 'module.'"):
        result = model.load_state_dict(checkpoint, strict=False)
    assert len(result.unexpected_keys) == len(checkpoint)


@pytest.mark.parametrize("module", [nn.ReLU(), nn.Sequential(nn.ReLU(), nn.Dropout())], ids=["ReLU", "Sequential"])
def test_a_module_without_state_has_nothing_to_load(module, strict_guard, no_warnings):
    assert module.load_state_dict({}, strict=False).unexpected_keys == []


def _stateless_with_a_buffer() -> nn.Module:
    # A non-persistent buffer is not in the state_dict: nothing to load either.
    module = nn.Sequential(nn.ReLU())
    module.register_buffer("mask", torch.ones(2), persistent=False)
    return module


@pytest.mark.parametrize("make", [nn.ReLU, _stateless_with_a_buffer], ids=["ReLU", "non-persistent-buffer"])
@pytest.mark.parametrize("mode", ["error", "warn"])
def test_keys_given_to_a_module_without_state_are_only_a_true_warning(mode, make):
    module = make()
    kind = type(module).__name__
    with guard_api.guard(mode), pytest.warns(guard_api.GuardWarning) as record:
        result = module.load_state_dict({"weight": torch.zeros(2)}, strict=False)
    assert result.unexpected_keys == ["weight"]
    (warning,) = record
    assert warning.message.code == "FTL201"
    assert warning.message.message.startswith(
        f"load_state_dict(strict=False) into {kind} ignored 1 checkpoint key (weight): "
        f"{kind} has no state to load them into (its state_dict() is empty);"
    )
    assert "loaded nothing" not in str(warning.message) and "initial value" not in str(warning.message)


def test_stripping_the_prefix_first_passes(strict_guard, no_warnings):
    source, model = Classifier(), Classifier()
    checkpoint = {f"module.{k}": v for k, v in source.state_dict().items()}
    consume_prefix_in_state_dict_if_present(checkpoint, "module.")
    model.load_state_dict(checkpoint, strict=False)
    assert torch.equal(model.fc.weight, source.fc.weight)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile's own imports
def test_compiled_model_with_a_plain_checkpoint_is_recognised(strict_guard):
    source = Classifier()
    compiled = torch.compile(Classifier())  # its keys start with _orig_mod.
    with pytest.raises(GuardError, match=r"model's keys start with '_orig_mod\.'.*model\._orig_mod"):
        compiled.load_state_dict(source.state_dict(), strict=False)


def test_an_empty_checkpoint_loads_nothing(strict_guard):
    with pytest.raises(GuardError, match="FTL201 .* loaded nothing"):
        nn.Linear(2, 2).load_state_dict({}, strict=False)


def test_strict_loads_are_left_to_torch(strict_guard):
    with pytest.raises(RuntimeError, match="Missing key") as caught:
        Classifier(classes=3).load_state_dict(_pretrained_backbone_only())
    assert not isinstance(caught.value, GuardError)


def test_allowed_code_lets_even_an_empty_load_pass(no_warnings):
    with guard_api.guard("warn", allow=["FTL201"]):
        nn.Linear(2, 2).load_state_dict({}, strict=False)


def test_the_patched_method_keeps_its_signature(strict_guard):
    signature = inspect.signature(nn.Module.load_state_dict)
    assert list(signature.parameters) == ["self", "state_dict", "strict", "assign"]
