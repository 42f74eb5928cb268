"""The result cache, parallel jobs and notebooks, end to end through the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import BUGGY

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _notebook(*cells: tuple[str, str]) -> str:
    return json.dumps(
        {
            "cells": [
                {"cell_type": kind, "source": source, "metadata": {}, "outputs": []}
                for kind, source in cells
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def test_same_findings_with_and_without_cache_and_with_one_or_two_jobs(tmp_path, run_ftlint):
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    (tmp_path / "fixtures" / "nb.ipynb").write_text(
        _notebook(("code", "import torch\nmodel.requires_grad_(False)\n"),
                  ("code", "opt = torch.optim.Adam(model.parameters())\n"))
    )  # fmt: skip
    runs = [
        ("--no-cache", "--jobs", "1"),
        ("--jobs", "2"),  # cold cache: fills it
        ("--jobs", "2"),  # warm
        ("--jobs", "1"),  # warm, in process
        ("--no-cache", "--jobs", "2"),
    ]
    outputs = []
    for flags in runs:
        result = run_ftlint("check", "--format", "json", *flags, "fixtures")
        assert result.returncode == 1 and result.stderr == "", result.stderr
        outputs.append(result.stdout)
    assert all(output == outputs[0] for output in outputs)
    codes = {finding["code"] for finding in json.loads(outputs[0])}
    assert "FTL000" not in codes and len(codes) >= 5
    assert list((tmp_path / ".ftlint_cache").glob("??/*"))


def test_the_cache_follows_content_and_settings_and_survives_bad_entries(tmp_path, run_ftlint):
    (tmp_path / "train.py").write_text(BUGGY)
    assert "FTL101" in run_ftlint("check", "train.py").stdout
    (tmp_path / "train.py").write_text(BUGGY + "y.detach_()\nprint(y)\n")
    assert "FTL301" in run_ftlint("check", "train.py").stdout
    assert "FTL101" not in run_ftlint("check", "--select", "FTL3", "train.py").stdout
    for entry in (tmp_path / ".ftlint_cache").glob("??/*"):
        entry.write_text('{"__type__": "exit"}')
    result = run_ftlint("check", "train.py")
    assert "FTL101" in result.stdout and "FTL301" in result.stdout
    assert result.stderr == "Found 2 findings (1 fixable with --fix --unsafe-fixes).\n"


def test_the_cache_lives_next_to_the_config(tmp_path, run_ftlint):
    (tmp_path / "pyproject.toml").write_text("[tool.ftlint]\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(BUGGY)
    run_ftlint("check", "train.py", cwd=tmp_path / "src")
    assert (tmp_path / ".ftlint_cache" / ".gitignore").is_file()
    assert not (tmp_path / "src" / ".ftlint_cache").exists()
    assert run_ftlint("check", "--no-cache", ".").returncode == 1


def test_notebook_code_cells_are_linted_magics_skipped(tmp_path, run_ftlint):
    (tmp_path / "train.ipynb").write_text(
        _notebook(
            ("markdown", "# Fine-tuning\n"),
            ("code", ["%matplotlib inline\n", "!pip install timm\n", "import torch\n",
                      "model.requires_grad_(False)\n"]),
            ("code", "files = !ls\nmodel?\nopt = torch.optim.Adam(model.parameters())\n"),
            ("code", "%%bash\necho $((1 + 2))\n"),
        )
    )  # fmt: skip
    text = run_ftlint("check", "train.ipynb")
    assert text.returncode == 1, text.stderr
    assert text.stdout.startswith("train.ipynb:cell 3:3:7: FTL101 ")
    assert "frozen at cell 2 line 4" in text.stdout
    [finding] = json.loads(run_ftlint("check", "--format", "json", "train.ipynb").stdout)
    assert (finding["cell"], finding["line"], finding["column"]) == (3, 3, 7)
    assert run_ftlint("check", ".").stdout == text.stdout  # directories include notebooks


def test_a_broken_notebook_is_one_finding_not_a_traceback(tmp_path, run_ftlint):
    (tmp_path / "bad.ipynb").write_text("{not json")
    (tmp_path / "nocells.ipynb").write_text('{"cells": 3}')
    (tmp_path / "syntax.ipynb").write_text(
        _notebook(("code", "import torch\nmodel.requires_grad_(False)\n"), ("code", "def f(:\n"),
                  ("code", "opt = torch.optim.Adam(model.parameters())\n"))
    )  # fmt: skip
    (tmp_path / "train.py").write_text(BUGGY)
    result = run_ftlint("check", ".")
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        "bad.ipynb:1:1", "nocells.ipynb:1:1",
        # One broken cell: the cells around it are still linted together.
        "syntax.ipynb:cell 2:1:7", "syntax.ipynb:cell 3:1:7",
        "train.py:3:7",
    ]  # fmt: skip
    assert "could not parse: not a valid notebook" in lines[0]
    assert lines[2].endswith("FTL000 could not parse: SyntaxError: invalid syntax")
    assert "FTL101 optimizer is given parameters frozen at cell 1 line 2" in lines[3]
    assert "Traceback" not in result.stdout + result.stderr


def test_jobs_must_be_a_positive_number(run_ftlint):
    result = run_ftlint("check", "--jobs", "0", ".")
    assert result.returncode == 2 and "--jobs" in result.stderr


# The CLI in a subprocess that says, after the run, whether libcst was ever imported.
_IMPORTS_LIBCST = """
import sys
from ftlint.cli import main
code = main(sys.argv[1:])
print("LIBCST", "libcst" in sys.modules, file=sys.stderr)
"""


def test_a_run_the_cache_answers_imports_neither_rules_nor_libcst(tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)

    def run() -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", _IMPORTS_LIBCST, "check", "train.py"]
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)

    cold, warm = run(), run()
    assert "LIBCST True" in cold.stderr and "LIBCST False" in warm.stderr
    assert "FTL101" in warm.stdout and warm.stdout == cold.stdout


def test_every_registered_rule_is_the_class_its_code_names():
    from ftlint import rules

    assert [rule.code for rule in rules.ALL_RULES] == list(rules.RULE_CODES)
    assert len(set(rules.RULE_CODES)) == len(rules.RULE_CODES)
