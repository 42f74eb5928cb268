"""`ftlint server` driven as an editor drives it: a subprocess, JSON-RPC framed with
Content-Length headers over its stdin and stdout, every wait bounded."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ftlint.finding import Finding
from ftlint.parsing import NEWLINE
from ftlint.rules import RULES_BY_CODE
from ftlint.server_lsp import (
    DEBOUNCE_SECONDS,
    FIX_ALL_KIND,
    Linted,
    diagnostic,
    hover_text,
    lint_document,
    minimal_edit,
)
from tests.conftest import BUGGY, CLEAN

# A cold start imports libcst and every rule: generous, for a loaded machine.
TIMEOUT = 60

CAPABILITIES = {  # what VS Code's client says of itself, as far as the server asks
    "textDocument": {
        "synchronization": {"didSave": True},
        "publishDiagnostics": {"versionSupport": True},
        "codeAction": {
            "codeActionLiteralSupport": {
                "codeActionKind": {"valueSet": ["quickfix", "source.fixAll"]}
            },
            "resolveSupport": {"properties": ["edit"]},
        },
        "hover": {"contentFormat": ["markdown", "plaintext"]},
    },
    "workspace": {
        "workspaceEdit": {"documentChanges": True},
        "didChangeWatchedFiles": {"dynamicRegistration": True},
    },
}


class Editor:
    """The client side of a session with `python -m ftlint.server`."""

    def __init__(self, cwd: Path, capabilities: dict = CAPABILITIES) -> None:
        self.stderr = (cwd / "server-stderr.log").open("w+b")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ftlint.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            cwd=cwd,
        )
        self.capabilities = capabilities
        self.initialized: dict | None = None  # the server's answer to initialize
        self.received: list[dict] = []  # every message from the server, in order
        self._incoming: queue.Queue[dict | None] = queue.Queue()
        self._write_lock = threading.Lock()
        self._ids = iter(range(1, 1_000_000))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                header = stream.readline()
                if not header:
                    self._incoming.put(None)
                    return
                if header == b"\r\n":
                    break
                name, _, value = header.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(stream.read(length))
            if "method" in message and "id" in message:  # the server asks: say yes
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            self._incoming.put(message)

    def _send(self, message: dict) -> None:
        body = json.dumps(message).encode("utf-8")
        with self._write_lock:
            self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.process.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: dict | None) -> object:
        number = next(self._ids)
        self._send({"jsonrpc": "2.0", "id": number, "method": method, "params": params})
        response = self.wait_for(lambda m: m.get("id") == number and "method" not in m)
        assert "error" not in response, response
        return response["result"]

    def wait_for(self, wanted, after: int = 0) -> dict:
        """The first message from the `after`-th on for which `wanted` holds."""
        for message in self.received[after:]:
            if wanted(message):
                return message
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                message = self._incoming.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such message in {TIMEOUT} s; {self.log()}") from None
            if message is None:
                raise AssertionError(f"the server closed its output; {self.log()}")
            self.received.append(message)
            if wanted(message):
                return message

    def diagnostics(self, uri: str, after: int = 0, version: int | None = None) -> list[dict]:
        message = self.wait_for(
            lambda m: m.get("method") == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == uri
            and (version is None or m["params"].get("version") == version),
            after,
        )
        return message["params"]["diagnostics"]

    def published(self, uri: str) -> list[dict]:
        """The diagnostics notifications for `uri` received so far."""
        return [
            m["params"]
            for m in self.received
            if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
        ]

    def start(self, root: Path) -> dict:
        result = self.request(
            "initialize",
            {"processId": None, "rootUri": root.as_uri(), "capabilities": self.capabilities},
        )
        self.notify("initialized", {})
        return result

    def open(self, path: Path, text: str, version: int = 1, language: str = "python") -> str:
        uri = path.as_uri()
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri, "languageId": language, "version": version, "text": text
                }
            },
        )  # fmt: skip
        return uri

    def change(self, uri: str, version: int, text: str) -> None:
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )

    def stop(self) -> int:
        """Shut down and exit as an editor does; the server's exit code."""
        assert self.request("shutdown", None) is None
        self.notify("exit", None)
        return self.exit_code()

    def exit_code(self) -> int:
        try:
            return self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server did not exit; {self.log()}") from None

    def log(self) -> str:
        self.stderr.seek(0)
        return "its stderr: " + self.stderr.read().decode("utf-8", "replace")[-3000:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()
        self.stderr.close()


@pytest.fixture
def editor(tmp_path):
    editors: list[Editor] = []

    def start(capabilities: dict = CAPABILITIES) -> Editor:
        started = Editor(tmp_path, capabilities)
        editors.append(started)
        started.initialized = started.start(tmp_path)
        return started

    yield start
    for started in editors:
        started.close()


def apply_edit(text: str, edit: dict, uri: str) -> str:
    """`text` with a WorkspaceEdit's edits of `uri` made, positions in UTF-16 units."""
    if "documentChanges" in edit:
        edits = [e for change in edit["documentChanges"] if change["textDocument"]["uri"] == uri
                 for e in change["edits"]]  # fmt: skip
    else:
        edits = edit["changes"][uri]
    starts = [0] + [match.end() for match in NEWLINE.finditer(text)]

    def offset(position: dict) -> int:
        start = starts[position["line"]]
        line = text[start:]
        units = 0
        for index, char in enumerate(line):
            if units >= position["character"]:
                return start + index
            units += len(char.encode("utf-16-le")) // 2
        return len(text)

    for change in sorted(edits, key=lambda e: offset(e["range"]["start"]), reverse=True):
        begin, end = offset(change["range"]["start"]), offset(change["range"]["end"])
        text = text[:begin] + change["newText"] + text[end:]
    return text


def codes(findings: list[Finding]) -> list[str]:
    return [finding.code for finding in findings]


def test_an_editor_session(tmp_path, editor):
    """initialize, didOpen, codeAction, hover, didChange, shutdown, exit."""
    client = editor()
    capabilities = client.initialized["capabilities"]
    assert capabilities["textDocumentSync"]["change"] == types.TextDocumentSyncKind.Full
    assert capabilities["codeActionProvider"]["resolveProvider"] is True
    assert capabilities["hoverProvider"]

    path = tmp_path / "train.py"
    uri = client.open(path, BUGGY)
    [found] = client.diagnostics(uri)
    assert found["code"] == "FTL101"
    assert found["source"] == "ftlint"
    assert found["severity"] == types.DiagnosticSeverity.Warning
    assert found["codeDescription"]["href"] == "https://github.com/ftlint/ftlint#ftl101"
    assert found["message"].startswith("frozen-params-in-optimizer: optimizer is given")
    assert found["range"] == {
        "start": {"line": 2, "character": 6},
        "end": {"line": 2, "character": 42},
    }
    assert client.published(uri)[0]["version"] == 1

    actions = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": found["range"],
            "context": {"diagnostics": [found]},
        },
    )
    fix, noqa = actions  # FTL101's only fix is unsafe: nothing for "fix all safe"
    assert fix["kind"] == noqa["kind"] == "quickfix"
    assert fix["title"] == (
        "FTL101: keep only the parameters that require grad (unsafe: may change behaviour)"
    )
    assert fix["isPreferred"] is False
    assert fix["diagnostics"] == [found]
    fixed = apply_edit(BUGGY, fix["edit"], uri)
    assert "torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()))" in fixed
    assert codes(lint_document(path, fixed)) == []
    assert fix["edit"]["documentChanges"][0]["textDocument"] == {"uri": uri, "version": 1}

    assert noqa["title"] == "FTL101: silence on this line (# noqa: FTL101)"
    silenced = apply_edit(BUGGY, noqa["edit"], uri)
    assert silenced.splitlines()[2].endswith(")  # noqa: FTL101")
    assert codes(lint_document(path, silenced)) == []

    on_it = {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 20}}
    hover = client.request("textDocument/hover", on_it)
    assert hover["contents"]["kind"] == "markdown"
    text = hover["contents"]["value"]
    assert text.startswith("**FTL101** `frozen-params-in-optimizer`")
    assert RULES_BY_CODE["FTL101"].docs.strip() in text
    assert "(https://github.com/ftlint/ftlint#ftl101)" in text
    assert hover["range"] == found["range"]
    nowhere = {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}
    assert client.request("textDocument/hover", nowhere) is None

    client.change(uri, 2, CLEAN)
    assert client.diagnostics(uri, version=2) == []
    assert client.stop() == 0


