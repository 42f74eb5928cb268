"""The command line as a Ruff user expects it, end to end through subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BUGGY

# FTL101 (an unsafe fix) and FTL104 (a safe one) in one file.
TWO = BUGGY + "for p in model.parameters():\n    p.require_grad = False\n"


def ftlint(*args: str, cwd: Path, stdin: str | None = None, env: dict | None = None):
    result = subprocess.run(
        [sys.executable, "-m", "ftlint", *args], input=stdin, capture_output=True, text=True,
        cwd=cwd, timeout=120, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def codes(result) -> list[str]:
    return [line.split(": ")[1].split()[0] for line in result.stdout.splitlines()]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TWO)
    return tmp_path


@pytest.mark.parametrize(
    ("option", "code", "closest"),
    [("--select", "FTL1O9", "FTL109"), ("--ignore", "FTL9999", None),
     ("--extend-select", "FTL21", None), ("--extend-ignore", "FTK1", "FTL1")],  # FTL2xx are FTL20x
)  # fmt: skip
def test_an_unknown_code_is_a_usage_error_naming_the_closest(project, option, code, closest):
    result = ftlint("check", option, code, ".", cwd=project)
    assert result.returncode == 2 and result.stdout == ""
    assert f"unknown rule code {code!r}" in result.stderr
    if closest:
        assert f"did you mean {closest!r}" in result.stderr


def test_selection_layers_over_the_configuration(project):
    (project / "pyproject.toml").write_text('[tool.ftlint]\nignore = ["FTL104"]\n')
    assert codes(ftlint("check", ".", cwd=project)) == ["FTL101"]
    assert codes(ftlint("check", "--ignore", "FTL101", ".", cwd=project)) == []
    assert codes(ftlint("check", "--extend-select", "FTL104", ".", cwd=project)) == ["FTL101"]
    assert codes(ftlint("check", "--select", "FTL104", ".", cwd=project)) == ["FTL104"]
    # Repeated options accumulate.
    both = ftlint("check", "--select", "FTL101", "--select", "FTL104", ".", cwd=project)
    assert codes(both) == ["FTL101", "FTL104"]


def test_exclude_options(project):
    (project / "gen").mkdir()
    (project / "gen" / "a.py").write_text(BUGGY)
    (project / "pyproject.toml").write_text('[tool.ftlint]\nexclude = ["gen"]\n')
    assert {
        line.split(":")[0] for line in ftlint("check", ".", cwd=project).stdout.splitlines()
    } == {"train.py"}
    extended = ftlint("check", "--extend-exclude", "train.py", ".", cwd=project)
    assert extended.returncode == 0 and extended.stdout == ""
    replaced = ftlint("check", "--exclude", "train.py", ".", cwd=project)
    assert {line.split(":")[0] for line in replaced.stdout.splitlines()} == {"gen/a.py"}


def test_each_file_gets_the_configuration_above_it(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.ftlint]\nignore = ["FTL104"]\n')
    (tmp_path / "a.py").write_text(TWO)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "pyproject.toml").write_text('[tool.ftlint]\nignore = ["FTL101"]\n')
    (sub / "b.py").write_text(TWO)
    elsewhere = tmp_path.parent
    result = ftlint("check", str(tmp_path / "a.py"), str(sub / "b.py"), cwd=elsewhere)
    found = [(Path(line.split(":")[0]).name, line.split(": ")[1].split()[0])
             for line in result.stdout.splitlines()]  # fmt: skip
    assert found == [("a.py", "FTL101"), ("b.py", "FTL104")]
    # --config overrides for every file.
    (tmp_path / "strict.toml").write_text('[tool.ftlint]\nselect = ["FTL2"]\n')
    forced = ftlint("check", "--config", "strict.toml", ".", cwd=tmp_path)
    assert forced.returncode == 0 and forced.stdout == ""
    missing = ftlint("check", "--config", "nope.toml", ".", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.toml: cannot be read" in missing.stderr


def test_exit_zero_summary_and_fix_marks(project):
    result = ftlint("check", ".", cwd=project)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("train.py:3:7: FTL101 optimizer")  # an unsafe fix: no mark
    assert lines[1].startswith("train.py:5:5: FTL104 [*] ")
    assert result.stderr == (
        "Found 2 findings (1 fixable with --fix, 1 fixable with --fix --unsafe-fixes).\n"
    )
    assert ftlint("check", "--exit-zero", ".", cwd=project).returncode == 0
    (project / "train.py").write_text("x = 1\n")
    clean = ftlint("check", ".", cwd=project)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "All checks passed.\n")


def test_colour_only_when_asked_or_on_a_terminal(project):
    plain = ftlint("check", ".", cwd=project)
    assert "\033[" not in plain.stdout  # piped
    coloured = ftlint("check", "--color", "always", ".", cwd=project)
    assert "\033[1m\033[31mFTL101\033[0m" in coloured.stdout
    assert "\033[" not in ftlint("check", "--color", "never", ".", cwd=project).stdout
    assert "\033[" not in ftlint("check", "--format", "json", "--color", "always", ".",
                                 cwd=project).stdout  # fmt: skip


def test_no_color_is_honoured_on_a_terminal(project):
    pty = pytest.importorskip("pty")
    script = "import sys\nfrom ftlint.cli import main\nsys.exit(main(['check', '.']))\n"

    def run(env: dict) -> bytes:
        output = bytearray()

        def read(fd: int) -> bytes:
            data = os.read(fd, 1024)
            output.extend(data)
            return data

        saved = os.getcwd()
        os.chdir(project)
        try:
            with _env(env):
                pty.spawn([sys.executable, "-c", script], read)
        finally:
            os.chdir(saved)
        return bytes(output)

    assert b"\033[31m" in run({"NO_COLOR": ""})
    assert b"\033[" not in run({"NO_COLOR": "1"})


class _env:
    def __init__(self, values: dict) -> None:
        self.values, self.saved = values, {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_show_fixes(project):
    shown = ftlint("check", "--show-fixes", ".", cwd=project).stdout.splitlines()
    assert shown[1].startswith("    fix (unsafe, with --unsafe-fixes): ")
    assert shown[3].startswith("    fix (safe): ")
    fixed = ftlint("check", "--fix", "--show-fixes", ".", cwd=project)
    assert "  train.py: line 5: FTL104 " in fixed.stderr


def test_add_noqa_is_idempotent_and_merges(project):
    (project / "train.py").write_text(
        TWO.replace("p.require_grad = False", "p.require_grad = False  # noqa: E501")
    )
    first = ftlint("check", "--add-noqa", ".", cwd=project)
    assert first.returncode == 0 and "added 2 noqa directives to 1 file" in first.stderr
    text = (project / "train.py").read_text()
    assert "opt = torch.optim.Adam(model.parameters())  # noqa: FTL101\n" in text
    assert "p.require_grad = False  # noqa: E501, FTL104\n" in text
    second = ftlint("check", "--add-noqa", ".", cwd=project)
    assert "added 0 noqa directives" in second.stderr
    assert (project / "train.py").read_text() == text
    assert ftlint("check", ".", cwd=project).returncode == 0


def test_add_noqa_leaves_a_line_inside_a_string(project):
    source = (
        "import torch\nmodel.requires_grad_(False)\n"
        'opt = torch.optim.Adam(model.parameters(), lr=float("""\n1e-3"""))\n'
    )
    (project / "train.py").write_text(source)
    result = ftlint("check", "--add-noqa", ".", cwd=project)
    assert "train.py:3: cannot take a comment" in result.stderr
    assert (project / "train.py").read_text() == source


def test_file_level_noqa(project):
    (project / "train.py").write_text("# ftlint: noqa: FTL104\n" + TWO)
    assert codes(ftlint("check", ".", cwd=project)) == ["FTL101"]
    (project / "train.py").write_text("# ftlint: noqa\n" + TWO)
    assert ftlint("check", ".", cwd=project).returncode == 0


def test_unused_and_unknown_noqa(project):
    (project / "train.py").write_text(
        "import torch\nx = 1  # noqa: FTL101\ny = 2  # noqa: FTL1O9, E501\n"
    )
    default = ftlint("check", ".", cwd=project)
    assert default.stdout.splitlines() == [
        "train.py:3:8: FTL002 [*] unknown rule code FTL1O9 in noqa: it silences nothing "
        "(did you mean FTL109?)"
    ]
    reported = ftlint("check", "--report-unused-noqa", ".", cwd=project)
    assert codes(reported) == ["FTL001", "FTL002"]
    ftlint("check", "--report-unused-noqa", "--fix", ".", cwd=project)
    assert (project / "train.py").read_text() == "import torch\nx = 1\ny = 2  # noqa: E501\n"


def test_gitignored_files_are_skipped_unless_named(project):
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    (project / ".gitignore").write_text("generated/\nscratch_*.py\n!scratch_keep.py\n")
    (project / "generated").mkdir()
    (project / "generated" / "a.py").write_text(BUGGY)
    (project / "scratch_1.py").write_text(BUGGY)
    (project / "scratch_keep.py").write_text(BUGGY)
    walked = ftlint("check", ".", cwd=project)
    assert {line.split(":")[0] for line in walked.stdout.splitlines()} == {
        "scratch_keep.py", "train.py",
    }  # fmt: skip
    named = ftlint("check", "scratch_1.py", cwd=project)
    assert named.stdout.startswith("scratch_1.py:3:7: FTL101")
    everything = ftlint("check", "--no-respect-gitignore", ".", cwd=project)
    assert len({line.split(":")[0] for line in everything.stdout.splitlines()}) == 4


def test_standard_input(project):
    (project / "pyproject.toml").write_text(
        '[tool.ftlint]\nper-file-ignores = { "scripts/*" = ["FTL101"] }\n'
    )
    plain = ftlint("check", "-", cwd=project, stdin=TWO)
    assert [line.split(":")[0] for line in plain.stdout.splitlines()] == ["-", "-"]
    named = ftlint("check", "--stdin-filename", "scripts/train.py", "-", cwd=project, stdin=TWO)
    assert [line.split(": ")[0] for line in named.stdout.splitlines()] == ["scripts/train.py:5:5"]
    fixed = ftlint("check", "--fix", "--stdin-filename", "train.py", "-", cwd=project, stdin=TWO)
    assert fixed.stdout == TWO.replace("p.require_grad", "p.requires_grad")
    assert "train.py:3:7: FTL101" in fixed.stderr
    assert ftlint("check", "--stdin-filename", "a.py", ".", cwd=project).returncode == 2


def test_a_missing_path_is_reported_and_the_rest_linted(project):
    result = ftlint("check", "nope.py", "train.py", cwd=project)
    assert result.returncode == 2
    assert "ftlint: nope.py: no such file or directory" in result.stderr
    assert codes(result) == ["FTL101", "FTL104"]


def test_bare_ftlint_prints_help(project):
    result = ftlint(cwd=project)
    assert result.returncode == 2 and result.stdout.startswith("usage: ftlint")
    assert "check" in result.stdout and "rule" in result.stdout


def test_the_language_server_is_a_subcommand(project):
    result = ftlint("server", "--help", cwd=project)
    assert result.returncode == 0 and "--stdio" in result.stdout


def test_standard_input_fixes_a_notebook_by_its_name(project):
    import json

    source = ["for p in model.parameters():\n", "    p.require_grad = False\n"]
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None}
    cell["source"] = source
    notebook = json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    fixed = ftlint(
        "check", "--fix", "--stdin-filename", "nb.ipynb", "-", cwd=project, stdin=notebook
    )
    assert json.loads(fixed.stdout)["cells"][0]["source"][1] == "    p.requires_grad = False\n"
