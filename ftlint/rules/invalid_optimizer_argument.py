from __future__ import annotations

import functools

import libcst as cst

from ftlint.analysis.scopes import names_used
from ftlint.analysis.spelling import closest
from ftlint.analysis.values import string_value
from ftlint.data.optimizer_signatures import CHANGES, RELEASES
from ftlint.outline import Outline
from ftlint.rules.base import Rule
from ftlint.targets import Release, parse_release

# The releases the table was read from, oldest first.
_TABLES = sorted(parse_release(name) for name in RELEASES)
_OLDEST, _NEWEST = _TABLES[0], _TABLES[-1]


def _names(module: str, name: str) -> tuple[str, str]:
    """`torch.optim.Adam` and `torch.optim.adam.Adam` both name Adam."""
    return f"torch.optim.{name}", f"{module}.{name}"


# What the rule judges is a call of an optimizer of some release, direct or through
# functools.partial.
_JUDGED_CALLEES = frozenset(
    qualified
    for name, changes in CHANGES.items()
    for _, entry in changes
    if entry is not None
    for qualified in _names(entry["module"], name)  # type: ignore[arg-type]
) | {"functools.partial"}

# Keys torch itself puts in a group besides the defaults.
_ALWAYS_VALID_GROUP_KEYS = frozenset({"params", "param_names"})
_LIST_METHODS = frozenset({"append", "extend", "insert"})
# The optimizers people use most come first when a message names some.
_POPULAR = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")


class _Optimizers:
    """The `torch.optim` optimizers of one torch release, by the table of the newest
    release read at or before it (the oldest table for an older release)."""

    def __init__(self, torch: Release) -> None:
        self.torch = torch
        read = max((release for release in _TABLES if release <= torch), default=_OLDEST)
        self.entries: dict[str, dict[str, object]] = {}
        for name, changes in CHANGES.items():
            entry = None
            for first, signature in changes:
                if parse_release(first) <= read:
                    entry = signature
            if entry is not None:
                self.entries[name] = entry
        self.by_qualified_name = {
            qualified: name
            for name, entry in self.entries.items()
            for qualified in _names(entry["module"], name)  # type: ignore[arg-type]
        }

    def keywords(self, name: str) -> tuple[str, ...]:
        return self.entries[name]["keywords"]  # type: ignore[return-value]

    def group_keys(self, name: str) -> frozenset[str]:
        keys = self.entries[name]["group_keys"]
        return frozenset(keys) | _ALWAYS_VALID_GROUP_KEYS  # type: ignore[arg-type]

    def owners(self, key: str, exclude: str) -> list[str]:
        """Other optimizers that take `key` as a hyperparameter, the popular ones first."""
        names = [
            name
            for name, entry in self.entries.items()
            if name != exclude and key in entry["group_keys"]  # type: ignore[operator]
        ]
        return sorted(names, key=_rank)

    def added_after(self, name: str, key: str, field: str) -> str | None:
        """The first release after this one whose `name` has `key` among its `field`
        ("keywords" or "group_keys"), as "MAJOR.MINOR"; None if there is none."""
        for first, entry in CHANGES[name]:
            later = parse_release(first) > self.torch
            if later and entry is not None and key in entry[field]:  # type: ignore[operator]
                return first
        return None


@functools.cache
def optimizers(torch: Release) -> _Optimizers:
    return _Optimizers(torch)


def torch_optimizer(ctx, func: cst.BaseExpression) -> str | None:
    """The `torch.optim` optimizer an expression names (`optim.Adam` -> "Adam") in the
    target torch, or None."""
    qualified = ctx.qualified_name(func)
    return optimizers(ctx.targets.torch).by_qualified_name.get(qualified) if qualified else None


def _rank(name: str) -> tuple[int, str]:
    return (_POPULAR.index(name) if name in _POPULAR else len(_POPULAR), name)


