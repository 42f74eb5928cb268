"""FTL101 (frozen parameter given to an optimizer), FTL102 (step moves a frozen
parameter), FTL103 (a trainable parameter with a gradient is in no optimizer).

Interception points (see shared/FIELD_NOTES.md): every optimizer built on
``torch.optim.Optimizer`` calls ``Optimizer.add_param_group`` once per group, and the
global step pre- and post-hooks run around every ``step()`` of every optimizer. A step
with a closure is judged when the closure has run (it usually clears and recomputes
the gradients), before the optimizer applies them.
"""

from __future__ import annotations

import functools
import sys
import threading
import weakref
from typing import Any

import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim import Optimizer
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from ftlint.guard import _registry, _state
from ftlint.guard._registry import compiling

# transformers' layer-wise training gives the Trainer a do-nothing optimizer holding a
# dummy tensor (requires_grad=False) while per-parameter optimizers do the real work.
_DUMMY_CLASS_NAMES = {"LayerWiseDummyOptimizer"}
_MAX_STACK = 64
# At most this many values of frozen parameters are copied at one step to see whether
# step() moves them (64 MB in float32): memory for the check stays bounded on big models.
_SNAPSHOT_VALUES = 1 << 24

# Frozen parameters without a .grad before an update, their versions, (parameter, copy).
_Pending = tuple[list[torch.Tensor], list[int], list[tuple[torch.Tensor, torch.Tensor]]]


class _Info:
    """What the guard knows about one optimizer (held weakly, keyed by the optimizer)."""

    __slots__ = (
        "checked", "covers", "latent_reported", "left_out", "pending", "roots", "settled",
        "watch_writes", "written",
    )

    def __init__(self, checked: bool, covers: bool, watch_writes: bool) -> None:
        self.checked = checked  # False for inner and dummy optimizers: never reported
        self.covers = covers  # its parameters count as "in a live optimizer"
        self.watch_writes = watch_writes  # whether step() may write a parameter without .grad
        self.roots: list[Any] | None = None  # weakrefs to the models it trains; lazy
        self.latent_reported = False  # FTL101 warns about latent frozen parameters once
        # ids of parameters left out of this optimizer on purpose (Lightning's
        # BaseFinetuning with train_bn=False): not FTL103's business.
        self.left_out: set[int] = set()
        # FTL102's "moved without a gradient" check. Between the judgement before the
        # update and the end of step(): the frozen parameters without a .grad, their
        # version counters, and copies of the ones to compare. The version counter
        # (bumped by every in-place write, read without touching the device) tells which
        # of them step() wrote; those are copied at a later step and compared once.
        self.pending: _Pending | None = None
        self.written: set[int] = set()  # ids: written without a gradient, to compare
        self.settled: set[int] = set()  # ids: compared once (moved or not), never again


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
    _state.STATE.handles.append(register_optimizer_step_post_hook(_after_step))


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
        kind = type(opt)
        dummy = any(c.__name__ in _DUMMY_CLASS_NAMES for c in kind.__mro__)
        checked = not dummy and not _built_inside_other_optimizer(opt)
        info = _Info(checked, covers=not dummy, watch_writes=not _skips_gradless(kind))
        info = _infos.add(opt, info)
    return info


def _skips_gradless(kind: type) -> bool:
    """Whether the class is one of torch's optimizers, which never write a parameter that
    has no .grad, but LBFGS (tests/guard/test_severity.py holds this to the installed
    torch): their frozen parameters need no watching for writes."""
    in_torch = kind.__module__ == "torch.optim" or kind.__module__.startswith("torch.optim.")
    return in_torch and kind is not torch.optim.LBFGS


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
    if info.checked:
        _note_batchnorm_left_out(info)
        if _state.active("FTL101"):
            _check_frozen_in_group(opt, opt.param_groups[-1])


