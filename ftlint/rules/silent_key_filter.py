from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from ftlint.analysis.reporting import (
    name_reported,
    names_read_within,
    reporting_nodes,
    size_reported,
)
from ftlint.analysis.scopes import Step, names_used, nodes_in
from ftlint.outline import Outline
from ftlint.rules.base import Rule
from ftlint.walk import walk

# Calls whose result is a checkpoint (a state dict, or a dict holding one).
_CHECKPOINT_LOADERS = frozenset(
    {
        "torch.load",
        "torch.serialization.load",
        "torch.hub.load_state_dict_from_url",
        "torch.utils.model_zoo.load_url",
        "safetensors.torch.load_file",
    }
)
# Wrappers that keep the keys of what they wrap.
_KEY_WRAPPERS = frozenset({"dict", "set", "list", "frozenset", "sorted", "OrderedDict"})
_KEY_METHODS = frozenset({"keys", "copy"})
_DEPTH = 4  # how many name bindings to follow back


def _unwrap(node: cst.BaseExpression) -> cst.BaseExpression:
    """`dict(sd)`, `set(sd.keys())`, `sd.copy()` -> `sd`: the same keys."""
    while isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Name) and func.value in _KEY_WRAPPERS and len(node.args) == 1:
            node = node.args[0].value
        elif isinstance(func, cst.Attribute) and func.attr.value == "OrderedDict" and node.args:
            node = node.args[0].value
        elif isinstance(func, cst.Attribute) and func.attr.value in _KEY_METHODS and not node.args:
            node = func.value
        else:
            break
    return node


def _last_binding(steps: Sequence[Step], before: Step, name: str) -> cst.BaseExpression | None:
    """The value most recently assigned to `name` before `before` (None when unknown)."""
    for step in reversed(steps[: before.index]):
        node = step.node
        if isinstance(node, cst.Assign):
            if any(isinstance(t.target, cst.Name) and t.target.value == name for t in node.targets):
                return node.value
        if any(bind.value == name for bind in names_used(node)[1]):
            return None
    return None


def _is_state_dict_call(node: cst.BaseExpression) -> bool:
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "state_dict"
    )


def _name(node: cst.BaseExpression) -> str | None:
    return node.value if isinstance(node, cst.Name) else None


def _reads(node: cst.CSTNode) -> set[str]:
    return {name.value for name in names_read_within(node)}


def _key_tests(test: cst.BaseExpression, key: str) -> list[cst.BaseExpression]:
    """Right-hand sides of `<key expr> in X` tests anywhere in a condition."""
    found: list[cst.BaseExpression] = []

    class _Find(cst.CSTVisitor):
        def visit_Comparison(self, comparison: cst.Comparison) -> None:
            left = comparison.left
            for target in comparison.comparisons:
                if isinstance(target.operator, cst.In) and key in _reads(left):
                    found.append(target.comparator)
                left = target.comparator

    walk(test, _Find())
    return found


def _mentions_drop(node: cst.CSTNode) -> bool:
    """`k not in model_dict`, `set(a) - set(b)`, `.difference(...)`: computing what was left out."""
    found = False

    class _Find(cst.CSTVisitor):
        def visit_ComparisonTarget(self, target: cst.ComparisonTarget) -> None:
            nonlocal found
            found = found or isinstance(target.operator, cst.NotIn)

        def visit_BinaryOperation(self, operation: cst.BinaryOperation) -> None:
            nonlocal found
            found = found or isinstance(operation.operator, cst.Subtract)

        def visit_Attribute(self, attr: cst.Attribute) -> None:
            nonlocal found
            found = found or attr.attr.value in ("difference", "symmetric_difference")

    walk(node, _Find())
    return found


