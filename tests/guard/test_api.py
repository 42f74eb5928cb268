"""install/uninstall/guard(): cheap to import, harmless to repeat, leaves nothing behind."""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import weakref

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn.modules import module as module_hooks  # noqa: E402
from torch.nn.modules.batchnorm import SyncBatchNorm, _BatchNorm  # noqa: E402
from torch.optim import Optimizer  # noqa: E402
from torch.optim import optimizer as optimizer_hooks  # noqa: E402

import ftlint.guard as guard_api  # noqa: E402
from ftlint.guard import _optimizers, _state  # noqa: E402
from tests.guard.models import Classifier, freeze, train_step  # noqa: E402

GuardError = guard_api.GuardError


def _patched_and_hooks():
    return (
        Optimizer.__dict__["add_param_group"],
        nn.Module.__dict__["load_state_dict"],
        _BatchNorm.__dict__["forward"],
        SyncBatchNorm.__dict__["forward"],
        len(optimizer_hooks._global_optimizer_pre_hooks),
        len(module_hooks._global_module_registration_hooks),
        len(module_hooks._global_parameter_registration_hooks),
    )


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


def test_importing_the_guard_and_its_plugins_does_not_import_torch():
    result = _python(
        "import sys, ftlint, ftlint.guard, ftlint.guard.runner, ftlint.pytest_plugin\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    assert result.returncode == 0, result.stderr


def test_without_torch_install_says_how_to_get_it():
    result = _python(
        "import sys; sys.modules['torch'] = None\n"
        "import ftlint.guard\n"
        "try:\n    ftlint.guard.install()\n"
        "except ImportError as e:\n    print(e)\n"
    )
    assert "pip install torch" in result.stdout, result.stderr


def test_uninstall_restores_every_function_and_removes_every_hook():
    before = _patched_and_hooks()
    guard_api.install()
    during = _patched_and_hooks()
    assert all(a is not b for a, b in zip(before[:4], during[:4]))
    assert during[4:] == tuple(n + 1 for n in before[4:])
    guard_api.uninstall()
    after = _patched_and_hooks()
    assert all(a is b for a, b in zip(before[:4], after[:4]))
    assert after[4:] == before[4:]
    guard_api.uninstall()  # twice is harmless
    assert not guard_api.installed()


def test_installing_twice_is_harmless_and_only_changes_the_settings():
    before = _patched_and_hooks()
    guard_api.install("error")
    first = _patched_and_hooks()
    guard_api.install("warn", allow=["FTL111"])
    assert _patched_and_hooks() == first  # nothing wrapped twice
    assert (_state.STATE.mode, _state.STATE.allow) == ("warn", frozenset({"FTL111"}))
    model = Classifier()
    freeze(model.backbone)
    with pytest.warns(guard_api.GuardWarning) as record:
        torch.optim.SGD(model.parameters(), lr=0.1)
    assert len(record) == 1
    guard_api.uninstall()
    assert _patched_and_hooks() == before


def test_guard_blocks_nest_and_restore_the_outer_settings():
    with guard_api.guard("warn"):
        with guard_api.guard("error", allow=["FTL201"]):
            assert (_state.STATE.mode, _state.STATE.allow) == ("error", frozenset({"FTL201"}))
        assert (_state.STATE.mode, _state.STATE.allow) == ("warn", frozenset())
        assert guard_api.installed()
    assert not guard_api.installed()


@pytest.mark.parametrize("kwargs", [{"mode": "loud"}, {"allow": ["FTL999"]}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        guard_api.install(**kwargs)
    assert not guard_api.installed()


def test_codes_can_be_given_as_one_string():
    with guard_api.guard("error", allow="ftl101, FTL111"):
        assert _state.STATE.allow == {"FTL101", "FTL111"}


def test_the_guard_keeps_no_model_or_optimizer_alive(strict_guard):
    model = Classifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train_step(model, opt)  # the step check has looked at the model
    model_ref, opt_ref = weakref.ref(model), weakref.ref(opt)
    del model, opt
    gc.collect()
    assert model_ref() is None and opt_ref() is None


def test_no_state_grows_with_the_number_of_steps(warn_guard):
    model = Classifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.fc = nn.Linear(4, 3)
    with pytest.warns(guard_api.GuardWarning):
        train_step(model, opt)
        sizes = (len(_state.STATE.warned), len(_optimizers._infos))
        for _ in range(20):
            train_step(model, opt)
    assert (len(_state.STATE.warned), len(_optimizers._infos)) == sizes


def test_guard_errors_and_warnings_carry_their_code_and_pickle():
    err = pickle.loads(pickle.dumps(GuardError("FTL101", "message", "train.py:3")))
    assert (err.code, err.message, err.where, str(err)) == ("FTL101", "message", "train.py:3", "FTL101 message")
    warning = pickle.loads(pickle.dumps(guard_api.GuardWarning("FTL111", "message")))
    assert isinstance(warning, UserWarning) and warning.code == "FTL111"


def test_a_bug_in_a_check_never_breaks_training(strict_guard, monkeypatch):
    def broken(*args):
        raise KeyError("boom")

    monkeypatch.setattr(_optimizers, "_orphans", broken)
    model = Classifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(RuntimeWarning, match=r"ftlint guard: _before_update failed and was skipped \(KeyError"):
        train_step(model, opt)
        train_step(model, opt)