def _check_frozen_in_group(opt: Optimizer, group: dict[str, Any]) -> None:
    """FTL101. Active (an error) when a frozen parameter already holds a gradient, which
    the next step applies, or when this kind of optimizer was seen moving frozen
    parameters without one; otherwise latent, and reported once per optimizer."""
    __tracebackhide__ = True
    frozen = [p for p in group["params"] if not p.requires_grad]
    if not frozen:
        return
    kind = type(opt).__name__
    given = f"{kind} was given {_count(frozen)} with requires_grad=False"
    advice = (
        f"pass only trainable parameters, e.g. "
        f"{kind}([p for p in model.parameters() if p.requires_grad], ...)"
    )
    with_grad = [p for p in frozen if p.grad is not None]
    if with_grad:
        _state.report(
            "FTL101",
            f"{given}, and {_count(with_grad)} of them already hold a .grad: "
            f"{_describe(with_grad, [group])}; step() updates every parameter that holds a .grad, "
            f"so unless those gradients are cleared first the next step applies them (with "
            f"momentum and weight decay) to frozen weights; set their .grad to None "
            f"(optimizer.zero_grad(set_to_none=True) before freezing) and {advice}",
        )
        return
    if type(opt) in _state.STATE.moves_without_grad:
        _state.report(
            "FTL101",
            f"{given}: {_describe(frozen, [group])}; {kind} updates parameters that have no "
            f"gradient (one moved frozen weights earlier, FTL102), so frozen weights are not safe "
            f"in it; {advice}",
        )
        return
    info = _info_for(opt)
    if info.latent_reported:
        return
    info.latent_reported = True
    _state.report(
        "FTL101",
        f"{given}: {_describe(frozen, [group])}; latent for now: none of them holds a .grad, but "
        f"once one does (zero_grad(set_to_none=False), a loop that never clears gradients) "
        f"momentum and weight decay move it; {advice}",
        latent=True,
    )


def _note_batchnorm_left_out(info: _Info) -> None:
    """Lightning's ``BaseFinetuning.unfreeze_and_add_param_group(..., train_bn=False)``
    makes the BatchNorm layers trainable but adds only the other parameters: those
    BatchNorm weights are out of the optimizer because the user asked for it."""
    frame = sys._getframe(2)
    for _ in range(8):  # our wrappers (and maybe someone else's), then Lightning's method
        if frame is None:
            return
        if frame.f_code.co_name == "unfreeze_and_add_param_group":
            break
        frame = frame.f_back
    else:
        return
    flatten = getattr(frame.f_globals.get("BaseFinetuning"), "flatten_modules", None)
    local = frame.f_locals
    if flatten is None or local.get("train_bn") is not False or "modules" not in local:
        return
    for module in flatten(local["modules"]):
        if isinstance(module, _BatchNorm):
            info.left_out.update(id(p) for p in module.parameters(recurse=False))


@_state.shielded
def _before_step(opt: Optimizer, args: Any, kwargs: Any) -> Any:
    __tracebackhide__ = True
    if not _state.STATE.installed or compiling():
        return None
    info = _info_for(opt)  # an optimizer built before install() is learnt here
    if not info.checked:
        return None
    info.pending = None
    closure = kwargs.get("closure") if "closure" in kwargs else args[1] if len(args) > 1 else None
    if not callable(closure):
        _before_update(opt, info)
        return None  # returning (args, kwargs) would replace step()'s arguments
    # The closure usually clears and recomputes the gradients: judge the step once it
    # has run, before the optimizer applies them (LBFGS calls it several times).
    judged = False

    def closure_then_judge(*closure_args: Any, **closure_kwargs: Any) -> Any:
        nonlocal judged
        __tracebackhide__ = True
        result = closure(*closure_args, **closure_kwargs)
        if not judged:
            judged = True
            _before_update(opt, info)
        return result

    if "closure" in kwargs:
        return args, {**kwargs, "closure": closure_then_judge}
    return (args[0], closure_then_judge, *args[2:]), kwargs


