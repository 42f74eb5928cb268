from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from ftlint.analysis.names import may_be_false
from ftlint.analysis.reporting import keys_compared, size_reported
from ftlint.analysis.scopes import Step, next_read
from ftlint.outline import Outline
from ftlint.rules.base import Rule


def non_strict_load(call: cst.Call) -> bool:
    """`X.load_state_dict(sd, strict=False)` with a literal False, or a value that may be
    one (`strict=False if strict is None else strict`)."""
    if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == "load_state_dict"):
        return False
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    if len(positional) >= 2 and may_be_false(positional[1].value):
        return True
    return any(
        arg.keyword is not None and arg.keyword.value == "strict" and may_be_false(arg.value)
        for arg in call.args
    )


def _strict_parameter(call: cst.Call, parameters: set[str]) -> str | None:
    """`p` for `x.load_state_dict(sd, strict=p)` where `p` is one of `parameters`."""
    if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == "load_state_dict"):
        return None
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "strict":
            value = arg.value
            if isinstance(value, cst.Name) and value.value in parameters:
                return value.value
    return None


@dataclass(frozen=True)
class _Helper:
    """A function that loads with `strict` taken from its parameter `parameter` (at
    `position` among the positional ones, None when keyword-only; `default` its default)
    and leaves the result unchecked: dropped, or `returned` to its caller."""

    parameter: str
    position: int | None
    default: cst.BaseExpression | None
    returned: bool
    line: int


