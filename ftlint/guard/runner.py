"""``ftlint run``: run training under the guard, unedited.

- ``ftlint run train.py args...`` and ``ftlint run -m package.module args...`` run the
  script in this process, as ``python train.py`` and ``python -m`` would.
- ``ftlint run torchrun ...`` (any command: ``accelerate launch``, ``python``, a shell
  script) runs it with ``FTLINT_GUARD`` set, so that every Python process it starts is
  guarded from its ``import torch`` on (see ``_startup``).

In both, the script's own child processes inherit the guard through the variable.
"""

from __future__ import annotations

import functools
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from ftlint import guard
from ftlint.guard import _startup
from ftlint.guard._state import check_config


def hint(code: str) -> str:
    # In warn mode nothing stops the run: its warnings stay one short line.
    if guard.STATE.mode == "warn":
        return ""
    # True of an error and of a latent warning alike (error mode warns about those).
    return f"to allow it, run with --allow {code}; --mode warn makes every finding a warning"


def rank_prefix() -> str:
    """``[rank1]: `` in a process of a distributed job (torchrun and the launchers built
    on it set ``RANK``), so that each rank's findings say whose they are; the prefix
    torch's own excepthook puts on each line of a rank's traceback."""
    rank = os.environ.get("RANK", os.environ.get("LOCAL_RANK"))
    return f"[rank{rank}]: " if rank is not None else ""


def error_line(exc: guard.GuardError) -> str:
    where = f" ({exc.where})" if exc.where else ""
    return f"{rank_prefix()}ftlint: {exc}{where}"


def _print_line(text: str, file: Any = None) -> None:
    # One write: torchrun's workers run unbuffered (python -u), and print() writes the
    # text and its newline separately, so two ranks' lines would run into each other.
    file = file or sys.stderr
    file.write(text + "\n")
    file.flush()


def print_guard_errors(default: Any) -> Any:
    """A ``sys.excepthook`` that ends the process on a guard error with one line (the
    interpreter then exits with status 1); other exceptions as usual."""

    def hook(exc_type, exc, tb):
        if not isinstance(exc, guard.GuardError):
            default(exc_type, exc, tb)
            return
        sys.stdout.flush()  # the script's output first, as it happened
        line = error_line(exc)
        # init_process_group wraps the excepthook in one that prefixes every line with
        # the rank already.
        if getattr(sys.excepthook, "__name__", "") == "_distributed_excepthook":
            line = line.removeprefix(rank_prefix())
        _print_line(line)

    return hook


def show_guard_warnings(default: Any) -> Any:
    """A ``warnings.showwarning`` that prints guard warnings as one ``ftlint: warning:
    FTL...`` line; other warnings as usual."""

    def show(message, category, filename, lineno, file=None, line=None):
        if isinstance(message, guard.GuardWarning):
            where = f"{os.path.basename(filename)}:{lineno}"
            _print_line(f"{rank_prefix()}ftlint: warning: {message} ({where})", file)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def run_script(script: str, args: list[str], mode: str, allow: Iterable[str] = ()) -> int:
    """Run ``script`` as ``__main__`` with ``sys.argv = [script, *args]`` and the guard
    installed; return the exit code it would have had (1 for a guard error)."""
    path = os.path.abspath(script)
    if not os.path.isfile(path):
        print(f"ftlint: cannot run {script}: no such file", file=sys.stderr)
        return 2
    run = functools.partial(runpy.run_path, path, run_name="__main__")
    # sys.path[0] as python script.py sets it
    return _run_here(run, script, [script, *args], os.path.dirname(path), mode, allow)


def run_module(module: str, args: list[str], mode: str, allow: Iterable[str] = ()) -> int:
    """``python -m module args...`` with the guard installed: ``sys.argv[0]`` becomes the
    module's file and ``sys.path[0]`` the current directory, as there."""
    run = functools.partial(runpy.run_module, module, run_name="__main__", alter_sys=True)
    return _run_here(run, f"-m {module}", [module, *args], os.getcwd(), mode, allow)


