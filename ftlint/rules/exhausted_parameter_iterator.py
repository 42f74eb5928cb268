from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from ftlint.analysis.scopes import (
    SCOPE_NODES,
    Step,
    exclusive,
    header_parts,
    names_used,
)
from ftlint.outline import Outline
from ftlint.rules.base import Rule
from ftlint.walk import children, walk

_PARAM_METHODS = frozenset({"parameters", "named_parameters"})
_ONE_SHOT_BUILTINS = frozenset({"filter", "map", "iter", "zip", "enumerate", "reversed"})
_CHAINS = frozenset({"itertools.chain", "itertools.chain.from_iterable"})
# Calls that take an iterator without iterating it.
_LOOKS_ONLY = frozenset(
    {"print", "repr", "str", "type", "id", "isinstance", "len", "bool", "next", "iter"}
    | {"hasattr", "getattr", "callable", "vars", "dir", "format"}
)
# Methods that store or log an iterator without iterating it.
_STORES_OR_LOGS = frozenset(
    {"append", "add", "insert", "write", "log", "debug", "info", "warning", "warn", "error"}
    | {"exception", "critical"}
)


def _mentions_params(node: cst.CSTNode, holders: set[str]) -> bool:
    """Whether an expression reaches parameters: `m.parameters()` or a name holding them."""
    # A plain search that stops at the first hit: this runs for every assignment.
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Call):
            func = item.func
            if isinstance(func, cst.Attribute) and func.attr.value in _PARAM_METHODS:
                return True
        elif isinstance(item, cst.Name) and item.value in holders:
            return True
        stack.extend(children(item))
    return False


def _is_generator(func: cst.FunctionDef) -> bool:
    found = False

    class _Find(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            nonlocal found
            found = found or isinstance(node, cst.Yield)
            return not isinstance(node, SCOPE_NODES)

    for stmt in func.body.body if isinstance(func.body, cst.IndentedBlock) else ():
        walk(stmt, _Find())
    return found


@dataclass
class _Iterator:
    bound: Step
    consumers: list[Step] = field(default_factory=list)


class _Consumers(cst.CSTVisitor):
    """The names an expression iterates, each with the node that iterates it, in order."""

    def __init__(self) -> None:
        self.found: list[tuple[cst.Name, cst.CSTNode]] = []
        self._seen: set[int] = set()

    def _take(self, expr: cst.BaseExpression, consumer: cst.CSTNode) -> None:
        if isinstance(expr, cst.Name):
            if id(expr) not in self._seen:
                self._seen.add(id(expr))
                self.found.append((expr, consumer))
        elif isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
            for element in expr.elements:
                self._take(element.value, consumer)
        elif isinstance(expr, cst.Dict):  # a param group: {"params": params, ...}
            for element in expr.elements:
                if isinstance(element, cst.DictElement):
                    self._take(element.value, consumer)

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.GeneratorExp, cst.ListComp, cst.SetComp, cst.DictComp)):
            for_in: cst.CompFor | None = node.for_in
            while for_in is not None:
                if isinstance(for_in.iter, cst.Name):
                    self._take(for_in.iter, node)
                for_in = for_in.inner_for_in
        elif isinstance(node, cst.Call) and not _looks_only(node):
            for arg in node.args:
                self._take(arg.value, node)
        elif isinstance(node, cst.StarredElement) and isinstance(node.value, cst.Name):
            self._take(node.value, node)
        elif isinstance(node, cst.Yield) and isinstance(node.value, cst.From):
            self._take(node.value.item, node)
        return not isinstance(node, SCOPE_NODES)


def _looks_only(call: cst.Call) -> bool:
    func = call.func
    if isinstance(func, cst.Name):
        return func.value in _LOOKS_ONLY
    return isinstance(func, cst.Attribute) and func.attr.value in _STORES_OR_LOGS


def _consumers(step: Step) -> list[tuple[cst.Name, cst.CSTNode]]:
    visitor = _Consumers()
    node = step.node
    if isinstance(node, cst.For):
        visitor._take(node.iter, node)
    for part in header_parts(node):
        walk(part, visitor)
    return visitor.found


