"""What the runtime guard costs, on a model of about 100M parameters in about 4,000 tensors.

    python benchmarks/bench_guard.py [--layers 2000] [--width 224] [--repeats 15] [--step-repeats 7]

Measures, after a first optimizer has been built (the first one in a process pays about a
second of lazy imports inside torch, with or without the guard):
- construction: building AdamW over every parameter, with and without the guard, and the
  guard's own work in isolation (classify the optimizer, check the new group);
- step: AdamW.step() with and without the guard, and the step hook in isolation;
- growth: the step hook's time early and late in a long run (it must not grow).
Medians of alternating runs; a shared machine is noisy, so the isolated figures are the
ones to quote against the targets (construction < 1 ms, step hook < 1% of a step).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time

import torch
from torch import nn

import ftlint.guard as guard
from ftlint.guard import _optimizers


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=2000, help="Linear layers (2 tensors each)")
    parser.add_argument("--width", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=100, help="constructions each way")
    parser.add_argument("--step-repeats", type=int, default=7, help="AdamW steps (slow on CPU)")
    parser.add_argument("--hook-calls", type=int, default=1000)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default); on a busy shared "
        "machine 1 keeps OpenMP from spinning, which makes steps far slower and noisier"
    )
    options = parser.parse_args()
    if options.threads:
        torch.set_num_threads(options.threads)

    guard.install("error")  # as `ftlint run` does: the model is built under the guard
    model = nn.Sequential(*[nn.Linear(options.width, options.width) for _ in range(options.layers)])
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3  # fixed gradients: the step cost is the same each time
    n_params = sum(p.numel() for p in params)

    torch.optim.AdamW(params[:2], lr=1e-4)  # the first optimizer of the process: lazy imports

    # Construction, end to end, alternating with and without the guard (and which goes
    # first). This is the figure that counts: right after torch's own add_param_group the
    # parameters are no longer in the CPU caches, so the check costs more than when timed
    # alone in a loop.
    with_guard, without = [], []
    for i in range(options.repeats):
        for on in (True, False) if i % 2 else (False, True):
            guard.install("error") if on else guard.uninstall()
            took = _median_ms(lambda: torch.optim.AdamW(model.parameters(), lr=1e-4), 1)
            (with_guard if on else without).append(took)
    build_on, build_off = statistics.median(with_guard), statistics.median(without)

    # The guard's own construction work, alone in a loop (warm caches).
    guard.install("error")
    fresh = []

    def construction_check() -> None:
        opt = fresh.pop()
        info = _optimizers._info_for(opt)
        _optimizers._check_frozen_in_group(opt, opt.param_groups[-1])
        assert info.checked

    guard.uninstall()
    fresh.extend(torch.optim.AdamW(model.parameters(), lr=1e-4) for _ in range(options.repeats))
    guard.install("error")
    check_ms = _median_ms(construction_check, options.repeats)

    # Step, end to end, alternating with and without the guard.
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for _ in range(2):
        opt.step()  # creates the optimizer state; the guard learns the model
    steps_on, steps_off = [], []
    for i in range(options.step_repeats):
        for on in (True, False) if i % 2 else (False, True):
            guard.install("error") if on else guard.uninstall()
            (steps_on if on else steps_off).append(_median_ms(opt.step, 1))
    step_on, step_off = statistics.median(steps_on), statistics.median(steps_off)

    # The step hook in isolation, and whether it grows with the number of steps.
    guard.install("error")
    _optimizers._before_step(opt, (opt,), {})
    hook_times: list[float] = []
    gc.collect()
    objects_before = len(gc.get_objects())
    for _ in range(options.hook_calls):
        start = time.perf_counter()
        _optimizers._before_step(opt, (opt,), {})
        hook_times.append(time.perf_counter() - start)
    gc.collect()
    objects_added = len(gc.get_objects()) - objects_before
    guard.uninstall()
    hook_ms = statistics.median(hook_times) * 1e3
    # Fastest of each block: a busy machine only ever adds time, so the minimum shows the
    # work itself, and whether it grows.
    early = min(hook_times[:100]) * 1e3
    late = min(hook_times[-100:]) * 1e3

    load = ", load average %.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    print(f"machine : {_cpu()}, {os.cpu_count()} cores{load}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, Python {platform.python_version()}")
    print(f"model   : {n_params / 1e6:.1f}M parameters in {len(params)} tensors "
          f"({options.layers} x Linear({options.width}, {options.width}))")
    print(
        f"medians of {options.repeats} constructions and {options.step_repeats} steps each way, "
        f"alternating; {options.hook_calls} hook calls\n"
        "A step varies by far more than 1% from one to the next on a shared machine: the\n"
        "step hook alone, against the plain step, is the figure to quote.\n"
    )
    rows = [
        ("AdamW construction, no guard", build_off, ""),
        ("AdamW construction, guard", build_on, f"{build_on - build_off:+.3f} ms: the check (target < 1 ms)"),
        ("construction check alone, warm", check_ms, ""),
        ("AdamW.step(), no guard", step_off, ""),
        ("AdamW.step(), guard", step_on, f"{(step_on / step_off - 1) * 100:+.2f}%"),
        ("step hook alone", hook_ms, f"{hook_ms / step_off * 100:.2f}% of a step (target < 1%)"),
        ("step hook, calls 1-100 (fastest)", early, ""),
        (f"step hook, calls {options.hook_calls - 99}-{options.hook_calls} (fastest)", late, f"{late / early:.2f}x"),
    ]
    print(f"{'measure':<36}{'median ms':>12}  note")
    for name, value, note in rows:
        print(f"{name:<36}{value:>12.3f}  {note}")
    print(f"\nobjects left alive by {options.hook_calls} hook calls: {objects_added:+d}")


if __name__ == "__main__":
    main()