@pytest.mark.parametrize("resolves", [True, False], ids=["resolved", "eager"])
def test_fix_all_safe(tmp_path, editor, resolves):
    """A source.fixAll action applies the safe fix (FTL104's) and leaves the unsafe one
    (FTL101's) to the user."""
    capabilities = json.loads(json.dumps(CAPABILITIES))
    if not resolves:
        del capabilities["textDocument"]["codeAction"]["resolveSupport"]
        del capabilities["workspace"]["workspaceEdit"]
    client = editor(capabilities)
    text = (
        "import torch\n"
        "for p in model.parameters():\n"
        "    p.require_grad = False\n"
        "model.requires_grad_(False)\n"
        "opt = torch.optim.Adam(model.parameters())\n"
    )
    path = tmp_path / "train.py"
    uri = client.open(path, text)
    found = client.diagnostics(uri)
    assert [d["code"] for d in found] == ["FTL104", "FTL101"]
    everywhere = {"start": {"line": 0, "character": 0}, "end": {"line": 5, "character": 0}}
    params = {"textDocument": {"uri": uri}, "range": everywhere, "context": {"diagnostics": []}}

    quick = client.request("textDocument/codeAction", params)
    assert [(a["kind"], a.get("isPreferred")) for a in quick] == [
        ("quickfix", True),  # FTL104's safe fix, first
        ("quickfix", False),  # FTL101's unsafe fix
        ("quickfix", None),  # noqa: FTL104
        ("quickfix", None),  # noqa: FTL101
        ("source.fixAll.ftlint", None),
    ]

    fix_all = params | {"context": {"diagnostics": [], "only": ["source.fixAll"]}}
    [action] = client.request("textDocument/codeAction", fix_all)
    assert action["title"] == "ftlint: apply all safe fixes"
    if resolves:
        assert "edit" not in action
        action = client.request("codeAction/resolve", action)
    else:
        assert "changes" in action["edit"]
    fixed = apply_edit(text, action["edit"], uri)
    assert fixed == text.replace("require_grad", "requires_grad")
    assert codes(lint_document(path, fixed)) == ["FTL101"]
    assert client.stop() == 0


