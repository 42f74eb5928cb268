"""The guard's global state, its error and warning types, and how a check reports.

Nothing here imports torch: ``import ftlint.guard`` must stay cheap, and the pytest
plugin imports this in every run where it is enabled.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CODES = {
    "FTL101": "frozen parameter given to an optimizer",
    "FTL102": "optimizer step with a frozen parameter that still has a gradient",
    "FTL103": "trainable parameter with a gradient that no optimizer holds",
    "FTL111": "frozen BatchNorm layer updating its running statistics",
    "FTL201": "non-strict load_state_dict with missing or unexpected keys",
}
# error: raise when a bug is active (it changes training now), warn about latent risks;
# warn: warn about everything; strict: raise for latent risks too.
MODES = ("error", "warn", "strict")


class GuardError(Exception):
    """A fine-tuning bug caught at run time; ``code`` is the ftlint code (``FTL101``)."""

    def __init__(self, code: str, message: str, where: str | None = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.where = where  # "file.py:12", the user's line that triggered the check

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message, self.where))


GuardError.__module__ = "ftlint.guard"  # as users import and see it


class GuardWarning(UserWarning):
    """The warning form of a guard finding (``mode="warn"``, and FTL111 always)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message))


GuardWarning.__module__ = "ftlint.guard"


def default_hint(code: str) -> str:
    return f"to accept it, pass allow=['{code}'] to ftlint.guard.install() or guard()"


class Patch:
    """``owner.name``, which held ``original`` when the guard put ``replacement`` there.

    A replacement must do nothing but call ``original`` unless ``live``: when someone else
    replaced the function after us, uninstalling leaves their replacement, and so ours
    inside their chain, in place, and ours must then be inert.
    """

    __slots__ = ("live", "name", "original", "owner", "replacement")

    def __init__(self, owner: Any, name: str, original: Any) -> None:
        self.owner, self.name, self.original = owner, name, original
        self.replacement: Any = None
        self.live = False


@dataclass
class State:
    installed: bool = False
    mode: str = "error"
    allow: frozenset[str] = frozenset()
    hint: Callable[[str], str] = default_hint
    patches: list[Patch] = field(default_factory=list)  # the functions this install replaced
    handles: list[Any] = field(default_factory=list)  # torch RemovableHandles
    # Messages already warned about: one warning per problem, not one per step. It
    # only grows with the number of distinct problems, never with the number of steps.
    warned: set[str] = field(default_factory=set)
    # Optimizer classes seen moving a frozen parameter that had no gradient (FTL102):
    # for them, a frozen parameter is an active bug, not a latent one (FTL101).
    moves_without_grad: weakref.WeakSet[type] = field(default_factory=weakref.WeakSet)


STATE = State()


# How to get torch when it is missing: the CPU build from PyTorch's index, since a plain
# `pip install torch` from PyPI pulls several gigabytes of CUDA wheels on Linux.
TORCH_MISSING = (
    "needs PyTorch, which is not installed: pip install torch --index-url "
    "https://download.pytorch.org/whl/cpu (the CPU build; plain PyPI pulls CUDA wheels on Linux)"
)


def check_config(mode: str, allow: Any) -> frozenset[str]:
    if mode not in MODES:
        raise ValueError(f"ftlint guard mode must be 'error', 'warn' or 'strict', not {mode!r}")
    # "FTL101, FTL103" arrives whole from a marker, or as ["FTL101,", "FTL103"] from an
    # ini value split on spaces: commas and spaces both separate codes.
    items = [allow] if isinstance(allow, str) else allow
    codes = frozenset(
        code.upper() for item in items for code in str(item).replace(",", " ").split()
    )
    unknown = sorted(codes - CODES.keys())
    if unknown:
        known = ", ".join(sorted(CODES))
        raise ValueError(f"unknown ftlint guard code(s) {', '.join(unknown)}; known: {known}")
    return codes


_PATCH_ATTRIBUTE = "__ftlint_guard_patch__"  # on each replacement: its Patch


def patch(owner: Any, name: str, wrap: Callable[[Any, Patch], Any]) -> None:
    """Replace ``owner.name`` with ``wrap(current, patch)`` until uninstall.

    Whatever is there now is what gets wrapped, even someone else's wrapper around an
    inert replacement of ours: each replacement calls the function it wrapped, so the
    chain ends in torch's and never loops back. An inert replacement of ours found on
    top (whoever covered it has removed their wrapper) is made live again instead.
    """
    current = owner.__dict__[name]
    record = getattr(current, _PATCH_ATTRIBUTE, None)
    # functools.wraps copies our attribute onto a wrapper of ours: it must be ours itself.
    if record is None or record.replacement is not current:
        record = Patch(owner, name, current)
        record.replacement = wrap(current, record)
        setattr(record.replacement, _PATCH_ATTRIBUTE, record)
        setattr(owner, name, record.replacement)
    record.live = True
    STATE.patches.append(record)


