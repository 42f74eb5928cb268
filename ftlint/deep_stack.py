"""Running libcst's parser and codegen where deep code cannot overflow the stack.

libcst recurses with the depth of the code: its native parser on the C stack, its codegen
(which computes every position a finding reports) in Python, three to five frames per
level. Python's own parser accepts code about 3,000 levels deep (a long `elif` chain, a
long `a + b + ...`), which needs far more than the default recursion limit of 1,000 and
more C stack than a main thread's 8 MiB. So the work runs in a thread of its own with a
large stack (address space, reserved but touched only as deep as it goes) and a
recursion limit to match. Measured on CPython 3.11 and libcst 1.0: 64 MiB suffice for
the deepest code Python accepts; this gives four times that.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

STACK_BYTES = 256 * 1024 * 1024
RECURSION_LIMIT = 100_000

_Result = TypeVar("_Result")
_inside = threading.local()
_starting = threading.Lock()


def run_with_deep_stack(function: Callable[[], _Result]) -> _Result:
    """`function()`, run in a thread with a deep stack; its exception is re-raised here."""
    if getattr(_inside, "active", False):
        return function()
    outcome: list = []

    def target() -> None:
        _inside.active = True
        try:
            outcome.append((True, function()))
        except BaseException as error:  # handed to the caller, which decides
            outcome.append((False, error))

    # The limit is the interpreter's, not the thread's: raised only while the deep
    # thread runs, and the caller waits for it.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, RECURSION_LIMIT))
    try:
        with _starting:
            previous = threading.stack_size()
            try:
                threading.stack_size(STACK_BYTES)
                thread = threading.Thread(target=target, name="ftlint-deep-stack", daemon=True)
                thread.start()
            except (RuntimeError, ValueError, MemoryError):
                thread = None  # no room for such a stack (a tight `ulimit -v`)
            finally:
                threading.stack_size(previous)
        if thread is not None:
            thread.join()
    finally:
        sys.setrecursionlimit(limit)
    if thread is None:
        return function()  # here, as before, with the usual limit
    succeeded, value = outcome[0]
    if succeeded:
        return value
    raise value
