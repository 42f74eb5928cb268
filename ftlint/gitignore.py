"""Which walked paths git ignores, as Ruff skips them: the `.gitignore` files of the
repository from its root down to each directory, and `.git/info/exclude`. Outside a git
repository nothing is ignored. A deeper file's patterns take precedence, and the last
matching pattern of a file decides, as in git; an ignored directory is not entered."""

from __future__ import annotations

from pathlib import Path


class GitIgnore:
    def __init__(self) -> None:
        self._specs: dict[Path, object | None] = {}  # directory -> its patterns
        self._roots: dict[Path, Path | None] = {}  # directory -> its repository's root
        self._outside: set[Path] = set()  # directories as given, in no repository

    def ignored(self, path: Path, is_dir: bool) -> bool:
        # Outside a repository nothing is ignored: known per directory as given, so that
        # no path of it needs making absolute.
        given = path.parent
        if given in self._outside:
            return False
        path = path.absolute()
        root = self._root(path.parent)
        if root is None:
            self._outside.add(given)
            return False
        directory = path.parent
        while True:
            spec = self._spec(directory, root)
            if spec is not None:
                relative = path.relative_to(directory).as_posix() + ("/" if is_dir else "")
                decided = spec.check_file(relative).include
                if decided is not None:
                    return decided
            if directory == root:
                return False
            directory = directory.parent

    def _root(self, directory: Path) -> Path | None:
        if directory not in self._roots:
            if (directory / ".git").exists():
                self._roots[directory] = directory
            elif directory.parent == directory:
                self._roots[directory] = None
            else:
                self._roots[directory] = self._root(directory.parent)
        return self._roots[directory]

    def _spec(self, directory: Path, root: Path):
        if directory not in self._specs:
            lines = _lines(directory / ".gitignore")
            if directory == root:
                lines = _lines(root / ".git" / "info" / "exclude") + lines
            self._specs[directory] = _compiled(lines) if lines else None
        return self._specs[directory]


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _compiled(lines: list[str]):
    import pathspec  # only where a .gitignore exists

    return pathspec.GitIgnoreSpec.from_lines(lines)
