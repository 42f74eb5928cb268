"""FTL201's severity: an evidently broken load is an error, a one-sided partial load a
latent risk (a warning in error mode), a key tied to a loaded one is not missing, and
every message is true of the load it describes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import ftlint.guard as guard_api  # noqa: E402
from tests.guard.models import Classifier  # noqa: E402

GuardError = guard_api.GuardError
GuardWarning = guard_api.GuardWarning


def _renamed(state: dict, old: str, new: str) -> dict:
    return {k.replace(old, new, 1) if k.startswith(old) else k: v for k, v in state.items()}


# Evidently broken: an error in error mode


def test_a_partial_rename_is_an_error(error_guard):
    source, model = Classifier(), Classifier()
    checkpoint = _renamed(source.state_dict(), "fc.", "head.")  # the backbone still matches
    with pytest.raises(GuardError) as caught:
        model.load_state_dict(checkpoint, strict=False)
    message = caught.value.message
    assert message.startswith(
        "load_state_dict(strict=False) into Classifier left 2 model keys (fc.weight, fc.bias) "
        "unloaded and ignored 2 checkpoint keys (head.weight, head.bias): keys that go to no "
        "parameter while parameters stay unloaded are usually renamed or prefixed names"
    )
    assert not torch.equal(model.fc.weight, source.fc.weight)  # as it says: fc was not loaded
    assert torch.equal(model.backbone.stem.weight, source.backbone.stem.weight)


def test_a_prefix_on_part_of_the_keys_is_an_error_that_names_it(error_guard):
    source, model = Classifier(), Classifier()
    checkpoint = _renamed(source.state_dict(), "backbone.", "module.backbone.")
    with pytest.raises(
        GuardError, match=r"FTL201 .* unloaded and ignored .* start with 'module\.'"
    ):
        model.load_state_dict(checkpoint, strict=False)


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod."])
def test_a_load_that_loads_nothing_is_an_error(error_guard, prefix):
    checkpoint = {prefix + k: v for k, v in Classifier().state_dict().items()}
    with pytest.raises(GuardError) as caught:
        Classifier().load_state_dict(checkpoint, strict=False)
    message = caught.value.message
    assert message.startswith(
        "load_state_dict(strict=False) into Classifier loaded nothing: none of the checkpoint's "
        f"16 keys ({prefix}backbone.stem.weight, "
    )
    # BatchNorm fills in a missing num_batches_tracked itself: 14 keys, not 16, stay unloaded.
    assert "is one of the model's, so 14 model keys (backbone.stem.weight, " in message
    assert f"start with '{prefix}'" in message


def test_an_empty_checkpoint_says_so(error_guard):
    with pytest.raises(GuardError) as caught:
        nn.Linear(2, 2).load_state_dict({}, strict=False)
    assert caught.value.message.startswith(
        "load_state_dict(strict=False) into Linear loaded nothing: the checkpoint is empty, "
        "so 2 model keys (weight, bias) stay unloaded and keep the values they had"
    )


# One-sided partial loads: latent (a warning in error mode, an error in strict mode)


def _new_head_checkpoint() -> dict:
    """The backbone of a 10-class model for a 3-class one: the new head stays as built."""
    return {k: v for k, v in Classifier(classes=10).state_dict().items() if not k.startswith("fc.")}


def test_a_new_head_left_unloaded_only_warns_in_error_mode(error_guard):
    model = Classifier(classes=3)
    with pytest.warns(GuardWarning) as record:
        result = model.load_state_dict(_new_head_checkpoint(), strict=False)
    assert result.missing_keys == ["fc.weight", "fc.bias"]
    (warning,) = record
    assert str(warning.message).startswith(
        "FTL201 load_state_dict(strict=False) into Classifier left 2 model keys "
        "(fc.weight, fc.bias) unloaded; every checkpoint key was loaded: those weights keep the "
        "values they had"
    )
    assert warning.filename == __file__


def test_extra_checkpoint_keys_only_warn_and_say_everything_loaded(error_guard):
    source, model = Classifier(), Classifier()
    checkpoint = dict(source.state_dict(), **{"aux.weight": torch.zeros(2)})
    with pytest.warns(GuardWarning) as record:
        model.load_state_dict(checkpoint, strict=False)
    (warning,) = record
    message = str(warning.message)
    assert message.startswith(
        "FTL201 load_state_dict(strict=False) into Classifier ignored 1 checkpoint key "
        "(aux.weight); every model key was loaded"
    )
    assert "keep" not in message  # no weight kept an old value
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values())
    )


@pytest.mark.parametrize(
    "extra", [{}, {"aux.weight": torch.zeros(2)}], ids=["missing-only", "unexpected-only"]
)
def test_strict_mode_raises_for_one_sided_loads(strict_guard, extra):
    checkpoint = dict(_new_head_checkpoint() if not extra else Classifier().state_dict(), **extra)
    with pytest.raises(GuardError, match="FTL201"):
        Classifier().load_state_dict(checkpoint, strict=False)


# Tied weights


class TiedLanguageModel(nn.Module):
    """An output layer that shares the embedding's weight, as GPT-2's lm_head does."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.body = nn.Linear(4, 4)
        self.lm_head = nn.Linear(4, 10, bias=False)
        self.lm_head.weight = self.embed.weight


def _saved_once(model: nn.Module) -> dict:
    """A checkpoint that stores a shared tensor once, as safetensors and save_pretrained do."""
    return {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}


def test_a_missing_key_tied_to_a_loaded_one_is_not_missing(strict_guard, no_warnings):
    source, model = TiedLanguageModel(), TiedLanguageModel()
    result = model.load_state_dict(_saved_once(source), strict=False)
    assert result.missing_keys == ["lm_head.weight"]  # what torch says...
    assert torch.equal(model.lm_head.weight, source.embed.weight)  # ...and what is true


def test_a_tied_key_whose_twin_is_missing_too_is_reported(error_guard):
    checkpoint = {k: v for k, v in _saved_once(TiedLanguageModel()).items() if k != "embed.weight"}
    with pytest.warns(
        GuardWarning, match=r"left 2 model keys \(embed\.weight, lm_head\.weight\) unloaded"
    ):
        TiedLanguageModel().load_state_dict(checkpoint, strict=False)


def test_an_untied_output_layer_left_unloaded_is_reported(error_guard):
    model = TiedLanguageModel()
    model.lm_head.weight = nn.Parameter(model.embed.weight.detach().clone())  # untied
    with pytest.warns(GuardWarning, match=r"left 1 model key \(lm_head\.weight\) unloaded"):
        model.load_state_dict(_saved_once(TiedLanguageModel()), strict=False)


def test_a_module_shared_under_two_names_counts_under_both(strict_guard, no_warnings):
    shared = nn.Linear(3, 3)
    model = nn.ModuleDict({"encoder": shared, "decoder": shared})
    assert list(model.state_dict()) == [
        "encoder.weight",
        "encoder.bias",
        "decoder.weight",
        "decoder.bias",
    ]
    model.load_state_dict(
        {"encoder.weight": torch.ones(3, 3), "encoder.bias": torch.ones(3)}, strict=False
    )
    assert torch.equal(model["decoder"].weight, torch.ones(3, 3))
