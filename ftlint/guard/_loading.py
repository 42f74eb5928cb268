"""FTL201: ``load_state_dict(..., strict=False)`` that silently skipped keys.

Only a patch of ``nn.Module.load_state_dict`` sees ``strict``: the module's load hooks
do not. The result (``_IncompatibleKeys``) is a namedtuple and always truthy, so code
that does not read it never learns that a checkpoint loaded partly, or not at all.

How bad it is: a load that loaded nothing, or whose checkpoint keys went to no
parameter while parameters stayed unloaded (renamed or prefixed keys), is evidently
broken; a one-sided partial load (a new head left unloaded, extra keys ignored) is often
intended, so it is latent. A key missing only because its tensor is tied to one that
was loaded (GPT-2's ``lm_head.weight``) is not missing.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from typing import Any

import torch

from ftlint.guard import _registry, _state

# Libraries that load with strict=False on purpose and read the result themselves
# (PEFT's adapter loading, the Trainer's resume, accelerate's load_state, timm's
# pretrained weights for another number of classes): only a load that loaded nothing
# is reported there.
_CHECKING_LIBRARIES = ("peft", "transformers", "accelerate", "timm")

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
    if matched > 0 and _inside_checking_library():
        return
    if missing and matched > 0:
        missing = _not_tied_to_loaded(module, missing)
        if not (missing or unexpected):
            return
    if matched <= 0 and not missing:
        # Each of the module's own keys is either loaded or missing: with neither, its
        # state_dict is empty (no parameters, no persistent buffers), and nothing of it
        # keeps an old value. Only the ignored keys may be a mistake.
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
        advice = prefix or "map the checkpoint key names onto model.state_dict().keys() first"
        checkpoint = (
            f"none of the checkpoint's {_keys(unexpected, 'key')} is one of the model's"
            if unexpected
            else "the checkpoint is empty"
        )
        _state.report(
            "FTL201",
            f"{target} loaded nothing: {checkpoint}, so {_keys(missing, 'model key')} stay "
            f"unloaded and keep the values they had, and no error is raised; {advice}",
        )
        return
    if missing and unexpected:
        advice = prefix or "map the checkpoint key names onto the model's before loading"
        _state.report(
            "FTL201",
            f"{target} left {_keys(missing, 'model key')} unloaded and ignored "
            f"{_keys(unexpected, 'checkpoint key')}: keys that go to no parameter while parameters "
            f"stay unloaded are usually renamed or prefixed names; the unloaded weights keep the "
            f"values they had and no error is raised; {advice}",
        )
        return
    if missing:
        _state.report(
            "FTL201",
            f"{target} left {_keys(missing, 'model key')} unloaded; every checkpoint key was "
            f"loaded: those weights keep the values they had and no error is raised; if that is "
            f"intended (a new head), check the returned missing_keys, otherwise load with "
            f"strict=True",
            latent=True,
        )
        return
    _state.report(
        "FTL201",
        f"{target} ignored {_keys(unexpected, 'checkpoint key')}; every model key was loaded: "
        f"those tensors went nowhere and no error is raised; if that is intended, check the "
        f"returned unexpected_keys, otherwise load with strict=True",
        latent=True,
    )


def _inside_checking_library() -> bool:
    """Whether this load was called by a library that reads the result itself: some
    frame between it and the user's code is in one of ``_CHECKING_LIBRARIES``."""
    dirs = tuple(
        os.path.dirname(os.path.abspath(library.__file__)) + os.sep
        for library in map(sys.modules.get, _CHECKING_LIBRARIES)
        if library is not None and getattr(library, "__file__", None)
    )
    if not dirs:
        return False
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(dirs):
            return True
        if not _state.in_package(filename):  # the user's code: nothing called it for them
            return False
        frame = frame.f_back
    return False


def _not_tied_to_loaded(module: torch.nn.Module, missing: list[str]) -> list[str]:
    """``missing`` without the keys whose tensor is also under a key that was loaded:
    tied weights (an output layer sharing the embedding) are saved once."""
    tensors = dict(_state_tensors(module))
    missing_set = set(missing)
    loaded = {id(t) for key, t in tensors.items() if key not in missing_set}
    return [key for key in missing if key not in tensors or id(tensors[key]) not in loaded]


def _state_tensors(module: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(state_dict key, tensor) for the parameters and persistent buffers, under every
    path a shared module has (as ``state_dict()`` lists them), read from the modules'
    own dictionaries rather than from a method a model may override."""
    stack: list[tuple[str, torch.nn.Module, int]] = [("", module, 0)]
    while stack:
        prefix, mod, depth = stack.pop()
        state = mod.__dict__
        for name, param in state.get("_parameters", {}).items():
            if param is not None:
                yield prefix + name, param
        transient = state.get("_non_persistent_buffers_set", set())
        for name, buffer in state.get("_buffers", {}).items():
            if buffer is not None and name not in transient:
                yield prefix + name, buffer
        if depth < _registry.MAX_DEPTH:
            stack.extend(
                (f"{prefix}{name}.", child, depth + 1)
                for name, child in state.get("_modules", {}).items()
                if child is not None
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
