"""The pytest plugin, run through pytest's own pytester."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.optim import Optimizer  # noqa: E402

import ftlint.guard as guard_api  # noqa: E402
from tests.guard.models import mlp, train_step  # noqa: E402


def _warm_up_torch() -> None:
    """The first optimizer step imports some 800 modules lazily. pytester forgets the
    modules an in-process run imported, and torch cannot import those twice: import them
    now, before any pytester snapshot."""
    model = mlp()
    train_step(model, torch.optim.SGD(model.parameters(), lr=0.1))


_warm_up_torch()

TESTS = """
import pytest
import torch
from torch import nn


def frozen_model(trained=False):
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    if trained:
        model(torch.randn(2, 4)).sum().backward()
    for p in model[0].parameters():
        p.requires_grad = False  # after training, their .grad is still there
    return model


def test_buggy():
    model = frozen_model(trained=True)
    torch.optim.SGD(model.parameters(), lr=0.1)


def test_latent():
    model = frozen_model()
    torch.optim.SGD(model.parameters(), lr=0.1)


def test_clean():
    model = frozen_model()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()


@pytest.mark.ftlint_allow("FTL101")
def test_allowed():
    torch.optim.SGD(frozen_model(trained=True).parameters(), lr=0.1)


@pytest.mark.ftlint_allow("FTL111")
def test_other_code_allowed():
    torch.optim.SGD(frozen_model(trained=True).parameters(), lr=0.1)
