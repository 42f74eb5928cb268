"""FTL111 frozen-batchnorm-updating: a BatchNorm layer whose weights are all frozen but
which is in train mode, so every forward pass overwrites its running statistics.

``requires_grad=False`` does not stop ``running_mean``/``running_var`` from updating,
``torch.no_grad()`` does not either, and ``model.train()`` undoes an earlier
``backbone.eval()``. Adapting the statistics on purpose is legitimate, so this is
always a warning, never an error.
"""

from __future__ import annotations

import functools

from torch.nn.modules.batchnorm import SyncBatchNorm, _BatchNorm
from torch.utils.weak import WeakIdKeyDictionary

from ftlint.guard import _registry, _state
from ftlint.guard._registry import compiling

_warned: WeakIdKeyDictionary = WeakIdKeyDictionary()  # layers already reported


def install() -> None:
    # SyncBatchNorm has its own forward; every other BatchNorm inherits _BatchNorm's.
    for cls in (_BatchNorm, SyncBatchNorm):
        _state.patch(cls, "forward", _checked_forward)


def _checked_forward(original, patch):
    @functools.wraps(original)
    def forward(self, input):
        # Cheapest first: an eval-mode or trainable layer costs a few attribute reads.
        if self.training and patch.live and _state.active("FTL111") and _updates_frozen_stats(self):
            if self not in _warned and not compiling():
                _report(self)
        return original(self, input)

    return forward


def _updates_frozen_stats(bn: _BatchNorm) -> bool:
    weight, bias = getattr(bn, "weight", None), getattr(bn, "bias", None)
    if weight is None or weight.requires_grad:  # the common case ends here
        return False
    return (
        (bias is None or not bias.requires_grad)
        and getattr(bn, "track_running_stats", False)
        and getattr(bn, "running_mean", None) is not None
        and getattr(bn, "momentum", None) != 0
    )


@_state.shielded
def _report(bn: _BatchNorm) -> None:
    # Report every such layer of the model at once: one warning per model, not per layer.
    root, _ = _registry.module_path(bn)
    if root is bn:  # built before install(): ask the heap (once per layer, when reporting)
        root, _ = _registry.root_from_heap(bn)
    if root is bn:
        layers = [("", bn)]
    else:
        layers = [
            (name, m)
            for name, m in _registry.named_modules(root)
            if isinstance(m, _BatchNorm) and m.training and _updates_frozen_stats(m)
        ]
    for _, layer in layers:
        _warned[layer] = True
    names = [f"{name} ({type(m).__name__})" if name else type(m).__name__ for name, m in layers]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    n = len(layers)
    _state.report(
        "FTL111",
        f"{n} BatchNorm layer{'' if n == 1 else 's'} with frozen weights {'is' if n == 1 else 'are'} "
        f"in train mode ({shown}): every forward pass, even under torch.no_grad(), normalises "
        f"with batch statistics and overwrites running_mean/running_var, so the frozen part "
        f"drifts; call .eval() on the frozen part after every model.train(), unless adapting "
        f"the statistics is intended",
        warn_only=True,
    )
