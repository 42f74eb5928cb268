"""Whether an optimizer object is still used after something changed its model.

FTL102 (freeze after the optimizer) and FTL103 (layer replaced after the optimizer) pair
an `OptimizerBuilt` event with a later `FreezeChange` of the same scope and report only
when that same optimizer object is read afterwards: a later read of its variable before
the variable is rebound, including a read earlier in the body of a loop that holds the
change (the next iteration). Rebuilding the optimizer first is the fix, not a use; nor
is saving or inspecting it (`opt.state_dict()`, `opt.param_groups[0]["lr"]`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from ftlint.analysis.flow import FreezeChange, OptimizerBuilt, ScopeFlow, file_flows
from ftlint.analysis.scopes import Step, exclusive, header_parts
from ftlint.analysis.values import wrapper_argument
from ftlint.walk import walk


@dataclass(frozen=True)
class LaterUse:
    flow: ScopeFlow
    index: _Index
    built: OptimizerBuilt
    change: FreezeChange
    reader: Step  # the first step that uses the optimizer after the change

    def later_uses(self) -> Iterator[Step]:
        """Steps reading the optimizer after the change, until it is surely rebound."""
        name = self.built.target
        at = self.change.step
        for step in self.flow.steps[at.index + 1 :]:
            if exclusive(at, step):
                continue
            if name in self.index.reads[step.index]:
                yield step
            if name in self.index.binds[step.index] and _encloses(at, step):
                return


# Methods that return the module they are called on.
_SAME_OBJECT = frozenset(
    {"to", "cuda", "cpu", "train", "eval", "float", "half", "double", "bfloat16"}
)
# Reads that look at an optimizer without training with it: saving, logging the lr.
_PASSIVE = frozenset({"state_dict", "param_groups", "defaults"})


def _same_object(step: Step, root: str) -> bool:
    """`model = model.to(dev)`, `model = DDP(model)`: the name still holds the same
    object, or a wrapper holding the same parameters."""
    node = step.node
    value = node.value if isinstance(node, (cst.Assign, cst.AnnAssign)) else None
    while isinstance(value, cst.Call):
        if isinstance(value.func, cst.Attribute) and value.func.attr.value in _SAME_OBJECT:
            value = value.func.value
        elif wrapper_argument(value) is not None:
            value = wrapper_argument(value)
        else:
            break
    return isinstance(value, cst.Name) and value.value == root


def _active_reads(step: Step) -> frozenset[str]:
    """Names `step` reads, leaving out `opt.state_dict()` / `opt.param_groups` (no use)."""
    passive: set[int] = set()

    class _Passive(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            if isinstance(node.value, cst.Name) and node.attr.value in _PASSIVE:
                passive.add(id(node.value))

    for part in header_parts(step.node):
        walk(part, _Passive())
    return frozenset(read.value for read in step.reads if id(read) not in passive)


def _encloses(outer: Step, inner: Step) -> bool:
    """Whether `inner` runs whenever `outer`'s block runs (same block, or an outer one)."""
    return inner.guards == outer.guards[: len(inner.guards)]


