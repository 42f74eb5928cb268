"""Where training really runs: child Python processes and launchers (torchrun,
accelerate launch) get the guard through FTLINT_GUARD and the startup hook that ftlint
installs in site-packages (ftlint-guard.pth)."""

from __future__ import annotations

import os
import select
import signal
import site
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

TIMEOUT = 60
DISTRIBUTED_TIMEOUT = 180  # torchrun starts in 3 to 10 s, a failing job takes longer

# Frozen parameters that hold a .grad given to a new optimizer: FTL101, an error.
BUGGY = """
import importlib.util
import torch
from torch import nn

assert importlib.util.find_spec("torch") is not None  # asks, as transformers does
model = nn.Linear(2, 2)
model(torch.randn(1, 2)).sum().backward()
model.bias.requires_grad = False
opt = torch.optim.SGD(model.parameters(), lr=0.1)
print("built")
"""

# DDP on gloo. Correct: the first layer is frozen before wrapping and the optimizer gets
# the trainable parameters only. --buggy: after a first step the first layer is frozen
# and a new optimizer is built over all parameters (they still hold their .grad).
DDP_TRAIN = """
import os
import sys
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

buggy = "--buggy" in sys.argv
dist.init_process_group("gloo")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
if not buggy:
    for p in model[0].parameters():
        p.requires_grad = False
ddp = DDP(model, find_unused_parameters=buggy)  # frozen later: unused from then on
opt = torch.optim.SGD([p for p in ddp.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
for step in range(3):
    opt.zero_grad()
    ddp(torch.randn(3, 4)).sum().backward()
    opt.step()
    if buggy and step == 0:
        for p in model[0].parameters():
            p.requires_grad = False
        opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
sys.stdout.write(f"rank {dist.get_rank()} trained\\n")  # one write: the ranks run unbuffered
sys.stdout.flush()
dist.destroy_process_group()
# torch 2.13's gloo aborts (SIGABRT, "terminate called without an active exception") in
# about one interpreter shutdown in six here, with or without ftlint: skip the shutdown.
os._exit(0)
"""


def _write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTLINT_GUARD")}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run(args: list[str], tmp_path: Path, timeout: float = TIMEOUT, **env: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, capture_output=True, text=True, check=False, cwd=tmp_path, timeout=timeout, env=_env(**env)
    )


def _ftlint_run(*args: str, tmp_path: Path, timeout: float = TIMEOUT, **env: str | None) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "ftlint", "run", *args], tmp_path, timeout, **env)


def _ours(stderr: str) -> list[str]:
    """ftlint's lines, without torch's and torchrun's own."""
    return [line for line in stderr.splitlines() if "ftlint:" in line]


def _site_dirs() -> list[Path]:
    return [Path(d) for d in {sysconfig.get_paths()["purelib"], *site.getsitepackages()}]


def test_the_startup_hook_is_installed_in_site_packages():
    hooks = [d / "ftlint-guard.pth" for d in _site_dirs() if (d / "ftlint-guard.pth").is_file()]
    assert hooks, "ftlint-guard.pth is not in site-packages: reinstall ftlint (pip install -e .)"
    assert "ftlint.guard._startup" in hooks[0].read_text()


def test_without_the_variable_a_python_process_imports_nothing_of_ftlint(tmp_path):
    code = "import sys; print(sorted(m for m in sys.modules if m.startswith(('ftlint', 'torch'))))"
    assert _run([sys.executable, "-c", code], tmp_path).stdout == "[]\n"
    assert _run([sys.executable, "-c", code], tmp_path, FTLINT_GUARD="").stdout == "[]\n"
    # With it, the guard waits for torch's import: torch itself is not imported.
    modules = _run([sys.executable, "-c", code], tmp_path, FTLINT_GUARD="error").stdout
    assert "'ftlint.guard._startup'" in modules and "torch" not in modules


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bogus", "ftlint: FTLINT_GUARD='bogus' ignored: ftlint guard mode must be"),
        ("error:FTL999", "ftlint: FTLINT_GUARD='error:FTL999' ignored: unknown ftlint guard code(s) FTL999"),
    ],
)
def test_a_bad_variable_is_one_line_and_the_process_runs_unguarded(tmp_path, value, message):
    result = _run([sys.executable, "-c", "print('ran')"], tmp_path, FTLINT_GUARD=value)
    assert result.returncode == 0 and result.stdout == "ran\n", result.stderr
    assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1, result.stderr


