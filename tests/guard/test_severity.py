"""Severity that matches the harm: error mode raises for bugs that change training now and
warns about latent risks, strict mode raises for both, warn mode only warns.

FTL101 (frozen parameters given to an optimizer) and FTL102 (a step that moves frozen
weights): closures, LBFGS, optimizers that update parameters without a gradient.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import ftlint.guard as guard_api  # noqa: E402
from ftlint.guard import _optimizers, _state  # noqa: E402
from tests.guard.models import Classifier, freeze, mlp, moved, snapshot, train_step  # noqa: E402

GuardError = guard_api.GuardError
GuardWarning = guard_api.GuardWarning


def _frozen_backbone() -> Classifier:
    model = Classifier()
    freeze(model.backbone)
    return model


def _trained_then_frozen() -> Classifier:
    """A model that trained, then had its backbone frozen: the backbone's .grad is still there."""
    model = Classifier()
    train_step(model, torch.optim.SGD(model.parameters(), lr=0.1))
    freeze(model.backbone)
    return model


def _guard_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, GuardWarning)]


# The modes


@pytest.mark.parametrize("mode", ["error", "warn", "strict"])
def test_every_mode_is_accepted(mode):
    with guard_api.guard(mode):
        assert _state.STATE.mode == mode


def test_an_unknown_mode_names_the_three():
    with pytest.raises(ValueError, match="must be 'error', 'warn' or 'strict', not 'loud'"):
        guard_api.install("loud")
    assert not guard_api.installed()


def test_error_is_the_default_mode():
    guard_api.install()
    assert _state.STATE.mode == "error"


# FTL101: latent unless a frozen parameter already holds a gradient


def test_error_mode_warns_about_latent_frozen_parameters_once_per_optimizer(error_guard):
    model = _frozen_backbone()
    with pytest.warns(GuardWarning) as record:
        opt = torch.optim.SGD([{"params": model.backbone.stem.parameters()}], lr=0.1)
        opt.add_param_group({"params": model.backbone.layer1.parameters()})  # frozen too
        opt.add_param_group({"params": model.fc.parameters()})
        for _ in range(2):
            train_step(model, opt)
    (message,) = _guard_warnings(record)
    assert message.startswith(
        "FTL101 SGD was given 2 parameters (112 values) with requires_grad=False: "
        "backbone.stem.weight, backbone.stem.bias; latent for now: none of them holds a .grad"
    )
    assert record[0].filename == __file__


def test_each_optimizer_warns_for_itself(error_guard):
    model = _frozen_backbone()
    with pytest.warns(GuardWarning) as record:
        torch.optim.SGD(model.backbone.stem.parameters(), lr=0.1)
        torch.optim.Adam(model.backbone.stem.parameters(), lr=0.1)
    assert [m.split(" was given")[0] for m in _guard_warnings(record)] == [
        "FTL101 SGD",
        "FTL101 Adam",
    ]


def test_strict_mode_raises_for_the_latent_risk(strict_guard):
    with pytest.raises(GuardError, match=r"FTL101 SGD was given 8 parameters .* latent for now"):
        torch.optim.SGD(_frozen_backbone().parameters(), lr=0.1)


def test_a_new_optimizer_after_freezing_a_model_that_trained_is_an_error(error_guard):
    model = _trained_then_frozen()
    with pytest.raises(GuardError) as caught:
        torch.optim.AdamW(model.parameters(), lr=0.1)
    message = caught.value.message
    assert caught.value.code == "FTL101"
    assert message.startswith(
        "AdamW was given 8 parameters (416 values) with requires_grad=False, and 8 parameters "
        "(416 values) of them already hold a .grad: backbone.stem.weight, backbone.stem.bias,"
    )
    assert "unless those gradients are cleared first the next step applies them" in message
    assert caught.value.where.startswith("test_severity.py:")


def test_what_the_error_says_happens_without_the_guard():
    model = _trained_then_frozen()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    before = snapshot(model.backbone.parameters())
    opt.step()  # the stale gradients of the frozen backbone are applied
    assert moved(before, model.backbone.parameters())


def test_clearing_the_gradients_when_freezing_makes_it_latent(error_guard):
    model = _trained_then_frozen()
    for p in model.backbone.parameters():
        p.grad = None
    with pytest.warns(GuardWarning, match="FTL101 .* latent for now"):
        torch.optim.AdamW(model.parameters(), lr=0.1)


