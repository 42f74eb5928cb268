"""Checks that must still run for models overriding torch's methods with an older
signature, and for many threads building and stepping optimizers at once."""

from __future__ import annotations

import sys
import threading
import warnings

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import ftlint.guard as guard_api  # noqa: E402
from tests.guard.models import Classifier, freeze  # noqa: E402

GuardError = guard_api.GuardError


class OldSignature(nn.Module):
    """``named_parameters`` as torch had it before ``remove_duplicate`` (and as some
    libraries still override it)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def named_parameters(self, prefix="", recurse=True):
        return super().named_parameters(prefix=prefix, recurse=recurse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _step(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    opt.zero_grad()
    model(torch.randn(2, 4)).sum().backward()
    opt.step()


def test_frozen_parameters_of_a_model_built_before_install_are_named(no_warnings):
    model = OldSignature()  # unknown to the registry: named from the heap
    freeze(model.body)
    with guard_api.guard("strict"), pytest.raises(GuardError, match=r"FTL101 .*: body\.weight, body\.bias;"):
        torch.optim.SGD(model.parameters(), lr=0.1)


def test_another_live_model_with_the_old_signature_does_not_stop_the_check(no_warnings):
    # Both unknown to the registry, and alive while the heap is scanned for names.
    models = [OldSignature(), Classifier()]
    model = models[1]
    freeze(model.backbone)
    with guard_api.guard("strict"), pytest.raises(GuardError, match=r"FTL101 .*: backbone\.stem\.weight, "):
        torch.optim.SGD(model.parameters(), lr=0.1)


@pytest.mark.parametrize("built", ["before install", "under the guard"])
def test_a_parameter_in_no_optimizer_is_named(built, no_warnings):
    if built == "before install":
        model = OldSignature()
        opt = torch.optim.SGD(model.body.parameters(), lr=0.1)
    with guard_api.guard("error"):
        if built == "under the guard":
            model = OldSignature()
            opt = torch.optim.SGD(model.body.parameters(), lr=0.1)
        with pytest.raises(GuardError, match=r"FTL103 .* never updates head\.weight, head\.bias;"):
            _step(model, opt)


@pytest.fixture
def frequent_thread_switches():
    """Switch threads as often as the interpreter can, so that races show up."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_every_check_runs_while_many_threads_build_and_step_optimizers(frequent_thread_switches, strict_guard):
    threads, rounds = 4, 100
    # Long-lived optimizers make the scan over every optimizer at each step long.
    alive = [torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1) for _ in range(300)]
    outcomes: list[str] = []  # list.append is atomic
    start = threading.Barrier(2 * threads)

    def build_buggy_optimizers():
        start.wait()
        for _ in range(rounds):
            layer = nn.Linear(2, 2)
            layer.weight.requires_grad = False
            try:
                torch.optim.SGD(layer.parameters(), lr=0.1)
                outcomes.append("FTL101 missed")
            except GuardError as err:
                outcomes.append(err.code)

    def step_with_a_forgotten_layer():
        model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
        opt = torch.optim.SGD(model[0].parameters(), lr=0.1)
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        start.wait()
        for _ in range(rounds):
            try:
                opt.step()
                outcomes.append("FTL103 missed")
            except GuardError as err:
                outcomes.append(err.code)

    jobs = (build_buggy_optimizers, step_with_a_forgotten_layer)
    workers = [threading.Thread(target=job) for _ in range(threads) for job in jobs]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)
    assert [str(w.message) for w in caught] == []  # no check failed and was skipped
    assert sorted(set(outcomes)) == ["FTL101", "FTL103"]
    assert (outcomes.count("FTL101"), outcomes.count("FTL103")) == (threads * rounds, threads * rounds)
    assert len(alive) == 300
