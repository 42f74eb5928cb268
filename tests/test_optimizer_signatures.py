"""The committed optimizer table matches the installed torch (skipped without torch)."""

from __future__ import annotations

import inspect

import pytest

from ftlint.data.optimizer_signatures import OPTIMIZERS, TORCH_VERSION

torch = pytest.importorskip("torch")
optim = pytest.importorskip("torch.optim")
INSTALLED = torch.__version__.split("+")[0]
same_torch = pytest.mark.skipif(
    INSTALLED != TORCH_VERSION,
    reason=f"table is from torch {TORCH_VERSION}, torch {INSTALLED} is installed; regenerate "
    "with python -m ftlint.data.generate_optimizer_signatures",
)


def _installed_optimizers() -> dict[str, type]:
    return {
        name: cls
        for name, cls in vars(optim).items()
        if inspect.isclass(cls) and issubclass(cls, optim.Optimizer) and cls is not optim.Optimizer
    }


@same_torch
def test_table_lists_every_optimizer_of_the_installed_torch():
    assert sorted(OPTIMIZERS) == sorted(_installed_optimizers())


@same_torch
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_constructor_keywords_match_the_signature(name):
    cls = _installed_optimizers()[name]
    parameters = inspect.signature(cls.__init__).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    expected = [
        p.name
        for p in parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    assert list(OPTIMIZERS[name]["keywords"]) == expected
    assert OPTIMIZERS[name]["module"] == cls.__module__


@same_torch
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_group_keys_are_the_defaults_a_group_gets(name):
    cls = _installed_optimizers()[name]
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    assert list(OPTIMIZERS[name]["group_keys"]) == list(cls([weight]).param_groups[0])


def test_an_unknown_keyword_raises_and_an_unknown_group_key_is_kept_silently():
    """The two behaviours FTL108's message states."""
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    with pytest.raises(TypeError, match="momentum"):
        optim.Adam([weight], momentum=0.9)
    opt = optim.Adam([{"params": [weight], "momentum": 0.9}])
    assert opt.param_groups[0]["momentum"] == 0.9  # stored, never read by Adam
