"""The one list of every rule. Codes are unique and never reused, even after a removal.

Rules are listed by code and module here and imported on first use of `ALL_RULES` or
`RULES_BY_CODE`: a run the result cache answers imports no rule, and so no libcst.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ftlint.rules.base import Rule

    ALL_RULES: tuple[type[Rule], ...]
    RULES_BY_CODE: dict[str, type[Rule]]

# (code, module under ftlint.rules, class)
_REGISTRY = (
    ("FTL101", "frozen_params_in_optimizer", "FrozenParamsInOptimizer"),
    ("FTL102", "params_frozen_after_optimizer", "ParamsFrozenAfterOptimizer"),
    ("FTL103", "layer_replaced_after_optimizer", "LayerReplacedAfterOptimizer"),
    ("FTL104", "requires_grad_typo", "RequiresGradTypo"),
    ("FTL105", "requires_grad_on_data", "RequiresGradOnData"),
    ("FTL106", "requires_grad_on_module", "RequiresGradOnModule"),
    ("FTL107", "requires_grad_comparison", "RequiresGradComparison"),
    ("FTL108", "invalid_optimizer_argument", "InvalidOptimizerArgument"),
    ("FTL109", "exhausted_parameter_iterator", "ExhaustedParameterIterator"),
    ("FTL110", "overlapping_param_groups", "OverlappingParamGroups"),
    ("FTL111", "frozen_batchnorm_updating", "FrozenBatchnormUpdating"),
    ("FTL201", "unchecked_non_strict_load", "UncheckedNonStrictLoad"),
    ("FTL202", "silent_key_filter", "SilentKeyFilter"),
    ("FTL203", "unsafe_torch_load", "UnsafeTorchLoad"),
    ("FTL204", "whole_module_pickle", "WholeModulePickle"),
    ("FTL205", "torchvision_pretrained_argument", "TorchvisionPretrainedArgument"),
    ("FTL301", "inplace_detach_reused", "InplaceDetachReused"),
)

RULE_CODES: tuple[str, ...] = tuple(code for code, _, _ in _REGISTRY)


def __getattr__(name: str) -> object:
    if name not in ("ALL_RULES", "RULES_BY_CODE"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    rules = []
    for code, module, class_name in _REGISTRY:
        rule = getattr(importlib.import_module(f"{__name__}.{module}"), class_name)
        if rule.code != code:
            raise ImportError(f"{class_name} has code {rule.code}, registered as {code}")
        rules.append(rule)
    globals()["ALL_RULES"] = tuple(rules)
    globals()["RULES_BY_CODE"] = {rule.code: rule for rule in rules}
    return globals()[name]