"""


# Plugins this machine happens to have that each in-process run would re-import.
_QUIET = ("-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:cacheprovider")


def _run(pytester, *args):
    return pytester.runpytest_inprocess(*_QUIET, *args)


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_suite=TESTS)
    return pytester


_TRUE_ADD_PARAM_GROUP = Optimizer.__dict__["add_param_group"]  # imported before any guard


def _assert_guard_is_off():
    assert not guard_api.installed()
    assert Optimizer.__dict__["add_param_group"] is _TRUE_ADD_PARAM_GROUP


def test_off_by_default(suite):
    _run(suite).assert_outcomes(passed=5)
    _assert_guard_is_off()


def test_off_by_default_imports_no_torch(pytester):
    pytester.makepyfile("import sys\n\ndef test_nothing_heavy():\n    assert 'torch' not in sys.modules\n")
    pytester.runpytest_subprocess(*_QUIET).assert_outcomes(passed=1)


def test_error_mode_fails_only_the_buggy_tests_with_code_and_hint(suite):
    result = _run(suite, "--ftlint-guard")
    result.assert_outcomes(**OUTCOMES["error"])  # the latent one only warns
    result.stdout.fnmatch_lines(
        [
            "*torch.optim.SGD(model.parameters(), lr=0.1)",  # the test's line is shown
            "E *ftlint.guard.GuardError: FTL101 SGD was given 2 parameters (20 values) with "
            "requires_grad=False, and 2 parameters (20 values) of them already hold a .grad: "
            "0.weight, 0.bias; *; to allow it, mark the test "
            "@pytest.mark.ftlint_allow('FTL101') or set ini ftlint_allow = FTL101",
            "FAILED test_suite.py::test_buggy - ftlint.guard.GuardError: FTL1*",
            "FAILED test_suite.py::test_other_code_allowed - ftlint.guard.GuardError: FTL1*",
        ]
    )
    assert "_optimizers.py" not in result.stdout.str()  # the guard's own frames are hidden
    _assert_guard_is_off()


def test_warn_mode_passes_with_a_warning(suite):
    result = _run(suite, "--ftlint-guard=warn")
    result.assert_outcomes(**OUTCOMES["warn"])
    result.stdout.fnmatch_lines(["*GuardWarning: FTL101 SGD was given 2 parameters*"])


def test_strict_mode_fails_the_latent_risk_too(suite):
    result = _run(suite, "--ftlint-guard=strict")
    result.assert_outcomes(**OUTCOMES["strict"])
    result.stdout.fnmatch_lines(
        [
            "*_ test_latent _*",
            "E *GuardError: FTL101 SGD was given 2 parameters (20 values) with "
            "requires_grad=False: 0.weight, 0.bias; latent for now: *",
            "FAILED test_suite.py::test_latent *",
        ]
    )


# The suite's outcomes in each mode: the active bugs (test_buggy, test_other_code_allowed)
# fail in error and strict mode, the latent one (test_latent) only in strict mode.
OUTCOMES = {
    "error": {"failed": 2, "passed": 3, "warnings": 1},
    "strict": {"failed": 3, "passed": 2},
    "warn": {"passed": 5, "warnings": 3},
}


@pytest.mark.parametrize("mode", sorted(OUTCOMES))
def test_ini_file_turns_it_on_in_each_mode(suite, mode):
    suite.makeini(f"[pytest]\nftlint_guard = {mode}\n")
    _run(suite).assert_outcomes(**OUTCOMES[mode])


def test_ini_file_allows_codes(suite):
    suite.makeini("[pytest]\nftlint_guard = strict\nftlint_allow = FTL101\n")
    _run(suite).assert_outcomes(passed=5)


@pytest.mark.parametrize("listed", ["FTL101, FTL201", "FTL101,FTL201", "FTL101 FTL201"])
def test_ini_codes_may_be_separated_by_commas_or_spaces(suite, listed):
    suite.makeini(f"[pytest]\nftlint_guard = strict\nftlint_allow = {listed}\n")
    _run(suite).assert_outcomes(passed=5)


def test_command_line_wins_over_the_ini_file(suite):
    suite.makeini("[pytest]\nftlint_guard = warn\n")
    _run(suite, "--ftlint-guard=strict").assert_outcomes(**OUTCOMES["strict"])
    suite.makeini("[pytest]\nftlint_guard = strict\n")
    _run(suite, "--ftlint-guard=off").assert_outcomes(passed=5)


@pytest.mark.parametrize("mode", sorted(OUTCOMES))
def test_a_bare_flag_does_not_swallow_the_path_after_it(suite, mode):
    suite.makepyfile(test_other="def test_fine():\n    pass\n")
    _run(suite, "--ftlint-guard", "test_other.py").assert_outcomes(passed=1)
    _run(suite, "--ftlint-guard", "test_suite.py").assert_outcomes(**OUTCOMES["error"])
    # a mode after the bare flag is its value, not a path
    _run(suite, "--ftlint-guard", mode, "test_suite.py").assert_outcomes(**OUTCOMES[mode])


def test_a_bad_mode_is_a_usage_error(suite):
    result = _run(suite, "--ftlint-guard=loud")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ftlint guard mode must be one of error, warn, strict, off, not 'loud'*"])


def test_the_fixture_guards_one_test_without_the_global_flag(pytester):
    pytester.makepyfile(
        """
        import pytest
        import torch
        from torch import nn

        def frozen():
            layer = nn.Linear(2, 2)
            layer(torch.randn(1, 2)).sum().backward()
            layer.weight.requires_grad = False  # with its .grad from training
            return layer

        def test_guarded(ftlint_guard):
            with pytest.raises(ftlint_guard.GuardError, match="FTL101"):
                torch.optim.SGD(frozen().parameters(), lr=0.1)

        def test_guarded_fails(ftlint_guard):
            torch.optim.SGD(frozen().parameters(), lr=0.1)

        def test_unguarded():
            torch.optim.SGD(frozen().parameters(), lr=0.1)
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["E *GuardError: FTL101 *", "FAILED *::test_guarded_fails*"])
    _assert_guard_is_off()


def test_fixture_setup_is_guarded_too(pytester):
    pytester.makepyfile(
        """
        import pytest
        import torch
        from torch import nn

        @pytest.fixture
        def optimizer():
            layer = nn.Linear(2, 2)
            layer.weight.requires_grad = False
            return torch.optim.SGD(layer.parameters(), lr=0.1)  # latent: FTL101 in strict mode

        def test_uses_it(optimizer):
            pass
        """
    )
    result = _run(pytester, "--ftlint-guard=strict")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["E *GuardError: FTL101 *", "ERROR *::test_uses_it*"])


