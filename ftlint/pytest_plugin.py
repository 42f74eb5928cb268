"""pytest plugin for ftlint's runtime guard.

    pytest --ftlint-guard            # every test runs inside the guard; active bugs fail it
    pytest --ftlint-guard=warn       # findings become warnings
    pytest --ftlint-guard=strict     # latent risks fail the test too
    [pytest] ftlint_guard = warn     # the same from the ini file (the command line wins)
    [pytest] ftlint_allow = FTL111   # codes allowed for the whole suite
    @pytest.mark.ftlint_allow("FTL101")  # codes allowed for one test
    def test_x(ftlint_guard): ...    # the guard for one test, without enabling it globally

pytest imports every ``pytest11`` plugin in every run, so this module imports nothing
heavy, and torch only once the guard is enabled.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

_OPTION = "--ftlint-guard"
_MODES = ("error", "warn", "strict", "off")
_mode_key = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ftlint", "ftlint runtime guard")
    group.addoption(
        _OPTION,
        nargs="?",
        const="error",
        default=None,
        dest="ftlint_guard",
        metavar="MODE",
        help="run every test inside ftlint's runtime guard: error (default) fails the test on a "
        "bug that changes training and warns about latent risks, warn only warns, strict fails on "
        "latent risks too, off disables it",
    )
    parser.addini("ftlint_guard", "ftlint runtime guard for every test: error, warn, strict or off", default="off")
    parser.addini("ftlint_allow", "ftlint guard codes allowed in every test (e.g. FTL111)", type="args", default=[])


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    # With nargs="?", argparse would take the path after a bare --ftlint-guard as its
    # mode (pytest --ftlint-guard tests/). Spell the bare flag out before pytest's final
    # parse, and parse the early arguments again so conftest discovery sees the path.
    fixed = False
    for i, arg in enumerate(args):
        if arg == _OPTION and (i + 1 == len(args) or args[i + 1] not in _MODES):
            args[i] = f"{_OPTION}=error"
            fixed = True
    if fixed:
        parser.parse_known_args(args, namespace=early_config.known_args_namespace)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ftlint_allow(*codes): ftlint runtime guard codes (FTL101, ...) allowed in this test",
    )
    mode = config.getoption("ftlint_guard") or config.getini("ftlint_guard") or "off"
    mode = str(mode).strip().lower()
    if mode not in _MODES:
        raise pytest.UsageError(f"ftlint guard mode must be one of {', '.join(_MODES)}, not {mode!r}")
    if mode != "off":
        try:
            import torch
        except ImportError:
            from ftlint.guard._state import TORCH_MISSING  # torch-free

            raise pytest.UsageError(f"--ftlint-guard {TORCH_MISSING}") from None
    config.stash[_mode_key] = mode


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A typo in an allowed code would silently allow nothing: refuse it up front.
    from ftlint.guard._state import check_config  # torch-free

    for source, codes in [("ini ftlint_allow", config.getini("ftlint_allow"))] + [
        (f"{item.nodeid}: @pytest.mark.ftlint_allow", _allowed(item)) for item in items
    ]:
        try:
            check_config("error", codes)
        except ValueError as exc:
            raise pytest.UsageError(f"{source}: {exc}") from None


def _allowed(item: pytest.Item) -> list[str]:
    codes = [c for c in item.config.getini("ftlint_allow")]
    for marker in item.iter_markers("ftlint_allow"):
        codes.extend(marker.args)
    # Accept "FTL101,FTL201" as well as separate arguments.
    return [code for entry in codes for code in str(entry).replace(",", " ").split()]


def _hint(code: str) -> str:
    return f"to allow it, mark the test @pytest.mark.ftlint_allow('{code}') or set ini ftlint_allow = {code}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Around setup, call and teardown, so fixtures that build models and optimizers are
    # guarded too; the guard comes off after each test whatever happened.
    mode = item.config.stash.get(_mode_key, "off")
    if mode == "off":
        yield
        return
    from ftlint import guard

    with guard.guard(mode, _allowed(item), hint=_hint):
        yield


@pytest.fixture
def ftlint_guard(request: pytest.FixtureRequest) -> Iterator[object]:
    """The guard for this test (error mode, or the suite's mode when enabled); yields the
    ``ftlint.guard`` module, so a test can write ``pytest.raises(ftlint_guard.GuardError)``."""
    from ftlint import guard

    mode = request.config.stash.get(_mode_key, "off")
    with guard.guard("error" if mode == "off" else mode, _allowed(request.node), hint=_hint):
        yield guard