def _owners_text(owners: list[str]) -> str:
    return ", ".join(owners[:3]) + (" and others" if len(owners) > 3 else "")


class _Group:
    """A param-group literal: `{"params": ..., "lr": ...}` or `dict(params=..., lr=...)`."""

    def __init__(self, node: cst.Dict | cst.Call) -> None:
        self.node = node

    def keys(self) -> list[tuple[str, cst.CSTNode]]:
        found = []
        if isinstance(self.node, cst.Dict):
            for element in self.node.elements:
                if isinstance(element, cst.DictElement):
                    key = string_value(element.key)
                    if key is not None:
                        found.append((key, element.key))
        else:
            for arg in self.node.args:
                if arg.keyword is not None:
                    found.append((arg.keyword.value, arg))
        return found


def _as_group(node: cst.BaseExpression) -> _Group | None:
    if isinstance(node, cst.Dict):
        return _Group(node)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "dict":
        if not any(arg.keyword is None for arg in node.args):
            return _Group(node)
    return None


class InvalidOptimizerArgument(Rule):
    code = "FTL108"
    name = "invalid-optimizer-argument"
    # every torch.optim optimizer is reached through a name spelled with "optim"
    tokens = ("optim",)
    message = (
        "torch.optim.{cls}() takes no argument '{key}'{when}: building the optimizer raises "
        "TypeError; {hint}"
    )
    group_message = (
        "torch.optim.{cls} ignores the param-group key '{key}'{why}: it is stored in the "
        "group silently and never read; {hint}"
    )
    docs = f"""\
## What it does
Checks calls of the `torch.optim` optimizers (`SGD`, `Adam`, `AdamW`, ... every optimizer
of the target torch release) against their constructors in that release:

- a keyword the constructor does not take: `Adam(params, momentum=0.9)`, the typo
  `weight_decy=`;
- a key of a param-group dict (`{{"params": ..., "lr": ...}}`, given directly, through a
  name bound to the list or dict earlier, or to `optimizer.add_param_group`) that is a
  hyperparameter of another optimizer (`"momentum"` for Adam, `"betas"` for SGD) or a
  near miss of a key the optimizer reads (`"weight_decy"`, `"Lr"`).

Custom group keys (`"lr_scale"`, `"name"`, `"layer_id"`) are legitimate: schedulers and
training loops read them, so they are not reported. Calls with `**kwargs` are checked only
for their explicit keywords; optimizers outside `torch.optim` are not checked.

The target is `target-torch` in `[tool.ftlint]` (or `--target-torch`), else the installed
torch, else the newest release ftlint knows. The signatures were read from the sources of
every minor release from torch {_OLDEST} to {_NEWEST}; a newer target is checked against
{_NEWEST}, an older one against {_OLDEST}, and an optimizer the target lacks (`Adafactor`
before 2.5) is not checked. With `target-torch = "2.1"`, `SGD(params, fused=True)` is
reported (`fused` came in 2.3), and so is the group key `"decoupled_weight_decay"` for
Adam (read from 2.7 on).

## Why is this bad?
An unknown keyword raises `TypeError` when the optimizer is built, so it is found at
once, but the message does not say what to write instead: Adam's momentum is the first of
`betas`. An unknown key in a param group is worse: the optimizer stores it in the group
and never reads it. Nothing raises, and that group trains with the optimizer-wide value
instead of the one you chose (no weight decay, no momentum, the wrong learning rate).

## Example
```python
optimizer = torch.optim.Adam(
    [
        {{"params": model.backbone.parameters(), "lr": 1e-5, "momentum": 0.9}},
        {{"params": model.head.parameters(), "weight_decy": 1e-4}},
    ],
    lr=1e-3,
    momentum=0.9,
)
```

## Use instead
```python
optimizer = torch.optim.Adam(
    [
        {{"params": model.backbone.parameters(), "lr": 1e-5, "betas": (0.9, 0.999)}},
        {{"params": model.head.parameters(), "weight_decay": 1e-4}},
    ],
    lr=1e-3,
    betas=(0.9, 0.999),
)
```

## References
- [torch.optim: per-parameter options](https://pytorch.org/docs/stable/optim.html#per-parameter-options)
- [torch.optim.Adam](https://pytorch.org/docs/stable/generated/torch.optim.Adam.html)
"""
    valid = (
        # every keyword the constructors take, positional hyperparameters
        """\
import torch
opt = torch.optim.SGD(model.parameters(), 0.1, 0.9, nesterov=True, weight_decay=1e-4)
opt = torch.optim.Adam(params=model.parameters(), lr=1e-3, betas=(0.9, 0.99), fused=True)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, amsgrad=True, foreach=False)
opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, momentum=0.9, centered=True)
""",
        # the seeds' per-group learning rates, with the keys SGD reads
        """\
import torch.optim as optim
optimizer = optim.SGD([
    {"params": base_params},
    {"params": model.fc.parameters(), "lr": 1e-2},
], lr=1e-3, momentum=0.9)
""",
        # custom group keys that schedulers and loops read
        """\
from torch.optim import AdamW
groups = [
    {"params": decay, "weight_decay": 0.01, "name": "decay", "lr_scale": 0.5},
    {"params": no_decay, "weight_decay": 0.0, "layer_id": 3, "initial_lr": 1e-4},
]
opt = AdamW(groups, lr=1e-4)
""",
        # **kwargs, computed keys, dict unpacking
        """\
import torch
opt = torch.optim.Adam(model.parameters(), **cfg.optimizer)
opt = torch.optim.Adam([{"params": p, **extra, key: 1.0}], lr=cfg.lr)
""",
        # optimizers that are not torch.optim's, or that ftlint cannot resolve
        """\
import torch
import bitsandbytes as bnb
from transformers import Adafactor
opt = bnb.optim.AdamW8bit(model.parameters(), lr=1e-4, percentile_clipping=5)
opt = Adafactor(model.parameters(), scale_parameter=False, relative_step=False)
opt = getattr(torch.optim, cfg.name)(model.parameters(), momentum=0.9)
opt = MyAdam([{"params": p, "momentum": 0.9}])
""",
        # a name for the groups rebound to something unknown before the call
        """\
import torch
groups = [{"params": p, "momentum": 0.9}]
groups = build_groups(model)
opt = torch.optim.Adam(groups)
""",
        # a keyword AdamW takes; AdamW reads decoupled_weight_decay from a group too
        """\
import torch
opt = torch.optim.AdamW([{"params": p, "decoupled_weight_decay": False}], weight_decay=0.01)
""",
    )
    invalid = (
        # the seed: Adam with momentum, per-group learning rates
        """\
import torch
optimizer = torch.optim.Adam([{'params': base_params, 'lr': 1e-6},
                              {'params': model.decoder.parameters()}
                              ],
                              lr=1e-4, momentum=0.9)  # expect: FTL108
""",
        # typos and another optimizer's keyword, aliased imports
        """\
from torch.optim import AdamW as AW
import torch.optim as optim
opt = AW(model.parameters(), lr=1e-4, weight_decy=0.01)  # expect: FTL108
opt = optim.SGD(model.parameters(), lr=0.1, betas=(0.9, 0.999))  # expect: FTL108
opt = optim.adam.Adam(model.parameters(), nesterov=True)  # expect: FTL108
""",
        # group keys: another optimizer's hyperparameter, a near miss; dict() groups
        """\
import torch
opt = torch.optim.Adam(
    [
        {"params": model.backbone.parameters(), "lr": 1e-5, "momentum": 0.9},  # expect: FTL108
        {"params": model.head.parameters(), "weight_decy": 1e-4},  # expect: FTL108
        dict(params=model.neck.parameters(), Lr=1e-4),  # expect: FTL108
    ],
    lr=1e-3,
)
""",
        # groups built in a list first, one of them through a name; add_param_group
        """\
from torch import optim
head = {"params": model.head.parameters(), "betas": (0.9, 0.99)}  # expect: FTL108
groups = [{"params": model.body.parameters(), "eps": 1e-8}, head]  # expect: FTL108
groups.append({"params": model.neck.parameters(), "lr_decay": 0.1})  # expect: FTL108
opt = optim.SGD(groups, lr=0.1, momentum=0.9)
opt.add_param_group({"params": model.extra.parameters(), "momentun": 0.9})  # expect: FTL108
""",
        # inside a method, with **kwargs next to a wrong explicit keyword
        """\
import torch
class Module:
    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), momentum=0.9, **self.kw)  # expect: FTL108
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        return super().may_report(outline) and outline.facts.calls_any(_JUDGED_CALLEES)

    def visit_Module(self, node: cst.Module) -> None:
        self._seen: set[int] = set()
        self.optimizers = optimizers(self.ctx.targets.torch)
        for owner in self.ctx.scopes:
            _ScopeCheck(self).run(self.ctx.steps(owner))

    # -- checks --------------------------------------------------------------------------

    def check_call(self, cls: str, call: cst.Call, groups: list[_Group]) -> None:
        valid = self.optimizers.keywords(cls)
        for arg in call.args:
            if arg.keyword is None or arg.keyword.value in valid:
                continue
            key = arg.keyword.value
            later = self.optimizers.added_after(cls, key, "keywords")
            if later is not None:
                when = f" in torch {self.optimizers.torch}"
                hint = f"{cls} takes it from torch {later} on"
            else:
                when, hint = "", self._hint(cls, key)
            self._report(arg, self.message.format(cls=cls, key=key, when=when, hint=hint))
        for group in groups:
            self.check_group(cls, group)

    def check_group(self, cls: str, group: _Group) -> None:
        valid = self.optimizers.group_keys(cls)
        for key, node in group.keys():
            if key in valid:
                continue
            later = self.optimizers.added_after(cls, key, "group_keys")
            near = closest(key, sorted(valid - _ALWAYS_VALID_GROUP_KEYS))
            owners = self.optimizers.owners(key, cls)
            if later is not None:
                why = f" in torch {self.optimizers.torch}"
                hint = f"{cls} reads it from torch {later} on"
            elif near is not None:
                why = ""
                hint = f"did you mean '{near}'? That group now gets the optimizer-wide {near}"
            elif owners:
                why = f" (a hyperparameter of {_owners_text(owners)})"
                hint = self._group_hint(cls, key)
            else:
                continue  # a custom key of the training code
            self._report(
                node, self.group_message.format(cls=cls, key=key, why=why, hint=hint)
            )

    def _hint(self, cls: str, key: str) -> str:
        valid = self.optimizers.keywords(cls)
        near = closest(key, [k for k in valid if k != "params"])
        if near is not None:
            return f"did you mean {near}=?"
        if key == "momentum" and "betas" in valid:
            return f"{cls}'s momentum is the first of betas, e.g. betas=(0.9, 0.999)"
        owners = self.optimizers.owners(key, cls)
        if owners:
            return f"it is an argument of {_owners_text(owners)}: drop it or use one of those"
        takes = ", ".join(k for k in valid if k != "params")
        return f"{cls} takes {takes}"

    def _group_hint(self, cls: str, key: str) -> str:
        if key == "momentum" and "betas" in self.optimizers.group_keys(cls):
            return "set 'betas': (0.9, 0.999) in the group for Adam-style momentum"
        return f"drop it, or set a key {cls} reads"

    def _report(self, node: cst.CSTNode, message: str) -> None:
        if id(node) not in self._seen:
            self._seen.add(id(node))
            self.report(node, message)


class _ScopeCheck:
    """Walks one scope in order, remembering names bound to group literals and optimizers."""

    def __init__(self, rule: InvalidOptimizerArgument) -> None:
        self.rule = rule
        self.ctx = rule.ctx
        self.lists: dict[str, list[_Group]] = {}
        self.dicts: dict[str, _Group] = {}
        self.optimizers: dict[str, str] = {}

    def run(self, steps) -> None:
        for step in steps:
            for call in step.calls:
                self._call(call)
            self._bind(step.node)

    def _call(self, call: cst.Call) -> None:
        func = call.func
        cls = torch_optimizer(self.ctx, func)
        if cls is not None:
            self.rule.check_call(cls, call, self._groups(self._params_arg(call)))
            return
        if (
            self.ctx.qualified_name(func) == "functools.partial"
            and call.args
            and call.args[0].keyword is None
        ):
            cls = torch_optimizer(self.ctx, call.args[0].value)
            if cls is not None:
                self.rule.check_call(cls, call, [])
            return
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "add_param_group"
            and isinstance(func.value, cst.Name)
            and func.value.value in self.optimizers
            and call.args
        ):
            group = self._group(call.args[0].value)
            if group is not None:
                self.rule.check_group(self.optimizers[func.value.value], group)

    @staticmethod
    def _params_arg(call: cst.Call) -> cst.BaseExpression | None:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == "params":
                return arg.value
        first = call.args[0] if call.args else None
        if first is not None and first.keyword is None and not first.star:
            return first.value
        return None

    def _group(self, node: cst.BaseExpression) -> _Group | None:
        if isinstance(node, cst.Name):
            return self.dicts.get(node.value)
        return _as_group(node)

    def _groups(self, node: cst.BaseExpression | None) -> list[_Group]:
        if node is None:
            return []
        if isinstance(node, cst.Name) and node.value in self.lists:
            return list(self.lists[node.value])
        if isinstance(node, (cst.List, cst.Tuple)):
            found = []
            for element in node.elements:
                if isinstance(element, cst.StarredElement):
                    continue
                group = self._group(element.value)
                if group is not None:
                    found.append(group)
            return found
        if isinstance(node, (cst.ListComp, cst.GeneratorExp)):
            group = _as_group(node.elt)
            return [group] if group is not None else []
        return []

    def _bind(self, stmt: cst.CSTNode) -> None:
        kept: set[str] = set()
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0].target
            if isinstance(target, cst.Name):
                name = target.value
                self._forget(name)
                value = stmt.value
                group = self._group(value) if not isinstance(value, cst.Name) else None
                if group is not None:
                    self.dicts[name] = group
                elif isinstance(value, (cst.List, cst.Tuple, cst.ListComp)):
                    self.lists[name] = self._groups(value)
                elif isinstance(value, cst.Call):
                    cls = torch_optimizer(self.ctx, value.func)
                    if cls is not None:
                        self.optimizers[name] = cls
                kept.add(name)
        elif isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Call):
            func = stmt.value.func
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value in _LIST_METHODS
                and isinstance(func.value, cst.Name)
                and func.value.value in self.lists
            ):
                added = [a.value for a in stmt.value.args if a.keyword is None]
                if func.attr.value == "insert":
                    added = added[1:]
                for value in added:
                    if func.attr.value == "extend":
                        self.lists[func.value.value].extend(self._groups(value))
                    else:
                        group = self._group(value)
                        if group is not None:
                            self.lists[func.value.value].append(group)
        elif isinstance(stmt, cst.AugAssign) and isinstance(stmt.target, cst.Name):
            name = stmt.target.value
            if name in self.lists and isinstance(stmt.operator, cst.AddAssign):
                self.lists[name].extend(self._groups(stmt.value))
                kept.add(name)
        _, binds = names_used(stmt)
        for bound in binds:
            if bound.value not in kept:
                self._forget(bound.value)

    def _forget(self, name: str) -> None:
        self.lists.pop(name, None)
        self.dicts.pop(name, None)
        self.optimizers.pop(name, None)
