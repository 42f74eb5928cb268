"""Freezing, replacing and optimizer construction, read in statement order per scope.

For each scope the walker keeps a `FreezeState` (which modules and tensors have frozen
parameters) and what names hold, and records the events that rules judge:
`OptimizerBuilt` (with the state just before it) and `FreezeChange`.

- A change inside an `if`/loop may have happened, so it counts: a conditional freeze is a
  freeze, and a conditional unfreeze clears (precision over volume).
- Same-file helpers (`def freeze(m): ...`) and methods (`self.freeze_backbone()`) are
  summarised by walking them once, and their effect applies at each call.
- In a class, what `__init__` leaves frozen on `self` is the starting state of the other
  methods (Lightning's `configure_optimizers`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import libcst as cst

from ftlint.analysis.kinds import is_module
from ftlint.analysis.names import dotted_parts
from ftlint.analysis.optimizers import optimizer_class, stepped_names
from ftlint.analysis.scopes import Step, child_body, exclusive, names_used
from ftlint.analysis.values import (
    SAME_MODULE_METHODS,
    Alias,
    Evaluator,
    ParamOf,
    ParamSet,
    PartOf,
    Path,
    Source,
    Value,
    Wrapped,
    contains,
    mentions_requires_grad,
    string_value,
)
from ftlint.walk import walk

_CAMEL_CASE = re.compile(r"^_?[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class Frozen:
    """Parameters under `path` were frozen at `node`: all of them (`whole`) or some.

    `fresh` lists parts replaced or unfrozen since, which are trainable again.
    """

    path: Path
    whole: bool
    node: cst.CSTNode
    fresh: tuple[Path, ...] = ()
    step: Step | None = field(default=None, compare=False)  # where the freeze runs


class FreezeState:
    """What is known frozen at one point of a scope, by root name (`model` for
    `model.backbone`): a change or a question about one name looks at that name's facts
    only, so a long script's many models do not make each step cost more. Immutable:
    each change makes a new state (a shallow copy of the table)."""

    __slots__ = ("_by_root", "_at")

    def __init__(
        self, by_root: dict[str, tuple[Frozen, ...]] | None = None, at: Step | None = None
    ) -> None:
        self._by_root = by_root or {}
        self._at = at

    def seen_from(self, step: Step) -> FreezeState:
        """The same facts as seen at `step`: a freeze in another branch of an `if` that
        `step` sits in did not happen when `step` runs (unless a loop around both can run
        the branches one after the other)."""
        return FreezeState(self._by_root, step)

    def _happened(self, fact: Frozen) -> bool:
        at, where = self._at, fact.step
        if at is None or where is None or not exclusive(where, at):
            return True
        return any(loop in at.loops for loop in where.loops)

    @property
    def facts(self) -> tuple[Frozen, ...]:
        return tuple(fact for facts in self._by_root.values() for fact in facts)

    def _with(self, root: str, facts: tuple[Frozen, ...]) -> FreezeState:
        table = dict(self._by_root)
        if facts:
            table[root] = facts
        else:
            table.pop(root, None)
        return FreezeState(table)

    def freeze(self, path: Path, whole: bool, node: cst.CSTNode, step: Step) -> FreezeState:
        root = path[0]
        fact = Frozen(path, whole, node, step=step)
        return self._with(root, self._by_root.get(root, ()) + (fact,))

    def thaw(self, path: Path) -> FreezeState:
        """Everything under `path` is trainable again (unfrozen, or a new module)."""
        kept = []
        for fact in self._by_root.get(path[0], ()):
            if contains(path, fact.path):
                continue
            if contains(fact.path, path):
                fact = replace(fact, fresh=fact.fresh + (path,))
            kept.append(fact)
        return self._with(path[0], tuple(kept))

    def forget(self, root: str) -> FreezeState:
        return self._with(root, ()) if root in self._by_root else self

    def frozen_in(self, source: Source) -> Frozen | None:
        """A freeze that left frozen parameters among those `source` yields, if known."""
        facts = self._by_root.get(source.path[0], ()) if source.path else self.facts
        for fact in facts:
            if not self._happened(fact):
                continue
            if contains(fact.path, source.path):
                if any(contains(fresh, source.path) for fresh in fact.fresh):
                    continue
                if fact.whole or (fact.path == source.path and not source.part):
                    return fact
            elif contains(source.path, fact.path) and not source.part:
                if not any(contains(fresh, fact.path) for fresh in fact.fresh):
                    return fact
        return None


@dataclass(frozen=True)
class OptimizerBuilt:
    step: Step
    call: cst.Call
    cls: str
    sources: tuple[Source, ...]
    state: FreezeState  # just before the call
    target: str | None  # the name bound to the optimizer, if any
    # What names held just before the call, to evaluate other parts of it (param groups).
    evaluator: Evaluator | None = field(default=None, compare=False, repr=False)
    # Known by its role only (a factory given parameters whose result is stepped): what
    # it does with frozen parameters, or with groups, is not known.
    by_role: bool = False


@dataclass(frozen=True)
class FreezeChange:
    """A freeze (`thaw=False`) or an unfreeze/replacement (`thaw=True`) at `node`."""

    step: Step
    node: cst.CSTNode
    path: Path
    whole: bool
    thaw: bool
    replaced: bool = False


@dataclass
class ScopeFlow:
    owner: cst.Module | cst.FunctionDef
    class_def: cst.ClassDef | None
    steps: list[Step]
    events: list[OptimizerBuilt | FreezeChange] = field(default_factory=list)
    final: FreezeState = FreezeState()


def looks_like_module(ctx, value: cst.BaseExpression) -> bool:
    """A value that builds a module or parameter: `nn.Linear(...)`, `MyHead(...).to(dev)`."""
    while (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value in SAME_MODULE_METHODS
    ):
        value = value.func.value
    if not isinstance(value, cst.Call):
        return False
    if isinstance(value.func, cst.Name) and value.func.value in ctx.classes:
        bases = ctx.base_names(ctx.classes[value.func.value])
        if any(base.startswith("torch.nn.") for base in bases):
            return True
    qualified = ctx.qualified_name(value.func)
    if qualified is not None:
        last = qualified.rsplit(".", 1)[-1]
        return qualified.startswith(("torch.nn.", "torchvision.models.")) or bool(
            _CAMEL_CASE.match(last)
        )
    func = value.func
    name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
    return isinstance(name, str) and bool(_CAMEL_CASE.match(name))


def _literal_bool(node: cst.BaseExpression | None) -> bool | None:
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


class _Walker:
    def __init__(self, ctx, flow: ScopeFlow, state: FreezeState) -> None:
        self.ctx = ctx
        self.flow = flow
        self.state = state
        self.env: dict[str, Value] = {}
        self.imported = frozenset(ctx.imports.aliases)
        # Names bound to a module built here (`classifier = nn.Sequential(...)`): assigned
        # into a model later, they replace a layer as the construction itself would.
        self.new_modules: set[str] = set()

    def run(self) -> None:
        for step in self.flow.steps:
            evaluator = Evaluator(self.env, self.imported)
            self._optimizers(step, evaluator)
            self._effects(step, evaluator)
            self._bindings(step, evaluator)
        self.flow.final = self.state

    def _optimizers(self, step: Step, ev: Evaluator) -> None:
        for call in step.calls:
            target = None
            node = step.node
            if isinstance(node, cst.Assign) and node.value is call and len(node.targets) == 1:
                target = _target_name(node.targets[0].target)
            elif isinstance(node, cst.AnnAssign) and node.value is call:
                target = _target_name(node.target)  # `opt: Optimizer = SGD(...)`
            cls = optimizer_class(self.ctx, call)
            if cls is not None:
                params = next((a.value for a in call.args if a.keyword is None), None)
                params = next(
                    (a.value for a in call.args if a.keyword and a.keyword.value == "params"),
                    params,
                )
                sources = ev.sources(params) if params is not None else ()
            elif target is not None and target in stepped_names(self.flow.steps):
                # `opt = build_optimizer(cfg, model.parameters())`, then `opt.step()`.
                cls = ".".join(dotted_parts(call.func) or ["optimizer"])
                sources = tuple(s for arg in call.args for s in ev.sources(arg.value))
                if not sources:
                    continue
            else:
                continue
            snapshot = Evaluator(dict(self.env), self.imported)
            self.flow.events.append(
                OptimizerBuilt(
                    step, call, cls, sources, self.state.seen_from(step), target, snapshot,
                    by_role=optimizer_class(self.ctx, call) is None,
                )
            )

    # -- freezes, unfreezes, replacements ---------------------------------------------

    def _change(
        self, step: Step, node: cst.CSTNode, target, thaw: bool, replaced: bool = False
    ) -> None:
        if isinstance(target, tuple):
            path, whole = target, True
        elif isinstance(target, PartOf):
            path, whole = target.path, False
        elif isinstance(target, ParamOf):
            path = target.path
            whole = not target.part and not _guarded_inside(step, target.loop)
        else:
            return
        if thaw and not whole:
            # Some parameters unfrozen: the rest may still be frozen. A replaced part
            # (`model.head[-1] = ...`) changes no freeze fact but is still an event.
            if replaced:
                self.flow.events.append(FreezeChange(step, node, path, whole, thaw, replaced))
            return
        self.state = self.state.thaw(path) if thaw else self.state.freeze(path, whole, node, step)
        self.flow.events.append(FreezeChange(step, node, path, whole, thaw, replaced))

    def _effects(self, step: Step, ev: Evaluator) -> None:
        node = step.node
        if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
            targets = (
                [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            )
            for target in targets:
                if isinstance(target, cst.Subscript):  # `model.head[-1] = nn.Linear(...)`
                    if self._new_module(node.value):
                        self._change(step, node, ev.target(target), thaw=True, replaced=True)
                    continue
                if not isinstance(target, cst.Attribute):
                    continue
                if target.attr.value == "requires_grad":
                    flag = _literal_bool(node.value)
                    # On an nn.Module the assignment sets a plain attribute (FTL106).
                    on_module = is_module(self.ctx, self.flow.owner, step, target.value)
                    if flag is not None and not on_module:
                        self._change(step, node, ev.target(target.value), thaw=flag)
                elif self._new_module(node.value):
                    self._change(step, node, ev.target(target), thaw=True, replaced=True)
        for call in step.calls:
            self._call_effect(step, call, ev)

    def _new_module(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, cst.Name):
            return value.value in self.new_modules
        return looks_like_module(self.ctx, value)

    def _call_effect(self, step: Step, call: cst.Call, ev: Evaluator) -> None:
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_":
            arg = call.args[0].value if call.args else cst.Name("True")
            flag = _literal_bool(arg)
            if flag is not None:
                self._change(step, call, ev.target(func.value), thaw=flag)
            return
        if isinstance(func, cst.Name) and func.value == "setattr" and len(call.args) == 3:
            base, name, value = (a.value for a in call.args)
            owner = ev.target(base)
            attr = string_value(name)
            if isinstance(owner, tuple) and looks_like_module(self.ctx, value):
                # `setattr(model, name, ...)` with a computed name replaces some part.
                part = owner + (attr,) if attr else PartOf(owner)
                self._change(step, call, part, thaw=True, replaced=True)
            return
        helper = self._helper(func)
        if helper is not None:
            self._apply_summary(step, call, helper, ev)

    def _helper(self, func: cst.BaseExpression) -> cst.FunctionDef | None:
        if isinstance(func, cst.Name) and func.value not in self.env:
            return self.ctx.functions.get(func.value)
        class_def = self.flow.class_def
        if (
            class_def is not None
            and isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
        ):
            return _methods(class_def).get(func.attr.value)
        return None

    def _apply_summary(
        self, step: Step, call: cst.Call, helper: cst.FunctionDef, ev: Evaluator
    ) -> None:
        is_method = isinstance(call.func, cst.Attribute)
        summary = helper_summary(self.ctx, helper, self.flow.class_def if is_method else None)
        params = [p.name.value for p in helper.params.params]
        bound: dict[str, cst.BaseExpression] = {}
        if is_method and params:
            bound[params[0]] = cst.Name("self")
            params = params[1:]
        for name, arg in zip(params, (a for a in call.args if a.keyword is None)):
            bound[name] = arg.value
        for arg in call.args:
            if arg.keyword is not None:
                bound[arg.keyword.value] = arg.value
        for change in summary:
            arg = bound.get(change.path[0])
            if arg is None:
                continue
            target = ev.target(arg)
            if isinstance(target, tuple):
                target = target + change.path[1:]
                if not change.whole:
                    target = PartOf(target)
            elif isinstance(target, PartOf) and change.thaw:
                continue
            self._change(step, call, target, change.thaw, change.replaced)

    # -- what names hold ---------------------------------------------------------------

    def _bindings(self, step: Step, ev: Evaluator) -> None:
        node = step.node
        if isinstance(node, cst.For):
            value, paired = ev.loop_items(node.iter, node)
            target = node.target
            if paired and isinstance(target, cst.Tuple) and len(target.elements) == 2:
                self._forget(target.elements[0].value)
                target = target.elements[1].value
            self._forget(target)
            if isinstance(target, cst.Name) and value is not None:
                self.env[target.value] = value
            return
        if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
            # `backbone: nn.Module = model.backbone` binds as `backbone = model.backbone`.
            value = self._value_of(node.value, ev)
            targets = (
                [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            )
            builds = looks_like_module(self.ctx, node.value)
            for assign_target in targets:
                name = _target_name(assign_target)
                if isinstance(value, Alias) and value.path == (name,):
                    # `model = model.to(device)`: still the same module; `model =
                    # DDP(model)`: a wrapper around it, whose `.module` is it.
                    if isinstance(value, Wrapped):
                        self.env[name] = value
                    continue
                self._forget(assign_target)
                if name is not None and builds:
                    self.new_modules.add(name)
                if name is not None and value is not None:
                    self.env[name] = value
            return
        if isinstance(node, (cst.AugAssign, cst.Expr)):
            self._grow_param_list(node, step, ev)
        _, binds = names_used(node)
        for name in binds:
            self._forget(name)

    def _value_of(self, value: cst.BaseExpression, ev: Evaluator) -> Value | None:
        wrapped = ev.wrapped(value)
        if wrapped is not None:
            return Wrapped(wrapped)
        target = ev.target(value)
        if isinstance(target, tuple):
            return Alias(target)
        if isinstance(target, (PartOf, ParamOf)):
            return target
        if isinstance(value, cst.List) and not value.elements:
            return ParamSet(())
        sources = ev.sources(value)
        return ParamSet(sources) if sources else None

    def _forget(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            name = target.value
            self.new_modules.discard(name)
            alias = self.env.pop(name, None)
            if not (isinstance(alias, Alias) and alias.path[0] != name):
                self.state = self.state.forget(name)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._forget(element.value)
        elif isinstance(target, cst.StarredElement):
            self._forget(target.value)

    def _grow_param_list(self, node: cst.AugAssign | cst.Expr, step: Step, ev: Evaluator) -> None:
        """`params.append(p)`, `params.extend(...)`, `params += ...` on a parameter list."""
        if isinstance(node, cst.AugAssign):
            name, added = _target_name(node.target), [node.value]
        else:
            call = node.value
            if not (
                isinstance(call, cst.Call)
                and isinstance(call.func, cst.Attribute)
                and call.func.attr.value in ("append", "extend")
            ):
                return
            name, added = _target_name(call.func.value), [a.value for a in call.args]
        current = self.env.get(name) if name else None
        if not isinstance(current, ParamSet):
            return
        sources = list(current.sources)
        for expr in added:
            item = self.env.get(expr.value) if isinstance(expr, cst.Name) else None
            if isinstance(item, ParamOf):
                loop = item.loop
                skips_frozen = isinstance(loop, cst.For) and _loop_tests_requires_grad(loop)
                part = item.part or _guarded_inside(step, loop)
                sources.append(Source(item.path, skips_frozen, part))
            else:
                sources.extend(ev.sources(expr))
        self.env[name] = ParamSet(tuple(sources))


def _target_name(node: cst.BaseExpression) -> str | None:
    return node.value if isinstance(node, cst.Name) else None


def _guarded_inside(step: Step, loop: cst.CSTNode) -> bool:
    """Whether a condition inside `loop` decides if this step runs."""
    for index, guard in enumerate(step.guards):
        if guard is loop:
            return len(step.guards) > index + 1
    return False


def _loop_tests_requires_grad(loop: cst.For) -> bool:
    found = False

    class _Find(cst.CSTVisitor):
        def visit_If(self, node: cst.If) -> None:
            nonlocal found
            found = found or mentions_requires_grad(node.test)

    walk(loop.body, _Find())
    return found


def _methods(class_def: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    return {
        stmt.name.value: stmt
        for stmt in child_body(class_def)
        if isinstance(stmt, cst.FunctionDef)
    }


def _walk(ctx, owner, class_def, initial: FreezeState = FreezeState()) -> ScopeFlow:
    flow = ScopeFlow(owner, class_def, ctx.steps(owner))
    _Walker(ctx, flow, initial).run()
    return flow


def helper_summary(ctx, func: cst.FunctionDef, class_def) -> tuple[FreezeChange, ...]:
    """The changes a helper makes to what its parameters refer to, in order."""
    key = ("summary", id(func))
    if key in ctx._cache:
        return ctx._cache[key] or ()
    ctx._cache[key] = None  # a recursive call sees no effect instead of looping
    params = {p.name.value for p in func.params.params}
    flow = _walk(ctx, func, class_def)
    summary = tuple(
        e for e in flow.events if isinstance(e, FreezeChange) and e.path[0] in params
    )
    ctx._cache[key] = summary
    return summary


def file_flows(ctx) -> list[ScopeFlow]:
    """The flow of every scope in the file: the module, then each function in order."""

    def compute() -> list[ScopeFlow]:
        flows = [_walk(ctx, ctx.module, None)]
        init_states: dict[int, FreezeState] = {}
        for func, class_def in ctx.functions_with_class:
            initial = FreezeState()
            if class_def is not None and func.name.value != "__init__":
                initial = init_states.get(id(class_def)) or _init_state(ctx, class_def)
                init_states[id(class_def)] = initial
            flows.append(_walk(ctx, func, class_def, initial))
        return flows

    return ctx.cached("flows", ctx.module, compute)


def _init_state(ctx, class_def: cst.ClassDef) -> FreezeState:
    init = _methods(class_def).get("__init__")
    if init is None:
        return FreezeState()
    final = _walk(ctx, init, class_def).final
    facts = tuple(f for f in final.facts if f.path[0] == "self")
    return FreezeState({"self": facts} if facts else {})