class ExhaustedParameterIterator(Rule):
    code = "FTL109"
    name = "exhausted-parameter-iterator"
    # the iterators tracked come from .parameters()/.named_parameters()
    tokens = ("parameters", "named_parameters")
    fix = "mixed"
    message_again = (
        "'{name}' (line {bound}) is a one-shot iterator already consumed at line {first}: "
        "this use silently gets nothing (clip_grad_norm_ would clip no gradient); "
        "materialise it once: {name} = list(...)"
    )
    message_loop = (
        "'{name}' (line {bound}) is a one-shot iterator made outside this loop: only the "
        "first pass gets its items, every later pass silently gets nothing; materialise "
        "it once: {name} = list(...)"
    )
    message = (
        "a one-shot iterator of parameters (filter, map, generator, .parameters()) is "
        "consumed again: the second use silently gets nothing; materialise it with list(...)"
    )
    docs = """\
## What it does
Finds a name bound to a one-shot iterator of parameters (`filter(...)`, `map(...)`, a
generator expression, `model.parameters()`, `model.named_parameters()`, a generator
function of the file) that is consumed a second time, or consumed inside a loop when it
was created outside that loop. Passing it to a call (an optimizer, `clip_grad_norm_`,
`list`, a training function), iterating it in a `for` or a comprehension all consume it.

## Why is this bad?
An iterator can be walked once. After the first consumer has gone through it, every
later consumer silently receives nothing: `clip_grad_norm_(params, 1.0)` clips no
gradient and returns a norm of 0, a regularisation loop sums over no parameter, a param
group given the same iterator again is empty. Nothing raises (only an optimizer whose
whole parameter list is empty does), and the model trains without the clipping or
regularisation the code asks for.

## Example
```python
params = filter(lambda p: p.requires_grad, model.parameters())
optimizer = torch.optim.AdamW(params, lr=1e-4)
for batch in loader:
    loss = model(batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
```

## Use instead
```python
params = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.AdamW(params, lr=1e-4)
for batch in loader:
    loss = model(batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
```

## Fix safety
The fix wraps the value where the name is bound in `list(...)`, so that every consumer
gets all the parameters. It is safe when the first use follows the binding directly (with
at most the headers of the loops or blocks it sits in between): the same items are
collected at the same moment. When other statements run in between it is unsafe (applied
with `--unsafe-fixes`): the items are then collected earlier than before, so a `filter` on
`requires_grad` sees parameters as they were before a freeze made in between.
An annotated binding (`params: Iterator[Tensor] = ...`) gets no fix.

## References
- [Python glossary: iterator](https://docs.python.org/3/glossary.html#term-iterator)
- [torch.nn.Module.parameters](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.parameters)
- [torch.nn.utils.clip_grad_norm_](https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html)
"""
    valid = (
        # the seeds: a filter bound and consumed once
        """\
import torch
ignored_params = list(map(id, model.fc.parameters()))
base_params = filter(lambda p: id(p) not in ignored_params, model.parameters())
optimizer = torch.optim.SGD(
    [{"params": base_params}, {"params": model.fc.parameters(), "lr": 1e-2}],
    lr=1e-3,
    momentum=0.9,
)
""",
        # materialised with list(...) or a list comprehension
        """\
import torch
params = list(filter(lambda p: p.requires_grad, model.parameters()))
opt = torch.optim.Adam(params)
for batch in loader:
    torch.nn.utils.clip_grad_norm_(params, 1.0)
trainable = [p for p in model.parameters() if p.requires_grad]
opt2 = torch.optim.SGD(trainable, lr=0.1)
print(sum(p.numel() for p in trainable))
""",
        # a fresh iterator at each use
        """\
import torch
opt = torch.optim.Adam(model.parameters())
for batch in loader:
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
""",
        # created inside the loop that consumes it
        """\
import torch
for step in range(100):
    params = filter(lambda p: p.grad is not None, model.parameters())
    torch.nn.utils.clip_grad_norm_(params, 1.0)
""",
        # consumed in exclusive branches
        """\
import torch
params = filter(lambda p: p.requires_grad, model.parameters())
if args.optim == "sgd":
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
elif args.optim == "adam":
    opt = torch.optim.Adam(params, lr=1e-3)
else:
    raise ValueError(args.optim)
""",
        # looked at without iterating it, then consumed once
        """\
import torch
import logging
params = model.parameters()
print(params)
logging.info("params: %s", params)
if params is not None:
    opt = torch.optim.Adam(params)
""",
        # rebound before the second use
        """\
import torch
params = model.parameters()
opt = torch.optim.Adam(params)
params = model.parameters()
for p in params:
    p.requires_grad = True
""",
        # not parameters: a generator over a range
        """\
squares = (i * i for i in range(10))
total = sum(squares)
again = max(squares, default=0)
""",
        # a lambda that consumes it later is not followed
        """\
import torch
params = model.parameters()
opt = torch.optim.Adam(params)
count = lambda: sum(p.numel() for p in params)
""",
    )
    invalid = (
        # consumed by the optimizer, then in the loop by clip_grad_norm_
        """\
import torch
params = filter(lambda p: p.requires_grad, model.parameters())
optimizer = torch.optim.AdamW(params, lr=1e-4)
for batch in loader:
    loss = model(batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)  # expect: FTL109
    optimizer.step()
""",
        # model.parameters() counted, then given to the optimizer
        """\
from torch import optim
params = model.parameters()
print(sum(p.numel() for p in params))
opt = optim.SGD(params, lr=0.1)  # expect: FTL109
""",
        # a generator expression, a named_parameters() loop and a map, inside a function
        """\
import torch
from torch.nn.utils import clip_grad_norm_

def train(model, loader):
    trainable = (p for p in model.parameters() if p.requires_grad)
    opt = torch.optim.Adam(trainable)
    clip_grad_norm_(trainable, max_norm=1.0)  # expect: FTL109
    named = model.named_parameters()
    for name, p in named:
        print(name)
    decay = {n for n, p in named if "bias" not in n}  # expect: FTL109
    grads = map(lambda p: p.grad, model.parameters())
    for epoch in range(3):
        total = sum(g.norm() for g in grads)  # expect: FTL109
""",
        # iterated in a for loop inside the epoch loop; a same-file generator
        """\
import torch

def trainable(model):
    for p in model.parameters():
        if p.requires_grad:
            yield p

params = trainable(model)
opt = torch.optim.SGD(params, lr=0.1)
for epoch in range(10):
    for p in params:  # expect: FTL109
        p.grad = None
""",
        # the same iterator in two param groups
        """\
import torch
head = model.head.parameters()
opt = torch.optim.Adam([{"params": head}, {"params": head, "lr": 1e-3}])  # expect: FTL109
""",
    )

    fix_examples = (
        # used right after the binding: safe; the comment stays
        (
            """\
import torch
params = filter(lambda p: p.requires_grad, model.parameters())  # trainable
optimizer = torch.optim.AdamW(params, lr=1e-4)
for batch in loader:
    torch.nn.utils.clip_grad_norm_(params, 1.0)
""",
            """\
import torch
params = list(filter(lambda p: p.requires_grad, model.parameters()))  # trainable
optimizer = torch.optim.AdamW(params, lr=1e-4)
for batch in loader:
    torch.nn.utils.clip_grad_norm_(params, 1.0)
""",
        ),
        # a generator expression, first consumed inside a loop (only its header between)
        (
            """\
import torch
def train(model, loader):
    trainable = (p for p in model.parameters() if p.requires_grad)
    for epoch in range(3):
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
""",
            """\
import torch
def train(model, loader):
    trainable = list(p for p in model.parameters() if p.requires_grad)
    for epoch in range(3):
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
""",
        ),
        # a statement between the binding and the first use: unsafe, still fixed here
        (
            """\
from torch import optim
params = model.parameters()
print("building the optimizer")
opt = optim.SGD(params, lr=0.1)
opt2 = optim.SGD(params, lr=0.1)
""",
            """\
from torch import optim
params = list(model.parameters())
print("building the optimizer")
opt = optim.SGD(params, lr=0.1)
opt2 = optim.SGD(params, lr=0.1)
""",
        ),
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        # Only iterators bound by an assignment are tracked.
        return super().may_report(outline) and outline.facts.assigns_result_of(_PARAM_METHODS)

    def visit_Module(self, node: cst.Module) -> None:
        for owner in self.ctx.scopes:
            self._scope(self.ctx.steps(owner))

    def _scope(self, steps: Sequence[Step]) -> None:
        iterators: dict[str, _Iterator] = {}
        holders: set[str] = set()
        for step in steps:
            # Consumers matter only once some one-shot iterator is tracked; most scopes
            # have none, and finding consumers walks every step.
            for name_node, consumer in _consumers(step) if iterators else ():
                tracked = iterators.get(name_node.value)
                if tracked is not None:
                    self._judge(steps, name_node.value, tracked, step, consumer)
            self._bind(step, iterators, holders)

    def _judge(
        self,
        steps: Sequence[Step],
        name: str,
        tracked: _Iterator,
        step: Step,
        consumer: cst.CSTNode,
    ) -> None:
        earlier = [c for c in tracked.consumers if not exclusive(c, step)]
        tracked.consumers.append(step)
        outer = [loop for loop in step.loops if loop not in tracked.bound.loops]
        if not earlier and not (outer and not _bound_in(steps, outer[0], name)):
            return
        # Positions and the fix cost a code walk: only for what is reported.
        positions = self.ctx.positions
        bound = positions[tracked.bound.node].start.line
        fix = self._fix(steps, name, tracked.bound, earlier[0] if earlier else step)
        if earlier:
            first = positions[earlier[0].node].start.line
            message = self.message_again.format(name=name, bound=bound, first=first)
        else:
            message = self.message_loop.format(name=name, bound=bound)
        self.report(consumer, message, fix)

    def _fix(self, steps: Sequence[Step], name: str, bound: Step, first_use: Step):
        """`name = list(...)` where it is bound; safe when nothing runs before the first use."""
        if not isinstance(bound.node, cst.Assign):
            return None
        value = bound.node.value
        code = self.ctx.module.code_for_node(value)
        # A generator expression brings its parentheses along: list(p for p in ...).
        new = "list" + code if isinstance(value, cst.GeneratorExp) else f"list({code})"
        between = [s for s in steps if bound.index < s.index < first_use.index]
        safe = all(s.is_header for s in between)
        return self.fix_with(
            f"materialise {name} with list(...) where it is bound",
            self.replace(value, new),
            safe=safe,
        )

    def _bind(self, step: Step, iterators: dict[str, _Iterator], holders: set[str]) -> None:
        node = step.node
        _, binds = names_used(node)
        names = {bind.value for bind in binds}
        for name in sorted(names):
            iterators.pop(name, None)
        value_mentions = False
        if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
            value_mentions = _mentions_params(node.value, holders)
        for name in sorted(names):
            holders.discard(name)
            if value_mentions:
                holders.add(name)
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            target = node.targets[0].target
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            target = node.target
        else:
            return
        if isinstance(target, cst.Name) and self._one_shot(node.value, value_mentions):
            iterators[target.value] = _Iterator(step)

    def _one_shot(self, value: cst.BaseExpression, mentions: bool) -> bool:
        """Whether `value` builds a one-shot iterator of parameters."""
        if isinstance(value, cst.GeneratorExp):
            return mentions
        if not isinstance(value, cst.Call):
            return False
        func = value.func
        if isinstance(func, cst.Attribute) and func.attr.value in _PARAM_METHODS:
            return True
        qualified = self.ctx.qualified_name(func)
        if qualified is not None:
            return qualified in _CHAINS and mentions
        if isinstance(func, cst.Name):
            if func.value in _ONE_SHOT_BUILTINS:
                return mentions
            helper = self.ctx.functions.get(func.value)
            return helper is not None and _is_generator(helper) and _mentions_params(helper, set())
        return False


def _bound_in(steps: Sequence[Step], loop: cst.CSTNode, name: str) -> bool:
    for step in steps:
        if loop in step.loops and name in step.bound_names:
            return True
    return False
