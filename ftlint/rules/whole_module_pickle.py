from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import libcst as cst

from ftlint.analysis.kinds import is_module
from ftlint.analysis.scopes import Step
from ftlint.outline import Outline
from ftlint.rules.base import Rule
from ftlint.walk import nodes_of

_SAVES = frozenset({"torch.save", "torch.serialization.save"})
_LOADS = frozenset({"torch.load", "torch.serialization.load"})
_SAFE_GLOBALS = "torch.serialization.safe_globals"
# Methods only an nn.Module has (a dict, tensor or list has none of them).
_MODULE_METHODS = frozenset(
    {
        "state_dict",
        "parameters",
        "named_parameters",
        "buffers",
        "named_buffers",
        "children",
        "named_children",
        "modules",
        "named_modules",
        "eval",
        "train",
        "apply",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
    }
)
_TYPE_TESTS = frozenset({"isinstance", "hasattr", "type"})
# Methods that return the object they are called on, for a module and a tensor alike.
_MOVES = frozenset({"to", "cuda", "cpu", "float", "half", "double", "bfloat16"})

# What the messages say of loading the pickle: from torch 2.6 on, and before.
_SAFE_DEFAULT = (2, 6)
_SAVE_MESSAGE = (
    "torch.save() is given a whole nn.Module: the pickle refers to its class by import "
    "path, breaks when that code moves or changes, and {loading}; save model.state_dict() "
    "and load it into a model you build"
)
_REFUSED = "torch.load refuses it by default since torch 2.6"
_UNPICKLED = (
    "torch {torch}'s torch.load unpickles it by default, running code from the file "
    "(torch 2.6 refuses it)"
)
_LOAD_MESSAGE = (
    "torch.load() result is used as an nn.Module: a pickled whole module loads {how} and "
    "only while its class keeps the same import path and layout; save model.state_dict() "
    "and load it into a model you build"
)
_WEIGHTS_ONLY_FALSE = "only with weights_only=False (which runs code from the file)"
_BY_UNPICKLING = (
    "only by unpickling, which runs code from the file (torch {torch}'s default; torch 2.6 "
    "refuses it by default)"
)


def _strip_moves(node: cst.BaseExpression) -> cst.BaseExpression:
    while (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in _MOVES
    ):
        node = node.func.value
    return node


def _saved_object(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "obj":
            return arg.value
    first = call.args[0] if call.args else None
    if first is None or first.keyword is not None or first.star:
        return None
    return first.value


def _holds_module(ctx, owner, step: Step, node: cst.BaseExpression) -> bool:
    """A module (or the `.module` a DataParallel/DDP wrapper holds), or a dict, list or
    tuple literal with a module among its values."""
    if isinstance(node, cst.Dict):
        return any(
            isinstance(element, cst.DictElement) and _holds_module(ctx, owner, step, element.value)
            for element in node.elements
        )
    if isinstance(node, (cst.List, cst.Tuple)):
        return any(
            isinstance(element, cst.Element) and _holds_module(ctx, owner, step, element.value)
            for element in node.elements
        )
    while isinstance(node, cst.Attribute) and node.attr.value == "module":
        node = node.value
    return is_module(ctx, owner, step, node)


def _container_contents(steps: Sequence[Step], at: Step, name: str) -> list[cst.BaseExpression]:
    """What a dict, list or tuple bound to `name` holds when `at` runs: the literal of its
    latest binding before `at` (`ckpt = {"model": model, ...}`), and the values stored into
    it since (`ckpt["ema"] = ema`). Nothing when that binding is not a literal."""
    bindings, stores = _container_index(steps)
    earlier = [index for index in bindings.get(name, ()) if index < at.index]
    if not earlier:
        return []
    bound = steps[earlier[-1]]
    node = bound.node
    value = node.value if isinstance(node, (cst.Assign, cst.AnnAssign)) else None
    if not isinstance(value, (cst.Dict, cst.List, cst.Tuple)):
        return []
    stored = [v for index, v in stores.get(name, ()) if bound.index < index < at.index]
    return [value, *stored]


def _container_index(steps: Sequence[Step]) -> tuple[dict, dict]:
    """Per name: the indices of the steps that bind it, and (index, value) of each
    `name[key] = value`; built once per scope."""
    facts = getattr(steps, "facts", {})
    index = facts.get("container-index")
    if index is None:
        bindings: dict[str, list[int]] = {}
        stores: dict[str, list[tuple[int, cst.BaseExpression]]] = {}
        for step in steps:
            for bound in step.bound_names:
                bindings.setdefault(bound, []).append(step.index)
            node = step.node
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    container = target.target
                    if isinstance(container, cst.Subscript) and isinstance(
                        container.value, cst.Name
                    ):
                        stored = (step.index, node.value)
                        stores.setdefault(container.value.value, []).append(stored)
        index = facts["container-index"] = (bindings, stores)
    return index


def _encloses(outer: Step, inner: Step) -> bool:
    """Whether `inner` runs whenever `outer`'s block runs."""
    return inner.guards == outer.guards[: len(inner.guards)]


def _used_as_module(steps: Sequence[Step], bound_at: Step, name: str) -> cst.Call | None:
    """The first use of `name` the way only a module is used (`name.state_dict()`,
    `name(x)`) after `bound_at`, before it is surely bound to something else."""
    for index in _steps_touching(steps).get(name, ()):
        if index <= bound_at.index:
            continue
        step = steps[index]
        for call in step.calls:
            func = call.func
            if isinstance(func, cst.Name) and func.value in _TYPE_TESTS and call.args:
                if _is_name(call.args[0].value, name):
                    return None  # `isinstance(ckpt, nn.Module)`: both kinds are handled
            if isinstance(func, cst.Name) and func.value == name:
                return call
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value in _MODULE_METHODS
                and isinstance(func.value, cst.Name)
                and func.value.value == name
            ):
                return call
        if name not in step.bound_names:
            continue
        node = step.node
        if isinstance(node, cst.Assign) and _is_name(_strip_moves(node.value), name):
            continue  # `model = model.to(device)`: the same object
        if _encloses(bound_at, step):
            return None
    return None


