"""Regenerate `optimizer_signatures.py` from the installed torch.

    python -m ftlint.data.generate_optimizer_signatures > ftlint/data/optimizer_signatures.py

Needs torch; nothing else in ftlint imports this module.
"""

from __future__ import annotations

import inspect
import json


def signatures_from_torch() -> dict[str, dict[str, object]]:
    """Every `torch.optim` optimizer: its module, constructor keywords, param-group keys."""
    import torch
    from torch import optim

    table: dict[str, dict[str, object]] = {}
    for name in sorted(dir(optim)):
        cls = getattr(optim, name)
        if not (inspect.isclass(cls) and issubclass(cls, optim.Optimizer)):
            continue
        if cls is optim.Optimizer:
            continue
        parameters = inspect.signature(cls.__init__).parameters
        keywords = tuple(
            p.name
            for p in parameters.values()
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )
        # The keys a group takes are the optimizer's defaults: build one to read them.
        weight = torch.nn.Parameter(torch.zeros(2, 2))
        group_keys = tuple(cls([weight]).param_groups[0])
        table[name] = {
            "module": cls.__module__,
            "keywords": keywords,
            "group_keys": group_keys,
        }
    return table


def main() -> None:
    import torch

    version = torch.__version__.split("+")[0]
    lines = [
        '"""Constructor keywords and param-group keys of every `torch.optim` optimizer.',
        "",
        f"Generated from torch {version} by",
        "`python -m ftlint.data.generate_optimizer_signatures`; do not edit by hand.",
        "`tests/test_optimizer_signatures.py` checks it against the installed torch.",
        '"""',
        "",
        f"TORCH_VERSION = {json.dumps(version)}",
        "",
        "OPTIMIZERS: dict[str, dict[str, object]] = {",
    ]
    for name, entry in signatures_from_torch().items():
        lines.append(f"    {json.dumps(name)}: {{")
        lines.append(f'        "module": {json.dumps(entry["module"])},')
        for field in ("keywords", "group_keys"):
            lines.append(f'        "{field}": (')
            lines.extend(f"            {json.dumps(key)}," for key in entry[field])
            lines.append("        ),")
        lines.append("    },")
    lines.append("}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
