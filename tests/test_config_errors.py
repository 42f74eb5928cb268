"""A broken or mistyped `[tool.ftlint]` stops the run with one line naming the file, the
key and what was expected; it is never skipped for a parent directory's table."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ftlint.config import ConfigError, check_codes, load_settings
from ftlint.rules import RULE_CODES
from tests.conftest import CLEAN


def _error(tmp_path, text: str) -> str:
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'pyproject.toml'}: ")
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[tool.ftlint\nselect = ["FTL"]\n', "invalid TOML: Expected ']' at the end of a table "
         "declaration (at line 1, column 13)"),
        ('[tool.ftlint]\nignore = ["FTL1" "FTL2"]\n',
         "invalid TOML: Unclosed array (at line 2, column 18)"),
        ('[tool.ftlint]\nselect = "FTL1"\n',
         "[tool.ftlint] select: expected a list of strings, got a string ('FTL1')"),
        ('[tool.ftlint]\nignore = ["FTL1", 3]\n',
         "[tool.ftlint] ignore: expected a list of strings, got a list holding an integer (3)"),
        ('[tool.ftlint]\nexclude = "build"\n',
         "[tool.ftlint] exclude: expected a list of strings, got a string ('build')"),
        ("[tool]\nftlint = true\n", "[tool.ftlint]: expected a table, got a boolean (True)"),
        ('[tool.ftlint]\nselct = ["FTL"]\n',
         "unknown [tool.ftlint] keys: selct (did you mean 'select'?)"),
        ("[tool.ftlint]\nper_file_ignores = {}\n",
         "unknown [tool.ftlint] keys: per_file_ignores (did you mean 'per-file-ignores'?)"),
        ("[tool.ftlint]\ncolour = true\n", "unknown [tool.ftlint] keys: colour; the keys are "
         "select, ignore, exclude, per-file-ignores, target-torch, target-torchvision, "
         "target-transformers"),
        ('[tool.ftlint]\nper-file-ignores = ["tests/*"]\n',
         "[tool.ftlint] per-file-ignores: expected a table of lists of codes, such as "
         '{ "tests/*" = ["FTL2"] }, got a list'),
        ('[tool.ftlint.per-file-ignores]\n"tests/*" = "FTL2"\n',
         "[tool.ftlint] per-file-ignores.'tests/*': expected a list of strings, got a string "
         "('FTL2')"),
        ('[tool.ftlint]\nselect = ["FTL199"]\n',
         "[tool.ftlint] select: unknown rule code 'FTL199' (did you mean 'FTL109'?)"),
        ('[tool.ftlint]\nignore = ["FLT104"]\n',
         "[tool.ftlint] ignore: unknown rule code 'FLT104' (did you mean 'FTL104'?)"),
        ('[tool.ftlint.per-file-ignores]\n"tests/*" = ["FTL4"]\n',
         "[tool.ftlint] per-file-ignores.'tests/*': unknown rule code 'FTL4' (did you mean "
         "'FTL3'?)"),
        ('[tool.ftlint]\nselect = ["ALL"]\n', "[tool.ftlint] select: unknown rule code 'ALL' "
         "(ftlint's codes start with FTL; 'FTL' alone selects every rule)"),
    ],
)  # fmt: skip
def test_a_broken_or_mistyped_table_names_the_file_the_key_and_what_was_expected(
    tmp_path, text, expected
):
    assert _error(tmp_path, text).endswith(expected)


def test_codes_and_prefixes_of_rules_are_accepted_in_any_case(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ftlint]\nselect = ["ftl1", " FTL2 ", "FTL"]\nignore = ["FTL104", ""]\n'
        'per-file-ignores = { "tests/*" = ["FTL30"] }\n'
    )
    settings = load_settings(tmp_path)
    assert (settings.select, settings.ignore) == (("FTL1", "FTL2", "FTL"), ("FTL104",))
    assert settings.per_file_ignores == {"tests/*": ("FTL30",)}
    check_codes(RULE_CODES, "every code")


def test_an_unparsable_nearest_pyproject_is_not_skipped_for_a_parents_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.ftlint]\nignore = ["FTL1"]\n')
    nested = tmp_path / "pkg"
    nested.mkdir()
    (nested / "pyproject.toml").write_text('[tool.ftlint]\nignore = ["FTL1"\n')
    with pytest.raises(ConfigError, match=r"pkg/pyproject.toml: invalid TOML: .* document"):
        load_settings(nested)
    (nested / "pyproject.toml").write_bytes(b"[tool.ftlint]\nselect = ['\xff']\n")
    with pytest.raises(ConfigError, match=r"pkg/pyproject.toml: invalid TOML: not UTF-8"):
        load_settings(nested)


def test_a_broken_pyproject_that_cannot_hold_the_table_does_not_hide_the_parents(tmp_path):
    """No `ftlint` anywhere in its text: parsed or not, it has no [tool.ftlint]."""
    (tmp_path / "pyproject.toml").write_text('[tool.ftlint]\nignore = ["FTL1"]\n')
    nested = tmp_path / "pkg"
    nested.mkdir()
    (nested / "pyproject.toml").write_text("[project\nname = 'pkg'\n")
    settings = load_settings(nested)
    assert (settings.source, settings.ignore) == (tmp_path / "pyproject.toml", ("FTL1",))


def _check(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "ftlint", "check", *args],
        capture_output=True, text=True, cwd=cwd, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[tool.ftlint]\nselect = [\n", "invalid TOML: "),
        ('[tool.ftlint]\nselect = "FTL1"\n', "select: expected a list of strings"),
        ('[tool.ftlint]\nignore = ["FTL10l"]\n', "unknown rule code 'FTL10L' (did you mean"),
        ('[tool.ftlint]\nper-file-ignores = { "t.py" = "FTL1" }\n', "expected a list of"),
    ],
)
def test_the_cli_exits_2_with_one_line_and_no_traceback(tmp_path, text, expected):
    (tmp_path / "pyproject.toml").write_text(text)
    (tmp_path / "t.py").write_text(CLEAN)
    result = _check(tmp_path, "t.py")
    assert (result.returncode, result.stdout) == (2, "")
    prefix = f"ftlint: configuration error: {tmp_path / 'pyproject.toml'}: "
    assert result.stderr.startswith(prefix)
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_the_cli_reports_a_broken_nearest_pyproject_from_a_subdirectory(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.ftlint]\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "pyproject.toml").write_text("[tool.ftlint\n")
    (tmp_path / "pkg" / "t.py").write_text(CLEAN)
    result = _check(tmp_path / "pkg", "t.py")
    assert result.returncode == 2
    assert "pkg/pyproject.toml: invalid TOML: " in result.stderr
    assert "Traceback" not in result.stderr
