"""FTL101 (frozen parameter given to an optimizer), FTL102 (step moves a frozen
parameter), FTL103 (a trainable parameter with a gradient is in no optimizer).

Interception points (see shared/FIELD_NOTES.md): every optimizer built on
``torch.optim.Optimizer`` calls ``Optimizer.add_param_group`` once per group, and
``register_optimizer_step_pre_hook`` runs before every ``step()`` of every optimizer.
"""

from __future__ import annotations

import functools
import sys
import threading
import weakref
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.optimizer import register_optimizer_step_pre_hook

from ftlint.guard import _registry, _state
from ftlint.guard._registry import compiling

# transformers' layer-wise training gives the Trainer a do-nothing optimizer holding a
# dummy tensor (requires_grad=False) while per-parameter optimizers do the real work.
_DUMMY_CLASS_NAMES = {"LayerWiseDummyOptimizer"}
_MAX_STACK = 64


class _Info:
    """What the guard knows about one optimizer (held weakly, keyed by the optimizer)."""

    __slots__ = ("checked", "covers", "roots")

    def __init__(self, checked: bool, covers: bool) -> None:
        self.checked = checked  # False for inner and dummy optimizers: never reported
        self.covers = covers  # its parameters count as "in a live optimizer"
        self.roots: list[Any] | None = None  # weakrefs to the models it trains; lazy


