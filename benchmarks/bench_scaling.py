"""Does ftlint's cost grow linearly with the code? Time per line, per rule, by file size.

    python benchmarks/bench_scaling.py [--rounds 3] [--sizes 250,1000,4000,8000]

Two generated shapes: a flat module-level training script (a notebook's shape: load,
freeze, optimizer, loop, save, over and over, with distinct names) and a file of many
small functions doing the same. For each size, the parse and each rule are timed on
their own (positions are computed before a rule is timed: every rule shares that cost,
which the "parse" row shows). Medians over the rounds, in microseconds per line, and
the ratio of the largest size to the smallest; the goal is at most 1.5 for every row.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time

from ftlint.context import FileContext
from ftlint.engine import _Dispatcher
from ftlint.parsing import parse
from ftlint.rules import ALL_RULES

BLOCK = """
model{i} = build_model(cfg)
state{i} = torch.load("ckpt{i}.pt", map_location="cpu")
model{i}.load_state_dict(state{i}, strict=False)
for p in model{i}.backbone.parameters():
    p.requires_grad = False
opt{i} = torch.optim.AdamW(model{i}.parameters(), lr=1e-4)
for step, batch in enumerate(loader):
    loss = model{i}(batch).loss
    loss.backward()
    opt{i}.step()
    opt{i}.zero_grad()
torch.save(model{i}, "out{i}.pt")
"""


def flat_script(lines: int) -> str:
    blocks, count, i = [], 1, 0
    while count < lines:
        block = BLOCK.format(i=i)
        blocks.append(block)
        count += block.count("\n")
        i += 1
    return "import torch\n" + "".join(blocks)


def many_functions(lines: int) -> str:
    functions, count, i = [], 1, 0
    while count < lines:
        body = "".join(f"    {line}\n" if line else "\n" for line in BLOCK.format(i=0).splitlines())
        function = f"\ndef finetune_{i}(cfg, loader):{body}    return opt0\n"
        functions.append(function)
        count += function.count("\n")
        i += 1
    return "import torch\n" + "".join(functions)


def time_once(source: str) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    module = parse(source)
    timings["parse"] = time.perf_counter() - started
    for rule in ALL_RULES:
        if rule.runtime_only:
            continue
        ctx = FileContext("bench.py", module)
        ctx.positions[module]  # computes every position here, outside the rule's time
        dispatcher = _Dispatcher([rule(ctx)], lambda rule, error: None)
        started = time.perf_counter()
        dispatcher.run(module)
        timings[rule.code] = time.perf_counter() - started
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="250,1000,4000,8000")
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    for shape, make in (("flat script", flat_script), ("many functions", many_functions)):
        per_line: dict[str, list[float]] = {}
        for size in sizes:
            source = make(size)
            lines = source.count("\n")
            rounds = [time_once(source) for _ in range(options.rounds)]
            for key in rounds[0]:
                median = statistics.median(r[key] for r in rounds)
                per_line.setdefault(key, []).append(median / lines * 1e6)
        print(f"\n{shape}: microseconds per line at {', '.join(map(str, sizes))} lines")
        print(f"{'':8}" + "".join(f"{size:>9}" for size in sizes) + "   ratio")
        for key, values in per_line.items():
            ratio = values[-1] / values[0] if values[0] > 0 else float("nan")
            cells = "".join(f"{value:9.2f}" for value in values)
            print(f"{key:8}{cells}   {ratio:5.2f}")


if __name__ == "__main__":
    main()
