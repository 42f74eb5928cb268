"""Resolve names through the file's imports, without libcst's scope providers.

`import torch.optim as optim`, `from torch import optim`, `from torch.optim import AdamW
as AW` and `import torch as t` all let `qualified_name` map the expression used in the
code to `torch.optim.<Class>`. Imports anywhere in the file count: a linter cannot know
which branch ran, and an import of torch under another name is never a coincidence.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst


def dotted_parts(node: cst.BaseExpression) -> list[str] | None:
    """`a.b.c` -> ["a", "b", "c"]; None for anything that is not a plain name chain."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    parts.reverse()
    return parts


def _import_statements(body: object) -> Iterator[cst.Import | cst.ImportFrom]:
    """Import statements at any depth of statements, never inside expressions."""
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif isinstance(item, cst.SimpleStatementLine):
            for small in item.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    yield small
        elif isinstance(item, cst.BaseCompoundStatement):
            stack.extend(_child_bodies(item))


def _child_bodies(stmt: cst.BaseCompoundStatement) -> list[object]:
    bodies: list[object] = [stmt.body.body]
    for attr in ("orelse", "finalbody"):
        extra = getattr(stmt, attr, None)
        while extra is not None:
            bodies.append(extra.body.body)
            extra = getattr(extra, "orelse", None) if isinstance(extra, cst.If) else None
    for handler in getattr(stmt, "handlers", ()):
        bodies.append(handler.body.body)
    for case in getattr(stmt, "cases", ()):
        bodies.append(case.body.body)
    return bodies


class ImportMap:
    """Local name -> fully qualified module or object name."""

    def __init__(self, module: cst.Module) -> None:
        self.aliases: dict[str, str] = {}
        for stmt in _import_statements(module.body):
            if isinstance(stmt, cst.Import):
                self._add_import(stmt)
            else:
                self._add_import_from(stmt)

    def _add_import(self, stmt: cst.Import) -> None:
        for alias in stmt.names:
            parts = dotted_parts(alias.name)
            if parts is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.aliases[alias.asname.name.value] = ".".join(parts)
            else:
                # `import torch.optim` binds `torch`, through which `torch.optim` resolves.
                self.aliases[parts[0]] = parts[0]

    def _add_import_from(self, stmt: cst.ImportFrom) -> None:
        if stmt.relative or stmt.module is None or isinstance(stmt.names, cst.ImportStar):
            return
        base = dotted_parts(stmt.module)
        if base is None:
            return
        for alias in stmt.names:
            parts = dotted_parts(alias.name)
            if parts is None:
                continue
            local = parts[-1]
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.aliases[local] = ".".join(base + parts)

    def qualified_name(self, node: cst.BaseExpression) -> str | None:
        """The imported name an expression refers to, or None when it is not imported."""
        parts = dotted_parts(node)
        if parts is None or parts[0] not in self.aliases:
            return None
        return ".".join([self.aliases[parts[0]], *parts[1:]])
