"""The one list of every rule. Codes are unique and never reused, even after a removal."""

from __future__ import annotations

from ftlint.rules.base import Rule
from ftlint.rules.exhausted_parameter_iterator import ExhaustedParameterIterator
from ftlint.rules.frozen_batchnorm_updating import FrozenBatchnormUpdating
from ftlint.rules.frozen_params_in_optimizer import FrozenParamsInOptimizer
from ftlint.rules.inplace_detach_reused import InplaceDetachReused
from ftlint.rules.invalid_optimizer_argument import InvalidOptimizerArgument
from ftlint.rules.layer_replaced_after_optimizer import LayerReplacedAfterOptimizer
from ftlint.rules.overlapping_param_groups import OverlappingParamGroups
from ftlint.rules.params_frozen_after_optimizer import ParamsFrozenAfterOptimizer
from ftlint.rules.requires_grad_comparison import RequiresGradComparison
from ftlint.rules.requires_grad_on_data import RequiresGradOnData
from ftlint.rules.requires_grad_on_module import RequiresGradOnModule
from ftlint.rules.requires_grad_typo import RequiresGradTypo
from ftlint.rules.silent_key_filter import SilentKeyFilter
from ftlint.rules.torchvision_pretrained_argument import TorchvisionPretrainedArgument
from ftlint.rules.unchecked_non_strict_load import UncheckedNonStrictLoad
from ftlint.rules.unsafe_torch_load import UnsafeTorchLoad
from ftlint.rules.whole_module_pickle import WholeModulePickle

ALL_RULES: tuple[type[Rule], ...] = (
    FrozenParamsInOptimizer,
    ParamsFrozenAfterOptimizer,
    LayerReplacedAfterOptimizer,
    RequiresGradTypo,
    RequiresGradOnData,
    RequiresGradOnModule,
    RequiresGradComparison,
    InvalidOptimizerArgument,
    ExhaustedParameterIterator,
    OverlappingParamGroups,
    FrozenBatchnormUpdating,
    UncheckedNonStrictLoad,
    SilentKeyFilter,
    UnsafeTorchLoad,
    WholeModulePickle,
    TorchvisionPretrainedArgument,
    InplaceDetachReused,
)

RULES_BY_CODE: dict[str, type[Rule]] = {rule.code: rule for rule in ALL_RULES}