def test_an_unknown_allowed_code_is_a_usage_error(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.ftlint_allow("FTL1O1")
        def test_typo():
            pass
        """
    )
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_typo: @pytest.mark.ftlint_allow: unknown ftlint guard code(s) FTL1O1*"])


def test_without_torch_the_flag_is_a_usage_error_that_says_what_to_install(pytester):
    pytester.mkpydir("torch").joinpath("__init__.py").write_text("raise ImportError('no torch here')\n")
    pytester.makepyfile("def test_fine():\n    pass\n")
    result = pytester.runpytest_subprocess(*_QUIET, "--ftlint-guard")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ftlint-guard needs PyTorch, which is not installed: pip install torch --index-url https://download.pytorch.org/whl/cpu*"])
    pytester.runpytest_subprocess(*_QUIET).assert_outcomes(passed=1)  # off: torch is not needed


FOREIGN_WRAPPERS = """
import functools

import torch
from torch import nn
from torch.optim import Optimizer

LIBRARY_WRAPPERS = []


def frozen():
    layer = nn.Linear(2, 2)
    layer(torch.randn(1, 2)).sum().backward()
    layer.weight.requires_grad = False  # with its .grad from training
    return layer


def test_a_library_wraps_the_guarded_functions_for_good():
    # Like a profiler set up inside a test: it wraps what it finds (the guard's
    # functions) and never unwraps.
    for owner, name in ((Optimizer, "add_param_group"), (nn.Module, "load_state_dict")):
        inner = owner.__dict__[name]
        wrapper = functools.wraps(inner)(lambda *args, _inner=inner, **kwargs: _inner(*args, **kwargs))
        setattr(owner, name, wrapper)
        LIBRARY_WRAPPERS.append(wrapper)


def test_a_test_wraps_for_its_duration(monkeypatch):
    inner = Optimizer.add_param_group
    monkeypatch.setattr(Optimizer, "add_param_group", lambda self, group: inner(self, group))
    torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)


def test_frozen_parameters_are_still_caught():
    torch.optim.SGD(frozen().parameters(), lr=0.1)


def test_a_partial_load_is_still_caught():
    nn.Linear(2, 2).load_state_dict({"weight": torch.zeros(2, 2), "bias_": torch.zeros(2)}, strict=False)


def test_clean_training_still_passes():
    layer = nn.Linear(2, 2)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer(torch.randn(3, 2)).sum().backward()
    opt.step()
"""

AFTER_THE_LAST_TEST = """
import sys


def pytest_sessionfinish(session):
    # The guard came off after the last test: the library's wrappers must still be there.
    from torch import nn
    from torch.optim import Optimizer

    in_place = [Optimizer.__dict__["add_param_group"], nn.Module.__dict__["load_state_dict"]]
    kept = in_place == sys.modules["test_foreign"].LIBRARY_WRAPPERS
    session.config.rootpath.joinpath("kept.txt").write_text(str(kept))
"""


def test_functions_wrapped_by_others_across_tests_stay_guarded_without_recursion(pytester):
    # Used to raise RecursionError at every optimizer built after a test wrapped
    # add_param_group; a subprocess, as a recursion may take the interpreter down.
    pytester.makepyfile(test_foreign=FOREIGN_WRAPPERS)
    pytester.makeconftest(AFTER_THE_LAST_TEST)
    result = pytester.runpytest_subprocess(*_QUIET, "--ftlint-guard", timeout=120)
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_frozen_parameters_are_still_caught _*",
            "E *ftlint.guard.GuardError: FTL101 *",
            "*_ test_a_partial_load_is_still_caught _*",
            "E *ftlint.guard.GuardError: FTL201 *",
        ]
    )
    assert "RecursionError" not in result.stdout.str()
    assert pytester.path.joinpath("kept.txt").read_text() == "True"