def test_a_finding_about_noqa_gets_its_fix_and_no_noqa_of_its_own(tmp_path, editor):
    client = editor()
    text = "x = 1  # noqa: FTL1O9\n"
    uri = client.open(tmp_path / "train.py", text)
    [found] = client.diagnostics(uri)
    assert found["code"] == "FTL002"
    params = {"textDocument": {"uri": uri}, "range": found["range"], "context": {"diagnostics": []}}
    fix, fix_all = client.request("textDocument/codeAction", params)
    assert (fix["title"], fix["isPreferred"]) == ("FTL002: remove FTL1O9 from the noqa", True)
    assert apply_edit(text, fix["edit"], uri) == "x = 1\n"
    assert fix_all["kind"] == FIX_ALL_KIND
    assert client.stop() == 0


def test_typing_is_linted_after_a_pause_and_stale_results_are_dropped(tmp_path, editor):
    client = editor()
    uri = client.open(tmp_path / "train.py", CLEAN)
    assert client.diagnostics(uri, version=1) == []

    # A burst of keystrokes, in one write: only the text after the last is linted.
    for version in range(2, 8):
        client.change(uri, version, BUGGY if version % 2 else CLEAN)
    [found] = client.diagnostics(uri, version=7)
    assert found["code"] == "FTL101"
    assert [p.get("version") for p in client.published(uri)] == [1, 7]

    # A change while a long lint runs: its result, now stale, is never published.
    slow = "".join(
        f"def f{i}(model):\n    model.requires_grad_(False)\n"
        f"    return torch.optim.Adam(model.parameters())\n"
        for i in range(2000)
    )
    client.change(uri, 8, slow + BUGGY)  # about 2.5 s to lint here, and 0.3 s of pause
    time.sleep(0.6)
    client.change(uri, 9, CLEAN)
    assert client.diagnostics(uri, version=9) == []
    assert [p.get("version") for p in client.published(uri)] == [1, 7, 9]
    assert client.stop() == 0


