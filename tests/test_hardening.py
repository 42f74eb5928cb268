"""Odd and hostile input, built at test time: no traceback, no hang, no damaged file, and
the other files of the run still reported. Each test runs the real CLI in a subprocess
with a timeout, since the failures it guards against were crashes and hangs."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ftlint.parsing import MAX_SOURCE_CHARS
from tests.conftest import BUGGY

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
TIMEOUT = 120
BUGGY_FINDING = "train.py:3:7: FTL101"


def ftlint(*args: str, cwd: Path, **options) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "ftlint", *args],
        capture_output=True, text=True, cwd=cwd, timeout=TIMEOUT, check=False, **options,
    )  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(BUGGY)
    return tmp_path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_code_too_deep_for_python_never_reaches_libcst(project, jobs):
    # libcst's native parser crashed the process on the first; the second took 2.3 GB.
    (project / "chain.py").write_text("x = " + " + ".join(["a"] * 7000) + "\n")
    (project / "calls.py").write_text("x = " + "f(" * 1000 + ")" * 1000 + "\n")
    result = ftlint("check", "--no-cache", "-j", jobs, ".", cwd=project)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "calls.py:1:406: FTL000 could not parse: SyntaxError: too many nested parentheses",
        "chain.py:1:1: FTL000 could not parse: too deeply nested for Python's parser",
        BUGGY_FINDING + " " + result.stdout.split(BUGGY_FINDING + " ")[1].splitlines()[0],
    ]


def test_a_file_above_the_size_limit_is_reported_not_parsed(project):
    line = "weights = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]\n"
    (project / "data.py").write_text(line * (MAX_SOURCE_CHARS // len(line) + 1))
    result = ftlint("check", "--no-cache", ".", cwd=project)
    first, second = result.stdout.splitlines()
    assert first.startswith("data.py:1:1: FTL000 could not parse: too large to analyse (")
    assert second.startswith(BUGGY_FINDING)


def test_deep_but_valid_code_keeps_every_finding(project):
    # The deepest elif chain Python accepts: libcst's codegen of positions recursed past
    # the default limit, and one FTL999 replaced every finding of the file.
    branches = "".join(f"elif a == {i}:\n    pass\n" for i in range(1, 2900))
    (project / "train.py").write_text(BUGGY + "if a == 0:\n    pass\n" + branches)
    result = ftlint("check", "--no-cache", ".", cwd=project)
    assert result.returncode == 1 and result.stdout.startswith(BUGGY_FINDING)
    assert "FTL999" not in result.stdout


def test_a_statement_libcst_rejects_is_left_out_alone(project):
    # Valid Python that libcst 1.0 cannot parse: a long implicit concatenation (a data
    # file) and a parenthesized annotated target.
    strings = "".join(f"    'line {i}'\n" for i in range(3500))
    (project / "train.py").write_text(BUGGY + "TEXT = (\n" + strings + ")\n(x): int = 1\n")
    (project / "frozen.py").write_text("import torch\n(model.fc.require_grad): bool = False\n")
    result = ftlint("check", "--no-cache", ".", cwd=project)
    lines = result.stdout.splitlines()
    # Where a rule might have reported something, the skipped statement is named; the
    # string data matters to no rule and is skipped silently.
    assert lines[0].startswith("frozen.py:2:1: FTL000 could not analyse this statement")
    assert lines[1:] == [line for line in lines[1:] if line.startswith(BUGGY_FINDING)]
    assert len(lines) == 2


def test_a_crashing_worker_loses_only_its_own_file(project):
    for name in ("a.py", "b.py", "c.py"):
        (project / name).write_text(BUGGY)
    (project / "crash.py").write_text(BUGGY)
    # A native crash, as libcst's parser once had, reproduced inside the worker.
    script = textwrap.dedent(
        """
        import os, signal, sys
        import ftlint.runner as runner
        real = runner.lint_file
        def lint_file(path, *args):
            if path.name == "crash.py":
                os.kill(os.getpid(), signal.SIGSEGV)
            return real(path, *args)
        runner.lint_file = lint_file
        from ftlint.cli import main
        sys.exit(main(sys.argv[1:]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "check", "--no-cache", "-j", "2", "."],
        capture_output=True, text=True, cwd=project, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    codes = [line.split(": ")[:2] for line in result.stdout.splitlines()]
    assert [where for where, _ in codes] == ["a.py:3:7", "b.py:3:7", "c.py:3:7", "crash.py:1:1",
                                             "train.py:3:7"]  # fmt: skip
    assert codes[3][1] == "FTL999 internal error"
    assert "the process linting this file died" in result.stdout


def test_workers_die_with_a_killed_run(project):
    for index in range(40):
        (project / f"m{index}.py").write_text(BUGGY * 200)
    run = subprocess.Popen(
        [sys.executable, "-m", "ftlint", "check", "--no-cache", "-j", "2", "."],
        cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers: list[int] = []
    deadline = time.monotonic() + 30
    while not workers and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = _children(run.pid)
    assert workers, "the run started no worker"
    run.send_signal(signal.SIGKILL)
    run.wait(TIMEOUT)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(c) for t in tasks for c in (t / "children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("fix", [[], ["--fix"]])
@pytest.mark.parametrize("named", [["."], ["x.py", "a.py", "train.py"]])
def test_a_fifo_and_a_device_are_reported_not_read(project, fix, named):
    os.mkfifo(project / "x.py")
    (project / "a.py").symlink_to("/dev/zero")
    result = ftlint("check", *fix, "--unsafe-fixes", "--no-cache", *named, cwd=project)
    lines = result.stdout.splitlines()
    assert lines.pop(0) == (
        "a.py:1:1: FTL000 could not read: not a regular file (a character device); "
        "only regular files are linted"
    )
    assert lines.pop() == (
        "x.py:1:1: FTL000 could not read: not a regular file (a FIFO); "
        "only regular files are linted"
    )
    if fix:
        assert lines == [] and "filter(lambda p" in (project / "train.py").read_text()
    else:
        assert len(lines) == 1 and lines[0].startswith(BUGGY_FINDING)


def test_a_symlink_loop_is_reported_and_the_rest_linted(project):
    (project / "loop_a.py").symlink_to("loop_b.py")
    (project / "loop_b.py").symlink_to("loop_a.py")
    result = ftlint("check", "--no-cache", ".", cwd=project)
    lines = result.stdout.splitlines()
    where = [line.split(": ")[0] for line in lines]
    assert where == ["loop_a.py:1:1", "loop_b.py:1:1", BUGGY_FINDING.split(": ")[0]]
    assert all("Too many levels of symbolic links" in line for line in lines[:2])


def test_overlapping_paths_report_each_finding_once(project):
    (project / "sub").mkdir()
    shutil.copy(project / "train.py", project / "sub" / "train.py")
    result = ftlint("check", "--no-cache", ".", "sub", "sub/train.py", "./train.py", cwd=project)
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        "sub/train.py", "train.py",
    ]  # fmt: skip


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_an_unreadable_directory_is_reported_and_the_rest_linted(project):
    locked = project / "locked"
    locked.mkdir()
    (locked / "train.py").write_text(BUGGY)
    locked.chmod(0)
    try:
        command = [sys.executable, "-m", "ftlint", "check", "--no-cache", "."]
        if os.geteuid() == 0:
            # root reads any directory: run as another user of a user namespace, to
            # whom the mode applies.
            command = ["unshare", "--user", "--map-user=1000", "--map-group=1000", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, cwd=project, timeout=TIMEOUT, check=False
        )
    finally:
        locked.chmod(0o755)
    if "unshare:" in result.stderr:
        pytest.skip(f"no user namespace here: {result.stderr.strip()}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.splitlines()[0] == (
        "locked:1:1: FTL000 could not read directory: Permission denied; its files were not linted"
    )
    assert result.stdout.splitlines()[1].startswith(BUGGY_FINDING)


def test_a_failed_fix_write_leaves_the_file_whole(project):
    # A file-size limit below the fixed text's size: the write fails part-way. It used to
    # leave the file cut short; now the original stays and no temporary file remains.
    original = BUGGY + "".join(f"x{i} = {i}\n" for i in range(20000))
    (project / "train.py").write_text(original)
    limit = len(original) // 2

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = ftlint("check", "--fix", "--unsafe-fixes", "--no-cache", "train.py", cwd=project,
                    preexec_fn=limit_file_size)  # fmt: skip
    assert result.returncode == 2  # a write that failed
    assert "ftlint: train.py: cannot write:" in result.stderr
    assert (project / "train.py").read_text() == original
    assert result.stdout.startswith(BUGGY_FINDING)  # the findings of the file as it is
    assert sorted(p.name for p in project.iterdir()) == ["train.py"]


def test_a_fix_keeps_the_file_mode_and_a_symlink(project):
    target = project / "real.py"
    target.write_text(BUGGY)
    target.chmod(0o751)
    (project / "link.py").symlink_to("real.py")
    result = ftlint("check", "--fix", "--unsafe-fixes", "--no-cache", "link.py", cwd=project)
    assert result.returncode == 0, result.stdout
    assert (project / "link.py").is_symlink()
    assert "filter(lambda p: p.requires_grad" in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o751


def test_noqa_is_read_on_the_line_python_numbers(project):
    # A form feed (and \v, \x1c-\x1e, \x85, U+2028/2029) is no line break to Python or
    # libcst; counting lines with str.splitlines() put `noqa` on the wrong line.
    for separator in ("\f", "\v", "\x1c", "\x85", "\u2028"):
        (project / "train.py").write_text(
            f"import torch  # page{separator}break\n"
            "model.requires_grad_(False)\n"
            "opt = torch.optim.Adam(model.parameters())  # noqa: FTL101\n"
        )
        result = ftlint("check", "--no-cache", "train.py", cwd=project)
        assert result.returncode == 0, (repr(separator), result.stdout)


def test_a_local_libcst_directory_is_not_imported(project):
    # `python -m` puts the working directory first on the path: a project with its own
    # top-level libcst/ must not shadow the real one.
    (project / "libcst").mkdir()
    (project / "libcst" / "__init__.py").write_text("raise ImportError('the local libcst')\n")
    result = ftlint("check", "--no-cache", "train.py", cwd=project)
    assert result.stdout.startswith(BUGGY_FINDING), result.stderr


def test_the_code_s_own_syntax_warnings_are_not_printed_nor_errors(project):
    # `"a"()` and an invalid escape warn when compiled; under -W error they would have
    # made Python's parser reject the file.
    (project / "train.py").write_text(BUGGY + 'x = "a"()\ny = "\\d"\n')
    result = subprocess.run(
        [sys.executable, "-W", "error::SyntaxWarning", "-m", "ftlint", "check", "--no-cache", "."],
        capture_output=True, text=True, cwd=project, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.stdout.startswith(BUGGY_FINDING) and "Warning" not in result.stderr