class _Infos:
    """The ``_Info`` of every live optimizer, which it does not keep alive.

    Threads may build, step and drop optimizers at once, and a dict that changes while
    another thread iterates it fails that thread's check. Only code holding the lock
    changes the dict; a dying optimizer's weakref callback, which runs in whichever
    thread dropped it (even in the middle of an iteration), only queues a purge.
    (torch's WeakIdKeyDictionary deletes from that callback.)
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref, _Info]] = {}  # by id(optimizer)
        self._dead: list[weakref.ref] = []  # list.append is atomic
        self._lock = threading.Lock()

    def get(self, opt: Optimizer) -> _Info | None:
        entry = self._entries.get(id(opt))
        return entry[1] if entry is not None and entry[0]() is opt else None

    def add(self, opt: Optimizer, info: _Info) -> _Info:
        """Store ``info`` for ``opt``; return the one stored (another thread's, if first)."""
        with self._lock:
            self._purge()
            entry = self._entries.get(id(opt))
            if entry is not None and entry[0]() is opt:
                return entry[1]
            self._entries[id(opt)] = (weakref.ref(opt, self._dead.append), info)
            return info

    def items(self) -> list[tuple[Optimizer, _Info]]:
        with self._lock:
            self._purge()
            pairs = [(ref(), info) for ref, info in self._entries.values()]
        return [(opt, info) for opt, info in pairs if opt is not None]

    def __len__(self) -> int:
        with self._lock:
            self._purge()
            return len(self._entries)

    def _purge(self) -> None:
        if self._dead:
            self._dead.clear()  # before the scan: a later death queues a later purge
            for key in [key for key, (ref, _) in self._entries.items() if ref() is None]:
                del self._entries[key]


_infos = _Infos()


def install() -> None:
    _state.patch(Optimizer, "add_param_group", _checked_add_param_group)
    _state.STATE.handles.append(register_optimizer_step_pre_hook(_before_step))


def _checked_add_param_group(original: Any, patch: _state.Patch) -> Any:
    @functools.wraps(original)
    def add_param_group(self: Optimizer, param_group: dict[str, Any]) -> None:
        __tracebackhide__ = True
        # Call the original first: it turns a generator into a list, so inspecting the
        # group afterwards never consumes the caller's iterator.
        original(self, param_group)
        if patch.live:
            _after_add_param_group(self)

    return add_param_group


def _info_for(opt: Optimizer) -> _Info:
    info = _infos.get(opt)
    if info is None:
        dummy = any(c.__name__ in _DUMMY_CLASS_NAMES for c in type(opt).__mro__)
        info = _Info(checked=not dummy and not _built_inside_other_optimizer(opt), covers=not dummy)
        info = _infos.add(opt, info)
    return info


def _built_inside_other_optimizer(opt: Optimizer) -> bool:
    """An optimizer created (or first stepped) inside another optimizer's method is that
    optimizer's implementation (ZeroRedundancyOptimizer's per-rank local optimizer holds
    a shard of the parameters): the outer optimizer is checked instead."""
    frame = sys._getframe(2)
    for _ in range(_MAX_STACK):
        if frame is None:
            return False
        code = frame.f_code
        if code.co_argcount and code.co_varnames[0] == "self":
            owner = frame.f_locals.get("self")
            if isinstance(owner, Optimizer) and owner is not opt:
                return True
        frame = frame.f_back
    return False


@_state.shielded
def _after_add_param_group(opt: Optimizer) -> None:
    __tracebackhide__ = True
    info = _info_for(opt)
    info.roots = None  # the set of trained models may have changed
    if info.checked and _state.active("FTL101"):
        _check_frozen_in_group(opt, opt.param_groups[-1])


def _check_frozen_in_group(opt: Optimizer, group: dict[str, Any]) -> None:
    __tracebackhide__ = True
    frozen = [p for p in group["params"] if not p.requires_grad]
    if not frozen:
        return
    kind = type(opt).__name__
    n = len(frozen)
    _state.report(
        "FTL101",
        f"{kind} was given {_count(frozen)} with requires_grad=False: "
        f"{_describe(frozen, [group])}; they get no gradient now, but once one holds a stale "
        f".grad (zero_grad(set_to_none=False), a new optimizer after freezing) momentum and "
        f"weight decay move {'it' if n == 1 else 'them'}; pass only trainable parameters, "
        f"e.g. {kind}([p for p in model.parameters() if p.requires_grad], ...)",
    )


@_state.shielded
def _before_step(opt: Optimizer, args: Any, kwargs: Any) -> None:
    __tracebackhide__ = True
    if not _state.STATE.installed or compiling():
        return
    info = _info_for(opt)  # an optimizer built before install() is learnt here
    if not info.checked:
        return
    if _state.active("FTL102"):
        _check_frozen_with_grad(opt)
    # A per-parameter optimizer stepped from a gradient hook during backward (layer-wise
    # training) would make a model-wide scan run once per parameter: skip it there.
    if _state.active("FTL103") and not _in_backward():
        _check_unoptimized(opt, info)
    return  # returning args would replace step()'s arguments


def _check_frozen_with_grad(opt: Optimizer) -> None:
    __tracebackhide__ = True
    # requires_grad first: reading .grad creates a Python object, so read it only for the
    # few frozen parameters.
    stale = [p for g in opt.param_groups for p in g["params"] if not p.requires_grad and p.grad is not None]
    if not stale:
        return
    kind = type(opt).__name__
    _state.report(
        "FTL102",
        f"{kind}.step() is about to update {_count(stale)} with requires_grad=False that "
        f"still hold a .grad: {_describe(stale, opt.param_groups)}; their stale gradient, "
        f"momentum and weight decay will move these frozen weights; set their .grad to None "
        f"when freezing them "
        f"(optimizer.zero_grad(set_to_none=True)) and give the optimizer trainable parameters only",
    )


def _check_unoptimized(opt: Optimizer, info: _Info) -> None:
    __tracebackhide__ = True
    root_refs = info.roots  # once: another thread's add_param_group may reset it
    if root_refs is None:
        params = [p for g in opt.param_groups for p in g["params"]]
        roots = _registry.roots_of(params)
        if not roots and any(isinstance(p, torch.nn.Parameter) for p in params):
            # A model built before install(): find it once, on this optimizer's first step.
            roots = _registry.roots_from_heap(params)
        root_refs = info.roots = [weakref.ref(m) for m in roots]
    roots = [m for m in (ref() for ref in root_refs) if m is not None]
    if not roots:
        return
    covered: set[int] = set()
    for other, other_info in _infos.items():
        if other_info.covers:
            for group in other.param_groups:
                covered.update(map(id, group["params"]))
    for root in roots:
        orphans = _orphans(root, covered)
        if orphans:
            _report_orphans(opt, root, orphans)


def _orphans(root: torch.nn.Module, covered: set[int]) -> list[torch.Tensor]:
    """Trainable parameters of ``root`` that have a gradient and are not in ``covered``.

    This runs at every step, so it is written for speed: it walks ``_modules`` itself
    (``named_parameters()`` builds a name per parameter and costs several times more),
    and reads ``.grad`` (which creates a Python object) only for uncovered parameters.
    """
    modules: dict[int, torch.nn.Module] = {}
    stack: list[torch.nn.Module | None] = [root]
    while stack:
        module = stack.pop()
        if module is not None and id(module) not in modules:
            modules[id(module)] = module
            stack.extend(module._modules.values())
    found = {
        id(p): p
        for module in modules.values()
        for p in module._parameters.values()
        if p is not None and id(p) not in covered and p.requires_grad and p.grad is not None
    }
    return list(found.values())


def _report_orphans(opt: Optimizer, root: torch.nn.Module, orphans: list[torch.Tensor]) -> None:
    __tracebackhide__ = True
    wanted = {id(p) for p in orphans}
    first_names: dict[int, str] = {}  # a parameter shared by several modules: its first name
    for name, p in _registry.named_parameters(root):
        if id(p) in wanted:
            first_names.setdefault(id(p), name)
    names = list(first_names.values())
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    one = len(orphans) == 1
    _state.report(
        "FTL103",
        f"{_count(orphans, 'trainable parameter')} of {type(root).__name__} "
        f"{'has' if one else 'have'} a gradient but {'is' if one else 'are'} in no optimizer, so "
        f"{type(opt).__name__}.step() never updates {shown}; was a layer replaced after the "
        f"optimizer was built, or a parameter group left out? build the optimizer after "
        f"changing the model, or add them with optimizer.add_param_group({{'params': [...]}})",
    )


def _describe(params: list[torch.Tensor], groups: list[dict[str, Any]]) -> str:
    """Names from the groups' own ``param_names`` (named parameters given to the
    optimizer) when present, else from the registry, else from a heap scan."""
    given: dict[int, str] = {}
    for group in groups:
        for name, p in zip(group.get("param_names", ()), group["params"]):
            given[id(p)] = name
    return _registry.describe(params, [given.get(id(p)) or _registry.qualified_name(p) for p in params[:4]])


def _count(params: list[torch.Tensor], noun: str = "parameter") -> str:
    n = len(params)
    values = sum(p.numel() for p in params)
    return f"{n} {noun}{'' if n == 1 else 's'} ({values:,} values)"


def _in_backward() -> bool:
    task_id = getattr(torch._C, "_current_graph_task_id", None)
    return task_id is not None and task_id() != -1
