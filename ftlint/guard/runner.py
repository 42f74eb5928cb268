"""``ftlint run script.py args...``: run a training script with the guard installed,
as ``python script.py args...`` would, so it can be tried on a real run unedited."""

from __future__ import annotations

import os
import runpy
import sys
import traceback
import warnings
from collections.abc import Iterable
from typing import Any

from ftlint import guard


def _hint(code: str) -> str:
    # In warn mode nothing stops the run: its warnings stay one short line.
    if guard.STATE.mode != "error":
        return ""
    return f"to allow it, run with --allow {code}; to only warn, with --mode warn"


def run_script(script: str, args: list[str], mode: str, allow: Iterable[str] = ()) -> int:
    """Run ``script`` as ``__main__`` with ``sys.argv = [script, *args]`` and the guard
    installed; return the exit code it would have had (1 for a guard error)."""
    path = os.path.abspath(script)
    if not os.path.isfile(path):
        print(f"ftlint: cannot run {script}: no such file", file=sys.stderr)
        return 2
    saved_argv, saved_path, saved_showwarning = sys.argv[:], sys.path[:], warnings.showwarning
    sys.argv = [script, *args]
    sys.path[0:1] = [os.path.dirname(path)]  # as python script.py sets it
    warnings.showwarning = _show_guard_warning(saved_showwarning)
    try:
        try:
            guard.install(mode, allow, hint=_hint)
        except (ImportError, ValueError) as exc:
            print(f"ftlint: {exc}", file=sys.stderr)
            return 2
        try:
            runpy.run_path(path, run_name="__main__")
        except guard.GuardError as exc:
            where = f" ({exc.where})" if exc.where else ""
            sys.stdout.flush()  # the script's output first, as it happened
            print(f"ftlint: {exc}{where}", file=sys.stderr)
            return 1
        except SystemExit as exc:
            return _exit_code(exc.code)
        except KeyboardInterrupt:
            _print_user_traceback(path)
            return 130
        except BaseException:
            _print_user_traceback(path)
            return 1
        return 0
    finally:
        guard.uninstall()
        warnings.showwarning = saved_showwarning
        sys.argv, sys.path[:] = saved_argv, saved_path


def _exit_code(code: Any) -> int:
    # As the interpreter does: None is success, an int is the status, anything else is
    # printed and means failure.
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_user_traceback(script: str) -> None:
    """The traceback Python would print: from the script's frame on, without this
    runner's and runpy's frames above it."""
    exc_type, exc, tb = sys.exc_info()
    start = tb
    while start is not None and start.tb_frame.f_code.co_filename != script:
        start = start.tb_next
    traceback.print_exception(exc_type, exc, start or tb, file=sys.stderr)


def _show_guard_warning(default: Any) -> Any:
    """Print guard warnings as one ``ftlint: warning: FTL...`` line; others as usual."""

    def show(message, category, filename, lineno, file=None, line=None):
        if isinstance(message, guard.GuardWarning):
            print(f"ftlint: warning: {message} ({os.path.basename(filename)}:{lineno})", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show
