"""The documentation of the codes that are about a run rather than a rule: a file that
could not be read or parsed, `noqa` directives, and a rule that failed."""

from __future__ import annotations

from ftlint.finding import INTERNAL_ERROR, PARSE_ERROR, UNKNOWN_NOQA_CODE, UNUSED_NOQA

DOCS = {
    PARSE_ERROR: """\
## What it does
Reports a file ftlint could not analyse: Python's parser rejects it (with Python's own
message and position), it is not valid UTF-8 or its declared encoding, it holds NUL
bytes, it is not a regular file (a FIFO, a device), it is larger than 2,000,000
characters, or a directory could not be read. A statement that libcst cannot parse
although Python can is left out alone, and reported here when a rule might have found
something in it.

## Why is this bad?
Nothing in that file (or statement) was checked: a green run would say nothing about it.

## What to do
Fix the syntax error Python reports, or exclude the file (`exclude` in `[tool.ftlint]`).
FTL000 is never filtered away by `--select` or `--ignore`.
""",
    UNUSED_NOQA: """\
## What it does
With `--report-unused-noqa`: an FTL code in a `# noqa: ...` comment that silences no
finding on its line (the rule is enabled and reports nothing there).

## Why is this bad?
A stale directive hides the next real finding on that line.

## Fix safety
The fix removes the unused codes (the whole comment when none is left); it is safe.
Other tools' codes (`E501`) and a bare `# noqa` are never reported.
""",
    UNKNOWN_NOQA_CODE: """\
## What it does
An FTL code in a `# noqa: ...` comment that no rule has, such as the typo `FTL1O9`; the
message names the closest known code.

## Why is this bad?
It silences nothing: the finding it was meant for is still reported, or the directive
was meant for a different line.

## Fix safety
The fix removes the unknown code; it is safe.
""",
    INTERNAL_ERROR: """\
## What it does
A rule failed on a file (a bug in ftlint), or the process linting the file died. The
other rules' findings for the file, and every other file's, are still reported.

## What to do
Report it, with the file if you can share it. FTL999 is never filtered away by
`--select` or `--ignore`.
""",
}

BY_CODE = {code: (name, docs) for (code, name), docs in DOCS.items()}