@_state.shielded
def _before_update(opt: Optimizer, info: _Info) -> None:
    __tracebackhide__ = True
    if not _state.STATE.installed:
        return
    if _state.active("FTL102"):
        _check_frozen(opt, info)
    # A per-parameter optimizer stepped from a gradient hook during backward (layer-wise
    # training) would make a model-wide scan run once per parameter: skip it there.
    if _state.active("FTL103") and not _in_backward():
        _check_unoptimized(opt, info)


def _check_frozen(opt: Optimizer, info: _Info) -> None:
    """FTL102 before the update: a frozen parameter that holds a .grad will be moved.
    Also records, for the frozen parameters without one, what ``_after_step`` needs to
    see whether step() moves them anyway."""
    __tracebackhide__ = True
    # requires_grad first: reading .grad creates a Python object, so read it only for the
    # few frozen parameters.
    groups = opt.param_groups
    stale = [p for g in groups for p in g["params"] if not p.requires_grad and p.grad is not None]
    if stale:
        kind = type(opt).__name__
        _state.report(
            "FTL102",
            f"{kind}.step() is about to update {_count(stale)} with requires_grad=False that "
            f"still hold a .grad: {_describe(stale, opt.param_groups)}; their stale gradient, "
            f"momentum and weight decay will move these frozen weights; set their .grad to None "
            f"when freezing them "
            f"(optimizer.zero_grad(set_to_none=True)) and give the optimizer trainable parameters only",
        )
    if not info.watch_writes:
        return
    settled = info.settled
    without_grad = [
        p
        for g in groups
        for p in g["params"]
        if not p.requires_grad and p.grad is None and id(p) not in settled
    ]
    if not without_grad:
        return
    copies: list[tuple[torch.Tensor, torch.Tensor]] = []
    if info.written:
        budget = _SNAPSHOT_VALUES
        for p in without_grad:
            if id(p) in info.written and (not copies or p.numel() <= budget):
                copies.append((p, p.detach().clone()))
                budget -= p.numel()
    info.pending = (without_grad, [p._version for p in without_grad], copies)


@_state.shielded
def _after_step(opt: Optimizer, args: Any, kwargs: Any) -> None:
    """FTL102 after the update: frozen parameters without a gradient that step() moved
    all the same (weight decay applied to every parameter, LBFGS's history).

    Cheap on the hot path: version counters only. A parameter written without a
    gradient is copied at a later step and compared once; the comparison's result is
    read then, never at a step that wrote no frozen parameter.
    """
    __tracebackhide__ = True
    info = _infos.get(opt)
    pending = info.pending if info is not None else None
    if pending is None or compiling():
        return
    info.pending = None
    without_grad, versions, copies = pending
    moved: list[torch.Tensor] = []
    if copies:
        differ = [
            ~torch.isclose(p.detach(), copy, rtol=0, atol=0, equal_nan=True).all()
            for p, copy in copies
        ]
        changed = torch.stack(differ).tolist()  # one read of the device, at this step only
        moved = [p for (p, _), differs in zip(copies, changed) if differs]
        for p, _ in copies:
            info.written.discard(id(p))
            info.settled.add(id(p))
    for p, version in zip(without_grad, versions):
        if p._version != version and id(p) not in info.settled:
            info.written.add(id(p))
    if moved:
        _state.STATE.moves_without_grad.add(type(opt))
        _report_moved(opt, moved)


def _report_moved(opt: Optimizer, moved: list[torch.Tensor]) -> None:
    __tracebackhide__ = True
    kind = type(opt).__name__
    _state.report(
        "FTL102",
        f"{kind}.step() moved {_count(moved)} with requires_grad=False and no .grad: "
        f"{_describe(moved, opt.param_groups)}; {kind} updates parameters without a gradient (as "
        f"weight decay applied to every parameter does, or LBFGS's history of earlier steps), so "
        f"these frozen weights drift; give the optimizer trainable parameters only",
    )


def _check_unoptimized(opt: Optimizer, info: _Info) -> None:
    """FTL103: a trainable parameter of a model this optimizer trains has a .grad but
    is in no live optimizer (nor left out of one on purpose)."""
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
            covered.update(other_info.left_out)
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