def _steps_touching(steps: Sequence[Step]) -> dict[str, list[int]]:
    """For each name, the indices of the steps `_used_as_module` must look at: those
    that call it, call a module method on it, type-test it or bind it. Built once per
    scope, so that each saved name is not followed through every later step."""
    facts = getattr(steps, "facts", {})
    touching = facts.get("module-uses")
    if touching is None:
        touching = {}
        for step in steps:
            names = set(step.bound_names)
            for call in step.calls:
                func = call.func
                if isinstance(func, cst.Name):
                    names.add(func.value)
                    if func.value in _TYPE_TESTS and call.args:
                        tested = call.args[0].value
                        if isinstance(tested, cst.Name):
                            names.add(tested.value)
                elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
                    if func.attr.value in _MODULE_METHODS:
                        names.add(func.value.value)
            for touched in names:
                touching.setdefault(touched, []).append(step.index)
        facts["module-uses"] = touching
    return touching


def _is_name(node: cst.BaseExpression, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


class WholeModulePickle(Rule):
    code = "FTL204"
    name = "whole-module-pickle"
    tokens = ("save", "load")  # torch.save / torch.load, under any alias, name them
    message = _SAVE_MESSAGE.format(loading=_REFUSED)
    docs = """\
## What it does
Finds a whole `nn.Module` pickled with `torch.save(model, path)` (also inside a dict or list
literal: `torch.save({"model": model}, path)`), and the result of `torch.load(...)` used as a
module: `torch.load(path).state_dict()`, or `m = torch.load(path)` followed by
`m.state_dict()`, `m.parameters()`, `m.eval()`, `m(x)` and the like (reported where it is
first used as a module; code that tests `isinstance(m, nn.Module)` first is left alone, and
so is a load inside `with torch.serialization.safe_globals([...])`, which allows the classes).

A value counts as a module when the file shows it: built by `torch.nn.<Class>(...)`, a
`torchvision.models` builder, `timm.create_model`, a `transformers` model's
`from_pretrained`, or a class of the file deriving from `nn.Module`; moved with
`.to(device)`/`.eval()`; a parameter annotated `nn.Module`; `self.x` assigned one in
`__init__`; the `.module` of a `DataParallel`/`DistributedDataParallel` wrapper. A dict,
list or tuple saved by name counts when its literal (or a value stored into it since,
`ckpt["ema"] = ema`) holds one. Anything else is left alone.

## Why is this bad?
`torch.save(model, path)` pickles the object: the file names the model's class by its import
path and stores its attributes. Loading it needs the same classes at the same paths with a
compatible layout, so renaming a file, moving the class or changing `__init__` breaks every
old checkpoint. Since torch 2.6, `torch.load` defaults to `weights_only=True` and refuses the
file with an `UnpicklingError`; the usual workaround, `weights_only=False`, lets the file run
arbitrary code when it is opened (FTL203). Before 2.6 `torch.load` unpickles by default,
so the file runs its code wherever it is opened; for a target torch before 2.6
(`target-torch`, else the installed torch) the message says that instead. Code that loads
a checkpoint and calls `.state_dict()` on it depends on all of this.

A state dict is plain tensors keyed by name: it loads with the safe default, into any model
built by current code, and a mismatch is reported by `load_state_dict`.
Dicts of state dicts (`{"model": model.state_dict(), "optimizer": opt.state_dict()}`) are fine.

## Example
```python
torch.save(model, "best.pth")
...
model = torch.load("best.pth")
model.eval()
```

## Use instead
```python
torch.save(model.state_dict(), "best.pth")
...
model = build_model()
model.load_state_dict(torch.load("best.pth", map_location="cpu"))
model.eval()
```

## References
- [Saving and loading models: save/load entire model](https://pytorch.org/tutorials/beginner/saving_loading_models.html#save-load-entire-model)
- [torch.load: weights_only](https://pytorch.org/docs/stable/generated/torch.load.html)
- [Serialization semantics](https://pytorch.org/docs/stable/notes/serialization.html)
"""
    valid = (
        # a container of state dicts, and one rebound without the module
        """\
import torch
from torch import nn
model = nn.Linear(2, 2)
state = {"model": model.state_dict(), "epoch": 3}
torch.save(state, "ok.pt")
extra = {"model": model}
extra = {"epoch": 4}
torch.save(extra, "fine.pt")
""",
        # the module's classes allow-listed for weights_only loading
        """\
import torch
with torch.serialization.safe_globals([MyModel]):
    model = torch.load("model.pt")
model.eval()
""",
        # state dicts, and dicts of state dicts
        """\
import torch
import torch.nn as nn
model = nn.Linear(4, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
torch.save(model.state_dict(), "model.pt")
torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "ckpt.pt")
torch.save(model.module.state_dict() if hasattr(model, "module") else model.state_dict(), p)
""",
        # tensors, unknown objects, parameters without a module annotation
        """\
import torch
from torch import nn
torch.save(torch.randn(3), "t.pt")
torch.save(nn.Parameter(torch.zeros(3)), "p.pt")
torch.save(embeddings, "emb.pt")

def save(obj, path):
    torch.save(obj, path)

def save_all(model, path):
    torch.save(model, path)
""",
        # a name once bound to a module, then to its state dict
        """\
import torch
from torchvision import models
model = models.resnet18(weights=None)
model = model.state_dict()
torch.save(model, "r18.pt")
""",
        # the loaded object used as a dict
        """\
import torch
ckpt = torch.load("ckpt.pt", map_location="cpu")
model.load_state_dict(ckpt["model"])
sd = torch.load("model.pt")
print(sd.keys())
for name, tensor in sd.items():
    print(name, tensor.shape)
model.load_state_dict(torch.load("model.pt"))
""",
        # rebound before use; other libraries' save/load
        """\
import torch
m = torch.load("sd.pt")
m = build_model()
m.eval()
state = accelerator.load(path)
state.eval()
torch.jit.save(torch.jit.script(model), "scripted.pt")
""",
        # code that handles both a pickled module and a state dict
        """\
import torch
import torch.nn as nn
ckpt = torch.load(path, map_location="cpu", weights_only=False)
if isinstance(ckpt, nn.Module):
    ckpt = ckpt.state_dict()
model.load_state_dict(ckpt)
""",
        # only a torch.load that is unknown to be torch's
        """\
m = torch.load("m.pth")
m.eval()
""",
    )
    invalid = (
        # through a container bound to a name first, or filled in later
        """\
import torch
from torch import nn
model = nn.Linear(2, 2)
ckpt = {"model": model, "epoch": 3}
torch.save(ckpt, "ckpt.pt")  # expect: FTL204
extra = {"epoch": 3}
extra["ema"] = model
torch.save(extra, "ema.pt")  # expect: FTL204
""",
        # the seed idioms
        """\
import torch
import torch.nn as nn
m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
torch.save(m, "m.pth")  # expect: FTL204
m = torch.load("m.pth")
m1.load_state_dict(m.state_dict(), strict=False)  # expect: FTL204
pretrained_params = torch.load("Pretrained_Model")
model.load_state_dict(pretrained_params.state_dict(), strict=False)  # expect: FTL204
""",
        # torchvision and same-file modules, aliases, moved to a device, in a dict
        """\
import torch as t
from torch import nn
from torchvision import models

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = models.resnet18(weights=None)
        self.fc = nn.Linear(512, 10)

net = Net()
t.save(net, "net.pt")  # expect: FTL204
backbone = models.resnet50(weights="DEFAULT").to(device)
t.save(backbone.cpu(), "backbone.pt")  # expect: FTL204
t.save({"model": net, "epoch": 3}, "ckpt.pt")  # expect: FTL204
""",
        # inside functions: annotated parameters, self attributes, script globals
        """\
import torch
import torch.nn as nn

class Trainer:
    def __init__(self, cfg):
        self.model = nn.DataParallel(nn.Linear(4, 2))
        self.cfg = cfg

    def save(self, path):
        torch.save(self.model.module, path)  # expect: FTL204
        torch.save(self.cfg, path + ".cfg")

def export(model: nn.Module, path):
    torch.save(  # expect: FTL204
        model,
        path,
    )

model = nn.Linear(4, 2)

def checkpoint():
    torch.save(model, "last.pt")  # expect: FTL204
""",
        # the loaded object used as a module: chained, moved, called, in a condition
        """\
import torch
sd = torch.load("m.pth").state_dict()  # expect: FTL204
model = torch.load(path, map_location="cpu").to(device)
model = model.to(device)
if args.eval:
    model.eval()  # expect: FTL204
net = torch.load("net.pt")
logits = net(images)  # expect: FTL204
get_weights = lambda p: torch.load(p).state_dict()  # expect: FTL204
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        return super().may_report(outline) and outline.facts.calls_any(_SAVES | _LOADS)

    def visit_Call(self, node: cst.Call) -> None:
        # `torch.load(p).state_dict()`, `torch.load(p).to(device).eval()`, in any scope
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _MODULE_METHODS:
            inner = _strip_moves(func.value)
            if isinstance(inner, cst.Call) and self.ctx.qualified_name(inner.func) in _LOADS:
                if id(inner) not in self._allow_listed:
                    self.report(inner, self._load_message())

    @cached_property
    def _allow_listed(self) -> frozenset[int]:
        """Loads inside `with torch.serialization.safe_globals([...]):`: the user allowed
        the module's classes, so `weights_only=True` loads it and the message would lie."""
        loads: set[int] = set()
        for with_node in nodes_of(self.ctx.module, cst.With):
            if any(
                isinstance(item.item, cst.Call)
                and self.ctx.qualified_name(item.item.func) == _SAFE_GLOBALS
                for item in with_node.items
            ):
                loads.update(id(call) for call in nodes_of(with_node.body, cst.Call))
        return frozenset(loads)

    def visit_Module(self, node: cst.Module) -> None:
        for owner in self.ctx.scopes:
            steps = self.ctx.steps(owner)
            for step in steps:
                for call in step.calls:
                    qualified = self.ctx.qualified_name(call.func)
                    if qualified in _SAVES:
                        saved = _saved_object(call)
                        held = [saved] if saved is not None else []
                        if isinstance(saved, cst.Name):  # `ckpt = {"model": model}` first
                            held.extend(_container_contents(steps, step, saved.value))
                        if any(_holds_module(self.ctx, owner, step, v) for v in held):
                            self.report(call, self._save_message())
                    elif qualified in _LOADS and id(call) not in self._allow_listed:
                        use = self._bound_and_used_as_module(steps, step, call)
                        if use is not None:
                            self.report(use, self._load_message())

    def _bound_and_used_as_module(
        self, steps: list[Step], step: Step, load: cst.Call
    ) -> cst.Call | None:
        """`m = torch.load(p)` (or `.to(device)`) ... `m.state_dict()`: the first such use."""
        node = step.node
        if isinstance(node, cst.Assign) and _strip_moves(node.value) is load:
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    use = _used_as_module(steps, step, target.target.value)
                    if use is not None:
                        return use
        return None

    def _save_message(self) -> str:
        torch = self.ctx.targets.torch
        if torch >= _SAFE_DEFAULT:
            return self.message
        return _SAVE_MESSAGE.format(loading=_UNPICKLED.format(torch=torch))

    def _load_message(self) -> str:
        torch = self.ctx.targets.torch
        how = _WEIGHTS_ONLY_FALSE if torch >= _SAFE_DEFAULT else _BY_UNPICKLING.format(torch=torch)
        return _LOAD_MESSAGE.format(how=how)