class SilentKeyFilter(Rule):
    code = "FTL202"
    name = "silent-key-filter"
    tokens = ("state_dict",)  # model_dict comes from a state_dict() call
    message = (
        "this comprehension keeps only the checkpoint keys the model has and drops the rest "
        "without a word: a renamed layer, a changed shape or a 'module.' prefix leaves those "
        "weights at their random init; log the keys it drops, or load with strict=False and "
        "check missing_keys"
    )
    docs = """\
## What it does
Finds the key filter of the fine-tuning recipes,
`{k: v for k, v in pretrained_dict.items() if k in model_dict}` (with or without a shape
test such as `model_dict[k].shape == v.shape`), where `model_dict` holds the model's
`state_dict()` keys, when its result reaches `load_state_dict` (directly, or through
`model_dict.update(...)`) or it iterates a `state_dict()` or `torch.load(...)` result, and
nothing in the function reports what it dropped.

Counted as reporting: the size of the filtered dict printed, logged or asserted (as
FTL201 does: `print(f"loaded {len(filtered)}/{len(model_dict)}")`), the dropped keys
computed (`k not in ...`, a set difference) and printed or logged, or the result of the
`load_state_dict` call that receives the filtered dict being kept. Filters over other
dicts (`{k: v for k, v in cfg.items() if k in allowed}`), key renames without a filter and
`if k not in skip` exclusions are not reported.

## Why is this bad?
The filter is how checkpoints with a different head are loaded: it keeps the keys the
model has and drops the others, so `load_state_dict` never complains. It drops everything
else too. A checkpoint saved from `DataParallel` (`module.` prefix) or `torch.compile`
(`_orig_mod.` prefix), a renamed attribute, or a changed layer size make the filter drop
the weights you meant to load; `model_dict.update(filtered)` then feeds the model its own
random initialisation, `load_state_dict` succeeds, and training starts from scratch with
no error and no warning. The loss still goes down, just not as far.

## Example
```python
pretrained_dict = torch.load("pretrained.pth", map_location="cpu")
model_dict = model.state_dict()
pretrained_dict = {k: v for k, v in pretrained_dict.items() if k in model_dict}
model_dict.update(pretrained_dict)
model.load_state_dict(model_dict)
```

## Use instead
Say what was dropped, and fail when it is everything:
```python
pretrained_dict = torch.load("pretrained.pth", map_location="cpu")
model_dict = model.state_dict()
kept = {k: v for k, v in pretrained_dict.items()
        if k in model_dict and v.shape == model_dict[k].shape}
skipped = sorted(set(pretrained_dict) - set(kept))
logger.info("loading %d/%d tensors; skipped: %s", len(kept), len(model_dict), skipped)
assert kept, "no key of the checkpoint matches the model"
model_dict.update(kept)
model.load_state_dict(model_dict)
```
Or let `load_state_dict` do the bookkeeping:
`result = model.load_state_dict(kept, strict=False)` and check `result.missing_keys`.

## References
- [Saving and loading models: warmstarting a model](https://pytorch.org/tutorials/beginner/saving_loading_models.html#warmstarting-model-using-parameters-from-a-different-model)
- [torch.nn.Module.load_state_dict](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.load_state_dict)
"""
    valid = (
        # an unrelated dict
        """\
cfg = load_yaml(path)
kwargs = {k: v for k, v in cfg.items() if k in allowed}
model = Net(**kwargs)
""",
        # a key rename without a filter
        """\
import torch
sd = torch.load("ckpt.pt", map_location="cpu")
sd = {k.replace("module.", ""): v for k, v in sd.items()}
model.load_state_dict(sd)
""",
        # the loaded count is logged (YOLOv5 style)
        """\
import torch
csd = torch.load(w, map_location="cpu")["model"]
model_sd = model.state_dict()
csd = {k: v for k, v in csd.items() if k in model_sd and v.shape == model_sd[k].shape}
model.load_state_dict(csd, strict=False)
LOGGER.info(f"Transferred {len(csd)}/{len(model_sd)} items from {w}")
""",
        # the dropped keys are computed and printed
        """\
def load_pretrained(model, path):
    pretrained = torch.load(path, map_location="cpu")
    model_dict = model.state_dict()
    kept = {k: v for k, v in pretrained.items() if k in model_dict}
    skipped = [k for k in pretrained if k not in kept]
    print("skipped keys:", skipped)
    model_dict.update(kept)
    model.load_state_dict(model_dict)
""",
        # the non-strict load's report is checked
        """\
model_dict = model.state_dict()
kept = {k: v for k, v in pretrained.state_dict().items() if k in model_dict}
result = model.load_state_dict(kept, strict=False)
assert not result.missing_keys, result.missing_keys
""",
        # exclusions and filters on something else than the model's keys
        """\
import torch
sd = torch.load(path)
sd = {k: v for k, v in sd.items() if k not in ("fc.weight", "fc.bias")}
sd = {k: v for k, v in sd.items() if not k.startswith("head.")}
model.load_state_dict(sd, strict=False)
""",
        # nested comprehensions, single-name targets, odd shapes: no crash
        """\
pairs = {k: v for k, v in groups.items() for _ in range(2) if k in model_dict}
sizes = {name: len(v) for name, v in zip(a, b) if name in keep}
lookup = {(a, b): c for (a, b), c in table.items() if a in index}
f = lambda d: {k: v for k, v in d.items() if k in model.state_dict()}
""",
    )
    invalid = (
        # the seed idiom, through model_dict.update
        """\
import torch
pretrained_dict = torch.load("pretrained.pth")
model_dict = model.state_dict()
pretrained_dict = {k: v for k, v in pretrained_dict.items() if k in model_dict}  # expect: FTL202
model_dict.update(pretrained_dict)
model.load_state_dict(model_dict)
""",
        # with an np.shape test, loaded directly (another seed); size of another dict printed
        """\
import numpy as np
model_dict = model.state_dict()
temp = {  # expect: FTL202
    k: v
    for k, v in pre_model.state_dict().items()
    if k in model_dict and np.shape(model_dict[k]) == np.shape(v)
}
model.load_state_dict(temp, strict=False)
print(len(model_dict))
""",
        # inside a method, keys from dict(model.state_dict()), a torch.load()[key] source
        """\
import torch

class Finetuner:
    def load_backbone(self, path):
        ckpt = torch.load(path, map_location="cpu")
        state = ckpt["state_dict"]
        own = dict(self.model.state_dict())
        own.update({k: v for k, v in state.items() if k in own})  # expect: FTL202
        self.model.load_state_dict(own)
""",
        # inline in the load call, the model's keys tested directly; a dict of another model
        """\
model.load_state_dict({k: v for k, v in other.state_dict().items() if k in model.state_dict()})  # expect: FTL202
model_dict2 = m.state_dict()
pretrained_dict = {k: v for k, v in model_dict.items() if k in model_dict2}  # expect: FTL202
model_dict2.update(pretrained_dict)
m.load_state_dict(model_dict2)
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        return super().may_report(outline) and outline.facts.filters_dict_by_membership()

    def visit_Module(self, node: cst.Module) -> None:
        for owner in self.ctx.scopes:
            steps = self.ctx.steps(owner)
            for step in steps:
                for comp in nodes_in(step.node, cst.DictComp):
                    if self._silent_filter(steps, step, comp):
                        self.report(comp)

    # -- the filter --------------------------------------------------------------------

    def _silent_filter(self, steps: list[Step], step: Step, comp: cst.DictComp) -> bool:
        for_in = comp.for_in
        if for_in.inner_for_in is not None or not for_in.ifs:
            return False
        key, source = _key_and_source(for_in)
        if key is None or source is None:
            return False
        tested = [
            member
            for condition in for_in.ifs
            for member in _key_tests(condition.test, key)
            if self._model_keys(steps, step, member, _DEPTH)
        ]
        if not tested:
            return False
        load = self._load_of(steps, step, comp)
        if load is None and not self._checkpoint(steps, step, source, _DEPTH):
            return False
        if load == "checked":
            return False
        names = {n for n in (_name(_unwrap(source)), *(_name(_unwrap(m)) for m in tested)) if n}
        result = _result_name(step, comp)
        if result is not None:
            names.add(result)
            if size_reported(steps, result):
                return False
        return not _drop_reported(steps, names)

    def _model_keys(self, steps, step: Step, node: cst.BaseExpression, depth: int) -> bool:
        """The keys of a model's state dict: `model.state_dict()`, a name bound to it."""
        node = _unwrap(node)
        if _is_state_dict_call(node):
            return True
        name = _name(node)
        if name is None or depth == 0:
            return False
        value = _last_binding(steps, step, name)
        return value is not None and self._model_keys(steps, step, value, depth - 1)

    def _checkpoint(self, steps, step: Step, node: cst.BaseExpression, depth: int) -> bool:
        """A state dict or loaded checkpoint: `m.state_dict()`, `torch.load(p)["model"]`."""
        node = _unwrap(node)
        while isinstance(node, cst.Subscript) or (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value in ("get", "pop")
        ):
            node = node.value if isinstance(node, cst.Subscript) else node.func.value
        if _is_state_dict_call(node):
            return True
        if isinstance(node, cst.Call):
            return self.ctx.qualified_name(node.func) in _CHECKPOINT_LOADERS
        name = _name(node)
        if name is None or depth == 0:
            return False
        value = _last_binding(steps, step, name)
        return value is not None and self._checkpoint(steps, step, value, depth - 1)

    def _load_of(self, steps: list[Step], step: Step, comp: cst.DictComp) -> str | None:
        """Whether the filtered dict reaches `load_state_dict`: None (not seen), "silent"
        (the load's result is dropped) or "checked" (the result is kept)."""
        carriers: list[str] = []
        result = _result_name(step, comp)
        if result is not None:
            carriers.append(result)
        found = self._loads_in(step, comp, carriers)
        if found is not None:
            return found
        if not carriers:
            return None
        for later in steps[step.index + 1 :]:
            found = self._loads_in(later, None, carriers)
            if found is not None:
                return found
            binds = later.binds
            value = later.node.value if isinstance(later.node, cst.Assign) else None
            for bind in binds:
                if bind.value in carriers and (value is None or bind.value not in _reads(value)):
                    carriers.remove(bind.value)
            if not carriers:
                return None
        return None

    def _loads_in(self, step: Step, comp: cst.DictComp | None, carriers: list[str]) -> str | None:
        for call in step.calls:
            func = call.func
            if not isinstance(func, cst.Attribute) or not call.args:
                continue
            first = call.args[0].value
            carried = first is comp or (_name(first) in carriers)
            if func.attr.value == "update" and carried:
                target = _name(func.value)
                if target is not None and target not in carriers:
                    carriers.append(target)
            elif func.attr.value == "load_state_dict" and carried:
                node = step.node
                dropped = isinstance(node, cst.Expr) and node.value is call
                return "silent" if dropped else "checked"
        return None


def _key_and_source(
    for_in: cst.CompFor,
) -> tuple[str | None, cst.BaseExpression | None]:
    """(`k`, `sd`) for `for k, v in sd.items()` and `for k in sd` / `sd.keys()`."""
    target, iterable = for_in.target, for_in.iter
    if isinstance(target, cst.Tuple) and len(target.elements) == 2:
        key = target.elements[0].value
        if (
            isinstance(key, cst.Name)
            and isinstance(iterable, cst.Call)
            and isinstance(iterable.func, cst.Attribute)
            and iterable.func.attr.value == "items"
            and not iterable.args
        ):
            return key.value, iterable.func.value
        return None, None
    if isinstance(target, cst.Name):
        return target.value, iterable
    return None, None


def _result_name(step: Step, comp: cst.DictComp) -> str | None:
    node = step.node
    if isinstance(node, cst.Assign) and node.value is comp and len(node.targets) == 1:
        return _name(node.targets[0].target)
    return None


def _drop_reported(steps: Sequence[Step], names: set[str]) -> bool:
    """Whether the scope computes what was dropped from these dicts and reports it."""
    for step in steps:
        for node in reporting_nodes(step):
            if _mentions_drop(node) and _reads(node) & names:
                return True
        node = step.node
        if (
            isinstance(node, cst.Assign)
            and _mentions_drop(node.value)
            and _reads(node.value) & names
        ):
            for target in node.targets:
                bound = _name(target.target)
                if bound is not None and (
                    name_reported(steps, bound) or size_reported(steps, bound)
                ):
                    return True
    return False
