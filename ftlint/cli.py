"""`ftlint`: check files, show rule documentation, run a script under the runtime guard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ftlint import __version__
from ftlint.config import ConfigError, Settings, load_settings
from ftlint.files import discover
from ftlint.finding import PARSE_ERROR, Finding, file_finding
from ftlint.report import FORMATS, render, render_statistics
from ftlint.runner import lint_paths


def _code_list(text: str) -> tuple[str, ...]:
    return tuple(code.strip().upper() for code in text.split(",") if code.strip())


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes >= 1, got {text!r}")
    return int(text)


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
        "--fix", action="store_true", help="rewrite files with the safe fixes, report the rest"
    )
    check.add_argument(
        "--unsafe-fixes", action="store_true", help="with --fix or --diff, also fixes that "
        "may change behaviour (see each rule's Fix safety)"
    )  # fmt: skip
    check.add_argument(
        "--diff", action="store_true", help="print the fixes as a unified diff, write nothing"
    )
    check.add_argument(
        "--statistics", action="store_true", help="count the findings per code after them"
    )
    check.add_argument(
        "--output-file", type=Path, metavar="PATH", help="write the report to PATH"
    )
    check.add_argument(
        "--select", type=_code_list, help="codes or prefixes to report (overrides config)"
    )
    check.add_argument(
        "--ignore", type=_code_list, help="codes or prefixes to skip (overrides config)"
    )
    check.add_argument(
        "--jobs", "-j", type=_jobs, metavar="N", help="processes to lint with (default: all cores)"
    )
    check.add_argument(
        "--no-cache", action="store_true", help="neither read nor write .ftlint_cache/"
    )

    rule = commands.add_parser("rule", help="show the documentation of one rule")
    rule.add_argument("code", metavar="CODE")

    commands.add_parser("rules", help="list every rule")

    run = commands.add_parser(
        "run", help="run a Python script with the runtime guard installed"
    )
    run.add_argument("--mode", choices=("error", "warn"), default="error")
    run.add_argument(
        "--allow", type=_code_list, action="extend", default=[], metavar="CODES",
        help="guard codes to let pass (repeatable, or comma-separated)",
    )  # fmt: skip
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
    unreadable: list[Finding] = []

    def on_error(directory: Path, error: OSError) -> None:
        reason = error.strerror or str(error)
        message = f"could not read directory: {reason}; its files were not linted"
        unreadable.append(file_finding(str(directory), PARSE_ERROR, message))

    files = list(discover(options.paths, settings, on_error))
    if options.fix or options.diff:
        return _fix(files, settings, options, unreadable)
    findings = lint_paths(files, settings, jobs=options.jobs, use_cache=not options.no_cache)
    return _report(sorted(unreadable + findings, key=Finding.sort_key), options)


def _report(findings: list, options: argparse.Namespace) -> int:
    report = render(options.format, findings)
    if options.statistics:
        if options.format == "text":
            report += render_statistics(findings)
        else:  # keep a machine-readable report parseable
            sys.stderr.write(render_statistics(findings))
    if not _write(report, options):
        return 2
    return 1 if findings else 0


def _write(text: str, options: argparse.Namespace) -> bool:
    if options.output_file is None:
        sys.stdout.write(text)
        return True
    try:
        options.output_file.write_text(text, encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        print(f"ftlint: cannot write {options.output_file}: {reason}", file=sys.stderr)
        return False
    return True


def _plural(count: int, word: str, words: str) -> str:
    return f"{count} {word if count == 1 else words}"


def _fix(
    files: list[Path], settings: Settings, options: argparse.Namespace, problems: list[Finding]
) -> int:
    from ftlint.fixes import fix_paths  # the engine and libcst: only when fixing

    fixed, findings = fix_paths(files, settings, options.unsafe_fixes, write=not options.diff)
    for result in fixed:
        if result.error:
            print(f"ftlint: {result.path}: {result.error}", file=sys.stderr)
    changed = [result for result in fixed if result.after != result.before]
    applied = _plural(sum(result.applied for result in changed), "fix", "fixes")
    if options.diff:
        if not _write("".join(result.diff() for result in changed), options):
            return 2
        files = _plural(len(changed), "file", "files")
        print(f"ftlint: {applied} would change {files}", file=sys.stderr)
        return 1 if changed else 0
    if changed:
        files = _plural(len(changed), "file", "files")
        print(f"ftlint: {applied} applied to {files}", file=sys.stderr)
    unsafe = sum(1 for f in findings if f.fix is not None and not f.fix.safe)
    if unsafe and not options.unsafe_fixes:
        more = _plural(unsafe, "more fix", "more fixes")
        print(f"ftlint: {more} available with --unsafe-fixes", file=sys.stderr)
    return _report(sorted(problems + findings, key=Finding.sort_key), options)


FIX_SAFETY = {
    None: "none",
    "safe": "safe (applied by --fix)",
    "unsafe": "unsafe (applied by --fix --unsafe-fixes)",
    "mixed": "safe or unsafe depending on the case (see Fix safety)",
}


def _rule(options: argparse.Namespace) -> int:
    from ftlint.rules import RULES_BY_CODE

    rule = RULES_BY_CODE.get(options.code.upper())
    if rule is None:
        known = ", ".join(RULES_BY_CODE)
        print(f"ftlint: unknown rule {options.code!r}; known rules: {known}", file=sys.stderr)
        return 2
    kind = " (runtime guard only)" if rule.runtime_only else ""
    print(
        f"# {rule.code} {rule.name}{kind}\n\nMessage: {rule.message}\n"
        f"Fix: {FIX_SAFETY[rule.fix]}\n\n{rule.docs}",
        end="",
    )
    return 0


def _rules() -> int:
    from ftlint.rules import ALL_RULES

    width = max(len(rule.name) for rule in ALL_RULES)
    for rule in ALL_RULES:
        notes = ["runtime guard only"] if rule.runtime_only else []
        if rule.fix:
            notes.append(f"fix: {rule.fix}")
        print(f"{rule.code}  {rule.name:<{width}}  {', '.join(notes)}".rstrip())
    print("\n`ftlint rule CODE` explains a rule.")
    return 0


def _run(options: argparse.Namespace) -> int:
    from ftlint.guard.runner import run_script

    return run_script(options.script, options.args, options.mode, options.allow)


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
    except Exception as error:  # a user must never see a traceback
        print(f"ftlint: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    return 2
