"""Errors and warnings point at the user's line, not at the installed library (Lightning,
PEFT, transformers) that called torch for the user, nor at the guard or torch."""

from __future__ import annotations

import os
import sysconfig

import pytest

torch = pytest.importorskip("torch")

import ftlint.guard as guard_api  # noqa: E402
from tests.guard.models import Classifier, freeze, train_step  # noqa: E402

LIBRARY_CODE = """
import torch


def build_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.1)
"""


def _installed_library(directory: str = sysconfig.get_paths()["purelib"]):
    """A module whose code, as its frames tell, lives where pip installs libraries, by
    default site-packages (nothing is written there)."""
    filename = os.path.join(directory, "some_trainer_library", "optim.py")
    namespace: dict = {}
    exec(compile(LIBRARY_CODE, filename, "exec"), namespace)
    return namespace["build_optimizer"], filename


def _trained_then_frozen() -> Classifier:
    model = Classifier()
    train_step(model, torch.optim.SGD(model.parameters(), lr=0.1))
    freeze(model.backbone)  # its .grad from training is still there
    return model


def test_an_error_raised_inside_a_library_points_at_the_users_call(error_guard):
    build_optimizer, _ = _installed_library()
    model = _trained_then_frozen()
    with pytest.raises(guard_api.GuardError) as caught:
        build_optimizer(model)
    line = caught.traceback[0].lineno + 1  # the line of build_optimizer(model) above
    assert caught.value.where == f"test_locations.py:{line}"


def test_a_warning_raised_inside_a_library_points_at_the_users_call(warn_guard):
    build_optimizer, library_file = _installed_library()
    with pytest.warns(guard_api.GuardWarning, match="FTL101") as record:
        build_optimizer(_trained_then_frozen())
    assert record[0].filename == __file__
    assert record[0].filename != library_file


def test_a_library_installed_with_pip_install_target_counts_as_installed(tmp_path, monkeypatch):
    # `pip install --target DIR` and PYTHONPATH=DIR: DIR holds the packages' .dist-info.
    (tmp_path / "some_trainer_library-1.0.dist-info").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    build_optimizer, _ = _installed_library(str(tmp_path))
    with guard_api.guard("warn"), pytest.warns(guard_api.GuardWarning, match="FTL101") as record:
        build_optimizer(_trained_then_frozen())
    assert record[0].filename == __file__
