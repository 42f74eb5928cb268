"""The guard in every Python process of a run, the way coverage.py measures subprocesses.

``ftlint run`` sets ``FTLINT_GUARD=mode[:codes to allow]`` (``error``, ``warn:FTL111``)
in the environment of what it runs. The ``ftlint-guard.pth`` file that ftlint installs
in site-packages (setup.py writes it) makes every Python process of the environment
call ``start()`` when the variable is set: torchrun's workers, ``accelerate launch``'s,
a child ``python`` started by the script. Without the variable a process pays for one
environment lookup (about 20 microseconds with site.py reading the file) and imports
nothing of ftlint.

``start()`` does not import torch: the guard is installed just after the process itself
imports torch. Importing torch at startup would cost every process of the run (the
launcher, helper scripts, compile workers) a second or more, and would run before the
script's first lines, which often set environment variables that torch reads at import.
Installing on torch's import also covers torchrun's own launcher process, which starts
with the variable too: it builds no model, so its guard finds nothing.

``FTLINT_GUARD_SEEN`` names a directory where each guarded process leaves a file, so
``ftlint run`` can tell when no process of a command was guarded (say, torchrun came from
an environment without ftlint) instead of passing silently.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable
from typing import Any

VARIABLE = "FTLINT_GUARD"
SEEN_VARIABLE = "FTLINT_GUARD_SEEN"


def encode(mode: str, allow: Iterable[str]) -> str:
    codes = ",".join(sorted(allow))
    return f"{mode}:{codes}" if codes else mode


def decode(value: str) -> tuple[str, frozenset[str]]:
    """``(mode, allowed codes)`` from the variable's value; ValueError if it is not valid."""
    from ftlint.guard._state import check_config

    mode, _, codes = value.partition(":")
    return mode, check_config(mode, codes)


def mark_guarded() -> None:
    """Leave this process's file in ``FTLINT_GUARD_SEEN``, if ``ftlint run`` asked for it."""
    seen = os.environ.get(SEEN_VARIABLE)
    if seen:
        try:
            open(os.path.join(seen, str(os.getpid())), "w").close()
        except OSError:  # ftlint run has already ended: nobody is asking any more
            pass


class _Armed:
    """What ``start()`` put in place, for ``disarm()`` to take back."""

    def __init__(self) -> None:
        self.finder: _InstallAfterTorch | None = None
        self.hooks: tuple[Any, Any] | None = None  # the excepthook and showwarning before


_armed: _Armed | None = None


def start() -> None:
    """Guard this process as ``FTLINT_GUARD`` says, from torch's import on. Runs once:
    site.py may process a .pth file twice (it does in some virtual environments)."""
    global _armed
    if _armed is not None:
        return
    _armed = _Armed()
    value = os.environ[VARIABLE]
    try:
        mode, allow = decode(value)
    except ValueError as exc:
        print(f"ftlint: {VARIABLE}={value!r} ignored: {exc}", file=sys.stderr)
        return
    from ftlint.guard import runner

    _armed.hooks = sys.excepthook, warnings.showwarning
    sys.excepthook = runner.print_guard_errors(sys.excepthook)
    warnings.showwarning = runner.show_guard_warnings(warnings.showwarning)
    if "torch" in sys.modules:
        _install(mode, allow)
    else:
        _armed.finder = _InstallAfterTorch(mode, allow)
        sys.meta_path.insert(0, _armed.finder)


def disarm() -> None:
    """Undo ``start()`` in a process that installs the guard itself (``ftlint run
    train.py`` started with the variable set, as torchrun's workers are): its own mode
    and allowed codes win, and the guard is not installed twice."""
    global _armed
    if _armed is None:
        return
    if _armed.finder in sys.meta_path:
        sys.meta_path.remove(_armed.finder)
    if _armed.hooks is not None:
        sys.excepthook, warnings.showwarning = _armed.hooks
    _armed = None


def _install(mode: str, allow: frozenset[str]) -> None:
    from ftlint import guard
    from ftlint.guard import runner

    try:
        guard.install(mode, allow, hint=runner.hint)
    except Exception as exc:  # the user's run matters more than the guard
        message = f"ftlint: the guard could not be installed ({type(exc).__name__}: {exc})"
        print(message, file=sys.stderr)
        return
    mark_guarded()


class _InstallAfterTorch:
    """A meta path finder that sees ``import torch`` coming and installs the guard as
    soon as torch's ``__init__`` has run, before the importer gets the module."""

    def __init__(self, mode: str, allow: frozenset[str]) -> None:
        self.mode, self.allow = mode, allow

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "torch":
            return None
        # The spec the other finders give, as the import system would get it. A
        # find_spec("torch") that only asks whether torch is there (transformers does)
        # gets a spec that is never loaded: the finder stays until one is.
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and "exec_module" not in vars(spec.loader):
                    self._install_after(spec.loader)
                return spec
        return None

    def _install_after(self, loader: Any) -> None:
        load = loader.exec_module

        def exec_then_install(module: Any) -> None:
            del loader.exec_module  # the loader's own method again
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            load(module)
            _install(self.mode, self.allow)

        # On the loader itself rather than a wrapper: torch.__loader__ stays torch's.
        loader.exec_module = exec_then_install