def _run_here(
    run: Callable[[], Any], name: str, argv: list[str], path0: str, mode: str, allow: Iterable[str]
) -> int:
    _startup.disarm()  # started with FTLINT_GUARD set (a torchrun worker): these settings win
    saved_argv, saved_path, saved_showwarning = sys.argv[:], sys.path[:], warnings.showwarning
    saved_variable = os.environ.get(_startup.VARIABLE)
    sys.argv = argv
    sys.path[0:1] = [path0]
    warnings.showwarning = show_guard_warnings(saved_showwarning)
    try:
        try:
            guard.install(mode, allow, hint=hint)
        except (ImportError, ValueError) as exc:
            print(f"ftlint: {exc}", file=sys.stderr)
            return 2
        _startup.mark_guarded()
        # The script's own Python subprocesses inherit the guard.
        os.environ[_startup.VARIABLE] = _startup.encode(mode, guard.STATE.allow)
        try:
            run()
        except guard.GuardError as exc:
            sys.stdout.flush()  # the script's output first, as it happened
            _print_line(error_line(exc))
            return 1
        except SystemExit as exc:
            return _exit_code(exc.code)
        except KeyboardInterrupt:
            _print_user_traceback()
            return 130
        except ImportError as exc:
            if not _raised_by_runpy(exc):
                _print_user_traceback()
                return 1
            print(f"ftlint: cannot run {name}: {exc}", file=sys.stderr)  # no such module, ...
            return 2
        except BaseException:
            _print_user_traceback()
            return 1
        return 0
    finally:
        guard.uninstall()
        warnings.showwarning = saved_showwarning
        sys.argv, sys.path[:] = saved_argv, saved_path
        if saved_variable is None:
            os.environ.pop(_startup.VARIABLE, None)
        else:
            os.environ[_startup.VARIABLE] = saved_variable


def run_command(command: str, args: list[str], mode: str, allow: Iterable[str] = ()) -> int:
    """Run a program (torchrun, accelerate, python, a shell script) with every Python
    process it starts guarded; return its exit code."""
    program = shutil.which(command)
    if program is None:
        print(f"ftlint: cannot run {command}: no such file or command", file=sys.stderr)
        return 2
    try:
        allow = check_config(mode, allow)
    except ValueError as exc:
        print(f"ftlint: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ftlint-guard-") as seen:
        env = dict(os.environ)
        env[_startup.VARIABLE], env[_startup.SEEN_VARIABLE] = _startup.encode(mode, allow), seen
        try:
            child = subprocess.Popen([command, *args], executable=program, env=env)
        except OSError as exc:  # not executable after all, a bad interpreter line, ...
            print(f"ftlint: cannot run {command}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        code = _wait(child)
        if not os.listdir(seen):
            print(
                f"ftlint: warning: no process of {command} imported torch with the guard on; if it "
                "trains, its Python lacks ftlint's startup hook: install ftlint in the environment "
                "it runs in",
                file=sys.stderr,
            )
    return code


def _wait(child: subprocess.Popen) -> int:
    """The child's exit status (128 + N when signal N ended it, as shells report it).
    Ctrl-C reaches the child from the terminal: ftlint waits while it shuts down (torchrun
    stops its workers); a SIGTERM sent to ftlint alone is passed on."""
    handlers = {
        signal.SIGINT: lambda signum, frame: None,
        signal.SIGTERM: lambda signum, frame: child.send_signal(signum),
    }
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code


def _exit_code(code: Any) -> int:
    # As the interpreter does: None is success, an int is the status, anything else is
    # printed and means failure.
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


# By module name: runpy is frozen (its frames' file is "<frozen runpy>").
_MACHINERY = {__name__, "runpy"}


def _raised_by_runpy(exc: BaseException) -> bool:
    """Whether runpy itself raised ``exc`` (no such module, a package without
    ``__main__``) rather than the module's code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__") == "runpy"


def _print_user_traceback() -> None:
    """The traceback Python would print: from the script's frame on, without this
    runner's and runpy's frames above it."""
    exc_type, exc, tb = sys.exc_info()
    start = tb
    while start is not None and start.tb_frame.f_globals.get("__name__") in _MACHINERY:
        start = start.tb_next
    traceback.print_exception(exc_type, exc, start or tb, file=sys.stderr)
