"""Someone else patching the functions the guard patches (a profiler, a logging library,
a test's monkeypatch): install, uninstall and install again keep theirs and ours working."""

from __future__ import annotations

import functools

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn.modules.batchnorm import SyncBatchNorm, _BatchNorm  # noqa: E402
from torch.optim import Optimizer  # noqa: E402

import ftlint.guard as guard_api  # noqa: E402
from ftlint.guard import _state  # noqa: E402


def _frozen_optimizer() -> None:
    layer = nn.Linear(2, 2)
    layer.weight.requires_grad = False
    torch.optim.SGD(layer.parameters(), lr=0.1)


def _partial_load() -> None:
    nn.Linear(2, 2).load_state_dict({"weight": torch.zeros(2, 2)}, strict=False)


def _frozen_batchnorm_forward(kind: type[nn.Module]) -> None:
    bn = kind(2)
    bn.requires_grad_(False)
    bn(torch.randn(4, 2))


# (owner, name, the code its check reports, what triggers the check)
PATCHED = {
    "add_param_group": (Optimizer, "add_param_group", "FTL101", _frozen_optimizer),
    "load_state_dict": (nn.Module, "load_state_dict", "FTL201", _partial_load),
    "BatchNorm.forward": (_BatchNorm, "forward", "FTL111", lambda: _frozen_batchnorm_forward(nn.BatchNorm1d)),
    "SyncBatchNorm.forward": (SyncBatchNorm, "forward", "FTL111", lambda: _frozen_batchnorm_forward(SyncBatchNorm)),
}


def test_every_patched_function_is_covered_here():
    guard_api.install()
    patched = {(record.owner, record.name) for record in _state.STATE.patches}
    assert patched == {(owner, name) for owner, name, _, _ in PATCHED.values()}


def _wrap(function, style: str):
    """Someone else's wrapper around ``function``, counting its calls."""

    def theirs(*args, **kwargs):
        theirs.calls += 1
        return function(*args, **kwargs)

    if style == "functools.wraps":  # copies the wrapped function's __dict__ too
        theirs = functools.wraps(function)(theirs)
    theirs.calls = 0
    return theirs


@pytest.fixture
def reports(monkeypatch):
    """The codes the checks report, one entry per report."""
    codes: list[str] = []
    monkeypatch.setattr(_state, "report", lambda code, message, **kwargs: codes.append(code))
    return codes


@pytest.fixture(params=list(PATCHED))
def target(request):
    owner, name, code, trigger = PATCHED[request.param]
    true = owner.__dict__[name]
    yield owner, name, code, trigger
    guard_api.uninstall()
    setattr(owner, name, true)


@pytest.mark.parametrize("style", ["plain", "functools.wraps"])
def test_a_wrapper_over_ours_is_kept_and_reinstalling_checks_once_without_recursion(target, style, reports):
    owner, name, code, trigger = target
    true = owner.__dict__[name]
    guard_api.install()
    theirs = _wrap(owner.__dict__[name], style)
    setattr(owner, name, theirs)
    for cycle in range(3):
        trigger()
        assert (reports, theirs.calls) == ([code], 1), f"cycle {cycle}"
        guard_api.uninstall()
        assert owner.__dict__[name] is theirs  # not clobbered
        trigger()  # ours, inside theirs, is inert
        assert (reports, theirs.calls) == ([code], 2), f"cycle {cycle}"
        guard_api.install()
        guard_api.install("warn")  # idempotent
        # One live layer of ours over theirs, whatever the number of cycles.
        assert owner.__dict__[name].__wrapped__ is theirs
        reports.clear()
        theirs.calls = 0
    guard_api.uninstall()
    assert owner.__dict__[name] is theirs
    setattr(owner, name, true)
    trigger()
    assert reports == []


def test_a_wrapper_removed_while_the_guard_is_off_brings_ours_back(target, reports):
    owner, name, code, trigger = target
    true = owner.__dict__[name]
    guard_api.install()
    ours = owner.__dict__[name]
    setattr(owner, name, _wrap(ours, "plain"))
    guard_api.uninstall()
    setattr(owner, name, ours)  # they undo their patch: ours is back, inert
    guard_api.install()
    assert owner.__dict__[name] is ours  # made live again, not wrapped again
    trigger()
    assert reports == [code]
    guard_api.uninstall()
    assert owner.__dict__[name] is true


def test_a_wrapper_added_and_removed_while_the_guard_is_on_changes_nothing(target, reports):
    owner, name, code, trigger = target
    true = owner.__dict__[name]
    guard_api.install()
    ours = owner.__dict__[name]
    theirs = _wrap(ours, "plain")
    setattr(owner, name, theirs)
    trigger()
    setattr(owner, name, ours)
    trigger()
    assert (reports, theirs.calls) == ([code, code], 1)
    guard_api.uninstall()
    assert owner.__dict__[name] is true


def test_a_load_state_dict_patched_to_return_nothing_still_loads_under_the_guard():
    true = nn.Module.__dict__["load_state_dict"]

    def returns_nothing(self, state_dict, strict=True, assign=False):
        true(self, state_dict, strict, assign)

    nn.Module.load_state_dict = returns_nothing
    try:
        source, layer = nn.Linear(2, 2), nn.Linear(2, 2)
        with guard_api.guard("error"), pytest.warns(RuntimeWarning, match="_check failed and was skipped"):
            assert layer.load_state_dict(source.state_dict(), strict=False) is None
        assert torch.equal(layer.weight, source.weight)
    finally:
        nn.Module.load_state_dict = true