def unpatch() -> None:
    """Undo every patch of this install: restore the original where our replacement is
    still in place; where someone replaced it after us, keep theirs and make ours inert."""
    for record in reversed(STATE.patches):
        record.live = False
        if record.owner.__dict__.get(record.name) is record.replacement:
            setattr(record.owner, record.name, record.original)
    STATE.patches.clear()


def active(code: str) -> bool:
    """Whether a check should run at all (cheap: called on hot paths)."""
    return STATE.installed and code not in STATE.allow


def report(code: str, message: str, *, latent: bool = False, warn_only: bool = False) -> None:
    """Raise or warn about one finding, as the mode and the allow list say.

    A finding is active (it changes training now) unless ``latent`` (harmless until
    something else happens). Error mode raises for active findings, strict mode for
    latent ones too, warn mode never; a ``warn_only`` finding is always a warning.
    """
    __tracebackhide__ = True  # pytest: show the user's frames, not ours
    if not STATE.installed or code in STATE.allow:
        return
    hint = STATE.hint(code)
    text = f"{message}; {hint}" if hint else message
    raises = STATE.mode == "strict" or (STATE.mode == "error" and not latent)
    if raises and not warn_only:
        raise GuardError(code, text, user_location())
    if not _first_time(text):
        return
    filename, lineno, module = _user_frame_info()
    warnings.warn_explicit(GuardWarning(code, text), GuardWarning, filename, lineno, module)


_warned_lock = threading.Lock()


def _first_time(text: str) -> bool:
    """Whether ``text`` is not yet in ``STATE.warned`` (and add it): one warning per
    problem, also when several threads meet it at once."""
    with _warned_lock:
        if text in STATE.warned:
            return False
        STATE.warned.add(text)
        return True


def shielded(check: Callable[..., Any]) -> Callable[..., Any]:
    """Run a check so that a bug in the guard never breaks the user's training: its own
    findings (GuardError, or a GuardWarning turned into an error by a warnings filter)
    propagate; any other exception is reported once as a RuntimeWarning and ignored."""

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        try:
            return check(*args, **kwargs)
        except (GuardError, Warning):
            raise
        except Exception as exc:  # the user's run matters more than the check
            text = f"ftlint guard: {check.__name__} failed and was skipped ({type(exc).__name__}: {exc})"
            if _first_time(text):
                warnings.warn(text, RuntimeWarning, stacklevel=2)
            return None

    return run


# Frames inside these directories are not the user's: warnings and error locations
# point at the first frame outside them (outside the guard, torch and every installed
# package: not at Lightning's precision.py or PEFT's save_and_load.py).
_OWN_DIR = os.path.dirname(os.path.abspath(__file__))
_SKIP_DIRS: list[str] = [_OWN_DIR + os.sep]


def skip_frames_in(directory: str) -> None:
    prefix = os.path.abspath(directory) + os.sep
    if prefix not in _SKIP_DIRS:
        _SKIP_DIRS.append(prefix)


def skip_installed_packages() -> None:
    """Skip the frames of everything installed: in site-packages, the user site, or a
    directory on sys.path that pip installed into (``pip install --target``)."""
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    candidates = [paths["purelib"], paths["platlib"], *getattr(site, "getsitepackages", list)()]
    if site.ENABLE_USER_SITE:
        candidates.append(site.getusersitepackages())
    candidates.extend(entry for entry in sys.path if entry and _holds_distributions(entry))
    for directory in candidates:
        skip_frames_in(directory)


def _holds_distributions(directory: str) -> bool:
    try:
        return any(name.endswith(".dist-info") for name in os.listdir(directory))
    except OSError:  # not a directory (a zip file) or unreadable
        return False


def in_package(filename: str) -> bool:
    """Whether code in ``filename`` belongs to the guard, torch or an installed package."""
    return filename.startswith(tuple(_SKIP_DIRS))


def _user_frame_info() -> tuple[str, int, str]:
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not in_package(filename) and not filename.startswith("<frozen"):
            return filename, frame.f_lineno, frame.f_globals.get("__name__", "?")
        frame = frame.f_back
    return "<unknown>", 0, "?"


def user_location() -> str:
    filename, lineno, _ = _user_frame_info()
    return f"{os.path.basename(filename)}:{lineno}"
