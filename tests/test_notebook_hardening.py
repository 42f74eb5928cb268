"""Notebooks ftlint cannot read, and IPython syntax next to valid Python that looks like it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftlint.notebooks import code_cells
from tests.conftest import BUGGY


def _notebook(*sources: object) -> str:
    cells = [{"cell_type": "code", "source": source, "metadata": {}} for source in sources]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _check(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ftlint", "check", "--no-cache", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


DEEP = 100_000
UNREADABLE = {
    "list of numbers": (_notebook("x = 1\n", [1, 2]), "the source of cell 2 is not text"),
    "list holding null": (_notebook(["x = 1\n", None]), "the source of cell 1 is not text"),
    "object": (_notebook({"a": 1}), "the source of cell 1 is not text"),
    "number": (_notebook(7), "the source of cell 1 is not text"),
    "deep cells": ('{"cells": ' + "[" * DEEP + "]" * DEEP + "}", "JSON nested too deeply"),
    "deep metadata": (
        '{"cells": [], "metadata": ' + '{"a": ' * DEEP + "1" + "}" * (DEEP + 1),
        "JSON nested too deeply",
    ),
    "a list": ("[1, 2]", "no list of cells"),
    "cells in an object": ('{"cells": {"0": {}}}', "no list of cells"),
    "not JSON": ("{not json", "not JSON (Expecting property name"),
}


@pytest.mark.parametrize(("notebook", "reason"), UNREADABLE.values(), ids=UNREADABLE)
def test_an_unreadable_notebook_is_one_finding_and_the_run_goes_on(tmp_path, notebook, reason):
    (tmp_path / "a.ipynb").write_text(notebook)
    (tmp_path / "ok.py").write_text(BUGGY)
    result = _check(tmp_path, "a.ipynb", "ok.py")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    notebook_line, ok_line = result.stdout.splitlines()
    assert notebook_line.startswith(
        f"a.ipynb:1:1: FTL000 could not parse: not a valid notebook: {reason}"
    )
    assert ok_line.startswith("ok.py:3:7: FTL101 ")


def _cell(text: str) -> str:
    [cell] = code_cells(_notebook(text))
    return cell.code


@pytest.mark.parametrize(
    "text",
    [
        "total = (a\n         % b)\n",
        "ok = (x\n      != y)\n",
        "ok = {k: v\n      % 2 for k, v in d}\n",
        "x = a \\\n    % b\n",
        "x = a \\\n    != b\n",
        "s = '''\n%not a magic\n!nor a shell\nhelp?\n'''\n",
        's = """(\n%s"""\n',
        "s = 'one line \\\n% goes on'\n",
        "f(a,  # a comment's ) closes nothing\n  % b)\n",
        "x = r'\\' (' \\\n    % b\n",  # the raw string holds `\' (`: the backslash continues
        "x = (1,\r\n     % 2)\r\n",
    ],
)
def test_continuation_lines_are_python_not_magics(text):
    assert _cell(text) == text


@pytest.mark.parametrize(
    ("text", "python"),
    [
        ("x = (1,\n     2)\n%time f(x)\n", "x = (1,\n     2)\npass\n"),
        ("s = '''a\n'''\n!ls\n", "s = '''a\n'''\npass\n"),
        ("s = 'unterminated\n!ls\n", "s = 'unterminated\npass\n"),  # the parser says why
        ("f('(')  # (\nmodel?\n", "f('(')  # (\npass\n"),
        ("x = 1  # ends in a backslash \\\n%m\n", "x = 1  # ends in a backslash \\\npass\n"),
        ("!echo '(\nx = 1\n", "pass\nx = 1\n"),  # a shell line opens no bracket
        ("!pip install a \\\n    b\nimport torch\n", "pass\n\nimport torch\n"),
        ("files = !ls \\\n  -l \\\n  -a\nx = 1\n", "pass\n\n\nx = 1\n"),
        ("%time f(a, \\\n   b)\n", "pass\n\n"),
        (
            "if x:\n    !pip install a \\\n        b\n    y = 1\n",
            "if x:\n    pass\n\n    y = 1\n",
        ),
    ],
)
def test_magics_begin_a_logical_line_and_take_their_continuation_lines(text, python):
    assert _cell(text) == python
    assert len(python.split("\n")) == len(text.split("\n"))  # lines map back to the cell


def test_a_notebook_with_broken_lines_and_continued_shell_lines_is_linted(tmp_path):
    cells = (
        ["!pip install torch \\\n", "    timm\n", "import torch\n"],
        "total = (a\n         % b)\nok = (x\n      != y)\nz = a \\\n    % b\n",
        "if True:\n    !echo a \\\n        b\n    model.requires_grad_(False)\n",
        "opt = torch.optim.Adam(model.parameters())\n",
    )
    (tmp_path / "nb.ipynb").write_text(_notebook(*cells))
    result = _check(tmp_path, "nb.ipynb")
    assert result.returncode == 1 and "error" not in result.stderr, result.stderr
    [finding] = result.stdout.splitlines()
    assert finding.startswith("nb.ipynb:cell 4:1:7: FTL101 ")
    assert "frozen at cell 3 line 4" in finding
