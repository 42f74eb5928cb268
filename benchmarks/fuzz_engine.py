"""A longer run of the robustness checks: generated programs and mutants of real files.

    python benchmarks/fuzz_engine.py [--generated 2000] [--mutants 2000] [PATH ...]

Generated programs come from hypothesmith (valid Python from the grammar); mutants are
made from the Python files under PATH (default: the installed torch package, else this
repository) by deleting, duplicating or swapping a random line, or cutting a random
character: mostly near-valid code. Every input goes through the CLI's engine, with and
without the first pass, and through the flake8 plugin. Counted: inputs tried, exceptions
(a front end raised), internal errors (FTL999), and disagreements (engine and plugin, or
the engine with and without its first pass, reporting different findings). Nothing is
asserted: the figures go in the README. Exit status 1 when anything went wrong.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import random
import sys
import time
import traceback
import warnings
from pathlib import Path

from ftlint.engine import lint_source
from ftlint.flake8_plugin import Flake8Plugin
from ftlint.rules import ALL_RULES


def _engine(source: str, first_pass: bool) -> list[tuple[int, int, str]]:
    findings = lint_source("input.py", source, ALL_RULES, first_pass=first_pass)
    return sorted((f.line, f.column, f.code) for f in findings)


def _flake8(source: str) -> list[tuple[int, int, str]] | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # flake8 reports E999 and runs no plugin
    plugin = Flake8Plugin(tree, source.splitlines(keepends=True), "input.py")
    return sorted(
        (line, column + 1, message.split()[0]) for line, column, message, _ in plugin.run()
    )


class Tally:
    def __init__(self) -> None:
        self.tried = self.exceptions = self.internal_errors = self.disagreements = 0
        self.examples: list[str] = []

    def check(self, source: str) -> None:
        self.tried += 1
        try:
            found = _engine(source, first_pass=True)
            unfiltered = _engine(source, first_pass=False)
            plugin = _flake8(source)
        except Exception:  # the very thing counted
            self.exceptions += 1
            self._keep(source, traceback.format_exc(limit=3))
            return
        codes = {code for _, _, code in found + unfiltered}
        if "FTL999" in codes:
            self.internal_errors += 1
            self._keep(source, "FTL999")
        # The first pass may spare a parse that would have named a skipped statement.
        comparable = [f for f in unfiltered if f[2] != "FTL000" or f in found]
        agree = comparable == [f for f in found if f[2] != "FTL000" or f in unfiltered]
        if plugin is not None and "noqa" not in source:
            agree = agree and plugin == found
        if not agree:
            self.disagreements += 1
            self._keep(source, f"engine {found}, unfiltered {unfiltered}, flake8 {plugin}")

    def _keep(self, source: str, what: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(f"{what}\n--- input ---\n{source[:2000]}")


def generated(count: int, tally: Tally) -> None:
    import hypothesmith
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=count, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)  # fmt: skip
    @given(hypothesmith.from_grammar())
    def run(source: str) -> None:
        tally.check(source)

    run()


def mutants(count: int, roots: list[Path], tally: Tally, seed: int) -> None:
    files = [p for root in roots for p in ([root] if root.is_file() else root.rglob("*.py"))]
    if not files:
        return
    chooser = random.Random(seed)
    for _ in range(count):
        try:
            lines = chooser.choice(files).read_text(encoding="utf-8").splitlines(keepends=True)
        except (OSError, UnicodeDecodeError):
            continue
        if not lines:
            continue
        index = chooser.randrange(len(lines))
        operation = chooser.choice(("delete", "duplicate", "swap", "cut"))
        if operation == "delete":
            del lines[index]
        elif operation == "duplicate":
            lines.insert(index, lines[index])
        elif operation == "swap" and index + 1 < len(lines):
            lines[index], lines[index + 1] = lines[index + 1], lines[index]
        elif lines[index]:
            cut = chooser.randrange(len(lines[index]))
            lines[index] = lines[index][:cut] + lines[index][cut + 1 :]
        tally.check("".join(lines))


def _default_roots() -> list[Path]:
    spec = importlib.util.find_spec("torch")
    if spec is not None and spec.origin:
        return [Path(spec.origin).parent]
    return [Path(__file__).resolve().parents[1] / "ftlint"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=2000)
    parser.add_argument("--mutants", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("paths", nargs="*", type=Path)
    options = parser.parse_args()
    # Mutants warn when compiled (`"a"()`); the tally, not the warnings, is the output.
    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    tally = Tally()
    started = time.perf_counter()
    generated(options.generated, tally)
    mutants(options.mutants, options.paths or _default_roots(), tally, options.seed)
    elapsed = time.perf_counter() - started
    print(
        f"inputs tried: {tally.tried}  exceptions: {tally.exceptions}  "
        f"internal errors: {tally.internal_errors}  disagreements: {tally.disagreements}  "
        f"({elapsed:.0f} s)"
    )
    for example in tally.examples:
        print("\n" + example)
    return 1 if tally.exceptions or tally.internal_errors or tally.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
