"""Render findings for people and for tools."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ftlint.finding import Finding


def render_text(findings: Sequence[Finding]) -> str:
    return "".join(
        f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}\n" for f in findings
    )


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps([f.as_dict() for f in findings], indent=2) + "\n"


FORMATS = {"text": render_text, "json": render_json}
