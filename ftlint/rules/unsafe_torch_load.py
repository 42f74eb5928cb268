from __future__ import annotations

import libcst as cst

from ftlint.analysis.names import keyword_is_false
from ftlint.outline import Outline
from ftlint.rules.base import Rule
from ftlint.targets import Release

# Loaders that unpickle with `weights_only=False`. `torch.hub.load_state_dict_from_url`
# defaults to False in every release; only an explicit False is reported there.
_TORCH_LOADS = frozenset({"torch.load", "torch.serialization.load"})
_LOADERS = _TORCH_LOADS | {"torch.hub.load_state_dict_from_url"}
_PARTIAL = frozenset({"functools.partial"})
# torch.load's weights_only: added in 1.13 (False by default); True by default from 2.6
# on, unless a pickle_module is given. Allowlisting: add_safe_globals from 2.4 on.
_WEIGHTS_ONLY = (1, 13)
_SAFE_DEFAULT = (2, 6)
_ALLOWLIST = (2, 4)
_ALLOWLIST_ADVICE = ", allowlisting extra types with torch.serialization.add_safe_globals"


def _unpickles_by_default(call: cst.Call, torch: Release) -> bool:
    """Whether a `torch.load(...)` that does not say `weights_only=` unpickles under the
    target torch (unknown with `*args` or `**kwargs`)."""
    if any(arg.star for arg in call.args):
        return False
    if any(arg.keyword is not None and arg.keyword.value == "weights_only" for arg in call.args):
        return False
    return torch < _SAFE_DEFAULT or _pickle_module(call)


def _pickle_module(call: cst.Call) -> bool:
    """Whether `torch.load(f, map_location, pickle_module)` is given a pickle module."""
    positional = sum(1 for arg in call.args if arg.keyword is None)
    keywords = {arg.keyword.value for arg in call.args if arg.keyword is not None}
    return positional >= 3 or "pickle_module" in keywords


