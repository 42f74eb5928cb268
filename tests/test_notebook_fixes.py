"""`--fix` and `--diff` on notebooks: only the sources of the code cells a fix changes are
rewritten; outputs, metadata and the formatting of the JSON stay as they were, and a
second `--fix` changes nothing."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftlint.config import Settings
from ftlint.finding import Edit, Finding, Fix
from ftlint.fixes import fix_contents, fix_notebook, fix_text
from ftlint.notebooks import lint_notebook
from ftlint.runner import enabled_rules, lint_data

PRETRAINED = "net = models.resnet18(pretrained=False)  # réseau\n"
OPTIMIZER = "opt = torch.optim.Adam(model.parameters())\n"
FIXES = {  # what the safe fix (FTL205) and the unsafe one (FTL101) change
    "pretrained=False": "weights=None",
    "Adam(model.parameters())": "Adam(filter(lambda p: p.requires_grad, model.parameters()))",
}


def _cells(*, broken: bool = False) -> list[dict]:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Réseau\n", "Fine-tuning"]},
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {"scale": 0.5, "tags": []},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": ["loss → 0.25\n"]}],
            "source": [
                "%matplotlib inline\n",
                "import torch\n",
                "from torchvision import models\n",
                PRETRAINED,
                'label = "thé"\n',
                "model.requires_grad_(False)",
            ],
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": OPTIMIZER + "!nvidia-smi",
        },
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": []},
    ]
    if broken:
        cells.insert(2, {"cell_type": "code", "metadata": {}, "outputs": [], "source": "model = "})
    return cells


def _notebook(style: dict | None = None, *, broken: bool = False) -> str:
    """A notebook's JSON as a tool writes it (nbformat's way unless `style` says),
    with what json would not write back as it read it: a number spelled otherwise, and
    one line escaped where the others are not."""
    style = style or {"indent": 1, "sort_keys": True, "ensure_ascii": False, "end": "\n"}
    notebook = {
        "cells": _cells(broken=broken),
        "metadata": {"kernelspec": {"display_name": "Python 3", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    dumped = json.dumps(
        notebook,
        indent=style["indent"],
        sort_keys=style["sort_keys"],
        ensure_ascii=style["ensure_ascii"],
    )
    dumped = dumped.replace('"scale": 0.5', '"scale": 5e-1').replace("thé", "th\\u00e9")
    return dumped.replace("\n", style.get("line_break", "\n")) + style["end"]


def _fixed(text: str, unsafe: bool = True) -> str:
    for old, new in list(FIXES.items())[: None if unsafe else 1]:
        text = text.replace(old, new)
    return text


def _check(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ftlint", "check", "--no-cache", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


STYLES = {
    "nbformat": {"indent": 1, "sort_keys": True, "ensure_ascii": False, "end": "\n"},
    "keys in their order": {"indent": 1, "sort_keys": False, "ensure_ascii": False, "end": "\n"},
    "indent 2, escaped": {"indent": 2, "sort_keys": True, "ensure_ascii": True, "end": ""},
    "one line": {"indent": None, "sort_keys": False, "ensure_ascii": False, "end": ""},
    "windows": {
        "indent": 1, "sort_keys": True, "ensure_ascii": False, "end": "\r\n", "line_break": "\r\n"
    },
}  # fmt: skip


@pytest.mark.parametrize("style", STYLES.values(), ids=STYLES)
def test_fix_changes_the_fixed_lines_only_and_a_second_fix_nothing(tmp_path, style):
    path = tmp_path / "train.ipynb"
    before = _notebook(style)
    path.write_bytes(before.encode())
    result = _check(tmp_path, "--fix", "--unsafe-fixes", "train.ipynb")
    assert result.stderr == "ftlint: 2 fixes applied to 1 file\nAll checks passed.\n"
    assert (result.returncode, result.stdout) == (0, "")
    after = path.read_bytes().decode()
    assert after == _fixed(before)
    assert json.loads(after)["cells"][2]["source"] == _fixed(OPTIMIZER) + "!nvidia-smi"

    again = _check(tmp_path, "--fix", "--unsafe-fixes", "train.ipynb")
    assert (again.returncode, again.stderr) == (0, "All checks passed.\n")
    assert path.read_bytes().decode() == after


def test_diff_shows_the_notebooks_json_as_git_diff_would_and_writes_nothing(tmp_path):
    path = tmp_path / "train.ipynb"
    before = _notebook()
    path.write_text(before)
    result = _check(tmp_path, "--diff", "--unsafe-fixes", "train.ipynb")
    assert result.returncode == 1 and path.read_text() == before
    assert result.stderr == "ftlint: 2 fixes would change 1 file\n"
    expected = difflib.unified_diff(
        before.splitlines(keepends=True),
        _fixed(before).splitlines(keepends=True),
        "a/train.ipynb",
        "b/train.ipynb",
    )
    assert result.stdout == "".join(expected)
    assert '-    "net = models.resnet18(pretrained=False)  # réseau\\n",' in result.stdout
    safe_only = _check(tmp_path, "--diff", "train.ipynb").stdout
    assert "weights=None" in safe_only and "filter(" not in safe_only  # FTL101's is unsafe


def test_fixes_apply_around_a_broken_cell(tmp_path):
    path = tmp_path / "exercise.ipynb"
    before = _notebook(broken=True)
    path.write_text(before)
    result = _check(tmp_path, "--fix", "--unsafe-fixes", "--show-fixes", "exercise.ipynb")
    assert path.read_text() == _fixed(before)
    assert result.returncode == 1
    assert result.stdout == (
        "exercise.ipynb:cell 3:1:9: FTL000 could not parse: SyntaxError: invalid syntax\n"
    )
    assert result.stderr.splitlines() == [
        "ftlint: 2 fixes applied to 1 file",
        "  exercise.ipynb: cell 2 line 4: FTL205 use weights= in place of pretrained=",
        "  exercise.ipynb: cell 4 line 1: FTL101 keep only the parameters that require grad",
        "Found 1 finding.",
    ]


def test_a_bom_is_kept(tmp_path):
    path = tmp_path / "train.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + _notebook().encode())
    assert _check(tmp_path, "--fix", "train.ipynb").returncode == 1  # FTL101 remains
    assert path.read_bytes() == b"\xef\xbb\xbf" + _fixed(_notebook(), unsafe=False).encode()


UNREADABLE = {
    "not JSON": b"{not json",
    "a source that is not text": b'{"cells": [{"cell_type": "code", "source": 7}]}',
    "not UTF-8": b'{"cells": [], "metadata": {"a": "\xff"}}',
}


@pytest.mark.parametrize("data", UNREADABLE.values(), ids=UNREADABLE)
def test_an_unreadable_notebook_is_reported_and_left_as_it_was(tmp_path, data):
    (tmp_path / "a.ipynb").write_bytes(data)
    (tmp_path / "b.ipynb").write_text(_notebook())
    result = _check(tmp_path, "--fix", "a.ipynb", "b.ipynb")
    assert "Traceback" not in result.stderr, result.stderr
    assert (tmp_path / "a.ipynb").read_bytes() == data
    assert result.stdout.startswith("a.ipynb:1:1: FTL000 could not parse: not a valid notebook")
    assert "pretrained" not in (tmp_path / "b.ipynb").read_text()  # the others are fixed


def test_a_fix_that_would_edit_another_cell_is_not_offered(tmp_path):
    # FTL109 reports the second use of `params` and fixes where it is bound, a cell up:
    # a fix's edits count lines in its finding's cell, so it cannot be said there.
    cells = [
        "import torch\nparams = model.parameters()\n",
        "opt = torch.optim.SGD(params, lr=0.1)\n",
        "torch.nn.utils.clip_grad_norm_(params, 1.0)\n",
    ]
    path = tmp_path / "train.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": c} for c in cells]}))
    before = path.read_text()
    result = _check(tmp_path, "--fix", "train.ipynb")
    assert result.stdout.startswith("train.ipynb:cell 3:1:1: FTL109 'params' (cell 1 line 2)")
    assert result.stderr == "Found 1 finding.\n"
    assert path.read_text() == before
    (tmp_path / "train.py").write_text("".join(cells))  # the same code as a script: fixed
    assert "[*]" in _check(tmp_path, "train.py").stdout


def test_a_fix_is_kept_in_its_findings_cell_on_the_cells_own_lines_only():
    # The script: cell 1 ("%time f()" became `pass`) is lines 1-2, cell 3 lines 3-4.
    data = json.dumps(
        {"cells": [{"cell_type": "code", "source": ["%time f()\n", "x = 1\n"]},
                   {"cell_type": "markdown", "source": "# Then"},
                   {"cell_type": "code", "source": ["y = 2\n", "z = 3"]}]}
    )  # fmt: skip

    def finding(line: int, name: str, *edits: tuple[int, int, int, int]) -> Finding:
        fix = Fix("f", tuple(Edit(*edit, "new") for edit in edits), safe=True)
        return Finding("nb.ipynb", line, 1, line, 2, "FTL205", "n", name, fix)

    script_findings = [
        finding(2, "in its cell", (2, 1, 2, 2), (2, 3, 2, 4)),
        finding(4, "in a later cell", (3, 1, 4, 2)),
        finding(2, "on a magic", (1, 1, 2, 2)),
        finding(2, "across two cells", (2, 1, 3, 1)),
        finding(2, "in another cell", (3, 1, 3, 2)),
        finding(2, "past the end", (5, 1, 5, 1)),
    ]
    placed = lint_notebook("nb.ipynb", data, lambda path, text: script_findings)
    edits = {f.message: f.fix and [astuple(e) for e in f.fix.edits] for f in placed}
    assert edits == {
        "in its cell": [(2, 1, 2, 2), (2, 3, 2, 4)],
        "in a later cell": [(1, 1, 2, 2)],
        "on a magic": None,
        "across two cells": None,
        "in another cell": None,
        "past the end": None,
    }
    assert [(f.cell, f.line) for f in placed[:2]] == [(1, 2), (3, 2)]


def astuple(edit: Edit) -> tuple[int, int, int, int]:
    return edit.line, edit.column, edit.end_line, edit.end_column


def test_fix_text_leaves_a_notebooks_fixes_to_their_cells():
    # A notebook's fixes count lines in cells: applied to the JSON text they would
    # damage it (and JSON can parse as Python), so only fix_notebook applies them.
    settings = Settings()
    rules = enabled_rules(settings)

    def lint(text: str) -> list[Finding]:
        return lint_data(Path("nb.ipynb"), text, settings, rules)

    text = _notebook()
    assert any(f.fix is not None for f in lint(text))
    assert fix_text(text, lint, unsafe=True).text == text
    assert fix_contents("nb.ipynb", text, lint, unsafe=True).text == _fixed(text)


@pytest.mark.parametrize(("content", "kept"), [("2", True), ("(", False)])
def test_a_fix_that_would_break_its_cell_is_not_applied(content, kept):
    # Cell 2 is broken: cell 1, broken too, would only be left out of the script, which
    # would still parse. The cells linted must stay the same.
    text = json.dumps({"cells": [{"cell_type": "code", "source": "x = 1\n"},
                                 {"cell_type": "code", "source": "model = "}]})  # fmt: skip
    fix = Fix("f", (Edit(1, 5, 1, 6, content),), safe=True)

    def lint(text: str) -> list[Finding]:
        return [Finding("nb.ipynb", 1, 1, 1, 6, "FTL205", "n", "m", fix, cell=1)]

    fixed = fix_notebook(text, lint, unsafe=False)
    assert json.loads(fixed.text)["cells"][0]["source"] == ("x = 2\n" if kept else "x = 1\n")
    assert fixed.applied == kept
