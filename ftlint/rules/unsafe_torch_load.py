from __future__ import annotations

import libcst as cst

from ftlint.analysis.names import keyword_is_false
from ftlint.outline import Outline
from ftlint.rules.base import Rule

# Loaders that unpickle with `weights_only=False`. `torch.hub.load_state_dict_from_url`
# defaults to False; only an explicit False is reported, like for `torch.load`.
_LOADERS = frozenset(
    {"torch.load", "torch.serialization.load", "torch.hub.load_state_dict_from_url"}
)
_PARTIAL = frozenset({"functools.partial"})


class UnsafeTorchLoad(Rule):
    code = "FTL203"
    name = "unsafe-torch-load"
    tokens = ("weights_only",)
    message = (
        "torch.load(weights_only=False) unpickles arbitrary objects, so a crafted checkpoint "
        "runs code while it loads; save state_dict()s and load them with weights_only=True "
        "(the default since torch 2.6), allowlisting extra types with "
        "torch.serialization.add_safe_globals"
    )
    docs = """\
## What it does
Finds `torch.load(..., weights_only=False)` (under any import alias, and
`torch.hub.load_state_dict_from_url(..., weights_only=False)`, and
`functools.partial(torch.load, weights_only=False)`).

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
the check off: `torch.serialization.add_safe_globals([MyConfig])`, or
`with torch.serialization.safe_globals([MyConfig]): ...`.

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
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        if not super().may_report(outline) or "False" not in outline.words:
            return False
        return outline.facts.passes_false_to(_LOADERS | _PARTIAL, "weights_only")

    def visit_Call(self, node: cst.Call) -> None:
        if not keyword_is_false(node, "weights_only"):
            return
        qualified = self.ctx.qualified_name(node.func)
        if qualified in _LOADERS:
            self.report(node)
        elif qualified in _PARTIAL and node.args and node.args[0].keyword is None:
            if self.ctx.qualified_name(node.args[0].value) in _LOADERS:
                self.report(node)
