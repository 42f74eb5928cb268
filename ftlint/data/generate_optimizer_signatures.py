r"""Regenerate `optimizer_signatures.py` from the `torch/optim` sources of torch releases.

    python -m ftlint.data.generate_optimizer_signatures SOURCE ... \
        > ftlint/data/optimizer_signatures.py

Each SOURCE is a torch wheel (any platform: only its Python files are read, so the small
macOS wheels do, `pip download torch==2.5.1 --no-deps --only-binary=:all:
--platform macosx_11_0_arm64 --python-version 3.11`; `macosx_14_0_arm64` from 2.12 on,
`--python-version 3.10` for 1.13), or a directory holding the `torch` package (a source
checkout, or site-packages). The committed table was made from the latest patch release
of every minor release from 1.13 to 2.15. Nothing is imported: the constructors are
read from the source with `ast`, so one machine can read every release, and the tests
check that what is read from the installed torch is what importing it shows.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

OPTIM = "torch/optim/"


class SourceError(Exception):
    """The sources do not have the shape this reader knows; the message says where."""


@dataclass(frozen=True)
class Signature:
    module: str  # where the class is defined: `module.Name` imports it
    keywords: tuple[str, ...]  # what the constructor takes by keyword, in order
    group_keys: tuple[str, ...]  # the keys of a param group it builds, in order


def read_sources(source: Path) -> tuple[str, dict[str, str]]:
    """The torch version of `source` (a wheel or a directory holding `torch/`) and the text
    of each file of `torch/optim`, by path."""
    if not source.exists():
        raise SourceError("no such file or directory")
    if source.is_file():
        with zipfile.ZipFile(source) as wheel:
            files = {
                name: wheel.read(name).decode("utf-8")
                for name in wheel.namelist()
                if name.endswith(".py") and (name.startswith(OPTIM) or name == "torch/version.py")
            }
        version_text = files.pop("torch/version.py", None)
    else:
        root = source.parent if source.name == "torch" else source
        files = {
            path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
            for path in (root / OPTIM).rglob("*.py")
        }
        version_file = root / "torch" / "version.py"
        checkout_version = root / "version.txt"  # a source checkout, before a build
        version_text = (
            version_file.read_text(encoding="utf-8") if version_file.is_file()
            else f"__version__ = {checkout_version.read_text().strip()!r}"
            if checkout_version.is_file() else None
        )  # fmt: skip
    if not files:
        raise SourceError(f"no {OPTIM} files")
    match = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", version_text or "", re.M)
    if match is None:
        raise SourceError("no torch version (torch/version.py or version.txt)")
    return match[1].split("+")[0], files


def signatures(files: dict[str, str]) -> dict[str, Signature]:
    """Every optimizer `torch/optim/__init__.py` exports, by name."""
    return _Reader(files).exported()


class _Reader:
    def __init__(self, files: dict[str, str]) -> None:
        self.trees = {_module(path): ast.parse(text, path) for path, text in files.items()}
        self.packages = {_module(path) for path in files if path.endswith("/__init__.py")}
        self.done: dict[tuple[str, str], Signature | None] = {}

    def exported(self) -> dict[str, Signature]:
        found = {}
        for name, (module, original) in sorted(self._imports("torch.optim").items()):
            signature = self._signature(module, original)
            if signature is not None:
                found[name] = signature
        return found

    def _imports(self, module: str) -> dict[str, tuple[str, str]]:
        """The names `module` imports from torch.optim modules: name -> (module, name)."""
        names = {}
        package = module if module in self.packages else module.rpartition(".")[0]
        for node in ast.walk(self.trees[module]):
            if not isinstance(node, ast.ImportFrom) or node.module is None and not node.level:
                continue
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            source = ".".join(part for part in (base, node.module) if part)
            if source not in self.trees:
                continue
            for alias in node.names:
                names[alias.asname or alias.name] = (source, alias.name)
        return names

    def _signature(self, module: str, name: str) -> Signature | None:
        """The signature of the optimizer `module.name`, or None if it is no optimizer."""
        key = (module, name)
        if key not in self.done:
            self.done[key] = None  # a cycle of bases is no optimizer
            self.done[key] = self._read(module, name)
        return self.done[key]

    def _read(self, module: str, name: str) -> Signature | None:
        tree = self.trees[module]
        found = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name]
        if not found:
            imported = self._imports(module).get(name)
            return self._signature(*imported) if imported else None
        cls = found[-1]
        where = f"{module}.{name}"
        base = self._optimizer_base(module, cls)
        if base is None:
            return None
        init = next(
            (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None
        )
        if init is None:
            if base == "Optimizer":
                raise SourceError(f"{where}: no __init__")
            return Signature(module, base.keywords, base.group_keys)
        arguments = init.args
        if arguments.kwarg is not None:
            raise SourceError(f"{where}.__init__ takes **{arguments.kwarg.arg}: any keyword")
        keywords = tuple(a.arg for a in (*arguments.args[1:], *arguments.kwonlyargs))
        defaults = _defaults_keys(init)
        if defaults is not None:
            return Signature(module, keywords, ("params", *defaults))
        if base == "Optimizer":
            raise SourceError(f"{where}.__init__: no `defaults = {{...}}` or dict(...) found")
        return Signature(module, keywords, base.group_keys)  # super().__init__ builds them

    def _optimizer_base(self, module: str, cls: ast.ClassDef):
        """"Optimizer" when `cls` derives from torch's base, the Signature of the optimizer
        it derives from, or None."""
        imported = self._imports(module)
        for base in cls.bases:
            name = base.id if isinstance(base, ast.Name) else None
            if name is None:
                continue
            source = imported.get(name, (module, name))
            if source[1] == "Optimizer" and source[0] in ("torch.optim.optimizer", module):
                return "Optimizer"
            if source != (module, cls.name):
                signature = self._signature(*source)
                if signature is not None:
                    return signature
        return None


def _module(path: str) -> str:
    """"torch/optim/adam.py" -> "torch.optim.adam"; a package's __init__ is the package."""
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _defaults_keys(init: ast.FunctionDef) -> tuple[str, ...] | None:
    """The keys of `defaults = {...}` (or `dict(...)`) in a constructor, in order."""
    for node in ast.walk(init):
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["defaults"]
        ) or (
            isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "defaults"
        ):
            return _literal_keys(node.value)
    return None


