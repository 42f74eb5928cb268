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
from ftlint.guard.runner import run_module, run_script  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

TRAIN = """
import sys
import torch
from torch import nn

model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
if "--warm" in sys.argv:  # a first pass: every parameter now holds a .grad
    model(torch.randn(3, 4)).sum().backward()
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
# Frozen parameters that hold a .grad, given to the optimizer: the next step moves them.
ACTIVE = ["--warm", "--freeze", "--buggy"]
# Frozen parameters without a .grad: a latent risk (an error only in strict mode).
LATENT = ["--freeze", "--buggy"]


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
    assert run_script(str(script), ACTIVE, "error") == 1
    captured = capsys.readouterr()
    assert "trained" not in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("ftlint: FTL101 SGD was given 2 parameters")
    assert "--allow FTL101" in lines[0] and "--mode warn" in lines[0]
    assert lines[0].endswith("(train.py:13)")
    assert not guard_api.installed()


def test_warn_mode_warns_in_one_line_and_the_script_finishes(tmp_path, capsys):
    script = _script(tmp_path, TRAIN)
    assert run_script(str(script), ACTIVE, "warn") == 0
    captured = capsys.readouterr()
    assert "trained" in captured.out
    assert captured.err.startswith("ftlint: warning: FTL101 SGD was given 2 parameters")
    assert captured.err.strip().endswith("(train.py:13)")


@pytest.mark.parametrize(("mode", "code"), [("error", 0), ("strict", 1)])
def test_a_latent_risk_stops_the_script_in_strict_mode_only(tmp_path, capsys, mode, code):
    script = _script(tmp_path, TRAIN)
    assert run_script(str(script), LATENT, mode) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("ftlint: FTL101 " if mode == "strict" else "ftlint: warning: FTL101 ")
    assert "--allow FTL101" in err


def test_in_a_distributed_job_findings_start_with_the_rank(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "3")
    script = _script(tmp_path, TRAIN)
    assert run_script(str(script), LATENT, "error") == 0
    assert capsys.readouterr().err.startswith("[rank3]: ftlint: warning: FTL101 ")
    assert run_script(str(script), ACTIVE, "error") == 1
    assert capsys.readouterr().err.startswith("[rank3]: ftlint: FTL101 ")


def test_the_script_and_its_children_see_the_guard_in_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FTLINT_GUARD", raising=False)
    script = _script(tmp_path, "import os\nprint(os.environ['FTLINT_GUARD'])\n")
    assert run_script(str(script), [], "warn", ["FTL111", "ftl101"]) == 0
    assert capsys.readouterr().out == "warn:FTL101,FTL111\n"
    assert "FTLINT_GUARD" not in os.environ


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
        [sys.executable, "-c", code, str(script), *ACTIVE], capture_output=True, text=True, check=False, timeout=60
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
        [sys.executable, "-m", "ftlint", "run", "--mode", mode, str(script), *ACTIVE],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert result.returncode == code, result.stderr
    assert "FTL101" in result.stderr
    assert ("trained" in result.stdout) == (mode == "warn")
    assert "Traceback" not in result.stderr


def test_ftlint_run_allow_lets_a_code_pass(tmp_path):
    script = _script(tmp_path, TRAIN)
    result = subprocess.run(
        [sys.executable, "-m", "ftlint", "run", "--allow", "FTL101,FTL102", str(script), *ACTIVE],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "trained" in result.stdout
    assert "FTL101" not in result.stderr


@pytest.fixture
def package(tmp_path, monkeypatch):
    """tmp_path/pkg, the current directory's package: a train module (TRAIN) and a
    __main__. Each test's pkg is imported afresh, as in a new python -m process."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    _script(package, TRAIN, "train.py")
    _script(package, "import sys\nprint('main of pkg', sys.argv[1:])\n", "__main__.py")
    monkeypatch.chdir(tmp_path)
    yield package
    for name in [name for name in sys.modules if name == "pkg" or name.startswith("pkg.")]:
        del sys.modules[name]


def test_run_module_runs_like_python_m(tmp_path, capsys, package):
    argv, path = sys.argv[:], sys.path[:]
    assert run_module("pkg.train", ["--freeze", "--mode", "x"], "error") == 0
    # __name__, the arguments after the module's, and sys.path[0] the current directory
    assert capsys.readouterr().out == f"trained __main__ ['--freeze', '--mode', 'x'] {tmp_path}\n"
    assert (sys.argv, sys.path) == (argv, path)
    assert not guard_api.installed()
    assert run_module("pkg", ["a"], "error") == 0  # a package runs its __main__
    assert capsys.readouterr().out == "main of pkg ['a']\n"


def test_run_module_reports_a_guard_error_in_one_line(capsys, package):
    assert run_module("pkg.train", ACTIVE, "error") == 1
    err = capsys.readouterr().err
    assert err.startswith("ftlint: FTL101 SGD was given 2 parameters") and err.strip().endswith("(train.py:13)")


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("nope", "ftlint: cannot run -m nope: No module named nope"),
        ("pkg.nope", "ftlint: cannot run -m pkg.nope: No module named pkg.nope"),
        ("pkg.sub", "ftlint: cannot run -m pkg.sub: No module named pkg.sub.__main__; 'pkg.sub' is a package"),
    ],
)
def test_a_module_that_cannot_be_run_is_one_line(capsys, package, module, message):
    (package / "sub").mkdir()
    (package / "sub" / "__init__.py").write_text("")
    assert run_module(module, [], "error") == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.splitlines()) == 1, err


def test_an_import_error_in_the_module_keeps_its_traceback(capsys, package):
    _script(package, "import missing_dependency\n", "bad.py")
    assert run_module("pkg.bad", [], "error") == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and 'bad.py", line 1' in err
    assert "ModuleNotFoundError: No module named 'missing_dependency'" in err
    assert "runpy" not in err and "runner.py" not in err


def _ftlint_run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ftlint", "run", *args],
        capture_output=True, text=True, check=False, cwd=cwd, timeout=60,
        env=dict(env or os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip


def test_ftlint_run_m_end_to_end(tmp_path, package):
    result = _ftlint_run("--mode", "strict", "-m", "pkg.train", *LATENT, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("ftlint: FTL101 ") and "Traceback" not in result.stderr
    result = _ftlint_run("-m", "pkg", "--mode", "strict", cwd=tmp_path)  # the module's arguments
    assert result.returncode == 0, result.stderr
    assert result.stdout == "main of pkg ['--mode', 'strict']\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "ftlint: run needs a script, -m MODULE or a command"),
        (("-m",), "ftlint: run -m needs a module name"),
        (("no-such-command-here", "x"), "ftlint: cannot run no-such-command-here: no such file or command"),
        (("missing.py",), "ftlint: cannot run missing.py: no such file"),
        (("--allow", "FTL999", "train.py"), "ftlint: unknown ftlint guard code(s) FTL999"),
        (("--allow", "FTL999", sys.executable, "-c", "pass"), "ftlint: unknown ftlint guard code(s) FTL999"),
    ],
)
def test_ftlint_run_usage_errors_are_one_line_with_exit_code_2(tmp_path, args, message):
    _script(tmp_path, TRAIN)
    result = _ftlint_run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1, result.stderr
