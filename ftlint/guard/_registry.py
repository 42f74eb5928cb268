"""Who owns a parameter, and under which qualified name.

Torch's global registration hooks fire whenever a submodule or a Parameter is assigned
to a module. Recording (owner, name) there costs one dict insert per assignment and
lets a check name ``backbone.layer1.0.conv1.weight`` or find the model a parameter
belongs to, without walking the heap. Every record is weak: the guard never keeps a
model alive. A record can go stale (``model.fc = nn.Linear(...)`` detaches the old
layer), so each step up is checked against the parent's current ``_modules``.

Modules built before the guard was installed are unknown here; for messages only (a
rare, slow path) ``names_from_heap`` finds their names by scanning live modules.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Iterable, Iterator

import torch
from torch.nn.modules import module as _module
from torch.utils.weak import WeakIdKeyDictionary

from ftlint.guard import _state

# Keyed by identity: tensors compare elementwise and some modules are unhashable.
_param_owner: WeakIdKeyDictionary = WeakIdKeyDictionary()
_module_parent: WeakIdKeyDictionary = WeakIdKeyDictionary()
MAX_DEPTH = 256


def _on_module(parent, name, child):
    try:
        if child is not None:
            _module_parent[child] = (weakref.ref(parent), name)
    except TypeError:  # not weak-referenceable: stays unknown
        pass
    # a non-None return would replace the submodule


def _on_parameter(module, name, param):
    try:
        _param_owner[param] = (weakref.ref(module), name)
    except TypeError:
        pass
    # a non-None return would replace the parameter


def install() -> None:
    # Warnings and error locations point at the user's line, not at torch internals or
    # at the library (Lightning, PEFT) that called torch for the user.
    _state.skip_frames_in(os.path.dirname(torch.__file__))
    _state.skip_installed_packages()
    _state.STATE.handles.append(_module.register_module_module_registration_hook(_on_module))
    _state.STATE.handles.append(_module.register_module_parameter_registration_hook(_on_parameter))


def module_path(module: torch.nn.Module) -> tuple[torch.nn.Module, str]:
    """(root, dotted path from the root) as far as the registry knows."""
    parts: list[str] = []
    for _ in range(MAX_DEPTH):
        entry = _module_parent.get(module)
        parent = entry[0]() if entry else None
        if parent is None or parent.__dict__.get("_modules", {}).get(entry[1]) is not module:
            break
        parts.append(entry[1])
        module = parent
    return module, ".".join(reversed(parts))


def owner(param: torch.Tensor) -> tuple[torch.nn.Module, str] | None:
    """(owning module, attribute name) if the registry knows it and it is current."""
    entry = _param_owner.get(param)
    module = entry[0]() if entry else None
    if module is None or module.__dict__.get("_parameters", {}).get(entry[1]) is not param:
        return None
    return module, entry[1]


def roots_of(params: Iterable[torch.Tensor]) -> list[torch.nn.Module]:
    """The top-level models that own these parameters (memoised per owning module)."""
    roots: dict[int, torch.nn.Module] = {}
    seen_owners: set[int] = set()
    for param in params:
        found = owner(param)
        if found is None or id(found[0]) in seen_owners:
            continue
        seen_owners.add(id(found[0]))
        root, _ = module_path(found[0])
        roots[id(root)] = root
    return list(roots.values())


def qualified_name(param: torch.Tensor) -> str | None:
    found = owner(param)
    if found is None:
        return None
    _, path = module_path(found[0])
    return f"{path}.{found[1]}" if path else found[1]


def module_name(module: torch.nn.Module) -> str:
    """``backbone.bn1 (BatchNorm2d)``, or the class name alone for a root."""
    _, path = module_path(module)
    kind = type(module).__name__
    return f"{path} ({kind})" if path else kind


def named_modules(root: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Module]]:
    """(dotted path, module) for ``root`` and every module under it, each once, in the
    order of ``root.named_modules()``. Read from torch's ``_modules`` itself, never
    through a method a model may override with another signature (no
    ``remove_duplicate``) or another meaning."""
    seen: set[int] = set()
    stack = [("", root)]
    while stack:
        path, module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        yield path, module
        children = module.__dict__.get("_modules", {}).items()
        named = [(f"{path}.{name}" if path else name, child) for name, child in children if child is not None]
        stack.extend(reversed(named))  # popped in their order


def named_parameters(root: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Parameter]]:
    """(qualified name, parameter) under ``root``, as ``named_modules`` reads them: a
    parameter shared by several modules comes once per module."""
    for path, module in named_modules(root):
        for name, param in module.__dict__.get("_parameters", {}).items():
            if param is not None:
                yield (f"{path}.{name}" if path else name), param


def _live_roots() -> list[torch.nn.Module]:
    """Every live top-level module, found by scanning the heap: slow, for messages only."""
    # type(obj), not isinstance: some lazy objects warn when their __class__ is read.
    modules = [obj for obj in gc.get_objects() if issubclass(type(obj), torch.nn.Module)]
    children = {id(child) for m in modules for child in m.__dict__.get("_modules", {}).values()}
    return [m for m in modules if id(m) not in children]


def names_from_heap(params: list[torch.Tensor]) -> dict[int, str]:
    """Names for parameters the registry does not know (their model was built before
    the guard was installed)."""
    wanted = {id(p) for p in params}
    names: dict[int, str] = {}
    for root in _live_roots():
        for name, param in named_parameters(root):
            if id(param) in wanted and (id(param) not in names or len(name) < len(names[id(param)])):
                names[id(param)] = name
    return names


def roots_from_heap(params: list[torch.Tensor]) -> list[torch.nn.Module]:
    """The live top-level modules that hold any of these parameters."""
    wanted = {id(p) for p in params}
    return [root for root in _live_roots() if any(id(p) in wanted for _, p in named_parameters(root))]


def root_from_heap(module: torch.nn.Module) -> tuple[torch.nn.Module, str]:
    """(root, path) for a module the registry does not know."""
    for root in _live_roots():
        for name, sub in named_modules(root):
            if sub is module:
                return root, name
    return module, ""


def describe(params: list[torch.Tensor], names: list[str | None] | None = None, limit: int = 4) -> str:
    """``a.weight, a.bias, b.weight and 3 more`` for a message."""
    if names is None:
        names = [qualified_name(p) for p in params[:limit]]
    names = list(names[:limit])
    missing = [p for p, n in zip(params, names) if n is None]
    if missing:
        from_heap = names_from_heap(missing)
        names = [n or from_heap.get(id(p)) for p, n in zip(params, names)]
    shown = [n or f"<tensor {tuple(p.shape)}>" for p, n in zip(params, names)]
    more = len(params) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def compiling() -> bool:
    """Whether torch.compile is tracing: checks stay out of compiled graphs."""
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and getattr(compiler, "is_compiling", lambda: False)())
