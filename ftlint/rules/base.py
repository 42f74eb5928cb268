"""What every rule is: identity, documentation, examples, and visitor methods.

A rule subclasses `Rule`, sets the class attributes below, and defines libcst-style
`visit_<Node>` / `leave_<Node>` methods taking `(self, node)`. The engine gives every
rule instance a `FileContext` (`self.ctx`) and dispatches all rules from one traversal.
Findings are reported with `self.report(node)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import libcst as cst

if TYPE_CHECKING:
    from ftlint.context import FileContext


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]  # kebab-case, names the problem
    message: ClassVar[str]  # one line: what goes wrong at run time, what to write instead
    # Markdown with the sections: What it does / Why is this bad? / Example / Use instead /
    # References. `ftlint rule CODE` prints it.
    docs: ClassVar[str]
    # Code snippets that must stay silent, and snippets whose reported lines carry a
    # trailing `# expect: CODE` comment. The test suite runs both.
    valid: ClassVar[tuple[str, ...]] = ()
    invalid: ClassVar[tuple[str, ...]] = ()
    # A rule that exists only in the runtime guard has no static check.
    runtime_only: ClassVar[bool] = False

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx

    def report(self, node: cst.CSTNode, message: str | None = None) -> None:
        self.ctx.add_finding(self, node, message or self.message)
