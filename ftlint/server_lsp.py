"""The language server itself, on pygls: what `ftlint server` runs (see ftlint/server.py).

Every lint goes through the one engine (`runner.lint_data`, with the settings of the
file's nearest pyproject.toml), in a worker thread so that the event loop keeps reading
the editor's messages: diagnostics on open and save at once, on change after a pause in
typing, and a result whose text is no longer the document's is dropped. Code actions
offer each finding's fix (safe ones first, unsafe ones marked), a `# noqa: CODE` for it,
and all the safe fixes at once; hovering a finding shows its rule's documentation.

Findings depend only on their own file and its configuration today; when a
pyproject.toml changes, or any file is saved, every open document is linted again, so
that analyses across files will have their hook.
"""

from __future__ import annotations

import asyncio
import bisect
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

from ftlint import __version__
from ftlint.config import ConfigError, load_settings, matches
from ftlint.files import relative_to_root
from ftlint.finding import RUN_PROBLEM_CODES, Finding
from ftlint.fixes import apply_fixes, fix_text, may_apply, parses
from ftlint.noqa import add_directives
from ftlint.parsing import NEWLINE, source_lines
from ftlint.rules import RULE_CODES, RULES_BY_CODE
from ftlint.run_codes import BY_CODE as RUN_CODES
from ftlint.runner import enabled_rules, lint_data
from ftlint.sarif import HOME, help_uri

# A pause in typing this long (seconds) before a changed document is linted.
DEBOUNCE_SECONDS = 0.3
# Notebooks are left out: LSP sends them as notebook documents of cells, and ftlint lints
# a notebook's cells joined as one script.
LINTED_SUFFIXES = (".py", ".pyi")
FIX_ALL_KIND = "source.fixAll.ftlint"
SOURCE = "ftlint"

_Result = TypeVar("_Result")


def lint_document(path: Path, text: str) -> list[Finding]:
    """The findings for `text` as the contents of `path`, as `ftlint check` gives them;
    none for a file its configuration excludes. Raises ConfigError."""
    settings = load_settings(path.parent)
    if settings.exclude and matches(relative_to_root(path, settings), settings.exclude):
        return []
    return lint_data(path, text, settings, enabled_rules(settings))


def fix_all_safe(path: Path, text: str) -> str:
    """`text` with every safe fix applied, as `ftlint check --fix` would leave it."""
    return fix_text(text, lambda current: lint_document(path, current), unsafe=False).text