class UnsafeTorchLoad(Rule):
    code = "FTL203"
    name = "unsafe-torch-load"
    # "load": a torch.load that does not say weights_only=, for a target before 2.6
    tokens = ("weights_only", "load")
    message = (
        "torch.load(weights_only=False) unpickles arbitrary objects, so a crafted checkpoint "
        "runs code while it loads; save state_dict()s and load them with weights_only=True "
        "(the default since torch 2.6)" + _ALLOWLIST_ADVICE
    )
    default_message = (
        "torch.load() without weights_only= unpickles arbitrary objects {why}, so a crafted "
        "checkpoint runs code while it loads; {advice}" + _ALLOWLIST_ADVICE
    )
    old_torch_message = (
        "torch.load() unpickles arbitrary objects in torch {torch}, which has no weights_only= "
        "(added in 1.13), so a crafted checkpoint runs code while it loads; load only files "
        "you trust, or move to torch 1.13 or later and pass weights_only=True"
    )
    docs = """\
## What it does
Finds `torch.load(..., weights_only=False)` (under any import alias, and
`torch.hub.load_state_dict_from_url(..., weights_only=False)`, and
`functools.partial(torch.load, weights_only=False)`), and the `torch.load(...)` calls
that do not say `weights_only=` where the default unpickles: always when a
`pickle_module` is given, and every one when the target torch is older than 2.6
(`target-torch` in `[tool.ftlint]` or `--target-torch`; else the installed torch, else
the newest). Before 2.6 the default was `weights_only=False`; torch 1.13 added the
argument, and for an older target the message says so.

## Why is this bad?
With `weights_only=False`, `torch.load` is `pickle.load`: the file can name any importable
callable and have it called with any arguments while it loads. A checkpoint downloaded
from a model hub, shared in a chat or left on a shared disk can run code on the machine
that opens it, before a single tensor is looked at.

Since torch 2.6 `weights_only=True` is the default, and it loads what fine-tuning needs:
tensors, state dicts, dicts and lists of them, numbers and strings. It refuses a pickled
whole `nn.Module` (see FTL204), and people then pass `weights_only=False` to make the
error go away, which turns the safe default off for every file the code will ever open.

## Example
```python
model = torch.load("checkpoints/best.pt", weights_only=False)
```

## Use instead
Save the state dict, and load it with the safe default:
```python
torch.save({"model": model.state_dict(), "epoch": epoch}, "checkpoints/best.pt")
...
checkpoint = torch.load("checkpoints/best.pt", map_location="cpu")
model.load_state_dict(checkpoint["model"])
```
If the checkpoint holds a few extra types of your own, allowlist them instead of turning
the check off: `torch.serialization.add_safe_globals([MyConfig])` (torch 2.4 on), or
`with torch.serialization.safe_globals([MyConfig]): ...` (2.5 on).

## References
- [torch.load](https://pytorch.org/docs/stable/generated/torch.load.html)
- [Serialization semantics: weights_only](https://pytorch.org/docs/stable/notes/serialization.html#weights-only)
- [pickle: security warning](https://docs.python.org/3/library/pickle.html)
"""
    valid = (
        # the safe default, explicit or not
        """\
import torch
sd = torch.load("ckpt.pt", map_location="cpu")
sd = torch.load("ckpt.pt", map_location="cpu", weights_only=True)
""",
        # decided by configuration, not hard-coded: not reported
        """\
import torch
sd = torch.load(path, weights_only=args.trust_checkpoint)
sd = torch.load(path, **load_kwargs)
""",
        # other loaders and other objects' load methods
        """\
import numpy as np
import torch
arr = np.load("x.npy", allow_pickle=False)
state = checkpoint_io.load(path, weights_only=False)
model = torch.jit.load("model.pt")
""",
        # a same-named function that is not torch's
        """\
def load(path, weights_only=True):
    ...

sd = load("ckpt.pt", weights_only=False)
""",
        # torch not imported under that name
        """\
sd = torch.load("ckpt.pt", weights_only=False)
""",
    )
    invalid = (
        """\
import torch
model = torch.load("m.pth", weights_only=False)  # expect: FTL203
""",
        # aliases
        """\
import torch as t
from torch import load
from torch import load as torch_load
a = t.load(p, map_location="cpu", weights_only=False)  # expect: FTL203
b = load(p, weights_only=False)  # expect: FTL203
c = torch_load(  # expect: FTL203
    p,
    weights_only=False,
)
""",
        # inside functions and methods, lambdas, partial, hub
        """\
import functools
import torch

class Trainer:
    def resume(self, path):
        ckpt = torch.load(path, weights_only=False)  # expect: FTL203
        return ckpt

loader = lambda p: torch.load(p, weights_only=False)  # expect: FTL203
unsafe = functools.partial(torch.load, weights_only=False)  # expect: FTL203
sd = torch.hub.load_state_dict_from_url(url, weights_only=False)  # expect: FTL203
""",
        # a pickle_module turns the safe default off, in every release
        """\
import dill
import torch
ckpt = torch.load("ckpt.pt", map_location="cpu", pickle_module=dill)  # expect: FTL203
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        if not super().may_report(outline):
            return False
        facts = outline.facts
        if "False" in outline.words and facts.passes_false_to(_LOADERS | _PARTIAL, "weights_only"):
            return True
        # The target is not known here: any torch.load may be one that unpickles by default.
        return facts.calls_any(_TORCH_LOADS)

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.ctx.qualified_name(node.func)
        if not keyword_is_false(node, "weights_only"):
            if qualified in _TORCH_LOADS and _unpickles_by_default(node, self.ctx.targets.torch):
                self.report(node, self._default_message(node))
            return
        if qualified in _LOADERS:
            self.report(node, self._for_target(self.message))
        elif qualified in _PARTIAL and node.args and node.args[0].keyword is None:
            if self.ctx.qualified_name(node.args[0].value) in _LOADERS:
                self.report(node, self._for_target(self.message))

    def _default_message(self, call: cst.Call) -> str:
        torch = self.ctx.targets.torch
        if torch < _WEIGHTS_ONLY:
            return self.old_torch_message.format(torch=torch)
        if torch < _SAFE_DEFAULT:
            why = f"in torch {torch} (weights_only=True is the default from torch 2.6 on)"
        else:
            why = "when given a pickle_module (which turns the weights_only=True default off)"
        if not _pickle_module(call):
            advice = "pass weights_only=True and save state_dict()s"
        elif torch < _SAFE_DEFAULT:
            advice = "drop pickle_module= (weights_only=True refuses one), pass weights_only=True"
        else:
            advice = "drop pickle_module= (weights_only=True refuses one) for the safe default"
        return self._for_target(self.default_message.format(why=why, advice=advice))

    def _for_target(self, message: str) -> str:
        """The message without the allowlisting advice for a torch that cannot (before 2.4)."""
        if self.ctx.targets.torch < _ALLOWLIST:
            return message.removesuffix(_ALLOWLIST_ADVICE)
        return message
