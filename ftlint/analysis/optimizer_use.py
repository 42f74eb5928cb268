"""Whether an optimizer object is still used after something changed its model.

FTL102 (freeze after the optimizer) and FTL103 (layer replaced after the optimizer) pair
an `OptimizerBuilt` event with a later `FreezeChange` of the same scope and report only
when that same optimizer object is read afterwards: a later read of its variable before
the variable is rebound, including a read earlier in the body of a loop that holds the
change (the next iteration). Rebuilding the optimizer first is the fix, not a use; nor
is saving or inspecting it (`opt.state_dict()`, `opt.param_groups[0]["lr"]`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from ftlint.analysis.flow import FreezeChange, OptimizerBuilt, ScopeFlow, file_flows
from ftlint.analysis.scopes import Step, exclusive, header_parts, names_used
from ftlint.walk import walk


@dataclass(frozen=True)
class LaterUse:
    flow: ScopeFlow
    built: OptimizerBuilt
    change: FreezeChange
    reader: Step  # the first step that uses the optimizer after the change

    def later_steps(self) -> Iterator[Step]:
        """Steps after the change that may run after it while the optimizer is bound."""
        name = self.built.target
        for step in self.flow.steps[self.change.step.index + 1 :]:
            if exclusive(self.change.step, step):
                continue
            yield step
            if _binds(step, name) and _encloses(self.change.step, step):
                return


def _binds(step: Step, name: str) -> bool:
    return any(bind.value == name for bind in names_used(step.node)[1])


# Methods that return the module they are called on.
_SAME_OBJECT = frozenset(
    {"to", "cuda", "cpu", "train", "eval", "float", "half", "double", "bfloat16"}
)
# Reads that look at an optimizer without training with it: saving, logging the lr.
_PASSIVE = frozenset({"state_dict", "param_groups", "defaults"})


def _rebinds(step: Step, root: str) -> bool:
    """Whether `step` binds `root` to another object (`model = model.to(dev)` does not)."""
    if not _binds(step, root):
        return False
    node = step.node
    value = node.value if isinstance(node, cst.Assign) else None
    while (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value in _SAME_OBJECT
    ):
        value = value.func.value
    return not (isinstance(value, cst.Name) and value.value == root)


def _reads(step: Step, name: str) -> bool:
    """Whether `step` uses the optimizer `name` (checkpointing or inspecting it is no use)."""
    passive: set[int] = set()

    class _Passive(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            if isinstance(node.value, cst.Name) and node.attr.value in _PASSIVE:
                passive.add(id(node.value))

    for part in header_parts(step.node):
        part.visit(_Passive())
    return any(read.value == name and id(read) not in passive for read in names_used(step.node)[0])


def _encloses(outer: Step, inner: Step) -> bool:
    """Whether `inner` runs whenever `outer`'s block runs (same block, or an outer one)."""
    return inner.guards == outer.guards[: len(inner.guards)]


def _next_use(steps: Sequence[Step], built: OptimizerBuilt, change: FreezeChange) -> Step | None:
    name = built.target
    assert name is not None
    for step in steps[change.step.index + 1 :]:
        if exclusive(change.step, step):
            continue
        if _reads(step, name):
            return step
        if _binds(step, name) and _encloses(change.step, step):
            return None
    # The change sits in a loop the optimizer was built outside of: the next iteration
    # uses the optimizer again, unless the loop rebuilds it.
    outer = [loop for loop in change.step.loops if loop not in built.step.loops]
    if not outer:
        return None
    loop = outer[0]
    body = [step for step in steps if loop in step.loops]
    if any(_binds(step, name) for step in body):
        return None
    return next((step for step in body if _reads(step, name)), None)


def uses_after_change(
    ctx, wanted: Callable[[OptimizerBuilt, FreezeChange], bool]
) -> Iterator[LaterUse]:
    """Each change that `wanted` pairs with an earlier optimizer still used after it.

    A change is given once, with the first optimizer (in statement order) it pairs with.
    """
    for flow in file_flows(ctx):
        yield from _in_flow(flow, wanted)


def _in_flow(flow: ScopeFlow, wanted) -> Iterator[LaterUse]:
    steps = flow.steps
    seen: set[int] = set()
    for index, built in enumerate(flow.events):
        if not isinstance(built, OptimizerBuilt) or built.target is None:
            continue
        name = built.target
        for change in flow.events[index + 1 :]:
            if not isinstance(change, FreezeChange) or id(change.node) in seen:
                continue
            if change.step.index <= built.step.index or exclusive(built.step, change.step):
                continue
            between = steps[built.step.index + 1 : change.step.index]
            if any(_binds(step, name) for step in between):
                continue
            if any(_rebinds(step, change.path[0]) for step in between):
                continue  # `model` now names another model
            if not wanted(built, change):
                continue
            reader = _next_use(steps, built, change)
            if reader is not None:
                seen.add(id(change.node))
                yield LaterUse(flow, built, change, reader)


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
