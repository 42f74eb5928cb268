"""Expected findings written inside source files as `# expect: FTL101, FTL201` comments."""

from __future__ import annotations

import re

_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>FTL\d+(?:\s*,\s*FTL\d+)*)")


def expected_findings(source: str) -> list[tuple[int, str]]:
    expected = []
    for number, line in enumerate(source.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            expected.extend((number, code.strip()) for code in match["codes"].split(","))
    return sorted(expected)