@dataclass
class Linted:
    """A document's text as linted, and the findings for it."""

    path: Path
    text: str
    version: int | None
    findings: list[Finding]
    lines: list[str] = field(init=False)
    # Whether each fix leaves code that parses, once asked (libcst's parse is not free).
    fix_parses: dict[Finding, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lines = source_lines(self.text)


def client_position(
    lines: list[str], codec: PositionCodec, line: int, column: int
) -> types.Position:
    """A 1-based line and code-point column as the client counts them (UTF-16 units by
    default). `lines` are split as Python splits them, as LSP does; pygls's own split
    (str.splitlines) also breaks at form feeds."""
    return codec.position_to_client_units(lines, ServerTextPosition(line - 1, column - 1))


def client_range(lines: list[str], codec: PositionCodec, finding: Finding) -> types.Range:
    return types.Range(
        start=client_position(lines, codec, finding.line, finding.column),
        end=client_position(lines, codec, finding.end_line, finding.end_column),
    )


def docs_url(code: str) -> str:
    """The rule's row in the README's table; the table itself for codes without a row."""
    return help_uri(code) if code in RULE_CODES else f"{HOME}#what-it-finds"


def diagnostic(linted: Linted, codec: PositionCodec, finding: Finding) -> types.Diagnostic:
    problem = finding.code in RUN_PROBLEM_CODES
    return types.Diagnostic(
        range=client_range(linted.lines, codec, finding),
        message=f"{finding.name}: {finding.message}",
        severity=types.DiagnosticSeverity.Error if problem else types.DiagnosticSeverity.Warning,
        code=finding.code,
        code_description=types.CodeDescription(href=docs_url(finding.code)),
        source=SOURCE,
    )


def hover_text(finding: Finding) -> str:
    """Markdown: the documentation of the finding's rule, or of its code about the run
    (FTL000 for a file that could not be parsed, the noqa codes)."""
    rule = RULES_BY_CODE.get(finding.code)
    _, run_docs = RUN_CODES.get(finding.code, (None, finding.message))
    body = (rule.docs if rule is not None else run_docs).strip()
    link = f"[{finding.code} in the ftlint documentation]({docs_url(finding.code)})"
    return f"**{finding.code}** `{finding.name}`\n\n{body}\n\n{link}"


def minimal_edit(old: str, new: str) -> tuple[tuple[int, int], tuple[int, int], str]:
    """One edit turning `old` into `new`: from (line, column) to (line, column), 1-based,
    and the text to put there. It spans only what changed, so that an editor keeps the
    cursor, folds and marks outside it."""
    limit = min(len(old), len(new))
    prefix = 0
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    # Never cut a \r\n in two: a position between them is on no line.
    if 0 < prefix < len(old) and old[prefix - 1 : prefix + 1] == "\r\n":
        prefix -= 1
    if 0 < suffix < len(old) and old[-1 - suffix : len(old) - suffix + 1] == "\r\n":
        suffix -= 1
    starts = [0] + [match.end() for match in NEWLINE.finditer(old)]

    def position(offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(starts, offset) - 1
        return line + 1, offset - starts[line] + 1

    return position(prefix), position(len(old) - suffix), new[prefix : len(new) - suffix]


class FtlintServer(LanguageServer):
    def __init__(self) -> None:
        # Full text on each change: pygls applies incremental changes by str.splitlines,
        # which breaks at form feeds too, and would edit the wrong line after one.
        super().__init__(
            "ftlint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full
        )
        # One lint at a time, in order: a lint submitted later reads the configuration
        # later and finishes later, so the last result published is the newest.
        self.linter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ftlint-lint")
        self.linted: dict[str, Linted] = {}
        self.pending: dict[str, asyncio.Task] = {}
        self.shown_error: str | None = None
        self.shutdown_requested = False

    @property
    def codec(self) -> PositionCodec:
        return self.workspace.position_codec

    def document(self, uri: str) -> TextDocument | None:
        """The open document at `uri` if ftlint lints it: a .py or .pyi file on disk."""
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None or urlparse(uri).scheme != "file":
            return None
        return document if document.path.endswith(LINTED_SUFFIXES) else None

    def show_error(self, message: str) -> None:
        """Show `message` once, not again at each lint while the problem stays."""
        if message != self.shown_error:
            self.shown_error = message
            self.window_show_message(types.ShowMessageParams(types.MessageType.Error, message))

    async def in_thread(self, function: Callable[..., _Result], *args: object) -> _Result | None:
        """`function(*args)` in the lint thread; None, and the reason shown to the user,
        when the configuration is broken or ftlint fails."""
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.linter, function, *args)
        except ConfigError as error:
            self.show_error(f"ftlint: configuration error: {error}")
            return None
        except Exception as error:  # a bug in ftlint must not end the session
            self.show_error(f"ftlint: internal error: {type(error).__name__}: {error}")
            return None
        self.shown_error = None
        return result

    async def lint(self, uri: str) -> Linted | None:
        """The findings for the document's text now: the last lint's if it was of that
        text, else a new one. None when the document is not linted, its configuration is
        broken (shown to the user), or its text changed while it was being linted."""
        document = self.document(uri)
        if document is None:
            return None
        text = document.source
        known = self.linted.get(uri)
        if known is not None and known.text == text:
            known.version = document.version  # the same text again, say after an undo
            return known
        path = Path(document.path)
        findings = await self.in_thread(lint_document, path, text)
        current = self.document(uri)
        if findings is None or current is None or current.source != text:
            return None
        linted = self.linted[uri] = Linted(path, text, current.version, findings)
        return linted

    def schedule(self, uri: str, delay: float = 0.0) -> None:
        """Lint the document after `delay` seconds and publish its diagnostics, in place
        of any lint still waiting or running for it."""
        if self.document(uri) is None:
            return
        waiting = self.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        self.pending[uri] = asyncio.ensure_future(self._publish(uri, delay))

    async def _publish(self, uri: str, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            linted = await self.lint(uri)
        finally:
            if self.pending.get(uri) is asyncio.current_task():
                del self.pending[uri]
        if linted is None:
            return
        diagnostics = [diagnostic(linted, self.codec, finding) for finding in linted.findings]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=linted.version)
        )

    def refresh_all(self, first: str | None = None) -> None:
        """Lint every open document again, `first` first: what their findings depend on
        may have changed."""
        self.linted.clear()
        # The client's spelling of each URI (pygls keys its documents by the unquoted one).
        uris = [document.uri for document in self.workspace.text_documents.values()]
        for uri in sorted(uris, key=lambda uri: uri != first):
            self.schedule(uri)

    def forget(self, uri: str) -> None:
        waiting = self.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        self.linted.pop(uri, None)

    def workspace_edit(
        self, uri: str, version: int | None, old: str, new: str
    ) -> types.WorkspaceEdit:
        """The edit turning the document's `old` text into `new`, tied to its version
        when the client can check it (a stale edit is then refused, not misapplied)."""
        (line, column), (end_line, end_column), content = minimal_edit(old, new)
        lines = source_lines(old)
        edit = types.TextEdit(
            range=types.Range(
                start=client_position(lines, self.codec, line, column),
                end=client_position(lines, self.codec, end_line, end_column),
            ),
            new_text=content,
        )
        capabilities = self.client_capabilities.workspace
        edits = capabilities and capabilities.workspace_edit
        if edits and edits.document_changes:
            identifier = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
            return types.WorkspaceEdit(
                document_changes=[types.TextDocumentEdit(text_document=identifier, edits=[edit])]
            )
        return types.WorkspaceEdit(changes={uri: [edit]})

    def resolves_edits(self) -> bool:
        """Whether the client asks for a code action's edit only when it is chosen."""
        text = self.client_capabilities.text_document
        action = text and text.code_action
        support = action and action.resolve_support
        return bool(support and "edit" in support.properties)


