"""Speed of `ftlint check` at scale, against TorchFix and flake8, on real PyTorch code.

    python benchmarks/bench_speed.py [--rounds 5] [--cache-dir ~/.cache/ftlint-bench]

The corpus is the Python source of released wheels (downloaded with `pip download
--no-deps` into the cache directory, never committed): peft, timm and lightning, about
167,000 lines. TorchFix 0.7.0 gets a virtual environment of its own there, since it pins
another libcst, and flake8 without ftlint one too (flake8 runs every installed plugin
whatever --select says). Every round runs every tool once, in turn, on the same explicit list of
files; the table shows medians over the rounds and the ratios the goals are about:

- ftlint with a cold cache at least 10 times faster than TorchFix (both use all cores);
- `flake8 --select E,F,FTL` at most 1.5 times `flake8 --select E,F`;
- ftlint with a warm cache at least 20 times faster than with a cold one;
- peak memory per process under 300 MB.

Wall time is measured around each command; CPU time and peak memory come from the
kernel's accounting of the command and the processes it waited for (os.wait4), so a
pool of workers is counted. Nothing here is asserted: the numbers go in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

PACKAGES = ("peft==0.13.2", "timm==1.0.11", "lightning==2.4.0")
TORCHFIX = "torchfix==0.7.0"
MIN_LINES = 100_000


def build_corpus(cache: Path) -> Path:
    corpus = cache / "corpus"
    if not (corpus / "pyproject.toml").is_file():
        wheels = cache / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary", ":all:", "--dest", str(wheels), *PACKAGES],
            check=True,
        )  # fmt: skip
        shutil.rmtree(corpus, ignore_errors=True)
        for wheel in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                for name in archive.namelist():
                    if name.endswith(".py"):
                        archive.extract(name, corpus / wheel.name.split("-")[0])
        # ftlint keeps its cache next to this configuration.
        (corpus / "pyproject.toml").write_text("[tool.ftlint]\n")
    return corpus


def torchfix_command(cache: Path) -> list[str]:
    venv = cache / "torchfix-venv"
    executable = venv / "bin" / "torchfix"
    if not executable.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", TORCHFIX], check=True)
    return [str(executable)]


def snapshot_ftlint(cache: Path) -> dict[str, str]:
    """A copy of this checkout's ftlint package, run instead of the working tree: an
    edit during the benchmark would change the cache key and make a warm run cold."""
    target = cache / "snapshot"
    shutil.rmtree(target, ignore_errors=True)
    source = Path(__file__).resolve().parent.parent / "ftlint"
    shutil.copytree(source, target / "ftlint", ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONPATH": str(target)}


def plain_flake8_command(cache: Path) -> list[str]:
    """flake8 runs every installed plugin whatever --select says (it filters the
    reports afterwards), so `--select E,F` is measured in a venv without ftlint."""
    venv = cache / "flake8-venv"
    executable = venv / "bin" / "flake8"
    version = metadata.version("flake8")
    if not executable.exists() or f"{version} " not in subprocess.run(
        [str(executable), "--version"], capture_output=True, text=True, check=False
    ).stdout:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", f"flake8=={version}"], check=True
        )
    return [str(executable), "--isolated", "--exit-zero"]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds, and the peak resident memory (MB) of the largest process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{command[:3]} failed with exit code {process.returncode}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "ftlint-bench")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    options = parser.parse_args()

    cache = options.cache_dir.expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(cache)
    files = sorted(str(path.relative_to(corpus)) for path in corpus.rglob("*.py"))
    lines = sum((corpus / name).read_bytes().count(b"\n") for name in files)
    if lines < MIN_LINES:
        raise SystemExit(f"corpus has {lines} lines, fewer than {MIN_LINES}")
    ftlint = [sys.executable, "-m", "ftlint", "check"]
    flake8 = [sys.executable, "-m", "flake8", "--isolated", "--exit-zero"]
    tools = {
        "TorchFix 0.7.0": torchfix_command(cache) + files,
        "ftlint, cold cache": ftlint + files,
        "ftlint, warm cache": ftlint + files,
        "flake8 --select E,F": plain_flake8_command(cache) + ["--select", "E,F"] + files,
        "flake8 --select E,F,FTL": flake8 + ["--select", "E,F,FTL"] + files,
    }
    env = snapshot_ftlint(cache)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in tools}
    for round_number in range(1, options.rounds + 1):
        for name, command in tools.items():
            if name == "ftlint, cold cache":
                shutil.rmtree(corpus / ".ftlint_cache", ignore_errors=True)
            results[name].append(run(command, corpus, env))
            print(f"round {round_number} {name}: {results[name][-1]}", file=sys.stderr)

    def median(name: str, key: str) -> float:
        return statistics.median(result[key] for result in results[name])

    print(f"{len(files)} files, {lines} lines ({', '.join(PACKAGES)}); "
          f"{options.rounds} rounds, medians; {os.cpu_count()} cores, "
          f"{platform.python_implementation()} {platform.python_version()}\n")  # fmt: skip
    print("| Command | Wall (s) | CPU (s) | Lines/s (wall) | Peak memory per process (MB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in tools:
        wall = median(name, "wall")
        print(f"| {name} | {wall:.2f} | {median(name, 'cpu'):.2f} | {lines / wall:,.0f} | "
              f"{median(name, 'peak_mb'):.0f} |")  # fmt: skip
    cold, warm = median("ftlint, cold cache", "wall"), median("ftlint, warm cache", "wall")
    print()
    print(f"- TorchFix / ftlint cold: {median('TorchFix 0.7.0', 'wall') / cold:.1f}x "
          "(goal: at least 10)")  # fmt: skip
    print(f"- flake8 E,F,FTL / flake8 E,F: "
          f"{median('flake8 --select E,F,FTL', 'wall') / median('flake8 --select E,F', 'wall'):.2f}"
          " (goal: at most 1.5)")  # fmt: skip
    print(f"- ftlint cold / warm: {cold / warm:.1f}x (goal: at least 20)")
    peak = max(median(name, "peak_mb") for name in tools if "TorchFix" not in name)
    print(f"- largest peak memory of an ftlint or flake8 process: {peak:.0f} MB (goal: under 300)")
    if options.json:
        options.json.write_text(json.dumps({"files": len(files), "lines": lines,
                                            "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
