"""FTL201: ``load_state_dict(..., strict=False)`` that silently skipped keys.

Only a patch of ``nn.Module.load_state_dict`` sees ``strict``: the module's load hooks
do not. The result (``_IncompatibleKeys``) is a namedtuple and always truthy, so code
that does not read it never learns that a checkpoint loaded partly, or not at all.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from ftlint.guard import _registry, _state

# What usually adds each prefix, for the message.
_PREFIX_SOURCES = {
    "module.": "DataParallel/DistributedDataParallel",
    "_orig_mod.": "torch.compile",
    "model.": "a wrapper module",
}
_SHOWN = 3


def install() -> None:
    _state.patch(torch.nn.Module, "load_state_dict", _checked_load_state_dict)


def _checked_load_state_dict(original, patch):
    @functools.wraps(original)
    def load_state_dict(self, state_dict, *args, **kwargs):
        __tracebackhide__ = True
        result = original(self, state_dict, *args, **kwargs)
        strict = args[0] if args else kwargs.get("strict", True)
        if not strict and patch.live and _state.active("FTL201"):
            _check(self, state_dict, result)
        return result

    return load_state_dict


@_state.shielded
def _check(module: torch.nn.Module, state_dict: Any, result: Any) -> None:
    __tracebackhide__ = True
    # Read here, shielded: an override or another patch of load_state_dict may return
    # something else than torch's _IncompatibleKeys.
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if not (missing or unexpected):
        return
    target = f"load_state_dict(strict=False) into {_registry.module_name(module)}"
    try:
        matched = len(state_dict) - len(unexpected)
    except TypeError:  # a mapping without len(): cannot tell, so assume something matched
        matched = 1
    if matched <= 0 and not missing:
        # Each of the module's own keys is either loaded or missing: with neither, its
        # state_dict is empty (no parameters, no persistent buffers), and nothing of it
        # keeps an initial value. Only the ignored keys may be a mistake.
        _state.report(
            "FTL201",
            f"{target} ignored {_keys(unexpected, 'checkpoint key')}: {type(module).__name__} has "
            f"no state to load them into (its state_dict() is empty); if they are weights, load "
            f"the checkpoint into the module that holds them",
            warn_only=True,
        )
        return
    prefix = _prefix_advice(missing, unexpected)
    if matched <= 0:
        advice = prefix or "map the checkpoint's key names onto model.state_dict().keys() before loading"
        _state.report(
            "FTL201",
            f"{target} loaded nothing: none of the checkpoint's {_keys(unexpected, 'key')} matches "
            f"the model's {_keys(missing, 'key')}, so every weight keeps its initial value and no "
            f"error is raised; {advice}",
        )
        return
    parts = []
    if missing:
        parts.append(f"left {_keys(missing, 'model key')} unloaded")
    if unexpected:
        parts.append(f"ignored {_keys(unexpected, 'checkpoint key')}")
    advice = prefix or "fix the key names or load with strict=True"
    _state.report(
        "FTL201",
        f"{target} {' and '.join(parts)}: those weights keep their initial values and no error "
        f"is raised; {advice}; if the partial load is intended, check the returned "
        f"missing_keys and unexpected_keys",
    )


def _keys(keys: list[str], noun: str) -> str:
    if not keys:
        return f"0 {noun}s"
    shown = ", ".join(keys[:_SHOWN]) + (", ..." if len(keys) > _SHOWN else "")
    return f"{len(keys)} {noun}{'' if len(keys) == 1 else 's'} ({shown})"


def _prefix_advice(missing: list[str], unexpected: list[str]) -> str | None:
    """Recognise keys that differ only by a leading ``module.``/``_orig_mod.``/... part."""
    extra_in_checkpoint = _common_prefix(unexpected, set(missing))
    if extra_in_checkpoint:
        return (
            f"the checkpoint's keys start with '{extra_in_checkpoint}' and the model's do not"
            f"{_source(extra_in_checkpoint)}: strip it first, e.g. torch.nn.modules.utils."
            f"consume_prefix_in_state_dict_if_present(state_dict, '{extra_in_checkpoint}')"
        )
    extra_in_model = _common_prefix(missing, set(unexpected))
    if extra_in_model:
        attr = extra_in_model.rstrip(".")
        return (
            f"the model's keys start with '{extra_in_model}' and the checkpoint's do not"
            f"{_source(extra_in_model)}: load into the wrapped model (model.{attr}) instead"
        )
    return None


def _common_prefix(keys: list[str], others: set[str]) -> str | None:
    """The dotted prefix that, stripped from most of ``keys``, turns them into ``others``."""
    if not keys or not others:
        return None
    best, best_count = None, 0
    parts = keys[0].split(".")
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i]) + "."
        count = sum(1 for k in keys if k.startswith(prefix) and k[len(prefix):] in others)
        if count > best_count:
            best, best_count = prefix, count
    # Most of the keys must be explained, or it is a coincidence of names.
    return best if best_count * 2 >= min(len(keys), len(others)) else None


def _source(prefix: str) -> str:
    source = _PREFIX_SOURCES.get(prefix.split(".")[0] + ".")
    return f" (added by {source})" if source else ""