def _overlaps(range_: types.Range, start: types.Position, end: types.Position) -> bool:
    def key(position: types.Position) -> tuple[int, int]:
        return (position.line, position.character)

    return key(range_.start) <= key(end) and key(start) <= key(range_.end)


def _wanted(kind: str, only: list[types.CodeActionKind | str] | None) -> bool:
    """Whether a client that asked for `only` these kinds wants an action of `kind`."""
    if not only:
        return True
    asked = [getattr(each, "value", each) for each in only]
    return any(kind == each or kind.startswith(f"{each}.") for each in asked)


def _fix_parses(linted: Linted, finding: Finding) -> bool:
    known = linted.fix_parses.get(finding)
    if known is None:
        known = linted.fix_parses[finding] = parses(apply_fixes(linted.text, [finding.fix]))
    return known


def quick_fixes(
    server: FtlintServer,
    uri: str,
    linted: Linted,
    range_: types.Range,
    only: list[types.CodeActionKind | str] | None,
) -> list[types.CodeAction]:
    """For each finding in `range_`: its fix (safe ones first and preferred, unsafe ones
    marked), then a `# noqa` for each code. Run in the lint thread: a fix is checked to
    parse, and placing a noqa tokenizes the file."""
    if not _wanted(types.CodeActionKind.QuickFix, only):
        return []
    here = [
        (finding, diagnostic(linted, server.codec, finding))
        for finding in linted.findings
        if _overlaps(client_range(linted.lines, server.codec, finding), range_.start, range_.end)
    ]
    fixes: list[tuple[bool, types.CodeAction]] = []
    silencers: list[types.CodeAction] = []
    silenced: set[tuple[int, str]] = set()
    for finding, shown in here:
        fix = finding.fix
        applies = fix is not None and may_apply(finding, linted.lines, unsafe=True)
        if applies and _fix_parses(linted, finding):
            marked = "" if fix.safe else " (unsafe: may change behaviour)"
            edit = server.workspace_edit(
                uri, linted.version, linted.text, apply_fixes(linted.text, [fix])
            )
            action = types.CodeAction(
                title=f"{finding.code}: {fix.description}{marked}",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[shown],
                is_preferred=fix.safe,
                edit=edit,
            )
            fixes.append((fix.safe, action))
        place = (finding.line, finding.code)
        # A noqa silences only rules' findings, not FTL000 nor those about noqa itself.
        if finding.code not in RULE_CODES or place in silenced:
            continue
        silenced.add(place)
        text, changed, _ = add_directives(linted.text, [finding])
        if changed:  # else the line cannot carry a comment (inside a string, after a \)
            silencers.append(
                types.CodeAction(
                    title=f"{finding.code}: silence on this line (# noqa: {finding.code})",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[shown],
                    edit=server.workspace_edit(uri, linted.version, linted.text, text),
                )
            )
    fixes.sort(key=lambda pair: not pair[0])  # stable: safe first, each in place order
    return [action for _, action in fixes] + silencers


