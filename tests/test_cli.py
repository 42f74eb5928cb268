"""`ftlint check`, `rule`, `rules` end to end through a subprocess."""

from __future__ import annotations

import json

from tests.conftest import BUGGY, CLEAN


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_text_output_and_exit_code_one(tmp_path, run_ftlint):
    write(tmp_path, "train.py", BUGGY)
    result = run_ftlint("check", "train.py")
    assert result.returncode == 1
    assert result.stdout.startswith("train.py:3:7: FTL101 optimizer is given parameters frozen")
    assert result.stderr == "Found 1 finding (1 fixable with --fix --unsafe-fixes).\n"


def test_clean_file_exits_zero(tmp_path, run_ftlint):
    write(tmp_path, "train.py", CLEAN)
    result = run_ftlint("check", "train.py")
    assert (result.returncode, result.stdout) == (0, "")


def test_json_output(tmp_path, run_ftlint):
    write(tmp_path, "train.py", BUGGY)
    result = run_ftlint("check", "--format", "json", "train.py")
    [finding] = json.loads(result.stdout)
    assert finding == {
        "path": "train.py",
        "line": 3,
        "column": 7,
        "end_line": 3,
        "end_column": 43,
        "code": "FTL101",
        "name": "frozen-params-in-optimizer",
        "message": finding["message"],
        "fix": {
            "description": "keep only the parameters that require grad",
            "applicability": "unsafe",
            "edits": [
                {"line": 3, "column": 24, "end_line": 3, "end_column": 42,
                 "content": "filter(lambda p: p.requires_grad, model.parameters())"},
            ],
        },
    }  # fmt: skip


def test_directories_are_searched_sorted_and_special_dirs_skipped(tmp_path, run_ftlint):
    for name in ("b.py", "a/z.py", "a/b.pyi", ".git/x.py", "venv2/x.py", "build/x.py",
                 "node/__pycache__/x.py", "notes.txt"):  # fmt: skip
        write(tmp_path, name, BUGGY)
    (tmp_path / "venv2" / "pyvenv.cfg").write_text("home = /usr\n")
    result = run_ftlint("check", ".")
    paths = [line.split(":")[0] for line in result.stdout.splitlines()]
    assert paths == ["a/b.pyi", "a/z.py", "b.py"]


def test_findings_are_sorted_by_path_then_position(tmp_path, run_ftlint):
    write(tmp_path, "b.py", BUGGY + "y.detach_()\nprint(y)\n")
    write(tmp_path, "a.py", BUGGY)
    result = run_ftlint("check", "b.py", "a.py")
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == [
        "a.py:3:7",
        "b.py:3:7",
        "b.py:4:1",
    ]


def test_missing_path_is_an_error_without_traceback(tmp_path, run_ftlint):
    result = run_ftlint("check", "nope.py")
    assert result.returncode == 2
    assert result.stderr == "ftlint: nope.py: no such file or directory\n"


def test_unparsable_file_is_reported_and_the_run_goes_on(tmp_path, run_ftlint):
    write(tmp_path, "bad.py", "def f(:\n")
    (tmp_path / "latin.py").write_bytes(b"x = '\xe9'\n")
    write(tmp_path, "train.py", BUGGY)
    result = run_ftlint("check", ".")
    assert result.returncode == 1
    codes = [line.split(": ")[1].split()[0] for line in result.stdout.splitlines()]
    assert codes == ["FTL000", "FTL000", "FTL101"]
    assert "Traceback" not in result.stdout + result.stderr


def test_select_and_ignore_flags(tmp_path, run_ftlint):
    write(tmp_path, "train.py", BUGGY + "y.detach_()\nprint(y)\n")
    assert "FTL101" not in run_ftlint("check", "--select", "FTL3", "train.py").stdout
    assert "FTL301" in run_ftlint("check", "--select", "FTL3", "train.py").stdout
    ignored = run_ftlint("check", "--ignore", "FTL101,FTL301", "train.py")
    assert (ignored.returncode, ignored.stdout) == (0, "")
    narrower = run_ftlint("check", "--select", "FTL101", "--ignore", "FTL", "train.py")
    assert "FTL101" in narrower.stdout


def test_pyproject_config_and_flags_override_it(tmp_path, run_ftlint):
    write(tmp_path, "pyproject.toml", '[tool.ftlint]\nignore = ["FTL101"]\n'
          'exclude = ["generated"]\nper-file-ignores = { "scripts/*.py" = ["FTL3"] }\n')  # fmt: skip
    write(tmp_path, "train.py", BUGGY + "y.detach_()\nprint(y)\n")
    write(tmp_path, "generated/out.py", BUGGY)
    write(tmp_path, "scripts/s.py", "y.detach_()\nprint(y)\n")
    result = run_ftlint("check", ".")
    assert [line.split(": ")[0:2] for line in result.stdout.splitlines()] == [
        ["train.py:4:1", "FTL301 y.detach_() cuts y off the graph for every holder, so the "
         "later use at line 5 sends no gradient to whatever computed it; use y.detach() "
         "where the detached value is needed"],
    ]  # fmt: skip
    # excluded even when named explicitly (pre-commit names files)
    assert run_ftlint("check", "generated/out.py").stdout == ""
    # the command line wins over the file
    # --ignore adds to the configuration's list; --select starts a selection afresh.
    assert "FTL101" not in run_ftlint("check", "--ignore", "FTL3", "train.py").stdout
    assert "FTL101" in run_ftlint("check", "--select", "FTL", "train.py").stdout
    # the config is found from a subdirectory too
    assert run_ftlint("check", "s.py", cwd=tmp_path / "scripts").stdout == ""


def test_bad_config_is_a_clear_error(tmp_path, run_ftlint):
    write(tmp_path, "pyproject.toml", "[tool.ftlint]\nselct = ['FTL']\n")
    write(tmp_path, "train.py", CLEAN)
    result = run_ftlint("check", "train.py")
    assert result.returncode == 2
    assert "unknown [tool.ftlint] keys: selct" in result.stderr
    assert "Traceback" not in result.stderr


def test_noqa_in_the_cli(tmp_path, run_ftlint):
    write(tmp_path, "train.py", BUGGY.replace("parameters())", "parameters())  # noqa: FTL101"))
    assert run_ftlint("check", "train.py").returncode == 0


def test_rule_docs_rules_list_and_version(run_ftlint):
    doc = run_ftlint("rule", "ftl101")
    assert doc.returncode == 0
    assert doc.stdout.startswith("# FTL101 frozen-params-in-optimizer")
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead",
                    "## References"):  # fmt: skip
        assert section in doc.stdout
    unknown = run_ftlint("rule", "FTL7")
    assert unknown.returncode == 2 and "unknown rule" in unknown.stderr
    listing = run_ftlint("rules").stdout.splitlines()
    assert listing[0].startswith("FTL101  frozen-params-in-optimizer")
    assert run_ftlint("--version").stdout.startswith("ftlint ")


def test_usage_errors_exit_two(run_ftlint):
    assert run_ftlint("check", "--format", "xml", ".").returncode == 2
    assert run_ftlint().returncode == 2
