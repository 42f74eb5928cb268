import os
import sys

# `python -m ftlint` puts the working directory first on the import path, ahead of the
# installed packages: a linted project's own top-level `libcst/` would be imported in
# place of the real one. ftlint itself is already imported by now, and nothing it imports
# should come from the project being linted (as `python -P` would ensure).
if sys.path and not sys.flags.safe_path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from ftlint.cli import main  # noqa: E402 - after the path is fixed

sys.exit(main())
