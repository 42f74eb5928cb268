from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BUGGY = (
    "import torch\n"
    "model.requires_grad_(False)\n"
    "opt = torch.optim.Adam(model.parameters())\n"
)
CLEAN = "import torch\nopt = torch.optim.Adam(model.parameters())\n"


@pytest.fixture
def run_ftlint(tmp_path):
    """Run the real CLI in a subprocess, from `tmp_path` unless told otherwise."""

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ftlint", *args],
            capture_output=True,
            text=True,
            cwd=cwd or tmp_path,
            check=False,
        )

    return run