def test_configuration_errors_are_shown_and_changes_to_it_relint(tmp_path, editor):
    client = editor()
    registration = client.wait_for(lambda m: m.get("method") == "client/registerCapability")
    [watch] = registration["params"]["registrations"]
    assert watch["method"] == "workspace/didChangeWatchedFiles"
    assert watch["registerOptions"]["watchers"] == [{"globPattern": "**/pyproject.toml"}]

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.ftlint]\nselect = 3\n")
    uri = client.open(tmp_path / "train.py", BUGGY)
    shown = client.wait_for(lambda m: m.get("method") == "window/showMessage")["params"]
    assert shown["type"] == types.MessageType.Error
    assert shown["message"] == (
        f"ftlint: configuration error: {pyproject}: [tool.ftlint] select: "
        "expected a list of strings, got an integer (3)"
    )
    # Each lint meets the error again, but it is shown once; the server carries on.
    position = {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 20}}
    assert client.request("textDocument/hover", position) is None
    assert client.request("textDocument/hover", position) is None
    assert len([m for m in client.received if m.get("method") == "window/showMessage"]) == 1
    assert client.published(uri) == []

    def pyproject_changed(text: str) -> None:
        pyproject.write_text(text)
        change = {"uri": pyproject.as_uri(), "type": types.FileChangeType.Changed}
        client.notify("workspace/didChangeWatchedFiles", {"changes": [change]})

    seen = len(client.received)
    pyproject_changed('[tool.ftlint]\nignore = ["FTL2"]\n')
    assert [d["code"] for d in client.diagnostics(uri, after=seen)] == ["FTL101"]
    seen = len(client.received)
    pyproject_changed('[tool.ftlint]\nignore = ["FTL101"]\n')
    assert client.diagnostics(uri, after=seen) == []

    # Saving any file lints every open one again, with the configuration as it is now.
    pyproject.write_text("[tool.ftlint]\n")
    other = client.open(tmp_path / "data.py", CLEAN)
    assert client.diagnostics(other) == []
    seen = len(client.received)
    client.notify("textDocument/didSave", {"textDocument": {"uri": other}})
    assert [d["code"] for d in client.diagnostics(uri, after=seen)] == ["FTL101"]
    assert client.diagnostics(other, after=seen) == []
    assert client.stop() == 0


def test_only_python_files_are_linted(tmp_path, editor):
    """A notebook opened as text, another language and a buffer never saved get no
    diagnostics nor actions; a file the configuration excludes gets none to show."""
    client = editor()
    (tmp_path / "pyproject.toml").write_text('[tool.ftlint]\nexclude = ["generated"]\n')
    notebook = {"cells": [{"cell_type": "code", "source": BUGGY}], "nbformat": 4}
    skipped = [
        client.open(tmp_path / "explore.ipynb", json.dumps(notebook), language="json"),
        client.open(tmp_path / "README.md", BUGGY, language="markdown"),
    ]
    untitled = "untitled:Untitled-1"
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": untitled, "languageId": "python", "version": 1, "text": BUGGY}},
    )
    skipped.append(untitled)
    excluded = client.open(tmp_path / "generated" / "model.py", BUGGY)
    assert client.diagnostics(excluded) == []
    # Lints run one at a time, in order: once this one is published, the others were
    # published before it if at all.
    linted = client.open(tmp_path / "train.py", BUGGY)
    assert [d["code"] for d in client.diagnostics(linted)] == ["FTL101"]
    for uri in skipped:
        position = {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 20}}
        assert client.request("textDocument/hover", position) is None
        everything = {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}}
        params = {"textDocument": {"uri": uri}, "range": everything, "context": {"diagnostics": []}}
        assert client.request("textDocument/codeAction", params) is None
        assert client.published(uri) == []
    assert client.stop() == 0


