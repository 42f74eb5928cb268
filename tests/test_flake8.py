"""The flake8 plugin end to end: same findings, same places as the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import BUGGY

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def flake8(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", *args],
        capture_output=True, text=True, cwd=cwd, check=False,
    )  # fmt: skip


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ftlint", *args],
        capture_output=True, text=True, cwd=cwd, check=False,
    )  # fmt: skip


def test_flake8_and_cli_agree_on_the_fixtures():
    via_flake8 = flake8("--select", "FTL", "--format", "%(path)s:%(row)d:%(col)d: %(code)s",
                        ".", cwd=FIXTURES)  # fmt: skip
    via_cli = cli("check", ".", cwd=FIXTURES)
    assert via_flake8.stderr == ""
    expected = sorted(line.split(" ")[0] + " " + line.split(" ")[1]
                      for line in via_cli.stdout.splitlines())  # fmt: skip
    found = sorted(line.removeprefix("./") for line in via_flake8.stdout.splitlines())
    assert found and found == expected


def test_flake8_message_and_noqa(tmp_path):
    (tmp_path / "train.py").write_text(BUGGY + "opt2 = torch.optim.SGD(model.parameters())  # noqa: FTL101\n")
    result = flake8("--select", "FTL", "train.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "train.py:3:7: FTL101 optimizer is given parameters frozen at line 2: they are skipped "
        "only while their .grad is None, and once a stale gradient is left, momentum and weight "
        "decay move them; pass filter(lambda p: p.requires_grad, ...) instead"
    ]


def test_unparsable_file_yields_only_flake8s_own_error(tmp_path):
    (tmp_path / "bad.py").write_text("def f(:\n")
    (tmp_path / "train.py").write_text(BUGGY)
    result = flake8("--select", "E999,FTL", ".", cwd=tmp_path)
    codes = sorted(line.split(": ")[1].split()[0] for line in result.stdout.splitlines())
    assert codes == ["E999", "FTL101"]
    assert "Traceback" not in result.stderr


def test_surprising_argument_does_not_abort_the_run(tmp_path):
    (tmp_path / "a.py").write_text(
        "from torchvision import models\nm = models.resnet18(pretrained=cfg.x)\n"
    )
    (tmp_path / "b.py").write_text(BUGGY)
    result = flake8("--select", "FTL", ".", cwd=tmp_path)
    assert "FTL101" in result.stdout and result.stderr == ""


# flake8 run in a subprocess with the plugin's first pass spied on: which rules it is
# asked to consider, per file. An empty list: the plugin did no work at all.
_SPY = """
import sys
import ftlint.engine as engine
from flake8.main.cli import main

considered = []
real = engine.rules_for
def spy(outline, rules):
    considered.append(sorted(rule.code for rule in rules))
    return real(outline, rules)
engine.rules_for = spy
try:
    main(sys.argv[1:])
finally:
    print("CONSIDERED", sorted({code for codes in considered for code in codes}), file=sys.stderr)
"""


def spied_flake8(*args: str, cwd: Path) -> tuple[list[str], list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _SPY, "--isolated", "--jobs", "1", *args],
        capture_output=True, text=True, cwd=cwd, check=False,
    )  # fmt: skip
    considered = result.stderr.split("CONSIDERED ")[1].strip()
    codes = [line.split(": ")[1].split()[0] for line in result.stdout.splitlines()]
    return codes, eval(considered)  # noqa: S307 - the list printed just above


def test_plugin_does_nothing_when_flake8_reports_no_ftl_code(tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    codes, considered = spied_flake8("--select", "E,W,F8", "train.py", cwd=tmp_path)
    assert codes == ["F821", "F821"] and considered == []


def test_plugin_runs_what_the_selection_can_report(tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    # A bare F selects FTL codes too (flake8 matches prefixes): every rule runs.
    codes, considered = spied_flake8("--select", "E,F", "train.py", cwd=tmp_path)
    assert "FTL101" in codes and len(considered) > 1
    codes, considered = spied_flake8(
        "--select", "E", "--extend-select", "FTL101", "train.py", cwd=tmp_path
    )
    assert codes == ["FTL101"] and considered == ["FTL101"]
    # No --select: flake8's defaults include every installed plugin's codes.
    codes, considered = spied_flake8("train.py", cwd=tmp_path)
    assert "FTL101" in codes and len(considered) > 1
