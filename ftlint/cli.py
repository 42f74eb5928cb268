"""`ftlint`: check files, show rule documentation, run a script under the runtime guard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ftlint import __version__
from ftlint.config import ConfigError, load_settings
from ftlint.files import discover
from ftlint.report import FORMATS
from ftlint.rules import ALL_RULES, RULES_BY_CODE
from ftlint.runner import lint_paths


def _code_list(text: str) -> tuple[str, ...]:
    return tuple(code.strip().upper() for code in text.split(",") if code.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftlint", description="Find PyTorch fine-tuning bugs that raise no error."
    )
    parser.add_argument("--version", action="version", version=f"ftlint {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser("check", help="lint files and directories")
    check.add_argument("paths", nargs="*", type=Path, default=[Path(".")], metavar="PATH")
    check.add_argument("--format", choices=sorted(FORMATS), default="text")
    check.add_argument(
        "--select", type=_code_list, help="codes or prefixes to report (overrides config)"
    )
    check.add_argument(
        "--ignore", type=_code_list, help="codes or prefixes to skip (overrides config)"
    )

    rule = commands.add_parser("rule", help="show the documentation of one rule")
    rule.add_argument("code", metavar="CODE")

    commands.add_parser("rules", help="list every rule")

    run = commands.add_parser(
        "run", help="run a Python script with the runtime guard installed"
    )
    run.add_argument("--mode", choices=("error", "warn"), default="error")
    run.add_argument("script")
    run.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _check(options: argparse.Namespace) -> int:
    missing = [str(path) for path in options.paths if not path.exists()]
    if missing:
        for path in missing:
            print(f"ftlint: {path}: no such file or directory", file=sys.stderr)
        return 2
    settings = load_settings()
    if options.select is not None:
        settings.select = options.select
    if options.ignore is not None:
        settings.ignore = options.ignore
    findings = lint_paths(list(discover(options.paths, settings)), settings)
    sys.stdout.write(FORMATS[options.format](findings))
    return 1 if findings else 0


def _rule(options: argparse.Namespace) -> int:
    rule = RULES_BY_CODE.get(options.code.upper())
    if rule is None:
        known = ", ".join(RULES_BY_CODE)
        print(f"ftlint: unknown rule {options.code!r}; known rules: {known}", file=sys.stderr)
        return 2
    kind = " (runtime guard only)" if rule.runtime_only else ""
    print(f"# {rule.code} {rule.name}{kind}\n\nMessage: {rule.message}\n\n{rule.docs}", end="")
    return 0


def _rules() -> int:
    width = max(len(rule.name) for rule in ALL_RULES)
    for rule in ALL_RULES:
        summary = rule.docs.split("## What it does", 1)[-1].strip().split("\n\n", 1)[0]
        print(f"{rule.code}  {rule.name:<{width}}  {' '.join(summary.split())}")
    return 0


def _run(options: argparse.Namespace) -> int:
    from ftlint.guard.runner import run_script

    return run_script(options.script, options.args, options.mode)


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        if options.command == "check":
            return _check(options)
        if options.command == "rule":
            return _rule(options)
        if options.command == "rules":
            return _rules()
        return _run(options)
    except ConfigError as error:
        print(f"ftlint: configuration error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("ftlint: interrupted", file=sys.stderr)
    except Exception as error:  # noqa: BLE001 - a user must never see a traceback
        print(f"ftlint: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    return 2