def test_ftlint_run_python_guards_the_child_python(tmp_path):
    script = _write(tmp_path, "train.py", BUGGY)
    result = _ftlint_run(sys.executable, str(script), tmp_path=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = _ours(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("ftlint: FTL101 SGD was given 1 parameter"), result.stderr
    assert lines[0].endswith("(train.py:10)") and "--allow FTL101" in lines[0]
    assert "Traceback" not in result.stderr
    allowed = _ftlint_run("--allow", "FTL101", sys.executable, str(script), tmp_path=tmp_path)
    assert allowed.returncode == 0 and allowed.stdout == "built\n" and allowed.stderr == "", allowed.stderr


def test_a_child_python_of_a_script_inherits_the_guard(tmp_path):
    _write(tmp_path, "child.py", BUGGY)
    parent = _write(
        tmp_path,
        "parent.py",
        """
        import subprocess, sys
        sys.exit(subprocess.run([sys.executable, "child.py"]).returncode)
        """,
    )
    result = _ftlint_run(str(parent), tmp_path=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = _ours(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("ftlint: FTL101 "), result.stderr


@pytest.mark.parametrize(("outer", "mode", "code"), [("warn", "error", 1), ("error", "warn", 0)])
def test_ftlint_run_started_with_the_variable_set_uses_its_own_mode_once(tmp_path, outer, mode, code):
    # As torchrun's workers are with `ftlint run torchrun ... -m ftlint run train.py`.
    script = _write(tmp_path, "train.py", BUGGY)
    result = _ftlint_run("--mode", mode, str(script), tmp_path=tmp_path, FTLINT_GUARD=outer)
    assert result.returncode == code, result.stderr
    lines = _ours(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ftlint: warning: FTL101 " if mode == "warn" else "ftlint: FTL101 ")


def test_a_command_whose_python_lacks_the_hook_is_reported(tmp_path):
    # python -S skips site-packages' .pth files: torch, on PYTHONPATH, loads unguarded,
    # as it would from an environment where ftlint is not installed.
    script = _write(tmp_path, "train.py", BUGGY)
    paths = os.pathsep.join(str(d) for d in _site_dirs())
    result = _ftlint_run(sys.executable, "-S", str(script), tmp_path=tmp_path, PYTHONPATH=paths)
    assert result.returncode == 0 and result.stdout == "built\n", result.stderr
    lines = _ours(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ftlint: warning: no process of ") and "imported torch with the guard on" in lines[0]


@pytest.mark.parametrize(("command", "code"), [("exit 3", 3), ("kill -TERM $$", 128 + signal.SIGTERM)])
def test_ftlint_run_returns_the_commands_exit_status(tmp_path, command, code):
    launcher = _write(tmp_path, "launch.sh", f"#!/bin/sh\n{command}\n")
    launcher.chmod(0o755)  # an executable file is a command, not a Python script
    result = _ftlint_run(str(launcher), tmp_path=tmp_path)
    assert result.returncode == code, result.stderr


def test_a_sigterm_to_ftlint_run_reaches_the_command(tmp_path):
    script = _write(
        tmp_path,
        "sleeper.py",
        """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    ftlint = subprocess.Popen(
        [sys.executable, "-m", "ftlint", "run", sys.executable, str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path, env=_env(),
    )  # fmt: skip
    try:
        assert select.select([ftlint.stdout], [], [], TIMEOUT)[0], "the command did not start"
        assert ftlint.stdout.readline() == "ready\n"
        started = time.monotonic()
        ftlint.send_signal(signal.SIGTERM)
        assert ftlint.wait(timeout=TIMEOUT) == 7
        assert time.monotonic() - started < 30
    finally:
        ftlint.kill()
        ftlint.wait()


def _torchrun() -> str:
    return os.path.join(sysconfig.get_path("scripts"), "torchrun")


def _check_each_rank_once(stderr: str, start: str) -> None:
    """One line from each of the two ranks, with the rank in front, about train.py:25."""
    lines = _ours(stderr)
    ranks = sorted(line.partition(" ftlint:")[0] for line in lines)
    assert ranks == ["[rank0]:", "[rank1]:"], stderr
    for line in lines:
        assert line.partition(": ")[2].startswith(start), line
        assert "module.0.weight, module.0.bias" in line and line.endswith("(train.py:25)"), line


def test_ftlint_run_torchrun_guards_every_rank_and_a_failing_rank_fails_the_job(tmp_path):
    script = _write(tmp_path, "train.py", DDP_TRAIN)
    args = [_torchrun(), "--nproc-per-node", "2", "--standalone", str(script), "--buggy"]
    result = _ftlint_run(*args, tmp_path=tmp_path, timeout=DISTRIBUTED_TIMEOUT)
    assert result.returncode == 1, result.stderr
    assert "trained" not in result.stdout
    _check_each_rank_once(result.stderr, "ftlint: FTL101 SGD was given 2 parameters")


def test_ftlint_run_torchrun_in_warn_mode_warns_once_per_rank_and_trains(tmp_path):
    script = _write(tmp_path, "train.py", DDP_TRAIN)
    args = ["--mode", "warn", _torchrun(), "--nproc-per-node", "2", "--standalone", str(script), "--buggy"]
    result = _ftlint_run(*args, tmp_path=tmp_path, timeout=DISTRIBUTED_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["rank 0 trained", "rank 1 trained"]
    _check_each_rank_once(result.stderr, "ftlint: warning: FTL101 SGD was given 2 parameters")


def test_ftlint_run_torchrun_is_quiet_when_the_training_is_correct(tmp_path):
    script = _write(tmp_path, "train.py", DDP_TRAIN)
    args = [_torchrun(), "--nproc-per-node", "2", "--standalone", str(script)]
    result = _ftlint_run("--mode", "strict", *args, tmp_path=tmp_path, timeout=DISTRIBUTED_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["rank 0 trained", "rank 1 trained"]
    assert _ours(result.stderr) == [], result.stderr


def test_torchrun_m_ftlint_run_guards_every_worker(tmp_path):
    script = _write(tmp_path, "train.py", DDP_TRAIN)
    args = ["-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone", "-m", "ftlint", "run"]
    result = _run([sys.executable, *args, str(script), "--buggy"], tmp_path, DISTRIBUTED_TIMEOUT)
    assert result.returncode == 1, result.stderr
    _check_each_rank_once(result.stderr, "ftlint: FTL101 SGD was given 2 parameters")


def test_ftlint_run_accelerate_launch_guards_every_worker(tmp_path):
    pytest.importorskip("accelerate.commands.launch", reason="accelerate is in the frameworks extra")
    script = _write(tmp_path, "train.py", DDP_TRAIN)
    # `accelerate launch`, run as a module: its console script also imports accelerate's
    # other commands (and, with timm installed, torchvision). --multi_gpu starts the
    # processes through torchrun; on a machine without GPUs they train on the CPU.
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    result = _ftlint_run(
        *launch, str(script), "--buggy", tmp_path=tmp_path, timeout=DISTRIBUTED_TIMEOUT, HF_HOME=str(tmp_path / "hf")
    )
    assert result.returncode == 1, result.stderr
    _check_each_rank_once(result.stderr, "ftlint: FTL101 SGD was given 2 parameters")