class UncheckedNonStrictLoad(Rule):
    code = "FTL201"
    name = "unchecked-non-strict-load"
    tokens = ("load_state_dict",)
    message = (
        "load_state_dict(strict=False) result is ignored: missing and unexpected keys are "
        "dropped silently, and a 'module.' or '_orig_mod.' key prefix loads nothing at all; "
        "check or log the returned missing_keys and unexpected_keys"
    )
    docs = """\
## What it does
Finds `load_state_dict(..., strict=False)` calls whose result nobody looks at: the call is a
statement of its own, or its result is bound to names that are never read. A helper of the
file that loads with `strict=<its parameter>` and ignores the result (or returns it) is
reported where it is called with `strict=False` (or where that is its default) and its
result is ignored.

## Why is this bad?
With `strict=False`, keys of the checkpoint that the model does not have, and weights of
the model that the checkpoint lacks, are skipped without a word. The call returns them as
`missing_keys` and `unexpected_keys`, and that is the only trace. When every key carries a
prefix the model does not (`module.` from `DataParallel`, `_orig_mod.` from
`torch.compile`), nothing at all is loaded and training starts from random weights, silently.
The returned named tuple is always truthy, so `if model.load_state_dict(...)` checks nothing.

## Example
```python
model.load_state_dict(checkpoint["model"], strict=False)
```

## Use instead
```python
result = model.load_state_dict(checkpoint["model"], strict=False)
if result.missing_keys or result.unexpected_keys:
    logger.warning("missing: %s, unexpected: %s", result.missing_keys, result.unexpected_keys)
```
Reporting how much was loaded (`print(f"loaded {len(state)} tensors")`) also counts.

## At run time
With `ftlint.guard` installed, a non-strict load that skips keys is reported with a few of
them, their count, and the prefix that explains them; a load that matched no key of a
module with weights is an error in error mode and a warning in warn mode.

## References
- [torch.nn.Module.load_state_dict](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.load_state_dict)
- [Saving and loading models: warmstarting](https://pytorch.org/tutorials/beginner/saving_loading_models.html)
"""
    valid = (
        # the helper's result is looked at, or it loads strictly
        """\
def load_weights(model, path, strict=False):
    return model.load_state_dict(torch.load(path, weights_only=True), strict=strict)
result = load_weights(net, "b.pt")
print(result.missing_keys)
load_weights(net, "b.pt", strict=True)
""",
        # a helper that works out its missing and unexpected keys itself
        """\
def load(model, path):
    sd = torch.load(path, weights_only=True)
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    model.load_state_dict(sd, strict=False)
    return missing, unexpected
""",
        # the same with set differences
        """\
sd = torch.load(path, weights_only=True)
dropped = set(sd.keys()) - set(model.state_dict().keys())
model.load_state_dict(sd, strict=False)
print("dropped", dropped)
""",
        # the result is logged
        """\
result = model.load_state_dict(sd, strict=False)
logger.info("load: %s", result)
""",
        # unpacked and read later
        """\
missing, unexpected = model.load_state_dict(sd, strict=False)
assert not missing, missing
""",
        # kept on an object for later
        """\
self.load_report = self.model.load_state_dict(sd, strict=False)
""",
        # returned, passed to print, asserted, tested
        """\
def load(model, sd):
    return model.load_state_dict(sd, strict=False)

print(model.load_state_dict(sd, strict=False))
assert not model.load_state_dict(sd, strict=False).missing_keys
if model.load_state_dict(sd, strict=False).unexpected_keys:
    raise ValueError("bad checkpoint")
""",
        # strict is a variable, or True, or left out
        """\
model.load_state_dict(sd, strict=args.strict)
model.load_state_dict(sd, strict=True)
model.load_state_dict(sd)
""",
        # the loaded dict's size is reported (YOLOv5 style)
        """\
def transfer(model, ckpt):
    csd = intersect_dicts(ckpt, model.state_dict())
    model.load_state_dict(csd, strict=False)
    LOGGER.info(f"Transferred {len(csd)}/{len(model.state_dict())} items")
""",
        # other APIs with strict=
        """\
pairs = list(zip(a, b, strict=False))
traced = torch.jit.trace(model, x, strict=False)
""",
        # bound in both branches of an if, returned after (peft's loader)
        """def load(model, sd, low_memory):
    if low_memory:
        result = model.load_state_dict(sd, strict=False, assign=True)
    else:
        result = model.load_state_dict(sd, strict=False)
    return result
""",
    )
    invalid = (
        # a helper that forwards strict and ignores the result
        """\
def load_checkpoint(model, path, strict=True):
    sd = torch.load(path, weights_only=True)
    model.load_state_dict(sd, strict=strict)
load_checkpoint(net, "a.pt", strict=False)  # expect: FTL201
""",
        # a helper that returns the result, non-strict by default, to a caller that ignores it
        """\
def load_weights(model, path, strict=False):
    return model.load_state_dict(torch.load(path, weights_only=True), strict=strict)
load_weights(net, "b.pt")  # expect: FTL201
""",
        # strict may be False: a helper's default
        """\
def load_checkpoint(model, path, strict=None):
    sd = torch.load(path, weights_only=True)
    model.load_state_dict(sd, strict=False if strict is None else strict)  # expect: FTL201
""",
        # looking for one key is not checking the load
        """\
sd = torch.load(path, weights_only=True)
if "model" in sd:
    sd = sd["model"]
model.load_state_dict(sd, strict=False)  # expect: FTL201
""",
        """\
model.load_state_dict(pretrained.state_dict(), strict=False)  # expect: FTL201
""",
        # unpacked, never read
        """\
missing, unexpected = model.load_state_dict(sd, strict=False)  # expect: FTL201
model.train()
""",
        # bound to _
        """\
def load(model, path):
    _ = model.load_state_dict(torch.load(path), strict=False)  # expect: FTL201
    return model
""",
        # strict given positionally; the dict's size is reported for another dict
        """\
model.load_state_dict(sd, False)  # expect: FTL201
print(len(other))
""",
        # read only before it was bound again
        """\
result = model.load_state_dict(sd, strict=False)  # expect: FTL201
result = train(model)
print(result)
""",
    )

    @classmethod
    def may_report(cls, outline: Outline) -> bool:
        if not super().may_report(outline) or "False" not in outline.words:
            return False
        facts = outline.facts  # load_state_dict(sd, strict=False) or (sd, False)
        if facts.passes_false("load_state_dict", "strict"):
            return True
        # or a helper's `load_state_dict(sd, strict=strict)`, given False by its callers
        return facts.passes_false("load_state_dict", 1) or "strict" in outline.words

    def visit_Module(self, node: cst.Module) -> None:
        helpers = self._loading_helpers()
        for owner in self.ctx.scopes:
            steps = self.ctx.steps(owner)
            for step in steps:
                for call in step.calls:
                    if non_strict_load(call) and self._unchecked(steps, step, call):
                        self.report(call)
                    elif isinstance(call.func, cst.Name) and call.func.value in helpers:
                        self._judge_helper_call(steps, step, call, helpers[call.func.value])

    def _loading_helpers(self) -> dict[str, _Helper]:
        """Top-level functions of the file that load with `strict=<a parameter>` and do
        not check the result themselves (they drop it, or return it to the caller)."""
        found: dict[str, _Helper] = {}
        for name, function in self.ctx.functions.items():
            params = function.params
            positional = [p.name.value for p in (*params.posonly_params, *params.params)]
            defaults = {p.name.value: p.default for p in (*params.params, *params.kwonly_params)}
            steps = self.ctx.steps(function)
            for step in steps:
                for call in step.calls:
                    parameter = _strict_parameter(call, defaults.keys() | set(positional))
                    if parameter is None:
                        continue
                    node = step.node
                    returned = isinstance(node, cst.Return) and node.value is call
                    if returned or self._unchecked(steps, step, call):
                        line = self.ctx.positions[call].start.line
                        position = positional.index(parameter) if parameter in positional else None
                        default = defaults.get(parameter)
                        found[name] = _Helper(parameter, position, default, returned, line)
        return found

    def _judge_helper_call(
        self, steps: list[Step], step: Step, call: cst.Call, helper: _Helper
    ) -> None:
        passed = helper.default
        for index, arg in enumerate(a for a in call.args if a.keyword is None and not a.star):
            if index == helper.position:
                passed = arg.value
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == helper.parameter:
                passed = arg.value
        if passed is None or not may_be_false(passed):
            return
        if helper.returned and not self._unchecked(steps, step, call):
            return  # the caller looks at what the helper returns
        name = call.func.value
        what = (
            "returns the result to this call, which ignores it"
            if helper.returned
            else "ignores the result"
        )
        self.report(
            call,
            f"{name}() loads with strict=False (line {helper.line}) and {what}: missing and "
            "unexpected keys are dropped silently, and a 'module.' or '_orig_mod.' key prefix "
            "loads nothing at all; check or log the missing_keys and unexpected_keys",
        )

    def _unchecked(self, steps: list[Step], step: Step, call: cst.Call) -> bool:
        node = step.node
        if isinstance(node, cst.Expr) and node.value is call:
            pass
        elif isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is call:
            targets = (
                [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            )
            names = [_bound_names(t) for t in targets]
            if None in names or any(next_read(steps, step, n) for group in names for n in group):
                return False
        else:
            return False  # returned, passed on, asserted or tested
        loaded = call.args[0].value if call.args else None
        if not isinstance(loaded, cst.Name):
            return True
        return not (size_reported(steps, loaded.value) or keys_compared(steps, loaded.value))


def _bound_names(target: cst.BaseExpression) -> list[str] | None:
    """Names an assignment target binds; None when it stores into an attribute or item,
    which keeps the result for later code to read."""
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        names: list[str] = []
        for element in target.elements:
            inner = _bound_names(element.value)
            if inner is None:
                return None
            names.extend(inner)
        return names
    if isinstance(target, cst.StarredElement):
        return _bound_names(target.value)
    return None
