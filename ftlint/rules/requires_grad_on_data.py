from __future__ import annotations

import libcst as cst

from ftlint.analysis.kinds import MODULE, OTHER, kind_of, kinds_at
from ftlint.analysis.scopes import Step
from ftlint.outline import Outline
from ftlint.rules.base import Rule


def _data_owner(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """For `p.data`, the expression `p`; None for anything else."""
    if isinstance(node, cst.Attribute) and node.attr.value == "data":
        return node.value
    return None


class RequiresGradOnData(Rule):
    code = "FTL105"
    name = "requires-grad-on-data"
    fix = "safe"
    tokens = ("requires_grad", "requires_grad_")
    message = (
        "{owner}.data is a new tensor on every access, so setting requires_grad on it "
        "changes nothing: {owner} stays trainable; write {fix}"
    )
    docs = """\
## What it does
Finds `p.data.requires_grad = ...` and `p.data.requires_grad_(...)` used as a statement.

## Why is this bad?
`p.data` returns a new tensor object that shares `p`'s storage but not its autograd
flags. Setting `requires_grad` on it changes that throw-away object only: nothing
raises, `p.requires_grad` is still `True`, and the parameter keeps receiving gradients
and being updated by the optimizer.

Objects whose `.data` is a field of their own rather than `Tensor.data` (a `PackedSequence`
from `pack_padded_sequence`, a torchvision dataset) are not reported when the file shows
what they are.

## Example
```python
for name, param in model.named_parameters():
    if name.startswith("encoder."):
        param.data.requires_grad = False
```

## Use instead
```python
for name, param in model.named_parameters():
    if name.startswith("encoder."):
        param.requires_grad = False
```

## Fix safety
The fix drops `.data`, so that the flag is set on the parameter itself, as the code meant.
It is safe.

## References
- [torch.Tensor.requires_grad_](https://pytorch.org/docs/stable/generated/torch.Tensor.requires_grad_.html)
- [Autograd mechanics: locally disabling gradient computation](https://pytorch.org/docs/stable/notes/autograd.html#locally-disabling-gradient-computation)
"""
    valid = (
        # on the parameter itself
        """\
for p in model.parameters():
    p.requires_grad = False
    p.requires_grad_(False)
""",
        # .data used for what it is for: in-place value changes without autograd
        """\
with torch.no_grad():
    model.fc.weight.data.copy_(pretrained_fc)
    model.fc.bias.data.zero_()
print(p.data.requires_grad)
""",
        # a fresh leaf built from .data and kept: requires_grad_ on purpose
        """\
x = images.data.requires_grad_(True)
adv = x + eps * x.grad.sign()
""",
        # a PackedSequence's .data is a field holding the packed tensor itself
        """\
from torch.nn.utils.rnn import pack_padded_sequence
def make_packed_sequence(inp, batch_sizes):
    required_grad = inp.requires_grad
    inp.requires_grad_(False)
    seq = pack_padded_sequence(inp, batch_sizes)
    seq.data.requires_grad_(required_grad)
    return seq
""",
        # another attribute called data that is rebuilt under a new name
        """\
batch.data = batch.data.to(device)
""",
    )
    fix_examples = (
        (
            """\
for name, param in model.named_parameters():
    if name.startswith("encoder."):
        param.data.requires_grad = False  # freeze
model.fc.weight.data.requires_grad_()
self.model.a.data.requires_grad = (self.model.b.data).requires_grad = False
""",
            """\
for name, param in model.named_parameters():
    if name.startswith("encoder."):
        param.requires_grad = False  # freeze
model.fc.weight.requires_grad_()
self.model.a.requires_grad = self.model.b.requires_grad = False
""",
        ),
    )
    invalid = (
        """\
for name, param in model.named_parameters():
    if name.startswith("encoder."):
        param.data.requires_grad = False  # expect: FTL105
""",
        """\
for p in model.backbone.parameters():
    p.data.requires_grad_(False)  # expect: FTL105
model.fc.weight.data.requires_grad_()  # expect: FTL105
""",
        # inside a method, a one-line body, a chained assignment
        """\
class Trainer:
    def freeze(self):
        for p in self.model.encoder.parameters(): p.data.requires_grad = False  # expect: FTL105
        self.model.a.data.requires_grad = self.model.b.data.requires_grad = False  # expect: FTL105
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        if not super().may_report(outline):
            return False
        facts = outline.facts
        return any(facts.writes_attribute_of("data", name) for name in cls.tokens)

    def visit_Module(self, node: cst.Module) -> None:
        # Each statement of a scope, to ask what its names hold just before it runs.
        self._steps: dict[int, tuple[cst.Module | cst.FunctionDef, Step]] = {}
        for owner in self.ctx.scopes:
            for step in self.ctx.steps(owner):
                self._steps[id(step.node)] = (owner, step)

    def _own_data_field(self, statement: cst.CSTNode, owner: cst.BaseExpression) -> bool:
        """Whether `owner` is known to be an object whose `.data` is a field of its own
        (a PackedSequence, a dataset) or a module, not a tensor."""
        where = self._steps.get(id(statement))
        env = kinds_at(self.ctx, *where) if where is not None else {}
        return kind_of(self.ctx, owner, env) in (MODULE, OTHER)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            attr = target.target
            if isinstance(attr, cst.Attribute) and attr.attr.value == "requires_grad":
                owner = _data_owner(attr.value)
                if owner is not None and not self._own_data_field(node, owner):
                    value = self.ctx.module.code_for_node(node.value)
                    self._report(node, owner, f"requires_grad = {value}", attr.value)
                    return

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "requires_grad_"
        ):
            return
        owner = _data_owner(call.func.value)
        if owner is not None and not self._own_data_field(node, owner):
            args = ", ".join(self.ctx.module.code_for_node(a).rstrip(", ") for a in call.args)
            self._report(node, owner, f"requires_grad_({args})", call.func.value)

    def _report(
        self, node: cst.CSTNode, owner: cst.BaseExpression, action: str, data: cst.CSTNode
    ) -> None:
        text = self.ctx.module.code_for_node(owner)
        if len(text) > 40 or "\n" in text:
            text = "p"
        if len(action) > 40 or "\n" in action:
            action = "requires_grad = False"
        fix = self.fix_with("drop .data", self.replace(data, owner))
        self.report(node, self.message.format(owner=text, fix=f"{text}.{action}"), fix)
