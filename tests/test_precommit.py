"""The pre-commit hook, tried against a scratch repository with `pre-commit try-repo`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BUGGY, CLEAN

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def try_repo(cwd: Path, *files: str, hook: str = "ftlint") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), hook,
         "--verbose", "--files", *files],
        capture_output=True, text=True, cwd=cwd, check=False,
    )  # fmt: skip


def test_hook_fails_on_a_buggy_file_and_passes_a_clean_one(tmp_path):
    git("init", "-q", cwd=tmp_path)
    (tmp_path / "buggy.py").write_text(BUGGY)
    (tmp_path / "clean.py").write_text(CLEAN)
    git("add", ".", cwd=tmp_path)

    failing = try_repo(tmp_path, "buggy.py")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "buggy.py:3:7: FTL101" in failing.stdout

    passing = try_repo(tmp_path, "clean.py")
    assert passing.returncode == 0, passing.stdout + passing.stderr


def test_fix_hook_rewrites_a_safe_fix_then_passes(tmp_path):
    git("init", "-q", cwd=tmp_path)
    source = "from torchvision import models\nnet = models.resnet18(pretrained=False)\n"
    (tmp_path / "train.py").write_text(source)
    git("add", ".", cwd=tmp_path)

    fixing = try_repo(tmp_path, "train.py", hook="ftlint-fix")
    assert fixing.returncode == 1, fixing.stdout + fixing.stderr
    assert "files were modified by this hook" in fixing.stdout
    assert (tmp_path / "train.py").read_text() == source.replace("pretrained=False", "weights=None")

    git("add", ".", cwd=tmp_path)
    settled = try_repo(tmp_path, "train.py", hook="ftlint-fix")
    assert settled.returncode == 0, settled.stdout + settled.stderr


def _notebook(*sources: str) -> str:
    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "source": s} for s in sources]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(notebook, indent=1, sort_keys=True) + "\n"


def test_hooks_lint_and_fix_notebooks(tmp_path):
    git("init", "-q", cwd=tmp_path)
    notebook = _notebook(
        "from torchvision import models\nnet = models.resnet18(pretrained=False)\n",
        "model = ",  # an unfinished exercise: the other cells are still linted and fixed
        BUGGY,
    )
    (tmp_path / "train.ipynb").write_text(notebook)
    git("add", ".", cwd=tmp_path)

    linting = try_repo(tmp_path, "train.ipynb")
    assert linting.returncode == 1, linting.stdout + linting.stderr
    assert "train.ipynb:cell 1:2:7: FTL205 [*]" in linting.stdout
    assert "train.ipynb:cell 2:1:9: FTL000" in linting.stdout

    fixing = try_repo(tmp_path, "train.ipynb", hook="ftlint-fix")
    assert fixing.returncode == 1, fixing.stdout + fixing.stderr
    assert "files were modified by this hook" in fixing.stdout
    fixed = notebook.replace("pretrained=False", "weights=None")
    assert (tmp_path / "train.ipynb").read_text() == fixed

    git("add", ".", cwd=tmp_path)
    settled = try_repo(tmp_path, "train.ipynb", hook="ftlint-fix")
    assert settled.returncode == 1 and "files were modified" not in settled.stdout, settled.stdout
    assert "train.ipynb:cell 3:3:7: FTL101" in settled.stdout  # its fix is unsafe
    assert (tmp_path / "train.ipynb").read_text() == fixed
