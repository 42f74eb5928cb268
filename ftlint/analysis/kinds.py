"""What kind of object an expression holds: a module, a parameter, a tensor, or unknown.

Only what the file itself makes certain counts, so rules can rely on a positive answer:

- calls: `torch.nn.<Class>(...)`, `torchvision.models.<builder or Class>(...)`,
  `timm.create_model(...)`, `transformers.<...Model...>.from_pretrained(...)`, a class of
  the file deriving (transitively) from `nn.Module` (or `LightningModule`,
  `PreTrainedModel`); `nn.Parameter(...)`; `torch.zeros(...)` and other tensor factories;
- `m.to(...)`, `m.eval()`, `copy.deepcopy(m)`, `torch.compile(m)` keep the kind of `m`;
  `m.weight`/`m.bias` of a module are parameters, `t.data`/`t.grad` tensors;
- names and attribute paths bound to such values earlier in the same scope (last binding
  wins, an unknown value forgets), loop variables over `m.modules()`/`m.children()`,
  parameters annotated `nn.Module`;
- in a method, `self` when the class is a module class, and `self.x` as `__init__` left
  it; in a function, module-level names the function does not bind itself.

Everything else is unknown (`None`): an attribute of a module may be a module, a
parameter, a buffer or a plain value, so `model.fc` is a module only if the file says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import libcst as cst

from ftlint.analysis.names import dotted_parts
from ftlint.analysis.scopes import Step, child_body, names_used

MODULE = "module"
PARAMETER = "parameter"
TENSOR = "tensor"
OTHER = "other"  # known to be none of those: a PackedSequence, a dataset

Path = tuple[str, ...]
Env = Mapping[Path, str]
# The path of a container's items, under the container's own: `blocks[0]` and `for b in
# blocks` are modules when `blocks = nn.ModuleList(...)` (or an nn.Sequential).
ITEMS = "[]"
_SEQUENCE_CONTAINERS = frozenset({"torch.nn.ModuleList", "torch.nn.Sequential"})

_CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_OTHER_MODULE_CLASSES = (
    "lightning.LightningModule",
    "lightning.pytorch.LightningModule",
    "lightning.pytorch.core.LightningModule",
    "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.LightningModule",
    "transformers.PreTrainedModel",
    "transformers.modeling_utils.PreTrainedModel",
)
_TRANSFORMERS_MODEL = re.compile(r"^(?!TF|Flax|DataCollator)[A-Z]\w*(Model|For[A-Z]\w*)$")
_NOT_MODULES_IN_NN = (
    "torch.nn.functional.",
    "torch.nn.init.",
    "torch.nn.utils.",
    "torch.nn.attention.",
)
_PARAMETER_CLASSES = frozenset(
    {
        "torch.nn.Parameter",
        "torch.nn.parameter.Parameter",
        "torch.nn.UninitializedParameter",
        "torch.nn.parameter.UninitializedParameter",
    }
)
_TENSOR_CLASSES = frozenset(
    {"torch.nn.Buffer", "torch.nn.parameter.Buffer", "torch.nn.UninitializedBuffer"}
)
_TENSOR_FACTORIES = frozenset(
    {
        "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "rand",
        "randn", "randint", "randperm", "arange", "linspace", "logspace", "eye",
        "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like",
        "randint_like", "cat", "stack", "Tensor", "FloatTensor", "LongTensor",
    }
)
# Objects with a `.data` of their own (a field, not Tensor.data).
_OTHER_CONSTRUCTORS = frozenset(
    {
        "torch.nn.utils.rnn.pack_padded_sequence",
        "torch.nn.utils.rnn.pack_sequence",
        "torch.nn.utils.rnn.PackedSequence",
    }
)
_TORCHVISION_NOT_BUILDERS = frozenset(
    {"get_weight", "get_model_weights", "list_models", "get_model_builder", "get_graph_node_names"}
)
# Methods returning the object they are called on (or one of the same kind).
_SAME_KIND_METHODS = frozenset(
    {
        "to", "cuda", "cpu", "train", "eval", "float", "half", "double", "bfloat16",
        "requires_grad_", "to_empty", "share_memory",
    }
)
_TENSOR_METHODS = frozenset({"detach", "clone", "contiguous", "view", "reshape", "t"})
_MODULE_ITERATORS = frozenset({"modules", "children", "named_modules", "named_children"})
_PASS_THROUGH = frozenset({"list", "tuple", "reversed", "sorted", "iter"})


def module_classes(ctx) -> frozenset[str]:
    """Top-level classes of the file that derive, directly or through others, from a module."""

    def compute() -> frozenset[str]:
        found = set()
        for name, class_def in ctx.classes.items():
            if any(_is_module_class(base) for base in ctx.base_names(class_def)):
                found.add(name)
        return frozenset(found)

    return ctx.cached("module_classes", ctx.module, compute)


def _is_module_class(qualified: str) -> bool:
    """An imported class whose instances are modules: `torch.nn.Module`, `nn.Sequential`."""
    if qualified in _OTHER_MODULE_CLASSES:
        return True
    last = qualified.rsplit(".", 1)[-1]
    if qualified.startswith(("torch.nn.", "torchvision.models.")):
        return bool(_CAMEL.match(last)) and _qualified_kind(qualified) == MODULE
    return _transformers_model(qualified)


def _qualified_kind(qualified: str) -> str | None:
    """The kind of object calling an imported name builds."""
    last = qualified.rsplit(".", 1)[-1]
    if qualified in _OTHER_CONSTRUCTORS or (
        qualified.startswith("torchvision.datasets.") and _CAMEL.match(last)
    ):
        return OTHER
    if qualified in _PARAMETER_CLASSES:
        return PARAMETER
    if qualified in _TENSOR_CLASSES:
        return TENSOR
    if qualified.startswith("torch.nn.") and not qualified.startswith(_NOT_MODULES_IN_NN):
        return MODULE if _CAMEL.match(last) else None
    if qualified.startswith("torchvision.models."):
        if last.startswith("_") or "Weights" in last or last in _TORCHVISION_NOT_BUILDERS:
            return None
        return MODULE
    if qualified == "timm.create_model":
        return MODULE
    if qualified.count(".") == 1 and qualified.startswith("torch.") and last in _TENSOR_FACTORIES:
        return TENSOR
    return None


def _transformers_model(qualified: str) -> bool:
    """`transformers.AutoModelForCausalLM`, `transformers.BertForSequenceClassification`:
    a PyTorch model class (not a tokenizer, config, output, or TF/Flax model)."""
    if not qualified.startswith("transformers."):
        return False
    return bool(_TRANSFORMERS_MODEL.match(qualified.rsplit(".", 1)[-1]))


def kind_of(ctx, expr: cst.BaseExpression, env: Env) -> str | None:
    """MODULE, PARAMETER, TENSOR or None (unknown) for an expression, given what names hold."""
    parts = dotted_parts(expr)
    if parts is not None and tuple(parts) in env:
        return env[tuple(parts)]
    if isinstance(expr, cst.Attribute):
        base = kind_of(ctx, expr.value, env)
        attr = expr.attr.value
        if base == MODULE and attr in ("weight", "bias"):
            return PARAMETER
        if base in (TENSOR, PARAMETER) and attr in ("data", "grad"):
            return TENSOR
        return None
    if isinstance(expr, cst.Call):
        return _call_kind(ctx, expr, env)
    if isinstance(expr, cst.Subscript):
        container = dotted_parts(expr.value)
        if container is not None and env.get((*container, ITEMS)) == MODULE:
            return MODULE
    return None


def item_kind(ctx, value: cst.BaseExpression) -> str | None:
    """MODULE when `value` builds a sequence of modules (nn.ModuleList, nn.Sequential)."""
    if isinstance(value, cst.Call) and ctx.qualified_name(value.func) in _SEQUENCE_CONTAINERS:
        return MODULE
    return None


def _call_kind(ctx, call: cst.Call, env: Env) -> str | None:
    func = call.func
    first = call.args[0].value if call.args and call.args[0].keyword is None else None
    qualified = ctx.qualified_name(func)
    if qualified is not None:
        if qualified in ("copy.deepcopy", "copy.copy", "torch.compile") and first is not None:
            return kind_of(ctx, first, env)
        if isinstance(func, cst.Attribute) and func.attr.value == "from_pretrained":
            return MODULE if _transformers_model(ctx.qualified_name(func.value) or "") else None
        kind = _qualified_kind(qualified)
        if kind is None and _transformers_model(qualified):
            return MODULE
        return kind
    if isinstance(func, cst.Name):
        if func.value in module_classes(ctx):
            return MODULE
        return None
    if isinstance(func, cst.Attribute):
        method = func.attr.value
        if method in _SAME_KIND_METHODS:
            base = kind_of(ctx, func.value, env)
            return TENSOR if base == PARAMETER and method != "requires_grad_" else base
        if method in _TENSOR_METHODS and kind_of(ctx, func.value, env) in (TENSOR, PARAMETER):
            return TENSOR
    return None


def loop_kind(
    ctx, iterable: cst.BaseExpression, env: Env
) -> tuple[str | None, tuple[int, ...]]:
    """What a `for` loop over `iterable` binds, and where in the target: `()` for the
    whole target, `(1,)` for `m` in `name, m`, `(1, 1)` for `i, (name, m)`."""
    node = iterable
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Name)
        and node.func.value == "enumerate"
        and node.args
    ):
        kind, where = loop_kind(ctx, node.args[0].value, env)
        return kind, (1, *where)
    while isinstance(node, cst.Subscript) or (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Name)
        and node.func.value in _PASS_THROUGH
        and node.args
    ):
        node = node.value if isinstance(node, cst.Subscript) else node.args[0].value
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        method = node.func.attr.value
        if method in _MODULE_ITERATORS:
            return MODULE, (1,) if method.startswith("named_") else ()
    container = dotted_parts(node)
    if container is not None and node is iterable and env.get((*container, ITEMS)) == MODULE:
        return MODULE, ()  # `for block in blocks`, blocks an nn.ModuleList
    return None, ()


def _annotation_kind(ctx, annotation: cst.Annotation | None) -> str | None:
    if annotation is None:
        return None
    node = annotation.annotation
    if isinstance(node, cst.SimpleString):
        return None
    qualified = ctx.qualified_name(node)
    if qualified is not None:
        if _is_module_class(qualified):
            return MODULE
        return PARAMETER if _qualified_kind(qualified) == PARAMETER else None
    parts = dotted_parts(node)
    if parts and len(parts) == 1 and parts[0] in module_classes(ctx):
        return MODULE
    return None


class _KindWalker:
    """Statement by statement, the kinds known for names and attribute paths."""

    def __init__(self, ctx, env: dict[Path, str]) -> None:
        self.ctx = ctx
        self.env = env

    def bind(self, target: cst.BaseExpression, kind: str | None) -> None:
        parts = dotted_parts(target)
        if parts is not None:
            path = tuple(parts)
            for known in [p for p in self.env if p[: len(path)] == path]:
                del self.env[known]
            if kind is not None:
                self.env[path] = kind
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self.bind(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self.bind(target.value, None)

    def _bind_items(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        parts = dotted_parts(target)
        kind = item_kind(self.ctx, value)
        if parts is not None and kind is not None:
            self.env[(*parts, ITEMS)] = kind

    def step(self, step: Step) -> None:
        node = step.node
        if isinstance(node, cst.Assign):
            kind = kind_of(self.ctx, node.value, self.env)
            for target in node.targets:
                self.bind(target.target, kind)
                self._bind_items(target.target, node.value)
            return
        if isinstance(node, cst.AnnAssign):
            if node.value is not None:
                kind = kind_of(self.ctx, node.value, self.env)
                self.bind(node.target, kind or _annotation_kind(self.ctx, node.annotation))
                self._bind_items(node.target, node.value)
            return
        if isinstance(node, cst.For):
            kind, where = loop_kind(self.ctx, node.iter, self.env)
            self.bind(node.target, None)
            target: cst.BaseExpression | None = node.target
            for index in where:
                if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
                    target = target.elements[index].value
                else:
                    target = None
                    break
            if target is not None and kind is not None:
                self.bind(target, kind)
            return
        _, binds = names_used(node)
        for name in binds:
            self.bind(name, None)


def _walk(ctx, owner, env: dict[Path, str]) -> list[dict[Path, str]]:
    walker = _KindWalker(ctx, env)
    before: list[dict[Path, str]] = []
    for step in ctx.steps(owner):
        before.append(dict(walker.env))
        walker.step(step)
    before.append(dict(walker.env))
    return before


def _methods(class_def: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    return {
        stmt.name.value: stmt for stmt in child_body(class_def) if isinstance(stmt, cst.FunctionDef)
    }


def _bound_names(ctx, func: cst.FunctionDef) -> set[str]:
    names = {p.name.value for p in _all_params(func)}
    for step in ctx.steps(func):
        names.update(step.bound_names)
    return names


def _all_params(func: cst.FunctionDef) -> list[cst.Param]:
    params = func.params
    found = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            found.append(star)
    return found


def scope_kinds(ctx, owner: cst.Module | cst.FunctionDef) -> list[dict[Path, str]]:
    """For each step of a scope, the kinds known just before it; one more entry for the end."""
    return ctx.cached("kinds", owner, lambda: _compute(ctx, owner))


def _compute(ctx, owner) -> list[dict[Path, str]]:
    if isinstance(owner, cst.Module):
        return _walk(ctx, owner, {})
    env: dict[Path, str] = {}
    module_env = scope_kinds(ctx, ctx.module)[-1]
    own = _bound_names(ctx, owner)
    for path, kind in module_env.items():
        if path[0] not in own:
            env[path] = kind
    class_def = _class_of(ctx, owner)
    params = _all_params(owner)
    for param in params:
        kind = _annotation_kind(ctx, param.annotation)
        if kind is not None:
            env[(param.name.value,)] = kind
    if class_def is not None and params and not _is_static(owner):
        self_name = params[0].name.value
        if class_def.name.value in module_classes(ctx):
            env[(self_name,)] = MODULE
        init = _methods(class_def).get("__init__")
        if init is not None and init is not owner and _all_params(init):
            init_self = _all_params(init)[0].name.value
            for path, kind in scope_kinds(ctx, init)[-1].items():
                if path[0] == init_self and len(path) > 1:
                    env[(self_name,) + path[1:]] = kind
    return _walk(ctx, owner, env)


def _is_static(func: cst.FunctionDef) -> bool:
    return any(
        isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod")
        for d in func.decorators
    )


def _class_of(ctx, func: cst.FunctionDef) -> cst.ClassDef | None:
    for candidate, class_def in ctx.functions_with_class:
        if candidate is func:
            return class_def
    return None


def kinds_at(ctx, owner, step: Step) -> dict[Path, str]:
    """The kinds known just before `step` of `owner` runs."""
    return scope_kinds(ctx, owner)[step.index]


def is_module(ctx, owner, step: Step, expr: cst.BaseExpression) -> bool:
    """Whether `expr`, evaluated at `step` of scope `owner`, surely holds an `nn.Module`."""
    return kind_of(ctx, expr, kinds_at(ctx, owner, step)) == MODULE
