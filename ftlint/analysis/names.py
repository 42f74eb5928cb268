"""Resolve names through the file's imports, without libcst's scope providers.

`import torch.optim as optim`, `from torch import optim`, `from torch.optim import AdamW
as AW` and `import torch as t` all let `qualified_name` map the expression used in the
code to `torch.optim.<Class>`. Imports anywhere in the file count: a linter cannot know
which branch ran, and an import of torch under another name is never a coincidence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import libcst as cst

from ftlint.analysis.scopes import child_blocks, child_body


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


def _import_statements(body: Sequence[cst.BaseStatement]) -> Iterator[cst.Import | cst.ImportFrom]:
    """Import statements at any depth of statements, never inside expressions."""
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    yield small
        elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            yield from _import_statements(child_body(stmt))
        elif isinstance(stmt, cst.BaseCompoundStatement):
            for block in child_blocks(stmt):
                yield from _import_statements(block)


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


def is_false(node: cst.BaseExpression) -> bool:
    """The literal `False` (a variable or expression is never judged)."""
    return isinstance(node, cst.Name) and node.value == "False"


def may_be_false(node: cst.BaseExpression) -> bool:
    """The literal False, or a conditional expression one of whose values may be:
    `False if strict is None else strict`."""
    while isinstance(node, cst.IfExp):
        if may_be_false(node.body):
            return True
        node = node.orelse
    return is_false(node)


def keyword_is_false(call: cst.Call, keyword: str) -> bool:
    """Whether `call` passes `keyword=False` literally."""
    return any(
        arg.keyword is not None and arg.keyword.value == keyword and is_false(arg.value)
        for arg in call.args
    )
