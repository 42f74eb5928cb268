"""ftlint's runtime guard: hook PyTorch while a test or a training script runs, and
fail loudly when fine-tuning goes silently wrong.

    import ftlint.guard
    with ftlint.guard.guard(mode="error", allow=("FTL111",)):
        train()

Importing this package does not import torch; ``install()`` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

from ftlint.guard._state import (
    CODES,
    STATE,
    TORCH_MISSING,
    GuardError,
    GuardWarning,
    check_config,
    default_hint,
    unpatch,
)

__all__ = ["CODES", "GuardError", "GuardWarning", "guard", "install", "installed", "uninstall"]


def install(mode: str = "error", allow: Iterable[str] = (), *, hint: Callable[[str], str] | None = None) -> None:
    """Install the guard, or change its mode and allowed codes if it is installed.

    ``mode="error"`` raises ``GuardError`` for a bug that changes training now and emits
    ``GuardWarning`` for a latent risk; ``mode="warn"`` only warns; ``mode="strict"``
    raises for latent risks too. ``allow`` takes codes (``"FTL101"``) that are not
    checked. ``hint(code)`` tells how to allow a code in the caller's setting (pytest,
    ``ftlint run``), for the messages.
    """
    codes = check_config(mode, allow)
    if not STATE.installed:
        try:
            import torch
        except ImportError:
            raise ImportError(
                f"ftlint's runtime guard {TORCH_MISSING}"
            ) from None
        _install_checks()
    STATE.mode, STATE.allow, STATE.hint = mode, codes, hint or default_hint


def _install_checks() -> None:
    from ftlint.guard import _batchnorm, _loading, _optimizers, _registry

    try:
        for check in (_registry, _optimizers, _loading, _batchnorm):
            check.install()
    except BaseException:
        uninstall()
        raise
    STATE.installed = True


def uninstall() -> None:
    """Restore every patched function (but one that someone patched again after us) and
    remove every hook. Safe to call twice."""
    for handle in reversed(STATE.handles):
        handle.remove()
    unpatch()
    STATE.handles.clear()
    STATE.warned.clear()
    STATE.moves_without_grad.clear()
    STATE.installed = False


def installed() -> bool:
    return STATE.installed


@contextlib.contextmanager
def guard(
    mode: str = "error", allow: Iterable[str] = (), *, hint: Callable[[str], str] | None = None
) -> Iterator[None]:
    """Run a block with the guard installed; on exit, restore the state before it
    (uninstalled, or installed with the outer mode and allowed codes)."""
    previous = (STATE.installed, STATE.mode, STATE.allow, STATE.hint)
    install(mode, allow, hint=hint)
    try:
        yield
    finally:
        if previous[0]:
            STATE.mode, STATE.allow, STATE.hint = previous[1:]
        else:
            uninstall()
