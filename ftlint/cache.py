"""Results keyed by file content: a second run over an unchanged tree parses nothing.

An entry is the findings of one file's content (before per-file ignores, without its
path), under a key that also covers ftlint's own code, libcst's version, the enabled
rules and the kind of file. Entries live in `.ftlint_cache/` next to the configuration
(or in the directory ftlint runs from, without one), one small JSON file each, written to
a temporary name and renamed into place: concurrent runs never see half an entry, and
the worst a race does is compute an entry twice. JSON, not pickle: a cache directory
that came with a repository must not be able to run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path

from ftlint import __version__, finding

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


def _decode(value: object) -> object:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(_decode(item) for item in value["__tuple__"])
    # Only the dataclasses of ftlint.finding (Finding, Fix, Edit, ...) are ever built.
    kind = getattr(finding, value["__type__"])
    if not dataclasses.is_dataclass(kind):
        raise ValueError(f"not a finding type: {value['__type__']}")
    return kind(**{name: _decode(item) for name, item in value.items() if name != "__type__"})


class ResultCache:
    def __init__(self, root: Path, rule_codes: list[str]) -> None:
        self.directory = root / CACHE_DIR
        digest = hashlib.sha256(_code_fingerprint().encode())
        digest.update(",".join(sorted(rule_codes)).encode())
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
        try:
            stored = _decode(json.loads(self._entry(key).read_bytes()))
            return [dataclasses.replace(item, path=path) for item in stored]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

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