def test_exit_without_shutdown_is_an_error(tmp_path, editor):
    client = editor()
    client.notify("exit", None)
    assert client.exit_code() == 1


def test_the_editor_going_away_ends_the_server(tmp_path, editor):
    client = editor()
    # Answered by the reader thread, which must not write after stdin is closed.
    client.wait_for(lambda m: m.get("method") == "client/registerCapability")
    uri = client.open(tmp_path / "train.py", BUGGY)
    client.diagnostics(uri)
    client.process.stdin.close()
    assert client.exit_code() == 1


def test_without_pygls_the_command_says_what_to_install(tmp_path):
    hide_pygls = (
        "import sys; sys.modules['pygls'] = None; "
        "from ftlint.server import main; sys.exit(main([]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_pygls],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "ftlint: the language server needs pygls: pip install 'ftlint[server]'\n"
    )


def test_positions_count_what_the_client_counts(tmp_path):
    """ftlint counts code points, LSP UTF-16 units unless the client asks otherwise; and
    lines are Python's, so a form feed ends none."""
    text = (
        "import torch\x0c\n"
        "model.requires_grad_(False)\n"
        "x = '😋'; opt = torch.optim.Adam(model.parameters())\n"
    )
    [finding] = lint_document(tmp_path / "train.py", text)
    assert (finding.line, finding.column, finding.end_column) == (3, 16, 52)
    linted = Linted(tmp_path / "train.py", text, 1, [finding])
    for encoding, start, end in (("utf-16", 16, 52), ("utf-32", 15, 51), ("utf-8", 18, 54)):
        shown = diagnostic(linted, PositionCodec(encoding=encoding), finding)
        assert shown.range == types.Range(types.Position(2, start), types.Position(2, end))


def test_hover_documents_the_codes_about_the_run(tmp_path):
    [finding] = lint_document(tmp_path / "train.py", "x = (\n")
    assert finding.code == "FTL000"
    text = hover_text(finding)
    assert text.startswith("**FTL000** `parse-error`\n\n## What it does\nReports a file")
    link = "https://github.com/ftlint/ftlint#what-it-finds"
    assert text.endswith(f"[FTL000 in the ftlint documentation]({link})")


@pytest.mark.parametrize(
    ("old", "new", "edit"),
    [
        ("a\nb\nc\n", "a\nB\nc\n", ((2, 1), (2, 2), "B")),
        ("x = 1\n", "x = 1  # noqa: FTL101\n", ((1, 6), (1, 6), "  # noqa: FTL101")),
        ("same\n", "same\n", ((2, 1), (2, 1), "")),
        # The changed span never starts or ends between the \r and \n of a line break.
        ("a\r\nb", "a\nb", ((1, 2), (2, 1), "\n")),
        ("a\r\n", "a\r\r\n", ((1, 2), (2, 1), "\r\r\n")),
    ],
)
def test_an_edit_spans_only_what_changed(old, new, edit):
    assert minimal_edit(old, new) == edit


def test_the_readme_settings_fit_the_server():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("\n## Editors\n", 1)[1].split("\n## ", 1)[0]
    [vscode] = re.findall(r"```json\n(.*?)```", section, re.S)
    settings = json.loads(vscode)
    assert [settings["glspc.server.command"], *settings["glspc.server.commandArguments"]] == [
        "ftlint",
        "server",
    ]
    assert list(settings["[python]"]["editor.codeActionsOnSave"]) == [FIX_ALL_KIND]
    assert 'cmd = { "ftlint", "server" }' in section
    assert f"{DEBOUNCE_SECONDS} s after you" in section
