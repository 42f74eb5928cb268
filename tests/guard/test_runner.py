"""ftlint run script.py args...: run_script and the command line around it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch")

import ftlint.guard as guard_api  # noqa: E402
from ftlint.guard.runner import run_script  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

TRAIN = """
import sys
import torch
from torch import nn

model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
if "--freeze" in sys.argv:
    for p in model[0].parameters():
        p.requires_grad = False
params = model.parameters() if "--buggy" in sys.argv else [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.SGD(params, lr=0.1)
for _ in range(2):
    opt.zero_grad()
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
print("trained", __name__, sys.argv[1:], sys.path[0])
"""


def _script(tmp_path: Path, source: str, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_a_correct_script_runs_like_python_would(tmp_path, capsys):
    script = _script(tmp_path, TRAIN)
    argv, path = sys.argv[:], sys.path[:]
    assert run_script(str(script), ["--freeze"], "error") == 0
    out = capsys.readouterr().out
    assert f"trained __main__ ['--freeze'] {tmp_path}" in out
    assert (sys.argv, sys.path) == (argv, path)
    assert not guard_api.installed()


def test_a_guard_error_is_one_line_with_exit_code_1(tmp_path, capsys):
    script = _script(tmp_path, TRAIN)
    assert run_script(str(script), ["--freeze", "--buggy"], "error") == 1
    captured = capsys.readouterr()
    assert "trained" not in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("ftlint: FTL101 SGD was given 2 parameters")
    assert "--allow FTL101" in lines[0] and "--mode warn" in lines[0]
    assert lines[0].endswith("(train.py:11)")
    assert not guard_api.installed()


def test_warn_mode_warns_in_one_line_and_the_script_finishes(tmp_path, capsys):
    script = _script(tmp_path, TRAIN)
    assert run_script(str(script), ["--freeze", "--buggy"], "warn") == 0
    captured = capsys.readouterr()
    assert "trained" in captured.out
    assert captured.err.startswith("ftlint: warning: FTL101 SGD was given 2 parameters")
    assert captured.err.strip().endswith("(train.py:11)")


@pytest.mark.parametrize(("exit_call", "code"), [("sys.exit(3)", 3), ("sys.exit()", 0), ("sys.exit('bad config')", 1)])
def test_the_scripts_exit_status_is_returned(tmp_path, exit_call, code, capsys):
    script = _script(tmp_path, f"import sys\n{exit_call}\n")
    assert run_script(str(script), [], "error") == code


def test_other_exceptions_keep_a_traceback_of_the_script_only(tmp_path, capsys):
    script = _script(tmp_path, "def main():\n    raise ValueError('no data')\n\nmain()\n")
    assert run_script(str(script), [], "error") == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ValueError: no data" in err and 'train.py", line 2' in err
    assert "runner.py" not in err and "runpy" not in err


def test_a_missing_script_is_a_usage_error(tmp_path, capsys):
    assert run_script(str(tmp_path / "nope.py"), [], "error") == 2
    assert "no such file" in capsys.readouterr().err


def test_run_script_in_a_fresh_interpreter_prints_no_traceback(tmp_path):
    script = _script(tmp_path, TRAIN)
    code = (
        "import sys; from ftlint.guard.runner import run_script; "
        "sys.exit(run_script(sys.argv[1], sys.argv[2:], 'error'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(script), "--freeze", "--buggy"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    # torch itself may warn on import (no numpy in a bare environment); ours is one line.
    ours = [line for line in result.stderr.splitlines() if line.startswith("ftlint:")]
    assert len(ours) == 1 and ours[0].startswith("ftlint: FTL101 "), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("mode", "code"), [("error", 1), ("warn", 0)])
def test_ftlint_run_end_to_end(tmp_path, mode, code):
    script = _script(tmp_path, TRAIN)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "ftlint", "run", "--mode", mode, str(script), "--freeze", "--buggy"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == code, result.stderr
    assert "FTL101" in result.stderr
    assert ("trained" in result.stdout) == (mode == "warn")
    assert "Traceback" not in result.stderr


def test_ftlint_run_allow_lets_a_code_pass(tmp_path):
    script = _script(tmp_path, TRAIN)
    result = subprocess.run(
        [sys.executable, "-m", "ftlint", "run", "--allow", "FTL101,FTL102", str(script),
         "--freeze", "--buggy"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "trained" in result.stdout
    assert "FTL101" not in result.stderr