def test_warn_mode_never_raises_for_the_active_bug(warn_guard):
    with pytest.warns(GuardWarning, match="FTL101 .* already hold a .grad"):
        torch.optim.AdamW(_trained_then_frozen().parameters(), lr=0.1)


# FTL102 with a closure: judged once the closure has run


def _closure(model, opt, set_to_none=True):
    def closure():
        opt.zero_grad(set_to_none=set_to_none)
        x, y = torch.randn(4, 3, 6, 6), torch.randint(0, 3, (4,))
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    return closure


def _frozen_mid_training(optimizer=torch.optim.SGD, **options):
    """Trained, then the backbone frozen: it holds stale gradients when the next step starts."""
    model = Classifier()
    opt = optimizer(model.parameters(), **options)
    opt.step(_closure(model, opt))
    freeze(model.backbone)
    assert all(p.grad is not None for p in model.backbone.parameters())
    return model, opt


@pytest.mark.parametrize("mode", ["error", "strict"])
@pytest.mark.parametrize("keyword", [True, False], ids=["closure=", "positional"])
def test_a_closure_that_clears_the_stale_gradients_is_not_reported(mode, keyword, no_warnings):
    with guard_api.guard(mode):
        model, opt = _frozen_mid_training(lr=0.1, momentum=0.9, weight_decay=0.01)
        before = snapshot(model.backbone.parameters())
        for _ in range(3):
            opt.step(closure=_closure(model, opt)) if keyword else opt.step(_closure(model, opt))
    assert not moved(before, model.backbone.parameters())


def test_a_closure_that_keeps_the_stale_gradients_is_caught_before_the_update(error_guard):
    model, opt = _frozen_mid_training(lr=0.1, momentum=0.9)
    before = snapshot(model.backbone.parameters())
    with pytest.raises(GuardError, match="FTL102 SGD.step.. is about to update 8 parameters"):
        opt.step(_closure(model, opt, set_to_none=False))
    assert not moved(before, model.backbone.parameters())  # the update did not happen


def test_a_closure_is_judged_once_per_step_even_when_called_again(error_guard, monkeypatch):
    judged = []
    monkeypatch.setattr(_optimizers, "_check_frozen", lambda opt, info: judged.append(opt))
    model = mlp()
    opt = torch.optim.LBFGS(model.parameters(), max_iter=5)

    def closure():
        opt.zero_grad()
        loss = model(torch.randn(8, 6)).pow(2).mean()
        loss.backward()
        calls.append(1)
        return loss

    calls = []
    opt.step(closure)
    assert len(calls) > 1 and judged == [opt]


# FTL102: frozen weights that step() moves without a gradient


def _lbfgs_frozen(after_training: bool):
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    x, y = torch.randn(64, 3), torch.randn(64, 1)
    if not after_training:
        model[0].requires_grad_(False)
    opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=20)

    def closure():
        opt.zero_grad()  # set_to_none: the frozen layer has no .grad
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    if after_training:
        model[0].requires_grad_(False)
    return model, opt, closure


def test_lbfgs_moves_weights_frozen_after_training_through_its_history(error_guard):
    model, opt, closure = _lbfgs_frozen(after_training=True)
    before = snapshot(model[0].parameters())
    with pytest.raises(GuardError) as caught:
        for _ in range(3):
            opt.step(closure)
    message = caught.value.message
    assert message.startswith(
        "LBFGS.step() moved 2 parameters (32 values) with requires_grad=False and no .grad: "
    )
    assert "0.weight, 0.bias" in message and "LBFGS's history" in message
    assert moved(before, model[0].parameters())  # as reported: they did move


def test_lbfgs_leaves_weights_frozen_from_the_start_alone(no_warnings):
    with guard_api.guard("error", allow=["FTL101"]):
        model, opt, closure = _lbfgs_frozen(after_training=False)
        before = snapshot(model[0].parameters())
        for _ in range(3):
            opt.step(closure)
    assert not moved(before, model[0].parameters())


