"""`ftlint`: check files, show rule documentation, run a script under the runtime guard."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ftlint import __version__
from ftlint.check import run_check
from ftlint.config import ConfigError, check_codes
from ftlint.report import FORMATS
from ftlint.targets import LIBRARIES, Release, parse_release


def _code_list(text: str) -> tuple[str, ...]:
    """Comma-separated codes or prefixes; each must name some rule (`FTL1`, `FTL104`)."""
    codes = tuple(code.strip().upper() for code in text.split(",") if code.strip())
    try:
        check_codes(codes, "")
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix(": ")) from None
    return codes


def _guard_codes(text: str) -> tuple[str, ...]:
    return tuple(code.strip().upper() for code in text.split(",") if code.strip())


def _patterns(text: str) -> tuple[str, ...]:
    return tuple(pattern.strip() for pattern in text.split(",") if pattern.strip())


def _release(text: str) -> Release:
    release = parse_release(text)
    if release is None:
        message = f"expected a release MAJOR.MINOR such as 2.1, got {text!r}"
        raise argparse.ArgumentTypeError(message)
    return release


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
    _check_parser(commands)
    return parser


def _check_parser(commands) -> None:
    check = commands.add_parser("check", help="lint files and directories")
    option = check.add_argument
    option("paths", nargs="*", type=Path, metavar="PATH",
           help="files and directories to lint (default: .); - reads standard input")
    option("--format", choices=sorted(FORMATS), default="text", help="report format")
    option("--output-file", type=Path, metavar="PATH", help="write the report to PATH")
    option("--color", choices=("auto", "always", "never"), default="auto",
           help="colour the text report (auto: on a terminal, unless NO_COLOR is set)")
    option("--statistics", action="store_true", help="count the findings per code after them")
    option("--show-fixes", action="store_true",
           help="show each finding's fix, or with --fix each fix applied")
    option("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    fixing = check.add_argument_group("fixes")
    fixing.add_argument("--fix", action="store_true",
                        help="rewrite files with the safe fixes, report the rest")
    fixing.add_argument("--unsafe-fixes", action="store_true",
                        help="with --fix or --diff, also fixes that may change behaviour "
                        "(see each rule's Fix safety)")
    fixing.add_argument("--diff", action="store_true",
                        help="print the fixes as a unified diff, write nothing")
    fixing.add_argument("--add-noqa", action="store_true",
                        help="write `# noqa: CODE` on every line with a finding")
    selection = check.add_argument_group("selection (codes or prefixes, comma-separated)")
    selection.add_argument("--select", type=_code_list, action="extend", metavar="CODES",
                           help="codes to report, instead of the configuration's")
    selection.add_argument("--extend-select", type=_code_list, action="extend", default=[],
                           metavar="CODES", help="codes to report, besides the configuration's")
    selection.add_argument("--ignore", type=_code_list, action="extend", metavar="CODES",
                           help="codes to skip, besides the configuration's")
    selection.add_argument("--extend-ignore", type=_code_list, action="extend", default=[],
                           metavar="CODES", help="the same as --ignore")
    selection.add_argument("--report-unused-noqa", action="store_true",
                           help="report noqa codes that silence nothing (FTL001)")
    files = check.add_argument_group("files and configuration")
    files.add_argument("--config", type=Path, metavar="PATH",
                       help="use this pyproject.toml's [tool.ftlint] for every file")
    files.add_argument("--exclude", type=_patterns, action="extend", metavar="PATTERNS",
                       help="patterns to skip, instead of the configuration's")
    files.add_argument("--extend-exclude", type=_patterns, action="extend", default=[],
                       metavar="PATTERNS", help="patterns to skip, besides the configuration's")
    files.add_argument("--no-respect-gitignore", dest="respect_gitignore",
                       action="store_false", help="also lint what .gitignore excludes")
    files.add_argument("--stdin-filename", type=Path, metavar="PATH",
                       help="with -, lint standard input as if it were the file PATH")
    files.add_argument("--jobs", "-j", type=_jobs, metavar="N",
                       help="processes to lint with (default: all cores)")
    files.add_argument("--no-cache", action="store_true",
                       help="neither read nor write .ftlint_cache/")
    for library in LIBRARIES:
        files.add_argument(f"--target-{library}", type=_release, metavar="MAJOR.MINOR",
                           help=f"the {library} release the code is for, over target-{library} "
                           "(default: the installed one, else the newest)")
    check.set_defaults(run=lambda options: run_check(options))  # fmt: skip
    _other_commands(commands)


def _other_commands(commands) -> None:
    rule = commands.add_parser("rule", help="show the documentation of one rule")
    rule.add_argument("code", metavar="CODE", help="a rule's code, such as FTL101")
    rule.set_defaults(run=_rule)

    rules = commands.add_parser("rules", help="list every rule")
    rules.set_defaults(run=lambda options: _rules())

    run = commands.add_parser(
        "run", help="run a training script, module or launcher with the runtime guard installed",
        usage="ftlint run [-h] [--mode {error,warn,strict}] [--allow CODES]\n"
              "                  (SCRIPT | -m MODULE | COMMAND) [args ...]",
    )  # fmt: skip
    run.add_argument("--mode", choices=("error", "warn", "strict"), default="error",
                     help="error: a bug that changes training stops the run, a latent risk is "
                     "printed; warn: every finding is printed; strict: every finding stops it")
    run.add_argument(
        "--allow", type=_guard_codes, action="extend", default=[], metavar="CODES",
        help="guard codes to let pass (repeatable, or comma-separated)",
    )  # fmt: skip
    # As with python -m, everything after the module belongs to it.
    run.add_argument("-m", dest="module", nargs=argparse.REMAINDER, metavar="MODULE",
                     help="MODULE [args ...]: run a module as python -m does")
    run.add_argument("target", nargs="?", metavar="SCRIPT | COMMAND",
                     help="a Python script, or a command (torchrun, accelerate, python, ...) "
                     "whose Python processes are all guarded")
    run.add_argument("args", nargs=argparse.REMAINDER, help="their arguments")
    run.set_defaults(run=_run)

    server = commands.add_parser(
        "server", help="run the language server for editors (LSP over stdio; ftlint[server])"
    )
    server.add_argument("--stdio", action="store_true",
                        help="talk over standard input and output (the default and only transport)")
    server.set_defaults(run=_server)


FIX_SAFETY = {
    None: "none",
    "safe": "safe (applied by --fix)",
    "unsafe": "unsafe (applied by --fix --unsafe-fixes)",
    "mixed": "safe or unsafe depending on the case (see Fix safety)",
}


def _rule(options: argparse.Namespace) -> int:
    from ftlint.rules import RULES_BY_CODE
    from ftlint.run_codes import BY_CODE

    code = options.code.upper()
    if code in BY_CODE:
        name, docs = BY_CODE[code]
        print(f"# {code} {name} (about the run, never filtered by selection)\n\n{docs}", end="")
        return 0
    rule = RULES_BY_CODE.get(code)
    if rule is None:
        import difflib

        known = [*RULES_BY_CODE, *BY_CODE]
        close = difflib.get_close_matches(code, known, n=1, cutoff=0.7)
        hint = f"did you mean {close[0]}?" if close else f"known codes: {', '.join(known)}"
        print(f"ftlint: unknown rule {options.code!r}; {hint}", file=sys.stderr)
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


def _server(options: argparse.Namespace) -> int:
    from ftlint.server import main as serve  # pygls is imported only when serving

    return serve([])


def _run(options: argparse.Namespace) -> int:
    from ftlint.guard import runner

    if options.module is not None:
        if not options.module:
            print("ftlint: run -m needs a module name", file=sys.stderr)
            return 2
        module, *args = options.module
        return runner.run_module(module, args, options.mode, options.allow)
    if options.target is None:
        print("ftlint: run needs a script, -m MODULE or a command", file=sys.stderr)
        return 2
    # A .py file, or any file that is not a program, is a Python script run here, as
    # python would run it; anything else (torchrun, a shell script) is a command.
    target = options.target
    if target.endswith(".py") or (os.path.isfile(target) and not os.access(target, os.X_OK)):
        return runner.run_script(target, options.args, options.mode, options.allow)
    return runner.run_command(target, options.args, options.mode, options.allow)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    options = parser.parse_args(argv)
    if options.command is None:  # bare `ftlint`: what it can do, and a usage status
        parser.print_help()
        return 2
    try:
        return options.run(options)
    except ConfigError as error:
        print(f"ftlint: configuration error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("ftlint: interrupted", file=sys.stderr)
    except Exception as error:  # a user must never see a traceback
        print(f"ftlint: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    return 2
