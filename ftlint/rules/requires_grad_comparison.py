from __future__ import annotations

import libcst as cst

from ftlint.outline import Outline
from ftlint.rules.base import Rule


def _is_requires_grad(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Attribute) and node.attr.value == "requires_grad"


def _requires_grad_equality(node: cst.BaseExpression) -> cst.Comparison | None:
    """`p.requires_grad == False` (either side), the comparison itself."""
    if not isinstance(node, cst.Comparison) or len(node.comparisons) != 1:
        return None
    target = node.comparisons[0]
    if not isinstance(target.operator, cst.Equal):
        return None
    if _is_requires_grad(node.left) or _is_requires_grad(target.comparator):
        return node
    return None


class RequiresGradComparison(Rule):
    code = "FTL107"
    name = "requires-grad-comparison"
    fix = "safe"
    tokens = ("requires_grad", "requires_grad_")
    message = (
        "'{code}' compares and throws the result away: nothing is frozen and the "
        "parameter keeps training; write {fix}"
    )
    docs = """\
## What it does
Finds `p.requires_grad == False` written as a statement of its own, or as the element of a
list comprehension or generator written as a statement, where an assignment was meant.

## Why is this bad?
A comparison on its own line is evaluated and discarded. Nothing raises, no flag
changes, and every parameter that was meant to be frozen keeps training.

Comparisons in conditions (`if p.requires_grad == False:`), assertions, assignments
(`frozen = p.requires_grad == False`) and filters are what comparisons are for, and are
not reported.

## Example
```python
for p in model.backbone.parameters():
    p.requires_grad == False
```

## Use instead
```python
for p in model.backbone.parameters():
    p.requires_grad = False
```
or `model.backbone.requires_grad_(False)`.

## Fix safety
The fix turns the comparison into the assignment it was meant to be
(`p.requires_grad = False`, whichever side `requires_grad` was on), and a comprehension
written as a statement into a one-line loop (`for p in ...: p.requires_grad = False`). It
is safe: the comparison did nothing. A comprehension with a condition or several `for`
clauses, or one sharing its line with other statements, gets no fix.

## References
- [torch.Tensor.requires_grad](https://pytorch.org/docs/stable/generated/torch.Tensor.requires_grad.html)
- [Python: expression statements](https://docs.python.org/3/reference/simple_stmts.html#expression-statements)
"""
    valid = (
        # comparisons used as conditions and values
        """\
for p in model.parameters():
    if p.requires_grad == False:
        continue
    assert p.requires_grad == True
    frozen = p.requires_grad == False
trainable = [p for p in model.parameters() if p.requires_grad == True]
n = sum(p.requires_grad == False for p in model.parameters())
""",
        # the real assignment; other comparisons on their own
        """\
for p in model.parameters():
    p.requires_grad = False
x == y
p.grad == None
""",
    )
    fix_examples = (
        (
            """\
for p in model.backbone.parameters():
    p.requires_grad == False  # freeze
for name, param in model.named_parameters():
    if name.startswith("fc"):
        False  ==  (param.requires_grad)
def freeze(model):
    [p.requires_grad == False for p in model.encoder.parameters()]
""",
            """\
for p in model.backbone.parameters():
    p.requires_grad = False  # freeze
for name, param in model.named_parameters():
    if name.startswith("fc"):
        (param.requires_grad)  =  False
def freeze(model):
    for p in model.encoder.parameters(): p.requires_grad = False
""",
        ),
        # a comprehension with a condition, or sharing its line, is left alone
        (
            """\
[p.requires_grad == False for p in model.parameters() if p.ndim > 1]
x = 1; [p.requires_grad == False for p in model.parameters()]
""",
            """\
[p.requires_grad == False for p in model.parameters() if p.ndim > 1]
x = 1; [p.requires_grad == False for p in model.parameters()]
""",
        ),
    )
    invalid = (
        """\
for p in model.backbone.parameters():
    p.requires_grad == False  # expect: FTL107
""",
        # flipped sides, a one-line loop, True
        """\
for name, param in model.named_parameters():
    if name.startswith("fc"):
        False == param.requires_grad  # expect: FTL107
for p in model.head.parameters(): p.requires_grad == True  # expect: FTL107
""",
        # a comprehension written as a statement to freeze many at once
        """\
def freeze(model):
    [p.requires_grad == False for p in model.encoder.parameters()]  # expect: FTL107
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        return super().may_report(outline) and outline.facts.compares_for_nothing()

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._alone: set[int] = set()  # statements alone on their line: room for a loop

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(node.body) == 1:
            self._alone.add(id(node.body[0]))

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if isinstance(value, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
            comparison = _requires_grad_equality(value.elt)
        else:
            comparison = _requires_grad_equality(value)
        if comparison is None:
            return
        code = self.ctx.module.code_for_node(comparison)
        if len(code) > 60 or "\n" in code:
            code = "p.requires_grad == False"
        fix = code.replace("==", "=", 1)
        if not _is_requires_grad(comparison.left):
            right = self.ctx.module.code_for_node(comparison.comparisons[0].comparator)
            left = self.ctx.module.code_for_node(comparison.left)
            fix = f"{right} = {left}" if len(right) <= 60 else "p.requires_grad = False"
        if isinstance(value, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
            fix = f"a for loop that sets '{fix}'"
        else:
            fix = f"'{fix}'"
        self.report(node, self.message.format(code=code, fix=fix), self._fix(node, comparison))

    def _fix(self, node: cst.Expr, comparison: cst.Comparison):
        """The assignment meant, in place of the comparison (or of the comprehension)."""
        code = self.ctx.module.code_for_node
        operator = comparison.comparisons[0].operator
        target, flag = comparison.left, comparison.comparisons[0].comparator
        if not _is_requires_grad(target):
            target, flag = flag, target
        before = code(operator.whitespace_before)
        after = code(operator.whitespace_after)
        assignment = f"{code(target)}{before}={after}{code(flag)}"
        value = node.value
        if value is comparison:
            return self.fix_with("assign in place of comparing", self.replace(value, assignment))
        for_in = value.for_in
        if for_in.inner_for_in is not None or for_in.ifs or for_in.asynchronous is not None:
            return None
        if id(node) not in self._alone:
            return None
        loop = f"for {code(for_in.target)} in {code(for_in.iter)}: {assignment}"
        return self.fix_with("assign in a loop in place of comparing", self.replace(value, loop))
