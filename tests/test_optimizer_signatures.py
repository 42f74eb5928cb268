"""The optimizer table: its generator reads what importing torch shows, the committed
table is the generator's output, and its entry for the installed torch is that torch's."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ftlint.data import generate_optimizer_signatures as generator
from ftlint.data.optimizer_signatures import CHANGES, RELEASES
from ftlint.rules.invalid_optimizer_argument import optimizers
from ftlint.targets import NEWEST, Release, parse_release

torch = pytest.importorskip("torch")
optim = pytest.importorskip("torch.optim")
INSTALLED = torch.__version__.split("+")[0]
INSTALLED_RELEASE = generator.release(INSTALLED)
TORCH_ROOT = Path(torch.__file__).resolve().parent.parent  # holds torch/, not imported again
DATA = Path(generator.__file__).with_name("optimizer_signatures.py")


def _installed_optimizers() -> dict[str, type]:
    return {
        name: cls
        for name, cls in vars(optim).items()
        if inspect.isclass(cls) and issubclass(cls, optim.Optimizer) and cls is not optim.Optimizer
    }


@pytest.fixture(scope="module")
def read_from_installed() -> dict[str, generator.Signature]:
    version, files = generator.read_sources(TORCH_ROOT)
    assert version == INSTALLED
    return generator.signatures(files)


def test_the_generator_finds_every_optimizer_of_the_installed_torch(read_from_installed):
    assert sorted(read_from_installed) == sorted(_installed_optimizers())


@pytest.mark.parametrize("name", sorted(_installed_optimizers()))
def test_the_keywords_read_are_the_constructors_signature(read_from_installed, name):
    cls = _installed_optimizers()[name]
    parameters = inspect.signature(cls.__init__).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    expected = [
        p.name
        for p in parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    assert list(read_from_installed[name].keywords) == expected
    # the module the rule names it by imports it (torch rewrites some __module__s)
    module = importlib.import_module(read_from_installed[name].module)
    assert getattr(module, name) is cls


@pytest.mark.parametrize("name", sorted(_installed_optimizers()))
def test_the_group_keys_read_are_the_defaults_a_group_gets(read_from_installed, name):
    cls = _installed_optimizers()[name]
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    assert list(read_from_installed[name].group_keys) == list(cls([weight]).param_groups[0])


@pytest.mark.skipif(
    INSTALLED_RELEASE not in RELEASES,
    reason=f"the table has no torch {INSTALLED_RELEASE}; add its wheel and regenerate (see "
    "ftlint/data/generate_optimizer_signatures.py)",
)
def test_the_tables_entry_for_the_installed_release_is_what_it_has(read_from_installed):
    entries = optimizers(parse_release(INSTALLED_RELEASE)).entries
    assert {
        name: generator.Signature(e["module"], e["keywords"], e["group_keys"])
        for name, e in entries.items()
    } == read_from_installed


def test_the_committed_module_is_the_generators_output():
    """The module is exactly what the generator writes for the tables it describes: an
    entry out of order, or one repeating the signature before it, shows."""
    tables = {
        name: (
            version,
            {
                optimizer: generator.Signature(**entry)
                for optimizer, entry in optimizers(parse_release(name)).entries.items()
            },
        )
        for name, version in RELEASES.items()
    }
    assert generator.render(tables) == DATA.read_text(encoding="utf-8")


def test_every_release_is_in_the_table_and_the_newest_is_the_default_target():
    releases = sorted(parse_release(name) for name in RELEASES)
    assert all(generator.release(version) == name for name, version in RELEASES.items())
    assert releases[-1] == Release(*NEWEST["torch"])
    minors = [r.minor for r in releases if r.major == 2]
    assert minors == list(range(minors[0], minors[-1] + 1)), "a 2.x release is missing"
    assert all(parse_release(first) in releases for changes in CHANGES.values() for first, _ in changes)


def _sources(version_line: str | None = None) -> dict[str, str]:
    """The installed torch's optim files, by path, and its version.py."""
    files = {
        path.relative_to(TORCH_ROOT).as_posix(): path.read_text(encoding="utf-8")
        for path in (TORCH_ROOT / "torch" / "optim").rglob("*.py")
    }
    files["torch/version.py"] = version_line or (TORCH_ROOT / "torch" / "version.py").read_text()
    return files