class _Index:
    """Reads and binds of every step of one scope, computed once."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = steps
        self.reads = [_active_reads(step) for step in steps]
        self.binds = [step.bound_names for step in steps]
        self.bound_at: dict[str, list[int]] = {}
        for index, names in enumerate(self.binds):
            for name in sorted(names):
                self.bound_at.setdefault(name, []).append(index)
        self._uses: dict[tuple, Step | None] = {}

    def bound_between(self, name: str, after: int, before: int) -> list[int]:
        """Indices of steps strictly between `after` and `before` that bind `name`."""
        indices = self.bound_at.get(name, [])
        return indices[bisect_right(indices, after) : bisect_left(indices, before)]

    def next_use(self, built: OptimizerBuilt, change: FreezeChange) -> Step | None:
        name = built.target
        assert name is not None
        outer = tuple(id(loop) for loop in change.step.loops if loop not in built.step.loops)
        key = (name, change.step.index, outer)
        if key not in self._uses:
            self._uses[key] = self._next_use(name, change.step, change.step.loops, outer)
        return self._uses[key]

    def _next_use(self, name: str, at: Step, loops: tuple, outer: tuple) -> Step | None:
        for step in self.steps[at.index + 1 :]:
            if exclusive(at, step):
                continue
            if name in self.reads[step.index]:
                return step
            if name in self.binds[step.index] and _encloses(at, step):
                return None
        # The change sits in a loop the optimizer was built outside of: the next iteration
        # uses the optimizer again, unless the loop rebuilds it.
        if not outer:
            return None
        loop = next(loop for loop in loops if id(loop) == outer[0])
        body = [step for step in self.steps if loop in step.loops]
        if any(name in self.binds[step.index] for step in body):
            return None
        return next((step for step in body if name in self.reads[step.index]), None)


def uses_after_change(
    ctx, wanted: Callable[[OptimizerBuilt, FreezeChange], bool]
) -> Iterator[LaterUse]:
    """Each change that `wanted` pairs with an earlier optimizer still used after it.

    A change is given once, with the first optimizer (in statement order) it pairs with.
    """
    for flow in file_flows(ctx):
        if not any(isinstance(e, OptimizerBuilt) and e.target for e in flow.events):
            continue
        index = ctx.cached("optimizer-use-index", flow.owner, lambda f=flow: _Index(f.steps))
        yield from _in_flow(flow, index, wanted)


def _in_flow(flow: ScopeFlow, index: _Index, wanted) -> Iterator[LaterUse]:
    steps = flow.steps
    seen: set[int] = set()
    # `wanted` relates a change to the optimizer's sources by their paths, so only the
    # changes under one of its sources' root names can pair with it: looking up those,
    # not every later change, keeps a long script's cost linear.
    changes_by_root: dict[str | None, list[tuple[int, FreezeChange]]] = {}
    for position, event in enumerate(flow.events):
        if isinstance(event, FreezeChange):  # a change without a path may touch anything
            root = event.path[0] if event.path else None
            changes_by_root.setdefault(root, []).append((position, event))
    for position, built in enumerate(flow.events):
        if not isinstance(built, OptimizerBuilt) or built.target is None:
            continue
        name = built.target
        for change in _later_changes(built, position, changes_by_root, flow.events):
            if id(change.node) in seen:
                continue
            start, stop = built.step.index, change.step.index
            if stop <= start or exclusive(built.step, change.step):
                continue
            if index.bound_between(name, start, stop):
                continue
            root = change.path[0]
            if any(
                not _same_object(steps[i], root) for i in index.bound_between(root, start, stop)
            ):
                continue  # `model` now names another model
            if not wanted(built, change):
                continue
            reader = index.next_use(built, change)
            if reader is not None:
                seen.add(id(change.node))
                yield LaterUse(flow, index, built, change, reader)


def _later_changes(
    built: OptimizerBuilt,
    position: int,
    changes_by_root: dict[str | None, list[tuple[int, FreezeChange]]],
    events: list,
) -> list[FreezeChange]:
    """The changes after event `position` that may touch what `built` holds, in order."""
    if any(not source.path for source in built.sources):  # a source of unknown origin
        return [e for e in events[position + 1 :] if isinstance(e, FreezeChange)]
    roots = {source.path[0] for source in built.sources} | {None}
    later = [
        (at, change)
        for root in roots
        for at, change in changes_by_root.get(root, ())
        if at > position
    ]
    return [change for _, change in sorted(later, key=lambda item: item[0])]


def add_param_group_args(step: Step, name: str) -> list[cst.BaseExpression]:
    """The arguments of `name.add_param_group(...)` calls made at `step`."""
    found: list[cst.BaseExpression] = []

    class _Find(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            func = call.func
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value == "add_param_group"
                and isinstance(func.value, cst.Name)
                and func.value.value == name
                and call.args
            ):
                found.append(call.args[0].value)

    if isinstance(step.node, cst.BaseSmallStatement):
        walk(step.node, _Find())
    return found
