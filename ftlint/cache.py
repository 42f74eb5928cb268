"""Results keyed by file content: a second run over an unchanged tree parses nothing.

An entry is the findings of one file's content (before per-file ignores, without its
path), under a key that also covers ftlint's own code, libcst's version, the enabled
rules, the target releases (ftlint.targets) and the kind of file. Entries live in
`.ftlint_cache/` next to the configuration (or in the directory ftlint runs from, without
one), one small JSON file each, written to a temporary name and renamed into place:
concurrent runs never see half an entry, and the worst a race does is compute an entry
twice. JSON, not pickle: a cache directory that came with a repository must not be able
to run code. Nor may it crash a run: an entry is used only if it has exactly the shape
`put` writes, every field of the type its dataclass declares; anything else is a miss.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
import tempfile
import types
import typing
from collections.abc import Callable
from pathlib import Path

from ftlint import __version__, finding
from ftlint.targets import Targets, default_targets

CACHE_DIR = ".ftlint_cache"


def _code_fingerprint() -> str:
    """ftlint's own source: a changed rule invalidates entries even at the same version."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(_libcst_version())
    return digest.hexdigest()


def _libcst_version() -> bytes:
    """libcst's version file, read without importing libcst or importlib.metadata: each
    costs more than a whole run the cache answers."""
    spec = importlib.util.find_spec("libcst")
    if spec is not None and spec.origin:
        try:
            return Path(spec.origin).with_name("_version.py").read_bytes()
        except OSError:
            pass
    from importlib import metadata

    try:
        return metadata.version("libcst").encode()
    except metadata.PackageNotFoundError:  # pragma: no cover - libcst run from a checkout
        return b""


def _encode(value: object) -> object:
    if dataclasses.is_dataclass(value):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__type__": type(value).__name__, **fields}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(item) for item in value]}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


# Every int of ftlint.finding is a 1-based line, column or cell number. CPython counts
# lines and columns in C ints: no file it parses has a position past this.
_LARGEST_POSITION = 2**31 - 1


class _BadEntry(ValueError):
    """A cache entry that is not what `put` writes."""


@functools.cache
def _reader(kind: object) -> Callable[[object], object]:
    """The function that turns a value json read back into an instance of `kind`, a type
    that fields of ftlint.finding have (`Finding`, `tuple[Edit, ...]`, `int | None`, ...),
    and raises _BadEntry for anything `put` does not write. Built once per type: reading
    an entry then costs little more than its checks."""
    if kind in (str, bool):

        def read(value: object) -> object:
            if type(value) is not kind:
                raise _BadEntry(f"not a {kind.__name__}")
            return value

    elif kind is int:

        def read(value: object) -> object:
            if type(value) is not int or not 1 <= value <= _LARGEST_POSITION:
                raise _BadEntry("not a position")
            return value

    elif dataclasses.is_dataclass(kind):
        fields = [(field, _reader(hint)) for field, hint in typing.get_type_hints(kind).items()]
        keys = {"__type__", *(field for field, _ in fields)}
        type_name = kind.__name__

        def read(value: object) -> object:
            if type(value) is not dict or value.keys() != keys or value["__type__"] != type_name:
                raise _BadEntry(f"not a {type_name}")
            return kind(**{field: read_field(value[field]) for field, read_field in fields})

    elif typing.get_origin(kind) is list:
        read_item = _reader(typing.get_args(kind)[0])

        def read(value: object) -> object:
            if type(value) is not list:
                raise _BadEntry("not a list")
            return [read_item(item) for item in value]

    elif typing.get_origin(kind) is tuple and typing.get_args(kind)[1:] == (Ellipsis,):
        read_items = _reader(list[typing.get_args(kind)[0]])

        def read(value: object) -> object:
            if type(value) is not dict or value.keys() != {"__tuple__"}:
                raise _BadEntry("not a tuple")
            return tuple(read_items(value["__tuple__"]))

    elif typing.get_origin(kind) in (typing.Union, types.UnionType):
        [other] = [t for t in typing.get_args(kind) if t is not type(None)]  # `X | None` only
        read_other = _reader(other)

        def read(value: object) -> object:
            return None if value is None else read_other(value)

    else:
        raise TypeError(f"the cache cannot store a {kind}")  # ftlint.finding has a new type
    return read


class ResultCache:
    def __init__(
        self, root: Path, rule_codes: list[str], targets: Targets | None = None
    ) -> None:
        """`targets`: the releases the findings are for (None: the defaults, as in the
        engine); findings for one torch release are not another's."""
        self.directory = root / CACHE_DIR
        digest = hashlib.sha256(_code_fingerprint().encode())
        digest.update(",".join(sorted(rule_codes)).encode() + b"\0")
        digest.update((targets or default_targets()).key().encode())
        self.settings_key = digest.hexdigest()
        self.writable = True

    def key(self, data: bytes, kind: str) -> str:
        digest = hashlib.sha256(self.settings_key.encode())
        digest.update(kind.encode() + b"\0")
        digest.update(data)
        return digest.hexdigest()

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / key[2:]

    def get(self, key: str, path: str) -> list[finding.Finding] | None:
        """The findings stored for `key`, given `path`; None on a miss or a bad entry."""
        read = _reader(list[finding.Finding])
        try:
            stored = read(json.loads(self._entry(key).read_bytes()))
        except (OSError, ValueError, RecursionError):  # _BadEntry, and bytes that are not JSON
            return None
        return [dataclasses.replace(item, path=path) for item in stored]

    def put(self, key: str, findings: list[finding.Finding]) -> None:
        if not self.writable:
            return
        entry = self._entry(key)
        text = json.dumps(_encode([dataclasses.replace(f, path="") for f in findings]))
        try:
            self._prepare()
            entry.parent.mkdir(exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, entry)
        except OSError:
            self.writable = False  # a read-only tree: lint without caching, say nothing

    def _prepare(self) -> None:
        if self.directory.is_dir():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        # Keep the cache out of version control and backups, as other tools do.
        (self.directory / ".gitignore").write_text("*\n", encoding="utf-8")
        (self.directory / "CACHEDIR.TAG").write_text(
            "Signature: 8a477f597d28d172789f06886806bc55\n", encoding="utf-8"
        )