def test_a_wheel_and_a_source_checkout_read_as_the_installed_directory(
    tmp_path, read_from_installed
):
    wheel = tmp_path / "torch-9.9.9-cp311-none-macosx_11_0_arm64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in _sources("__version__ = '9.9.9+cpu'\n").items():
            archive.writestr(name, text)
        archive.writestr("torch/_C.so", b"\x7fELF")  # never read
    assert generator.read_sources(wheel) == ("9.9.9", generator.read_sources(TORCH_ROOT)[1])
    checkout = tmp_path / "pytorch"
    for name, text in _sources().items():
        if name != "torch/version.py":  # generated by a build; a checkout has version.txt
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            (checkout / name).write_text(text, encoding="utf-8")
    (checkout / "version.txt").write_text("2.16.0a0\n")
    version, files = generator.read_sources(checkout)
    assert version == "2.16.0a0" and generator.signatures(files) == read_from_installed


def test_sources_the_generator_cannot_read_stop_it_with_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    kwargs = tmp_path / "kwargs" / "torch"
    (kwargs / "optim").mkdir(parents=True)
    (kwargs / "version.py").write_text("__version__ = '2.0.0'\n")
    (kwargs / "optim" / "__init__.py").write_text("from .odd import Odd\n")
    (kwargs / "optim" / "optimizer.py").write_text("class Optimizer:\n    pass\n")
    (kwargs / "optim" / "odd.py").write_text(
        "from .optimizer import Optimizer\n"
        "class Odd(Optimizer):\n"
        "    def __init__(self, params, lr=1, **extra):\n"
        "        super().__init__(params, dict(lr=lr))\n"
    )
    for source, expected in [
        (tmp_path / "empty", "no torch/optim/ files"),
        (tmp_path / "missing.whl", "missing.whl: no such file or directory"),
        (tmp_path / "kwargs", "torch.optim.odd.Odd.__init__ takes **extra: any keyword"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "ftlint.data.generate_optimizer_signatures", str(source)],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr


def test_an_optimizer_deriving_from_another_takes_its_group_keys():
    files = {
        "torch/optim/__init__.py": "from torch.optim.adam import Adam\nfrom .adamw import AdamW\n",
        "torch/optim/optimizer.py": "class Optimizer:\n    pass\n",
        "torch/optim/adam.py": (
            "from .optimizer import Optimizer\n"
            "class Adam(Optimizer):\n"
            "    def __init__(self, params, lr=1e-3, *, decoupled_weight_decay=False):\n"
            "        defaults = {'lr': lr, 'decoupled_weight_decay': decoupled_weight_decay}\n"
            "        super().__init__(params, defaults)\n"
        ),
        "torch/optim/adamw.py": (
            "from .adam import Adam\n"
            "class AdamW(Adam):\n"
            "    def __init__(self, params, lr=1e-3):\n"
            "        super().__init__(params, lr, decoupled_weight_decay=True)\n"
        ),
    }
    found = generator.signatures(files)
    assert found["AdamW"] == generator.Signature(
        "torch.optim.adamw", ("params", "lr"), ("params", "lr", "decoupled_weight_decay")
    )
    assert found["Adam"].keywords == ("params", "lr", "decoupled_weight_decay")


def test_an_unknown_keyword_raises_and_an_unknown_group_key_is_kept_silently():
    """The two behaviours FTL108's message states."""
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    with pytest.raises(TypeError, match="momentum"):
        optim.Adam([weight], momentum=0.9)
    opt = optim.Adam([{"params": [weight], "momentum": 0.9}])
    assert opt.param_groups[0]["momentum"] == 0.9  # stored, never read by Adam


def test_the_installed_torch_has_the_keywords_the_table_says_later_releases_added():
    """What FTL108 says of a target: SGD takes fused= from 2.3 on, LBFGS maximize= from
    2.14 on; the installed torch agrees for the releases up to it."""
    installed = parse_release(INSTALLED_RELEASE)
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    for cls, key, since in [(optim.SGD, "fused", (2, 3)), (optim.LBFGS, "maximize", (2, 14))]:
        takes = key in inspect.signature(cls.__init__).parameters
        assert takes == (installed >= since), (cls.__name__, key)
        if not takes:
            with pytest.raises(TypeError, match=key):
                cls([weight], **{key: True})
