from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from ftlint.analysis.flow import OptimizerBuilt, ScopeFlow, file_flows
from ftlint.analysis.optimizers import may_build_optimizer
from ftlint.analysis.scopes import Step
from ftlint.analysis.values import Source, contains, string_value
from ftlint.outline import Outline
from ftlint.rules.base import Rule

_SEQUENCES = (cst.List, cst.Tuple)


def _params_arg(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "params":
            return arg.value
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
    return None


def _group_params(group: cst.BaseExpression) -> cst.BaseExpression | None:
    if not isinstance(group, cst.Dict):
        return None
    for element in group.elements:
        if isinstance(element, cst.DictElement) and string_value(element.key) == "params":
            return element.value
    return None


def _binds(step: Step, name: str) -> bool:
    return name in step.bound_names


def _added_groups(step: Step, name: str) -> list[cst.BaseExpression]:
    """Groups added by `groups.append({...})`, `groups.extend([...])`, `groups += [...]`."""
    node = step.node
    if isinstance(node, cst.AugAssign):
        target, added = node.target, node.value
        if isinstance(target, cst.Name) and target.value == name and isinstance(added, _SEQUENCES):
            return [element.value for element in added.elements]
        return []
    if not (isinstance(node, cst.Expr) and isinstance(node.value, cst.Call)):
        return []
    call, func = node.value, node.value.func
    if not (
        isinstance(func, cst.Attribute)
        and isinstance(func.value, cst.Name)
        and func.value.value == name
        and len(call.args) == 1
    ):
        return []
    value = call.args[0].value
    if func.attr.value == "append":
        return [value]
    if func.attr.value == "extend" and isinstance(value, _SEQUENCES):
        return [element.value for element in value.elements]
    return []


def _group_list(
    steps: Sequence[Step], event: OptimizerBuilt
) -> tuple[cst.CSTNode, list[cst.BaseExpression]] | None:
    """The literal list of param groups an optimizer gets, inline or bound to a name first."""
    params = _params_arg(event.call)
    if isinstance(params, _SEQUENCES):
        return params, [element.value for element in params.elements]
    if not isinstance(params, cst.Name):
        return None
    name = params.value
    added: list[cst.BaseExpression] = []
    for step in reversed(steps[: event.step.index]):
        node = step.node
        if (
            isinstance(node, cst.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
            and node.targets[0].target.value == name
            and isinstance(node.value, _SEQUENCES)
        ):
            groups = [element.value for element in node.value.elements]
            return node.value, groups + added
        if _binds(step, name) and not isinstance(node, cst.AugAssign):
            return None
        added[:0] = _added_groups(step, name)
    return None


def _covers(outer: Source, inner: Source, event: OptimizerBuilt) -> bool:
    """Whether every parameter `inner` yields is surely also among those `outer` yields."""
    if outer.part or not contains(outer.path, inner.path):
        return False
    # A requires_grad filter drops the inner part only if it is frozen.
    return not (outer.filtered and event.state.frozen_in(Source(inner.path)) is not None)


class OverlappingParamGroups(Rule):
    code = "FTL110"
    name = "overlapping-param-groups"
    # one group always takes a module's .parameters()
    tokens = ("parameters", "named_parameters")
    message = (
        "param group {inner_index} takes {inner}, which group {outer_index} already holds "
        "through {outer}.parameters(): a parameter in two groups raises ValueError at "
        "start-up; leave it out of group {outer_index} by id(): ids = set(map(id, {code})), "
        "then [p for p in {outer}.parameters() if id(p) not in ids]"
    )
    docs = """\
## What it does
Finds a list of optimizer parameter groups in which one group takes all the parameters
of a module (`model.parameters()`) and another group takes a part of the same module
(`model.fc.parameters()`, `model.fc.weight`), inline or in a list bound to a name first.

## Why is this bad?
A parameter may belong to only one group: building the optimizer raises
`ValueError: some parameters appear in more than one parameter group` at start-up. The
intent (a different learning rate for the new head) needs the head excluded from the
base group.

## Example
```python
optimizer = torch.optim.SGD(
    [
        {"params": model.parameters()},
        {"params": model.fc.parameters(), "lr": 1e-2},
    ],
    lr=1e-3,
    momentum=0.9,
)
```

## Use instead
Exclude the part from the base group by `id()`, as the usual recipe does:
```python
ignored_params = set(map(id, model.fc.parameters()))
base_params = [p for p in model.parameters() if id(p) not in ignored_params]
optimizer = torch.optim.SGD(
    [
        {"params": base_params},
        {"params": model.fc.parameters(), "lr": 1e-2},
    ],
    lr=1e-3,
    momentum=0.9,
)
```

## References
- [torch.optim: per-parameter options](https://pytorch.org/docs/stable/optim.html#per-parameter-options)
- [torch.optim.Optimizer.add_param_group](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.add_param_group.html)
"""
    valid = (
        # the seeds: the base group excludes the head by id()
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
        # disjoint parts of the model
        """\
import torch
opt = torch.optim.AdamW(
    [
        {"params": model.backbone.parameters(), "lr": 1e-5},
        {"params": model.head.parameters(), "lr": 1e-3},
    ]
)
""",
        # split by name, into lists
        """\
from torch import optim
decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
groups = [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]
opt = optim.AdamW(groups, lr=1e-4)
""",
        # two different models
        """\
import torch
opt = torch.optim.Adam([{"params": generator.parameters()}, {"params": discriminator.parameters()}])
""",
        # the whole model filtered on requires_grad, plus a part that is frozen
        """\
import torch
model.encoder.requires_grad_(False)
opt = torch.optim.Adam(
    [
        {"params": filter(lambda p: p.requires_grad, model.parameters())},
        {"params": model.encoder.parameters(), "lr": 0.0},
    ]
)
""",
        # unknown group contents, starred groups, **kwargs, not an optimizer
        """\
import torch
opt = torch.optim.Adam([*extra_groups, {"params": get_params(model)}], **cfg)
opt2 = torch.optim.SGD(build_groups(model), lr=0.1)
table = [{"params": model.parameters()}, {"params": model.fc.parameters()}]
""",
    )
    invalid = (
        """\
import torch
optimizer = torch.optim.SGD(
    [  # expect: FTL110
        {"params": model.parameters()},
        {"params": model.fc.parameters(), "lr": 1e-2},
    ],
    lr=1e-3,
    momentum=0.9,
)
""",
        # a group list bound first, grown with append, alias of a submodule
        """\
from torch.optim import AdamW
head = model.classifier
param_groups = [{"params": head.parameters(), "lr": 1e-3}]  # expect: FTL110
param_groups.append({"params": model.parameters(), "lr": 1e-5})
opt = AdamW(param_groups, weight_decay=0.01)
""",
        # a single tensor, inside a method; a requires_grad filter keeps the trainable head
        """\
import torch
class Trainer:
    def configure_optimizers(self):
        return torch.optim.Adam(
            [  # expect: FTL110
                {"params": filter(lambda p: p.requires_grad, self.model.parameters())},
                {"params": [self.model.head.weight], "lr": 1e-2},
            ]
        )
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        # Groups are dicts with a "params" key, given to an optimizer the rule knows.
        if not super().may_report(outline) or "params" not in outline.words:
            return False
        return may_build_optimizer(outline)

    def visit_Module(self, node: cst.Module) -> None:
        for flow in file_flows(self.ctx):
            for event in flow.events:
                if (
                    isinstance(event, OptimizerBuilt)
                    and event.evaluator is not None
                    and not event.by_role  # a factory may merge or split groups itself
                ):
                    self._judge(flow, event)

    def _judge(self, flow: ScopeFlow, event: OptimizerBuilt) -> None:
        found = _group_list(flow.steps, event)
        if found is None:
            return
        node, groups = found
        params = [_group_params(group) for group in groups]
        sources = [event.evaluator.sources(p) if p is not None else () for p in params]
        for j in range(len(groups)):
            for i in range(len(groups)):
                if i == j or params[i] is None or params[j] is None:
                    continue
                if isinstance(params[i], cst.Name) and params[i].deep_equals(params[j]):
                    continue  # the same name twice: FTL109's business when it is an iterator
                for outer in sources[i]:
                    inner = next((s for s in sources[j] if _covers(outer, s, event)), None)
                    if inner is None:
                        continue
                    self.report(
                        node,
                        self.message.format(
                            inner_index=j,
                            inner=".".join(inner.path),
                            code=self._code(params[j]),
                            outer_index=i,
                            outer=".".join(outer.path),
                        ),
                    )
                    return

    def _code(self, expr: cst.BaseExpression) -> str:
        code = self.ctx.module.code_for_node(expr)
        return code if len(code) <= 60 and "\n" not in code else "..."
