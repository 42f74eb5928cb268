"""A notebook with cells that do not parse: each broken cell is one FTL000, with Python's
message at its cell, line and column, and the other cells are still linted together, as
IPython, which compiles each cell alone, would still run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ftlint.config import Settings
from ftlint.finding import Finding
from ftlint.runner import enabled_rules, lint_data

FREEZE = "import torch\nmodel.requires_grad_(False)\n"
OPTIMIZER = "opt = torch.optim.Adam(model.parameters())\n"
FROZEN = (
    "optimizer is given parameters frozen at cell {} line 2: they are skipped only while "
    "their .grad is None, and once a stale gradient is left, momentum and weight decay move "
    "them; pass filter(lambda p: p.requires_grad, ...) instead"
)


def _notebook(*sources: str | list[str]) -> str:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# Exercise\n"}]
    cells += [
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": source}
        for source in sources
    ]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _findings(*sources: str | list[str]) -> list[tuple[int | None, int, int, str, str]]:
    """(cell, line, column, code, message) of each finding, in report order."""
    settings = Settings()
    findings = lint_data(Path("nb.ipynb"), _notebook(*sources), settings, enabled_rules(settings))
    return [
        (f.cell, f.line, f.column, f.code, f.message)
        for f in sorted(findings, key=Finding.sort_key)
    ]


def _check(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ftlint", "check", "--no-cache", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


def test_an_unfinished_exercise_cell_hides_no_other_finding(tmp_path):
    # The notebooks of the issue: one `model = ` left for the reader turned the whole
    # notebook into one FTL000.
    (tmp_path / "exercise.ipynb").write_text(_notebook(FREEZE, "model = ", OPTIMIZER))
    result = _check(tmp_path, "exercise.ipynb")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.splitlines() == [
        "exercise.ipynb:cell 3:1:9: FTL000 could not parse: SyntaxError: invalid syntax",
        # Across the broken cell, the freeze two cells up is still seen.
        "exercise.ipynb:cell 4:1:7: FTL101 " + FROZEN.format(2),
    ]
    [broken, _] = json.loads(_check(tmp_path, "--format", "json", "exercise.ipynb").stdout)
    assert (broken["cell"], broken["line"], broken["column"]) == (3, 1, 9)
    sarif = json.loads(_check(tmp_path, "--format", "sarif", "exercise.ipynb").stdout)
    messages = [result["message"]["text"] for result in sarif["runs"][0]["results"]]
    assert messages[0] == "cell 3, line 1, column 9: could not parse: SyntaxError: invalid syntax"


def test_each_broken_cell_has_its_own_message_and_position():
    assert _findings(
        FREEZE,
        "def train(:\n    pass\n",
        OPTIMIZER,
        ["%matplotlib inline\n", "for batch in loader:\n", "    loss = (model(batch)\n"],
        ["!pip install timm\n", "if ready:\n"],
    ) == [
        (3, 1, 11, "FTL000", "could not parse: SyntaxError: invalid syntax"),
        (4, 1, 7, "FTL101", FROZEN.format(2)),
        (5, 3, 12, "FTL000", "could not parse: SyntaxError: '(' was never closed"),
        # Python's "on line 2" is a line of the cell, and is said so.
        (
            6, 2, 10, "FTL000",
            "could not parse: IndentationError: expected an indented block after 'if' "
            "statement on cell 6 line 2",
        ),
    ]  # fmt: skip


def test_cells_that_parse_only_joined_are_linted_joined_while_the_notebook_parses():
    # Cell 3 closes the list cell 2 opens, cell 6 goes on with the block cell 5 opens:
    # the joined cells parse, and no cell is reported, though 3 and 6 do not parse alone.
    continued = ("x = [1,\n", "     2]\n", FREEZE, "if True:\n    model.eval()\n")
    assert _findings(*continued, "    " + OPTIMIZER) == [(6, 1, 11, "FTL101", FROZEN.format(4))]


def test_once_a_cell_is_broken_a_cell_that_does_not_parse_alone_is_broken_too():
    # IPython compiles each cell alone: it would refuse cells 2 and 3 as it refuses 5.
    assert _findings("x = [1,\n", "     2]\n", FREEZE, "model = ", OPTIMIZER) == [
        (2, 1, 5, "FTL000", "could not parse: SyntaxError: '[' was never closed"),
        (3, 1, 5, "FTL000", "could not parse: IndentationError: unexpected indent"),
        (5, 1, 9, "FTL000", "could not parse: SyntaxError: invalid syntax"),
        (6, 1, 7, "FTL101", FROZEN.format(4)),
    ]


def test_a_notebook_of_broken_cells_only():
    assert _findings("model = ", "def f(:") == [
        (2, 1, 9, "FTL000", "could not parse: SyntaxError: invalid syntax"),
        (3, 1, 7, "FTL000", "could not parse: SyntaxError: invalid syntax"),
    ]