def fix_all_action(server: FtlintServer, uri: str, linted: Linted) -> types.CodeAction | None:
    """'Fix all safe', when the document has a safe fix to apply. Its edit is computed
    when the client resolves the action if it can (the fixes lint the text again)."""
    if not any(may_apply(finding, linted.lines, unsafe=False) for finding in linted.findings):
        return None
    action = types.CodeAction(title="ftlint: apply all safe fixes", kind=FIX_ALL_KIND)
    if server.resolves_edits():
        action.data = {"uri": uri}
    else:
        action.edit = server.workspace_edit(
            uri, linted.version, linted.text, fix_all_safe(linted.path, linted.text)
        )
    return action


def create_server() -> FtlintServer:
    server = FtlintServer()

    @server.feature(types.INITIALIZED)
    def initialized(ls: FtlintServer, params: types.InitializedParams) -> None:
        workspace = ls.client_capabilities.workspace
        watching = workspace and workspace.did_change_watched_files
        if watching and watching.dynamic_registration:
            watchers = [types.FileSystemWatcher(glob_pattern="**/pyproject.toml")]
            registration = types.Registration(
                id="ftlint-pyproject",
                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers),
            )
            ls.client_register_capability(types.RegistrationParams(registrations=[registration]))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: FtlintServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: FtlintServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, DEBOUNCE_SECONDS)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: FtlintServer, params: types.DidSaveTextDocumentParams) -> None:
        # Also how a configuration change reaches a client that cannot watch files.
        ls.refresh_all(first=params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: FtlintServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.forget(uri)
        if uri.endswith(LINTED_SUFFIXES):
            cleared = types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            ls.text_document_publish_diagnostics(cleared)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(
        ls: FtlintServer, params: types.DidChangeWatchedFilesParams
    ) -> None:
        names = {os.path.basename(unquote(change.uri)) for change in params.changes}
        if "pyproject.toml" in names:
            ls.refresh_all()

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL_KIND], resolve_provider=True
        ),
    )
    async def code_action(
        ls: FtlintServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        uri = params.text_document.uri
        linted = await ls.lint(uri)
        if linted is None:
            return None
        only = params.context.only
        actions = await ls.in_thread(quick_fixes, ls, uri, linted, params.range, only) or []
        if _wanted(FIX_ALL_KIND, only):
            fix_all = await ls.in_thread(fix_all_action, ls, uri, linted)
            if fix_all is not None:
                actions.append(fix_all)
        return actions

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve_code_action(ls: FtlintServer, action: types.CodeAction) -> types.CodeAction:
        uri = action.data.get("uri") if isinstance(action.data, dict) else None
        linted = await ls.lint(uri) if isinstance(uri, str) else None
        if linted is not None and action.kind == FIX_ALL_KIND:
            fixed = await ls.in_thread(fix_all_safe, linted.path, linted.text)
            if fixed is not None:
                action.edit = ls.workspace_edit(uri, linted.version, linted.text, fixed)
        return action

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: FtlintServer, params: types.HoverParams) -> types.Hover | None:
        linted = await ls.lint(params.text_document.uri)
        if linted is None:
            return None
        ranges = [client_range(linted.lines, ls.codec, finding) for finding in linted.findings]
        here = [
            (finding, range_)
            for finding, range_ in zip(linted.findings, ranges)
            if _overlaps(range_, params.position, params.position)
        ]
        if not here:
            return None
        text = "\n\n---\n\n".join(hover_text(finding) for finding, _ in here)
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=here[0][1],
        )

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: FtlintServer, params: None) -> None:
        ls.shutdown_requested = True
        for uri in list(ls.pending):
            ls.forget(uri)

    return server
