"""What a name holds, as far as the freezing and optimizer rules care.

Modules and tensors are named by paths (`("model", "backbone")`); an alias such as
`backbone = model.backbone` resolves to the same path, so every fact is kept in terms of
the object it is about, not the name used to reach it.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from ftlint.walk import walk

Path = tuple[str, ...]

# Methods that return the module they are called on.
SAME_MODULE_METHODS = frozenset(
    {"to", "cuda", "cpu", "train", "eval", "float", "half", "double", "bfloat16", "requires_grad_"}
)
_PART_METHODS = frozenset({"children", "modules", "named_children", "named_modules"})
_PARAM_METHODS = frozenset({"parameters", "named_parameters"})
_PASS_THROUGH = frozenset({"list", "tuple", "iter", "set", "sorted", "reversed"})


def contains(outer: Path, inner: Path) -> bool:
    """Whether the object at `inner` is `outer` or a part of it."""
    return inner[: len(outer)] == outer


@dataclass(frozen=True)
class Alias:
    """A name for a module or tensor reached from elsewhere: `backbone = model.backbone`."""

    path: Path


@dataclass(frozen=True)
class Wrapped(Alias):
    """A wrapper that keeps the module's parameters: `ddp = DDP(model)`,
    `torch.compile(model)`, `fabric.setup_module(model)`, `accelerator.prepare(model)`.
    Its `.module` (`._orig_mod` for torch.compile) is the module itself."""


# Calls that return a wrapper around their first argument, holding the same parameters,
# by the last part of their dotted name; `compile` only as torch's.
_WRAPPERS = frozenset(
    {"DistributedDataParallel", "DDP", "DataParallel", "FullyShardedDataParallel", "FSDP",
     "setup_module", "prepare", "prepare_model"}
)  # fmt: skip
_UNWRAP_ATTRIBUTES = frozenset({"module", "_orig_mod", "_forward_module"})


@dataclass(frozen=True)
class PartOf:
    """Some unknown part of a module: a loop over `model.children()`, `model.layers[:6]`."""

    path: Path


@dataclass(frozen=True)
class ParamOf:
    """A loop variable running over the parameters of a module (or of a part of it)."""

    path: Path
    part: bool
    loop: cst.CSTNode  # the `for` statement, to tell which conditions sit inside it


@dataclass(frozen=True)
class Source:
    """Parameters of the module at `path` that an expression yields.

    `filtered`: they went through a `requires_grad` filter. `part`: only some of them
    (a comprehension with another condition, a loop over children), so nothing about them
    is known unless all of `path` is frozen.
    """

    path: Path
    filtered: bool = False
    part: bool = False


@dataclass(frozen=True)
class ParamSet:
    """A name holding parameters: `params = filter(...)`, `params = []` then appends."""

    sources: tuple[Source, ...]


Value = Alias | PartOf | ParamOf | ParamSet


def mentions_requires_grad(node: cst.CSTNode) -> bool:
    found = False

    class _Find(cst.CSTVisitor):
        def visit_Attribute(self, attr: cst.Attribute) -> None:
            nonlocal found
            found = found or attr.attr.value == "requires_grad"

        def visit_Name(self, name: cst.Name) -> None:
            nonlocal found
            found = found or name.value == "requires_grad"

    walk(node, _Find())
    return found


def wrapper_argument(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """What a call that wraps a module without copying it (`DDP(model)`,
    `torch.compile(model)`, `fabric.setup_module(model)`) wraps; None for other calls."""
    if not isinstance(node, cst.Call):
        return None
    parts = []
    func = node.func
    while isinstance(func, cst.Attribute):
        parts.append(func.attr.value)
        func = func.value
    if isinstance(func, cst.Name):
        parts.append(func.value)
    parts.reverse()
    positional = [arg for arg in node.args if arg.keyword is None and not arg.star]
    if not parts or len(positional) != 1:
        return None
    if parts[-1] in _WRAPPERS or parts[-2:] == ["torch", "compile"]:
        return positional[0].value
    return None


def string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


class Evaluator:
    """Evaluates expressions against the values known for names at one point of a scope."""

    def __init__(self, env: dict[str, Value], imported: frozenset[str]) -> None:
        self.env = env
        self.imported = imported

    def target(self, node: cst.BaseExpression) -> Path | PartOf | ParamOf | None:
        """The module, tensor or parameter an expression denotes."""
        if isinstance(node, cst.Name):
            value = self.env.get(node.value)
            if isinstance(value, Alias):
                return value.path
            if isinstance(value, (PartOf, ParamOf)):
                return value
            if value is not None or node.value in self.imported:
                return None
            return (node.value,)
        if isinstance(node, cst.Attribute):
            if node.attr.value in _UNWRAP_ATTRIBUTES and isinstance(node.value, cst.Name):
                held = self.env.get(node.value.value)
                if isinstance(held, Wrapped):
                    return held.path  # `ddp.module` is the wrapped model
            base = self.target(node.value)
            if isinstance(base, tuple):
                return base + (node.attr.value,)
            if isinstance(base, PartOf):
                return base
            return None
        if isinstance(node, cst.Subscript):
            base = self.target(node.value)
            if isinstance(base, tuple):
                return PartOf(base)
            if isinstance(base, PartOf):
                return base
            return self._parts(node.value)
        if isinstance(node, cst.Call):
            return self._call_target(node)
        return None

    def wrapped(self, node: cst.BaseExpression) -> Path | None:
        """The module a wrapper call wraps (`DDP(model)` -> the path of `model`)."""
        inner = wrapper_argument(node)
        base = self.target(inner) if inner is not None else None
        return base if isinstance(base, tuple) else None

    def _call_target(self, call: cst.Call) -> Path | PartOf | None:
        wrapped = self.wrapped(call)
        if wrapped is not None:
            return wrapped
        func = call.func
        if isinstance(func, cst.Attribute):
            if func.attr.value in SAME_MODULE_METHODS:
                base = self.target(func.value)
                return base if isinstance(base, (tuple, PartOf)) else None
            if func.attr.value == "get_submodule" and call.args:
                base = self.target(func.value)
                name = string_value(call.args[0].value)
                if isinstance(base, tuple) and name is not None:
                    return base + tuple(name.split("."))
            return None
        if isinstance(func, cst.Name) and func.value == "getattr" and len(call.args) >= 2:
            base = self.target(call.args[0].value)
            name = string_value(call.args[1].value)
            if isinstance(base, tuple) and name is not None:
                return base + (name,)
        return None

    def _parts(self, node: cst.BaseExpression) -> PartOf | None:
        """`model.children()`, `list(model.modules())`: an iterable of parts of a module."""
        if not isinstance(node, cst.Call):
            return None
        func = node.func
        if isinstance(func, cst.Name) and func.value in _PASS_THROUGH and node.args:
            return self._parts(node.args[0].value)
        if isinstance(func, cst.Attribute) and func.attr.value in _PART_METHODS:
            base = self.target(func.value)
            if isinstance(base, tuple):
                return PartOf(base)
            if isinstance(base, PartOf):
                return base
        return None

    def loop_items(
        self, iterable: cst.BaseExpression, loop: cst.CSTNode
    ) -> tuple[Value | None, bool]:
        """What a `for` loop over `iterable` binds, and whether its target is `(name, item)`."""
        node = iterable
        while isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            if node.func.value in _PASS_THROUGH and node.args:
                node = node.args[0].value
            else:
                break
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            if node.func.value == "enumerate" and node.args:
                value, _ = self.loop_items(node.args[0].value, loop)
                return value, True
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            method = node.func.attr.value
            paired = method.startswith("named_")
            if method in _PARAM_METHODS:
                base = self.target(node.func.value)
                if isinstance(base, tuple):
                    return ParamOf(base, False, loop), paired
                if isinstance(base, PartOf):
                    return ParamOf(base.path, True, loop), paired
                return None, paired
            if method in _PART_METHODS:
                return self._parts(node), paired
        if isinstance(node, cst.Subscript):
            return self.target(node), False
        target = self.target(node)
        if isinstance(target, tuple):
            return PartOf(target), False  # iterating a Sequential or ModuleList
        return (target if isinstance(target, PartOf) else None), False

    def sources(self, node: cst.BaseExpression) -> tuple[Source, ...]:
        """The parameters an optimizer argument yields; unknown expressions yield nothing."""
        if isinstance(node, cst.Name):
            value = self.env.get(node.value)
            return value.sources if isinstance(value, ParamSet) else ()
        if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
            found: list[Source] = []
            for element in node.elements:
                found.extend(self.sources(element.value))
            return tuple(found)
        if isinstance(node, cst.Dict):
            for element in node.elements:
                if isinstance(element, cst.DictElement) and string_value(element.key) == "params":
                    return self.sources(element.value)
            return ()
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            return self.sources(node.left) + self.sources(node.right)
        if isinstance(node, (cst.GeneratorExp, cst.ListComp, cst.SetComp)):
            return self._comprehension_sources(node)
        if isinstance(node, cst.Call):
            return self._call_sources(node)
        target = self.target(node)
        if isinstance(target, tuple):
            return (Source(target),)  # a tensor or parameter given by name
        return ()

    def _comprehension_sources(self, node: cst.BaseComp) -> tuple[Source, ...]:
        inner = self.sources(node.for_in.iter)
        if node.for_in.inner_for_in is not None:
            return tuple(Source(s.path, s.filtered, True) for s in inner)
        conditions = node.for_in.ifs
        if any(mentions_requires_grad(cond.test) for cond in conditions):
            return tuple(Source(s.path, True, s.part) for s in inner)
        if conditions:
            return tuple(Source(s.path, s.filtered, True) for s in inner)
        return inner

    def _call_sources(self, call: cst.Call) -> tuple[Source, ...]:
        func = call.func
        args = [arg.value for arg in call.args]
        if isinstance(func, cst.Attribute) and func.attr.value in _PARAM_METHODS:
            base = self.target(func.value)
            if isinstance(base, tuple):
                return (Source(base),)
            if isinstance(base, PartOf):
                return (Source(base.path, part=True),)
            return ()
        name = func.value if isinstance(func, cst.Name) else None
        if isinstance(func, cst.Attribute) and func.attr.value == "chain":
            name = "chain"
        if name in _PASS_THROUGH and args:
            return self.sources(args[0])
        if name == "chain":
            return tuple(s for arg in args for s in self.sources(arg))
        if name == "filter" and len(args) == 2:
            inner = self.sources(args[1])
            if mentions_requires_grad(args[0]):
                return tuple(Source(s.path, True, s.part) for s in inner)
            # Some other selection (by id, by name): which parameters remain is unknown.
            return tuple(Source(s.path, s.filtered, True) for s in inner)
        return ()
