"""What every rule is: identity, documentation, examples, and visitor methods.

A rule subclasses `Rule`, sets the class attributes below, and defines libcst-style
`visit_<Node>` / `leave_<Node>` methods taking `(self, node)`. The engine gives every
rule instance a `FileContext` (`self.ctx`) and dispatches all rules from one traversal.
Findings are reported with `self.report(node)`; a rule with a fix passes one along,
built from `self.replace(node, new)` edits: `self.report(node, fix=self.fix_with(...))`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import libcst as cst

from ftlint.finding import Edit, Fix
from ftlint.outline import Outline

if TYPE_CHECKING:
    from ftlint.context import FileContext

FIX_KINDS = ("safe", "unsafe", "mixed")


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
    # The first pass: whole words (identifiers, attribute, keyword or imported names: runs
    # of letters, digits and _) at least one of which is in the text of every file this
    # rule can report on. A file that contains none of them is not analysed by this rule,
    # and one that no enabled rule needs is not parsed. None, the default, means the rule
    # always runs; declare only words whose absence surely means silence (an import alias
    # cannot rename an attribute or a keyword, and the imported name is still written).
    tokens: ClassVar[tuple[str, ...] | None] = None
    # Whether the rule offers fixes: None, "safe", "unsafe" (applied only with
    # --unsafe-fixes), or "mixed" (each fix says; the docs' "Fix safety" section explains).
    fix: ClassVar[str | None] = None
    # (before, after) pairs: `ftlint check --fix --unsafe-fixes` turns each `before` into
    # its `after`. The test suite also checks that fixing `after` changes nothing.
    fix_examples: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        """The first pass: False only when this rule surely finds nothing in the file.
        A rule sharpens it by overriding: `super().may_report(outline)` first, since the
        words cost far less than `outline.facts` (read from Python's syntax tree); or, when
        its trigger is not a fixed word (a misspelling), by a test of its own."""
        return cls.tokens is None or not outline.words.isdisjoint(cls.tokens)

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx

    def report(
        self, node: cst.CSTNode, message: str | None = None, fix: Fix | None = None
    ) -> None:
        self.ctx.add_finding(self, node, message or self.message, fix)

    def replace(self, node: cst.CSTNode, new: cst.CSTNode | str) -> Edit:
        """An edit putting `new` where `node` is, parentheses around `node` included (as
        in `code_for_node(node)`). A node is rendered by libcst, so the whitespace and
        comments it carries (taken from the original) stay as they were."""
        return self.replace_span(node, node, new)

    def replace_span(self, first: cst.CSTNode, last: cst.CSTNode, new: cst.CSTNode | str) -> Edit:
        """An edit putting `new` from the start of `first` to the end of `last`."""
        positions = self.ctx.positions
        start = positions[first].start
        end = positions[last].end
        # libcst's range of an expression leaves out its own parentheses.
        if getattr(first, "lpar", None):
            start = positions[first.lpar[0]].start
        if getattr(last, "rpar", None):
            end = positions[last.rpar[-1]].end
        content = new if isinstance(new, str) else self.ctx.module.code_for_node(new)
        return Edit(start.line, start.column + 1, end.line, end.column + 1, content)

    def fix_with(self, description: str, *edits: Edit, safe: bool | None = None) -> Fix:
        """A fix of this rule; its safety is the rule's unless the rule's is "mixed"."""
        if safe is None:
            safe = self.fix == "safe"
        return Fix(description, tuple(edits), safe)
