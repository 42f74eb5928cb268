"""`ftlint server`: the language server for editors, over standard input and output.

It needs pygls (`pip install 'ftlint[server]'`); this module imports it only when the
server starts, so that the command can say so instead of failing on import. The server
itself is in ftlint/server_lsp.py.
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftlint server",
        description="Run ftlint's language server (LSP) over standard input and output.",
    )
    # LSP clients often pass --stdio; it is the only transport, so it changes nothing.
    parser.add_argument(
        "--stdio", action="store_true", help="talk over stdin and stdout (the default)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until the editor says exit (0 after a shutdown request, else 1, as LSP asks)
    or closes standard input."""
    _parser().parse_args(argv)
    try:
        from ftlint.server_lsp import create_server
    except ImportError as error:
        if error.name is None or not error.name.startswith(("pygls", "lsprotocol")):
            raise
        message = "ftlint: the language server needs pygls: pip install 'ftlint[server]'"
        print(message, file=sys.stderr)
        return 2
    server = create_server()
    protocol_out = sys.stdout.buffer
    # Anything printed by mistake would corrupt the protocol's stream: send it to stderr.
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, protocol_out)
    return 0 if server.shutdown_requested else 1


if __name__ == "__main__":
    import os

    # As in ftlint/__main__.py: `python -m` puts the working directory (the editor's
    # project) first on the import path, where its own `libcst/` would shadow the real one.
    if sys.path and not sys.flags.safe_path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    sys.exit(main())
