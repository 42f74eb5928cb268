"""`ftlint check`: which files with which settings, then lint, fix or add noqa, report,
and the exit status (0 clean, 1 findings, 2 a usage, configuration or write error)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ftlint.config import Settings, SettingsResolver
from ftlint.files import MAX_READ_BYTES, discover, replace_file
from ftlint.finding import (
    PARSE_ERROR,
    RUN_PROBLEM_CODES,
    UNKNOWN_NOQA_CODE,
    UNUSED_NOQA,
    Finding,
    file_finding,
)
from ftlint.report import render, render_statistics
from ftlint.runner import lint_paths
from ftlint.targets import LIBRARIES

STDIN = Path("-")
# Findings --add-noqa leaves alone: about the run, or about noqa comments themselves.
_NOT_SILENCEABLE = (*RUN_PROBLEM_CODES, UNUSED_NOQA[0], UNKNOWN_NOQA_CODE[0])


def run_check(options: argparse.Namespace) -> int:
    resolver = SettingsResolver(options.config, lambda settings: _adjust(settings, options))
    paths = options.paths or [Path(".")]
    if STDIN in paths:
        if len(paths) > 1:
            return _usage("'-' (standard input) cannot be combined with other paths")
        return _check_stdin(resolver, options)
    if options.stdin_filename is not None:
        return _usage("--stdin-filename needs '-' as the path")
    missing = [path for path in paths if not os.path.lexists(path)]
    for path in missing:
        print(f"ftlint: {path}: no such file or directory", file=sys.stderr)
    problems: list[Finding] = []

    def on_error(directory: Path, error: OSError) -> None:
        reason = error.strerror or str(error)
        message = f"could not read directory: {reason}; its files were not linted"
        problems.append(file_finding(str(directory), PARSE_ERROR, message))

    existing = [path for path in paths if path not in missing]
    if not existing:
        return 2
    files = list(discover(existing, resolver.for_path, on_error, options.respect_gitignore))
    if options.add_noqa:
        status = _add_noqa(files, resolver, options)
    elif options.fix or options.diff:
        status = _fix(files, resolver, options, problems)
    else:
        findings = lint_paths(files, resolver.for_path, options.jobs, not options.no_cache)
        status = _report(problems + findings, options)
    return 2 if missing else status


def _usage(message: str) -> int:
    print(f"ftlint: {message}", file=sys.stderr)
    return 2


def _adjust(settings: Settings, options: argparse.Namespace) -> None:
    """The command line over the configuration, as Ruff layers them: `--select` replaces
    the selection (and the configuration's ignores with it), `--ignore` and the
    `--extend-*` options add."""
    if options.select is not None:
        settings.select, settings.ignore = tuple(options.select), ()
    settings.select += tuple(options.extend_select)
    settings.ignore += tuple(options.ignore or ()) + tuple(options.extend_ignore)
    if options.exclude is not None:
        settings.exclude = tuple(options.exclude)
    settings.exclude += tuple(options.extend_exclude)
    settings.report_unused_noqa = options.report_unused_noqa
    for library in LIBRARIES:  # `--target-torch 2.1` over `target-torch = "2.4"`
        release = getattr(options, f"target_{library}")
        if release is not None:
            setattr(settings, f"target_{library}", release)


def _report(findings: list[Finding], options: argparse.Namespace, stream=None) -> int:
    """Write the report (to `stream`, standard output by default, or --output-file) and
    the summary; the exit status the findings give."""
    findings = sorted(findings, key=Finding.sort_key)
    stream = stream or sys.stdout
    color = _use_color(options, stream) and options.output_file is None
    report = render(options.format, findings, color=color)
    if options.format == "text" and options.show_fixes:
        report = _with_fixes(findings, report)
    if options.statistics:
        if options.format == "text":
            report += render_statistics(findings)
        else:  # keep a machine-readable report parseable
            sys.stderr.write(render_statistics(findings))
    if not _write(report, options, stream):
        return 2
    if options.format == "text":
        print(_summary(findings), file=sys.stderr)
    return 0 if options.exit_zero or not findings else 1


def _with_fixes(findings: list[Finding], report: str) -> str:
    """Each report line followed by the fix its finding offers, when it has one."""
    lines = report.splitlines(keepends=True)
    if len(lines) != len(findings):
        return report
    shown = []
    for line, finding in zip(lines, findings):
        shown.append(line)
        if finding.fix is not None:
            safety = "safe" if finding.fix.safe else "unsafe, with --unsafe-fixes"
            shown.append(f"    fix ({safety}): {finding.fix.description}\n")
    return "".join(shown)


def _summary(findings: list[Finding]) -> str:
    if not findings:
        return "All checks passed."
    safe = sum(1 for f in findings if f.fix is not None and f.fix.safe)
    unsafe = sum(1 for f in findings if f.fix is not None and not f.fix.safe)
    notes = []
    if safe:
        notes.append(f"{safe} fixable with --fix")
    if unsafe:
        notes.append(f"{unsafe} fixable with --fix --unsafe-fixes")
    note = f" ({', '.join(notes)})" if notes else ""
    return f"Found {_plural(len(findings), 'finding', 'findings')}{note}."


def _use_color(options: argparse.Namespace, stream) -> bool:
    if options.format != "text" or options.color == "never":
        return False
    if options.color == "always":
        return True
    # https://no-color.org: any non-empty NO_COLOR turns colour off.
    return not os.environ.get("NO_COLOR") and stream.isatty()


def _write(text: str, options: argparse.Namespace, stream=None) -> bool:
    if options.output_file is None:
        (stream or sys.stdout).write(text)
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
    files: list[Path], resolver: SettingsResolver, options: argparse.Namespace, problems: list
) -> int:
    from ftlint.fixes import fix_paths  # the engine and libcst: only when fixing

    fixed, findings = fix_paths(
        files, resolver.for_path, options.unsafe_fixes, write=not options.diff
    )
    failed = False
    for result in fixed:
        if result.error:
            failed = True
            print(f"ftlint: {result.path}: {result.error}", file=sys.stderr)
    changed = [result for result in fixed if result.after != result.before]
    applied = _plural(sum(result.applied for result in changed), "fix", "fixes")
    if options.diff:
        if not _write("".join(result.diff() for result in changed), options):
            return 2
        count = _plural(len(changed), "file", "files")
        print(f"ftlint: {applied} would change {count}", file=sys.stderr)
        return 1 if changed and not options.exit_zero else 0
    if changed:
        count = _plural(len(changed), "file", "files")
        print(f"ftlint: {applied} applied to {count}", file=sys.stderr)
        if options.show_fixes:
            for result in changed:
                for description in result.descriptions:
                    print(f"  {result.path}: {description}", file=sys.stderr)
    status = _report(problems + findings, options)
    return 2 if failed else status


def _check_stdin(resolver: SettingsResolver, options: argparse.Namespace) -> int:
    """Standard input, linted as if it were the file `--stdin-filename` names (its
    settings, per-file ignores, and notebook or not by its suffix). With --fix, the
    fixed text goes to standard output and the findings left to standard error."""
    from ftlint.fixes import fix_contents
    from ftlint.runner import enabled_rules, lint_data

    shown = options.stdin_filename or STDIN
    data = sys.stdin.buffer.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:
        return _usage(f"standard input is larger than {MAX_READ_BYTES // 1024 // 1024} MiB")
    settings = resolver.for_path(shown if options.stdin_filename else Path("stdin.py"))
    rules = enabled_rules(settings)
    if not (options.fix or options.diff):
        return _report(lint_data(shown, data, settings, rules), options)
    from ftlint.parsing import SourceError, decode_source

    try:
        before = decode_source(data)
    except SourceError:
        return _report(lint_data(shown, data, settings, rules), options)
    result = fix_contents(
        str(shown),
        before,
        lambda text: lint_data(shown, text, settings, rules),
        options.unsafe_fixes,
    )
    if options.diff:
        from ftlint.fixes import FixedFile

        diff = FixedFile(shown, before, result.text, result.applied, result.findings).diff()
        sys.stdout.write(diff)
        return 1 if diff and not options.exit_zero else 0
    sys.stdout.write(result.text)
    return _report(result.findings, options, sys.stderr)  # beside the fixed text


def _add_noqa(files: list[Path], resolver: SettingsResolver, options: argparse.Namespace) -> int:
    """Write `# noqa: CODE` on every line with a finding; a second run changes nothing."""
    from ftlint.files import NOTEBOOK_SUFFIX, read_file
    from ftlint.noqa import add_directives
    from ftlint.parsing import SourceError, decode_source

    findings = lint_paths(files, resolver.for_path, options.jobs, not options.no_cache)
    by_path: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.code not in _NOT_SILENCEABLE:
            by_path.setdefault(finding.path, []).append(finding)
    added = files_changed = 0
    failed = False
    for name, found in sorted(by_path.items()):
        path = Path(name)
        if name.endswith(NOTEBOOK_SUFFIX):
            print(f"ftlint: {name}: notebooks get no noqa comments (not written)", file=sys.stderr)
            continue
        try:
            data = read_file(path)
            text = decode_source(data)
            encoding = _encoding(data)
            new, changed, refused = add_directives(text, found)
            for line in refused:
                print(f"ftlint: {name}:{line}: cannot take a comment (inside a string or "
                      "continued with a backslash); no noqa added", file=sys.stderr)  # fmt: skip
            if changed:
                replace_file(path, new.encode(encoding))
                added, files_changed = added + changed, files_changed + 1
        except (OSError, SourceError, UnicodeEncodeError) as error:
            failed = True
            reason = getattr(error, "strerror", None) or str(error)
            print(f"ftlint: {name}: cannot add noqa: {reason}", file=sys.stderr)
    directives = _plural(added, "noqa directive", "noqa directives")
    print(
        f"ftlint: added {directives} to {_plural(files_changed, 'file', 'files')}", file=sys.stderr
    )
    return 2 if failed else 0


def _encoding(data: bytes) -> str:
    import io
    import tokenize

    return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
