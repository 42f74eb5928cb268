"""Which files a run lints (the paths given, directories searched recursively), and
reading and replacing them safely."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ftlint.config import Settings, matches
from ftlint.gitignore import GitIgnore

NOTEBOOK_SUFFIX = ".ipynb"
SOURCE_SUFFIXES = (".py", ".pyi", NOTEBOOK_SUFFIX)
# Read no more of a file than this: notebooks carry their outputs, but a source file the
# size of this is not one a person wrote (the engine refuses far smaller ones).
MAX_READ_BYTES = 64 * 1024 * 1024
SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "__pycache__", "build", "dist", ".venv", "venv",
        ".tox", ".nox", ".eggs", "node_modules", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", ".ftlint_cache", "site-packages", ".ipynb_checkpoints",
    }
)  # fmt: skip


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _is_virtualenv(directory: Path) -> bool:
    # os.path's check is False for a directory that cannot be read (Path's raises): the
    # walk then reports that directory.
    return os.path.isfile(directory / "pyvenv.cfg")


SettingsFor = Callable[[Path], Settings]


def _excluded(path: Path, settings: Settings) -> bool:
    # Resolving a path costs system calls: none when nothing is excluded.
    return bool(settings.exclude) and matches(_relative(path, settings.root), settings.exclude)


def discover(
    paths: list[Path],
    settings_for: SettingsFor,
    on_error: Callable[[Path, OSError], None],
    respect_gitignore: bool = True,
) -> Iterator[Path]:
    """Files to lint, in a stable order, each once however the paths overlap. Each
    directory's exclude patterns come from `settings_for` it, and apply even to files
    named explicitly, so pre-commit (which names files) honours them too; what git
    ignores is skipped while walking, never when named. A directory that cannot be read
    goes to `on_error`, and the walk goes on."""
    gitignore = GitIgnore() if respect_gitignore else None
    seen: set[str] = set()
    for path in paths:
        if path.is_dir():
            found = _walk(path, settings_for, on_error, gitignore)
        else:
            found = _named(path, settings_for)
        for file in found:
            # Spelled differently (`.` then `sub/a.py`), the same file is still one.
            key = os.path.abspath(file)
            if key not in seen:
                seen.add(key)
                yield file


def _named(path: Path, settings_for: SettingsFor) -> Iterator[Path]:
    if not _excluded(path, settings_for(path)):
        yield path


def _walk(
    top: Path,
    settings_for: SettingsFor,
    on_error: Callable[[Path, OSError], None],
    gitignore: GitIgnore | None,
) -> Iterator[Path]:
    def report(error: OSError) -> None:
        on_error(Path(error.filename) if error.filename else top, error)

    for directory, subdirs, files in os.walk(top, onerror=report):
        here = Path(directory)
        settings = settings_for(here)
        subdirs[:] = sorted(
            name
            for name in subdirs
            if name not in SKIPPED_DIRS
            and not _is_virtualenv(here / name)
            and not _excluded(here / name, settings)
            and not (gitignore and gitignore.ignored(here / name, is_dir=True))
        )
        for name in sorted(files):
            path = here / name
            if (
                name.endswith(SOURCE_SUFFIXES)
                and not _excluded(path, settings)
                and not (gitignore and gitignore.ignored(path, is_dir=False))
            ):
                yield path


class UnreadableFile(OSError):
    """A path that is not a regular file, or one too large to read."""


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def read_file(path: Path) -> bytes:
    """The bytes of a regular file, at most MAX_READ_BYTES of them. A FIFO or a device
    (a symlink to /dev/zero) would block or never end: OSError for those, as for a file
    that cannot be opened."""
    # Non-blocking, so that opening a FIFO returns at once; the file's kind is read
    # from what was opened, so nothing can be swapped in between.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise UnreadableFile(f"not a regular file ({kind}); only regular files are linted")
        chunks = []
        size = 0
        while size <= MAX_READ_BYTES:
            chunk = os.read(fd, MAX_READ_BYTES + 1 - size)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise UnreadableFile(f"larger than {MAX_READ_BYTES // 1024 // 1024} MiB, not read")
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes) -> None:
    """Write `data` in place of the file at `path`, all or nothing: into a temporary file
    beside it, flushed to disk, given the original's mode, then renamed over it. A full
    disk, a size limit or a kill leaves the original as it was."""
    target = path.resolve()  # through a symlink, replace the file and keep the link
    info = target.stat()
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        with contextlib.suppress(OSError):  # only the owner or root may give it back
            os.chown(temporary, info.st_uid, info.st_gid)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def relative_to_root(path: Path, settings: Settings) -> str:
    return _relative(path, settings.root)
