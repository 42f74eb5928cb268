"""Shared fixtures for the runtime guard's tests (the models live in models.py).

No torch import here: without torch every test module skips itself, and a conftest that
skipped would stop the whole run instead.
"""

from __future__ import annotations

import warnings

import pytest

import ftlint.guard as guard_api


@pytest.fixture(autouse=True)
def _fresh_guard():
    """Every test starts and ends without the guard, whatever it did, and with fixed seeds."""
    import torch

    guard_api.uninstall()
    torch.manual_seed(0)
    yield
    guard_api.uninstall()


@pytest.fixture
def strict_guard():
    """Raises for latent risks too: every finding but FTL111 is an error."""
    with guard_api.guard("strict"):
        yield guard_api


@pytest.fixture
def error_guard():
    """The default mode: raises for active bugs, warns about latent risks."""
    with guard_api.guard("error"):
        yield guard_api


@pytest.fixture
def warn_guard():
    with guard_api.guard("warn"):
        yield guard_api


@pytest.fixture
def no_warnings():
    """Fail the test if anything (a guard warning included) warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
