from __future__ import annotations

import libcst as cst

from ftlint.analysis.scopes import next_read, rebound_in_loop
from ftlint.rules.base import Rule


class InplaceDetachReused(Rule):
    code = "FTL301"
    name = "inplace-detach-reused"
    tokens = ("detach_",)
    message = (
        "{name}.detach_() cuts {name} off the graph for every holder, so the later use at "
        "line {line} sends no gradient to whatever computed it; use {name}.detach() where "
        "the detached value is needed"
    )
    docs = """\
## What it does
Finds `y.detach_()` on a name that is read again later in the same function (or script)
before it is bound to something else.

## Why is this bad?
`detach_()` works in place: it detaches the tensor object itself, for every name and
every container that holds it. In `y = A(x); y.detach_(); z = B(y)`, nothing raises,
`B` trains, and `A` silently receives no gradient at all, because `y` is no longer
connected to it. `detach()` returns a new detached tensor and leaves `y` alone.

Detaching loop-carried state in place and rebinding it later in the same loop body
(truncated backpropagation through time) is deliberate and not reported.

## Example
```python
features = encoder(images)
features.detach_()
logits = head(features)
loss = criterion(logits, labels) + aux_loss(features)
```

## Use instead
```python
features = encoder(images)
logits = head(features.detach())
loss = criterion(logits, labels) + aux_loss(features)
```

## References
- [torch.Tensor.detach_](https://pytorch.org/docs/stable/generated/torch.Tensor.detach_.html)
- [Autograd mechanics](https://pytorch.org/docs/stable/notes/autograd.html)
"""
    valid = (
        # detach() returns a new tensor
        """\
y = A(x)
z = B(y.detach())
""",
        # not read afterwards
        """\
def cache(y):
    y.detach_()
""",
        # truncated BPTT: detached in the loop body and rebound later in it
        """\
hidden = init_hidden()
for chunk in chunks:
    hidden.detach_()
    out, hidden = rnn(chunk, hidden)
""",
        # rebound before the next read
        """\
y = A(x)
y.detach_()
y = A(x2)
z = B(y)
""",
    )
    invalid = (
        # the seed case
        """\
y = A(x)
y.detach_()  # expect: FTL301
z = B(y)
""",
        # inside a function, read in a later conditional
        """\
def forward(self, x):
    feats = self.encoder(x)
    feats.detach_()  # expect: FTL301
    if self.use_aux:
        return self.head(feats), self.aux(feats)
    return self.head(feats)
""",
        # in a loop, but never rebound in it
        """\
for batch in loader:
    out = model(batch)
    out.detach_()  # expect: FTL301
    loss = criterion(out, batch.y)
""",
    )

    def visit_Module(self, node: cst.Module) -> None:
        for owner in self.ctx.scopes:
            steps = self.ctx.steps(owner)
            for step in steps:
                for call in step.calls:
                    func = call.func
                    if not (
                        isinstance(func, cst.Attribute)
                        and func.attr.value == "detach_"
                        and isinstance(func.value, cst.Name)
                    ):
                        continue
                    name = func.value.value
                    if rebound_in_loop(steps, step, name):
                        continue
                    reader = next_read(steps, step, name)
                    if reader is not None:
                        line = self.ctx.positions[reader.node].start.line
                        self.report(call, self.message.format(name=name, line=line))