class DecayEverything(torch.optim.Optimizer):
    """Decoupled weight decay on every parameter, gradient or not (as Muon once did)."""

    def __init__(self, params, lr=0.1, weight_decay=0.1):
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.mul_(1 - group["lr"] * group["weight_decay"])
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])


def test_an_optimizer_that_decays_frozen_weights_without_a_gradient_is_caught(error_guard):
    model = _frozen_backbone()
    with pytest.warns(GuardWarning, match="FTL101 DecayEverything .* latent for now"):
        opt = DecayEverything(model.parameters())
    before = snapshot(model.backbone.parameters())
    with pytest.raises(GuardError) as caught:
        for _ in range(3):
            train_step(model, opt)
    message = caught.value.message
    assert caught.value.code == "FTL102"
    # The BatchNorm biases are zeros, which decay leaves as they are.
    assert message.startswith(
        "DecayEverything.step() moved 6 parameters (408 values) with requires_grad=False "
        "and no .grad: "
    )
    assert "backbone.stem.weight" in message
    assert moved(before, model.backbone.parameters())
    # The next optimizer of that kind given frozen parameters is an error at once.
    with pytest.raises(
        GuardError, match="FTL101 DecayEverything .* updates parameters that have no gradient"
    ):
        DecayEverything(_frozen_backbone().parameters())


def test_warn_mode_warns_once_about_frozen_weights_moving(warn_guard):
    model = _frozen_backbone()
    with pytest.warns(GuardWarning) as record:
        opt = DecayEverything(model.parameters())
        for _ in range(6):
            train_step(model, opt)
    assert [m.split(" ")[1] for m in _guard_warnings(record)] == [
        "DecayEverything",
        "DecayEverything.step()",
    ]


def test_an_optimizer_that_writes_frozen_weights_without_moving_them_is_quiet(
    error_guard, monkeypatch
):
    model = _frozen_backbone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GuardWarning)  # the latent FTL101
        opt = DecayEverything(model.parameters(), weight_decay=0.0)  # multiplies by 1.0
    compared = []
    real_isclose = torch.isclose
    monkeypatch.setattr(
        torch, "isclose", lambda *a, **k: compared.append(1) or real_isclose(*a, **k)
    )
    before = snapshot(model.backbone.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(5):
            train_step(model, opt)
    assert not moved(before, model.backbone.parameters())
    assert len(compared) == 8  # each written parameter compared once, at one step


def test_frozen_parameters_that_step_never_writes_are_never_copied(error_guard, monkeypatch):
    # PEFT's documented AdamW(model.parameters()): most parameters frozen, none written.
    model = _frozen_backbone()
    with pytest.warns(GuardWarning, match="FTL101"):
        opt = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    copies = []
    real_clone = torch.Tensor.clone
    monkeypatch.setattr(
        torch.Tensor, "clone", lambda self, *a, **k: copies.append(1) or real_clone(self, *a, **k)
    )
    for _ in range(5):
        train_step(model, opt)
    assert copies == []
    assert _optimizers._infos.get(opt).written == set()


def _torch_optimizers() -> list[type]:
    return [
        kind
        for kind in vars(torch.optim).values()
        if isinstance(kind, type)
        and issubclass(kind, torch.optim.Optimizer)
        and kind is not torch.optim.Optimizer
    ]


@pytest.mark.parametrize("kind", _torch_optimizers(), ids=lambda kind: kind.__name__)
def test_which_of_torchs_optimizers_write_a_parameter_without_a_gradient(kind):
    # The guard watches every optimizer's frozen parameters for writes but torch's own,
    # which skip a parameter without .grad: all of them except LBFGS.
    frozen = nn.Parameter(torch.ones(3, 3), requires_grad=False)
    trained = nn.Parameter(torch.ones(3, 3))
    options = {"weight_decay": 0.1} if "weight_decay" in kind.__init__.__code__.co_varnames else {}
    opt = kind([frozen, trained], lr=0.1, **options)

    def closure():
        opt.zero_grad()
        loss = trained.pow(2).sum()
        loss.backward()
        if kind is torch.optim.SparseAdam:
            trained.grad = trained.grad.to_sparse()
        return loss

    version = frozen._version
    opt.step(closure)
    assert (frozen._version != version) == (kind is torch.optim.LBFGS)
    assert _optimizers._skips_gradless(kind) == (kind is not torch.optim.LBFGS)