def _literal_keys(node: ast.expr | None) -> tuple[str, ...]:
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
        return tuple(k.value for k in node.keys)  # type: ignore[union-attr]
    if (
        isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "dict"
        and not node.args
        and all(k.arg is not None for k in node.keywords)
    ):
        return tuple(k.arg for k in node.keywords)  # type: ignore[misc]
    raise SourceError(f"line {getattr(node, 'lineno', '?')}: defaults is not a literal dict")


def release(version: str) -> str:
    """The "MAJOR.MINOR" of a version: "2.5.1" -> "2.5"."""
    return ".".join(version.split(".")[:2])


def render(tables: dict[str, tuple[str, dict[str, Signature]]]) -> str:
    """The module: for each release, the exact version read; for each optimizer, its
    signature from the release that added it, and again from each release that changed
    it (None: removed)."""
    order = sorted(tables, key=lambda r: tuple(int(part) for part in r.split(".")))
    history: dict[str, list[tuple[str, Signature | None]]] = {}
    for index, name in enumerate(order):
        table = tables[name][1]
        for optimizer in sorted(set(table) | set(history)):
            current = table.get(optimizer)
            known = history.get(optimizer)
            if known is None and current is None:
                continue
            if known is None or known[-1][1] != current:
                history.setdefault(optimizer, []).append((name, current))
    lines = [
        '"""Constructor keywords and param-group keys of every `torch.optim` optimizer, in',
        "each torch release ftlint knows.",
        "",
        "Generated by `python -m ftlint.data.generate_optimizer_signatures` from the",
        "torch/optim sources of the versions in RELEASES; do not edit by hand.",
        "`tests/test_optimizer_signatures.py` checks the generator against the installed",
        "torch.",
        '"""',
        "",
        "# Each release (MAJOR.MINOR) read, and the exact version whose files were read.",
        "RELEASES: dict[str, str] = {",
        *(f"    {json.dumps(name)}: {json.dumps(tables[name][0])}," for name in order),
        "}",
        "",
        "# Each optimizer's signature from the first release in RELEASES that has it, then",
        "# again from each release that changed it; None: the release removed it.",
        "CHANGES: dict[str, tuple[tuple[str, dict[str, object] | None], ...]] = {",
    ]
    for optimizer, changes in sorted(history.items()):
        lines.append(f"    {json.dumps(optimizer)}: (")
        for name, signature in changes:
            if signature is None:
                lines.append(f"        ({json.dumps(name)}, None),")
                continue
            lines.append(f"        ({json.dumps(name)}, {{")
            lines.append(f'            "module": {json.dumps(signature.module)},')
            for field in ("keywords", "group_keys"):
                lines.append(f'            "{field}": (')
                lines.extend(_wrapped(getattr(signature, field), "                "))
                lines.append("            ),")
            lines.append("        }),")
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _wrapped(words: tuple[str, ...], indent: str, width: int = 96) -> list[str]:
    lines: list[str] = []
    line = indent
    for word in (f"{json.dumps(word)}," for word in words):
        if len(line) + len(word) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += word + " "
    if line.strip():
        lines.append(line.rstrip())
    return lines


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    tables: dict[str, tuple[str, dict[str, Signature]]] = {}
    for source in map(Path, argv):
        try:
            version, files = read_sources(source)
            table = signatures(files)
        except (OSError, SyntaxError, SourceError, zipfile.BadZipFile) as error:
            print(f"generate_optimizer_signatures: {source}: {error}", file=sys.stderr)
            return 1
        name = release(version)
        if name in tables:
            print(f"generate_optimizer_signatures: two sources of torch {name}", file=sys.stderr)
            return 1
        tables[name] = (version, table)
    sys.stdout.write(render(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
