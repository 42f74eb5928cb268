"""Which calls build an optimizer."""

from __future__ import annotations

import libcst as cst

from ftlint.analysis.names import dotted_parts
from ftlint.outline import Outline

# Modules whose CamelCase members are optimizers. torch.optim's schedulers and SWA helpers
# live in submodules and are excluded below.
_OPTIMIZER_MODULES = (
    "torch.optim.",
    "bitsandbytes.optim.",
    "torch_optimizer.",
    "timm.optim.",
    "apex.optimizers.",
    "deepspeed.ops.adam.",
    "deepspeed.ops.lamb.",
    "lion_pytorch.",
    "transformers.optimization.",
)
_NOT_OPTIMIZERS = ("torch.optim.lr_scheduler.", "torch.optim.swa_utils.", "torch.optim.Optimizer")
_BASES = ("torch.optim.Optimizer", "torch.optim.optimizer.Optimizer")
_KNOWN_OPTIMIZERS = frozenset(
    {
        "transformers.Adafactor",
        "transformers.AdamW",
        "bitsandbytes.optim.AdamW8bit",
        "lion_pytorch.Lion",
    }
)


# The first pass: every name above has one of these words (between dots), so a file
# without any of them builds no optimizer ftlint knows. Keep in step with the lists above.
OPTIMIZER_TOKENS = (
    "optim", "torch_optimizer", "optimizers", "optimization", "deepspeed", "lion_pytorch",
    "Adafactor", "AdamW", "AdamW8bit", "Lion",
)  # fmt: skip


def is_optimizer_name(qualified: str) -> bool:
    if qualified.startswith(_NOT_OPTIMIZERS):
        return False
    if qualified in _KNOWN_OPTIMIZERS:
        return True
    last = qualified.rsplit(".", 1)[-1]
    return qualified.startswith(_OPTIMIZER_MODULES) and last[:1].isupper() and "Scheduler" not in last


def _optimizer_base(qualified: str) -> bool:
    return qualified in _BASES or is_optimizer_name(qualified)


# What a value does that only an optimizer does, for an optimizer known by its role.
ROLE_METHODS = frozenset({"step", "zero_grad"})
_PARAMETER_METHODS = ("parameters", "named_parameters")


def may_use_optimizer_by_role(outline: Outline) -> bool:
    """The first pass for an optimizer built by any call (a factory): the file calls
    `.step()` or `.zero_grad()` and takes some module's parameters."""
    if outline.words.isdisjoint(ROLE_METHODS):
        return False
    facts = outline.facts
    return facts.calls_method(ROLE_METHODS) and facts.calls_method(_PARAMETER_METHODS)


def stepped_names(steps) -> frozenset[str]:
    """Names of the scope that are stepped or zero_grad-ed (`opt.step()`), or given to an
    LR scheduler (`StepLR(opt, ...)`, `get_linear_schedule_with_warmup(opt, ...)`): what a
    call that receives parameters returns is an optimizer when it is used so."""
    facts = getattr(steps, "facts", None)
    found = facts.get("stepped-names") if facts is not None else None
    if found is None:
        names: set[str] = set()
        for step in steps:
            for call in step.calls:
                func = call.func
                if isinstance(func, cst.Attribute) and func.attr.value in ROLE_METHODS:
                    if isinstance(func.value, cst.Name):
                        names.add(func.value.value)
                parts = dotted_parts(func) or []
                scheduler = parts and "schedul" in parts[-1].lower()
                if scheduler and call.args and isinstance(call.args[0].value, cst.Name):
                    names.add(call.args[0].value.value)
        found = frozenset(names)
        if facts is not None:
            facts["stepped-names"] = found
    return found


def may_build_optimizer(outline: Outline) -> bool:
    """The first pass: whether a file may build an optimizer `optimizer_class` knows: it
    calls one by an imported name, or it defines a class deriving from one."""
    if outline.words.isdisjoint(OPTIMIZER_TOKENS):
        return False
    facts = outline.facts
    return facts.calls_matching(is_optimizer_name) or facts.derives_from(_optimizer_base)


def optimizer_class(ctx, call: cst.Call) -> str | None:
    """The optimizer a call constructs (qualified name, or a same-file class), or None."""
    qualified = ctx.qualified_name(call.func)
    if qualified is not None:
        return qualified if is_optimizer_name(qualified) else None
    parts = dotted_parts(call.func)
    if parts and len(parts) == 1 and parts[0] in ctx.classes:
        bases = ctx.base_names(ctx.classes[parts[0]])
        if any(_optimizer_base(base) for base in bases):
            return parts[0]
    return None
