"""The releases of torch, torchvision and transformers that code is linted for.

Rules whose findings depend on a release (what an optimizer takes, what `torch.load`
does by default) read `ctx.targets`. Each library's target is the one configured
(`target-torch = "2.1"`, `--target-torch 2.1`), else the installed release, else the
newest one ftlint knows. The installed release is read from its `*.dist-info` directory
on `sys.path`, as importlib.metadata finds it, without importing the library or
importlib.metadata (torch takes seconds to import; importlib.metadata alone costs a
tenth of a run the result cache answers).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass
from typing import NamedTuple

LIBRARIES = ("torch", "torchvision", "transformers")
# The newest releases ftlint knows of each library: the default when it is not
# installed. torch's is the newest release of ftlint/data/optimizer_signatures.py
# (a test keeps the two in step); the others were the newest on PyPI then.
NEWEST = {"torch": (2, 15), "torchvision": (0, 29), "transformers": (5, 25)}

_RELEASE = re.compile(r"(\d+)\.(\d+)")


class Release(NamedTuple):
    """A MAJOR.MINOR release; compares as a tuple: `targets.torch < (2, 6)`."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def parse_release(text: str) -> Release | None:
    """ "2.1" -> Release(2, 1); None for anything that is not MAJOR.MINOR."""
    match = _RELEASE.fullmatch(text)
    return Release(int(match[1]), int(match[2])) if match else None


@dataclass(frozen=True)
class Targets:
    torch: Release
    torchvision: Release
    transformers: Release

    def key(self) -> str:
        """What the result cache keys entries by: findings under one target are not
        another's."""
        return ",".join(f"{name}={getattr(self, name)}" for name in LIBRARIES)


def resolve(
    torch: Release | None = None,
    torchvision: Release | None = None,
    transformers: Release | None = None,
) -> Targets:
    """The targets, given the configured releases (None: the installed release, else the
    newest known)."""
    configured = {"torch": torch, "torchvision": torchvision, "transformers": transformers}
    return Targets(
        **{
            name: release or installed().get(name) or Release(*NEWEST[name])
            for name, release in configured.items()
        }
    )


@functools.cache
def default_targets() -> Targets:
    """The targets when nothing is configured."""
    return resolve()


@functools.cache
def installed() -> dict[str, Release]:
    """The release of each library installed for this interpreter, by the first
    `NAME-VERSION.dist-info` (or `.egg-info`) on sys.path, as import would find it."""
    found: dict[str, Release] = {}
    pattern = re.compile(
        rf"({'|'.join(LIBRARIES)})-(\d+)\.(\d+)[^-]*(?:-.*)?\.(?:dist|egg)-info", re.I
    )
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # a zip file, a directory that is gone
            continue
        for name in names:
            match = pattern.fullmatch(name)
            if match is not None:
                found.setdefault(match[1].lower(), Release(int(match[2]), int(match[3])))
        if len(found) == len(LIBRARIES):
            break
    return found
