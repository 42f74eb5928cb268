"""Target releases: `target-torch = "2.1"` (and torchvision, transformers) in
`[tool.ftlint]`, `--target-torch`, else the installed release, else the newest; the rules
that depend on a release follow it, in the CLI, the flake8 plugin and the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftlint import targets as targets_module
from ftlint.cache import ResultCache
from ftlint.config import ConfigError, load_settings
from ftlint.engine import lint_source
from ftlint.rules import ALL_RULES
from ftlint.targets import Release, Targets, default_targets, parse_release, resolve

PLAIN_LOAD = 'import torch\nstate = torch.load("ckpt.pt", map_location="cpu")\n'


def _targets(**releases: str) -> Targets:
    return resolve(**{name: parse_release(text) for name, text in releases.items()})


def _found(source: str, code: str, **releases: str) -> list[tuple[int, str]]:
    findings = lint_source("a.py", source, ALL_RULES, targets=_targets(**releases))
    return [(f.line, f.message) for f in findings if f.code == code]


# -- configuration and command line ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.1", Release(2, 1)),
        ("2.10", Release(2, 10)),
        ("0.13", Release(0, 13)),
    ],
)
def test_a_target_is_a_major_minor_string(tmp_path, value, expected):
    (tmp_path / "pyproject.toml").write_text(f'[tool.ftlint]\ntarget-torch = "{value}"\n')
    settings = load_settings(tmp_path)
    assert settings.target_torch == expected
    assert settings.targets.torch == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("target-torch = 2.10", 'target-torch: expected a release "MAJOR.MINOR" such as '
         '"2.1", got a float (2.1); quote it: as a number, 2.10 is 2.1'),
        ('target-torch = "2.1.0"', "target-torch: expected a release \"MAJOR.MINOR\" such as "
         "\"2.1\", got a string ('2.1.0')"),
        ('target-torchvision = "v0.13"', "target-torchvision: expected a release "
         "\"MAJOR.MINOR\" such as \"2.1\", got a string ('v0.13')"),
        ('target-transformers = ["4.40"]', "target-transformers: expected a release "
         '"MAJOR.MINOR" such as "2.1", got a list'),
        ("target-torch = 2", 'expected a release "MAJOR.MINOR" such as "2.1", got an integer (2)'),
        ('target-torch = ""', "got a string ('')"),
        ('target-torch = " 2.1"', "got a string (' 2.1')"),
        ('target-tourch = "2.1"', "unknown [tool.ftlint] keys: target-tourch (did you mean "
         "'target-torch'?)"),
    ],
)  # fmt: skip
def test_a_bad_target_is_a_one_line_configuration_error(tmp_path, line, expected):
    (tmp_path / "pyproject.toml").write_text(f"[tool.ftlint]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    message = str(caught.value)
    assert message.endswith(expected) and "\n" not in message


def test_the_cli_stops_on_a_bad_target_in_the_configuration(tmp_path, run_ftlint):
    (tmp_path / "pyproject.toml").write_text('[tool.ftlint]\ntarget-torch = "latest"\n')
    (tmp_path / "a.py").write_text(PLAIN_LOAD)
    result = run_ftlint("check", "a.py")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("ftlint: configuration error: ")
    assert "target-torch" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["2.1.0", "two", "2"])
def test_a_bad_target_on_the_command_line_is_a_usage_error(run_ftlint, value):
    result = run_ftlint("check", "--target-torch", value, ".")
    assert result.returncode == 2
    assert f"argument --target-torch: expected a release MAJOR.MINOR such as 2.1, got {value!r}" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_target_torch_on_the_command_line_end_to_end(tmp_path, run_ftlint):
    (tmp_path / "train.py").write_text(PLAIN_LOAD)
    before = run_ftlint("check", "--target-torch", "2.1", "--format", "json", "train.py")
    assert before.returncode == 1, before.stderr
    [finding] = json.loads(before.stdout)
    assert (finding["code"], finding["line"]) == ("FTL203", 2)
    assert "in torch 2.1" in finding["message"]
    after = run_ftlint("check", "--target-torch", "2.6", "train.py")
    assert after.returncode == 0 and after.stdout == "", after.stdout


def test_the_command_line_target_wins_over_the_configuration(tmp_path, run_ftlint):
    (tmp_path / "pyproject.toml").write_text('[tool.ftlint]\ntarget-torch = "2.6"\n')
    (tmp_path / "train.py").write_text(PLAIN_LOAD)
    assert run_ftlint("check", "train.py").returncode == 0
    result = run_ftlint("check", "--target-torch", "2.5", "train.py")
    assert result.returncode == 1 and "FTL203" in result.stdout and "in torch 2.5" in result.stdout


def test_each_file_follows_the_target_of_its_own_configuration(tmp_path, run_ftlint):
    for name, release in (("old", "2.1"), ("new", "2.6")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pyproject.toml").write_text(f'[tool.ftlint]\ntarget-torch = "{release}"\n')
        (tmp_path / name / "train.py").write_text(PLAIN_LOAD)
    result = run_ftlint("check", "old", "new")
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["old/train.py"]


def test_a_notebook_follows_the_target(tmp_path, run_ftlint):
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": PLAIN_LOAD.splitlines(keepends=True)}  # fmt: skip
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "explore.ipynb").write_text(json.dumps(notebook))
    result = run_ftlint("check", "--target-torch", "2.4", "explore.ipynb")
    assert result.returncode == 1 and "explore.ipynb:cell 1:2:9: FTL203" in result.stdout
    assert run_ftlint("check", "--target-torch", "2.6", "explore.ipynb").returncode == 0


# -- the cache ---------------------------------------------------------------------------


def test_the_cache_keeps_the_results_of_each_target_apart(tmp_path, run_ftlint):
    (tmp_path / "train.py").write_text(PLAIN_LOAD)
    runs = [run_ftlint("check", "--target-torch", release, "train.py").stdout
            for release in ("2.1", "2.6", "2.1", "2.6")]  # fmt: skip
    assert runs[0] and "in torch 2.1" in runs[0] and runs[1] == ""
    assert runs[2:] == runs[:2]  # the second round is answered by the cache, unmixed
    assert (tmp_path / ".ftlint_cache").is_dir()


def test_the_cache_key_covers_the_targets(tmp_path):
    codes = ["FTL203"]
    keys = {
        ResultCache(tmp_path, codes, _targets(**releases)).key(b"x = 1\n", "python")
        for releases in ({"torch": "2.1"}, {"torch": "2.6"}, {"torchvision": "0.12"}, {})
    }
    assert len(keys) == 4
    # no targets: the defaults, as the engine lints with
    assert ResultCache(tmp_path, codes).settings_key == (
        ResultCache(tmp_path, codes, default_targets()).settings_key
    )


# -- defaults: the installed release, else the newest ------------------------------------


def test_the_installed_release_is_read_from_dist_info_on_sys_path(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    (first / "torch-2.3.1+cu121.dist-info").mkdir(parents=True)
    (first / "torchvision-0.12.0.egg-info").mkdir()
    (second / "torch-2.13.0.dist-info").mkdir(parents=True)  # shadowed, as import would be
    (second / "torchaudio-2.13.0.dist-info").mkdir()  # not a target
    (second / "not-a-dir").write_text("")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "gone"), str(first / "not-a-dir"),
                                      str(first), str(second)])  # fmt: skip
    targets_module.installed.cache_clear()
    try:
        assert targets_module.installed() == {"torch": Release(2, 3), "torchvision": Release(0, 12)}
        assert resolve() == Targets(Release(2, 3), Release(0, 12), Release(*targets_module.NEWEST["transformers"]))
        assert resolve(torch=Release(2, 9)).torch == Release(2, 9)  # configured wins
    finally:
        targets_module.installed.cache_clear()


def test_without_an_installed_release_the_newest_known_is_assumed(monkeypatch):
    monkeypatch.setattr(sys, "path", [])
    targets_module.installed.cache_clear()
    try:
        assert resolve() == Targets(*(Release(*targets_module.NEWEST[name]) for name in
                                      targets_module.LIBRARIES))  # fmt: skip
    finally:
        targets_module.installed.cache_clear()


def test_reading_the_installed_release_imports_neither_torch_nor_importlib_metadata():
    code = (
        "import sys, ftlint.targets as t; found = t.installed(); "
        "assert 'torch' not in sys.modules and 'importlib.metadata' not in sys.modules; "
        "print(found.get('torch'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    torch = pytest.importorskip("torch")
    assert result.stdout.strip() == ".".join(torch.__version__.split(".")[:2])


def test_the_engine_without_targets_uses_the_default_ones():
    source = PLAIN_LOAD + 'opt = torch.optim.SGD(m.parameters(), lr=0.1, fused=True)\n'
    assert lint_source("a.py", source, ALL_RULES) == lint_source(
        "a.py", source, ALL_RULES, targets=default_targets()
    )


# -- each rule that depends on a release, under two targets ------------------------------


def test_ftl108_checks_the_signatures_of_the_target_release():
    source = (
        "import torch\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, fused=True)\n"
        'opt = torch.optim.Adam([{"params": p, "decoupled_weight_decay": True}], lr=1e-3)\n'
        "opt = torch.optim.LBFGS(model.parameters(), maximize=True)\n"
    )
    assert _found(source, "FTL108", torch="2.1") == [
        (2, "torch.optim.SGD() takes no argument 'fused' in torch 2.1: building the optimizer "
            "raises TypeError; SGD takes it from torch 2.3 on"),
        (3, "torch.optim.Adam ignores the param-group key 'decoupled_weight_decay' in torch 2.1: "
            "it is stored in the group silently and never read; Adam reads it from torch 2.7 on"),
        (4, "torch.optim.LBFGS() takes no argument 'maximize' in torch 2.1: building the "
            "optimizer raises TypeError; LBFGS takes it from torch 2.14 on"),
    ]  # fmt: skip
    assert [line for line, _ in _found(source, "FTL108", torch="2.7")] == [4]
    assert _found(source, "FTL108", torch="2.14") == []
    # newer than the table: its newest release; older: its oldest
    assert _found(source, "FTL108", torch="3.0") == []
    assert [line for line, _ in _found(source, "FTL108", torch="1.10")] == [2, 3, 4]


def test_ftl108_judges_an_optimizer_only_in_the_releases_that_have_it():
    source = "import torch\nopt = torch.optim.Adafactor(model.parameters(), momentum=0.9)\n"
    assert _found(source, "FTL108", torch="2.4") == []  # no Adafactor: not torch's to judge
    [(line, message)] = _found(source, "FTL108", torch="2.5")
    assert line == 2 and message.startswith("torch.optim.Adafactor() takes no argument 'momentum'")


def test_ftl203_reports_a_plain_load_before_torch_2_6():
    assert _found(PLAIN_LOAD, "FTL203", torch="2.6") == []
    assert _found(PLAIN_LOAD, "FTL203", torch="2.5") == [
        (2, "torch.load() without weights_only= unpickles arbitrary objects in torch 2.5 "
            "(weights_only=True is the default from torch 2.6 on), so a crafted checkpoint runs "
            "code while it loads; pass weights_only=True and save state_dict()s, allowlisting "
            "extra types with torch.serialization.add_safe_globals"),
    ]  # fmt: skip
    # no add_safe_globals before 2.4, no weights_only before 1.13: the message says so
    [(_, message)] = _found(PLAIN_LOAD, "FTL203", torch="2.3")
    assert "add_safe_globals" not in message
    [(_, message)] = _found(PLAIN_LOAD, "FTL203", torch="1.12")
    assert message.startswith("torch.load() unpickles arbitrary objects in torch 1.12, which "
                              "has no weights_only= (added in 1.13)")  # fmt: skip


@pytest.mark.parametrize(
    "source",
    [
        'import torch\nsd = torch.load("a.pt", weights_only=True)\n',
        "import torch\nsd = torch.load(path, **load_kwargs)\n",
        "import torch\nsd = torch.load(*args)\n",
        "import numpy as np\nsd = np.load(path)\n",
        "sd = torch.load(path)\n",  # torch not imported: unknown
        "from functools import partial\nimport torch\nload = partial(torch.load, map_location='cpu')\n",
    ],
)
def test_ftl203_leaves_a_load_that_says_or_is_unknown(source):
    assert _found(source, "FTL203", torch="2.1") == []


def test_ftl203_reports_a_pickle_module_in_every_release():
    source = "import dill\nimport torch\nsd = torch.load(path, None, dill)\n"
    [(_, new)] = _found(source, "FTL203", torch="2.6")
    [(_, old)] = _found(source, "FTL203", torch="2.1")
    assert "when given a pickle_module" in new and "for the safe default" in new
    assert "in torch 2.1" in old and "drop pickle_module= (weights_only=True refuses one)" in old


def test_ftl203_alone_still_finds_a_plain_load_after_the_first_pass():
    from ftlint.rules import RULES_BY_CODE

    findings = lint_source("a.py", PLAIN_LOAD, [RULES_BY_CODE["FTL203"]], targets=_targets(torch="2.1"))
    assert [f.code for f in findings] == ["FTL203"]


def test_ftl204_says_what_torch_load_does_in_the_target_release():
    source = (
        "import torch\nimport torch.nn as nn\n"
        "model = nn.Linear(2, 2)\n"
        'torch.save(model, "m.pt")\n'
        'net = torch.load("m.pt")\n'
        "net.eval()\n"
    )
    new = dict(_found(source, "FTL204", torch="2.6"))
    old = dict(_found(source, "FTL204", torch="2.4"))
    assert sorted(new) == sorted(old) == [4, 6]
    assert "torch.load refuses it by default since torch 2.6" in new[4]
    assert "torch 2.4's torch.load unpickles it by default, running code from the file" in old[4]
    assert "loads only with weights_only=False" in new[6]
    assert "loads only by unpickling, which runs code from the file (torch 2.4's default" in old[6]
    assert "2.6 refuses" not in new[4] and "weights_only=False" not in old[6]


def test_ftl205_needs_torchvision_0_13_for_weights():
    source = (
        "import torch\nfrom torchvision import models\n"
        "a = models.resnet18(pretrained=False)\n"
        'b = torch.hub.load("pytorch/vision", "resnet18", pretrained=True)\n'
    )
    new = lint_source("a.py", source, ALL_RULES, targets=_targets(torchvision="0.13"))
    old = lint_source("a.py", source, ALL_RULES, targets=_targets(torchvision="0.12"))
    assert [(f.line, f.fix.safe) for f in new if f.code == "FTL205"] == [(3, True), (4, False)]
    # before 0.13 pretrained= is the only way; the hub runs its repository's own code
    assert [f.line for f in old if f.code == "FTL205"] == [4]


# -- the flake8 plugin reads [tool.ftlint] for the targets -------------------------------


def _flake8(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "FTL", *args],
        capture_output=True, text=True, cwd=cwd, check=False, timeout=120,
    )  # fmt: skip


def test_flake8_follows_the_target_in_pyproject(tmp_path):
    (tmp_path / "train.py").write_text(PLAIN_LOAD)
    assert _flake8("train.py", cwd=tmp_path).stdout == ""
    (tmp_path / "pyproject.toml").write_text('[tool.ftlint]\ntarget-torch = "2.1"\n')
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text(PLAIN_LOAD)
    result = _flake8("-j", "2", ".", cwd=tmp_path)
    lines = sorted(result.stdout.splitlines())
    assert [line.split(" ")[:2] for line in lines] == [
        ["./pkg/train.py:2:9:", "FTL203"], ["./train.py:2:9:", "FTL203"],
    ]  # fmt: skip
    assert all("in torch 2.1" in line for line in lines) and result.stderr == ""


def test_flake8_reports_an_unusable_configuration_once_per_file_and_lints_on(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.ftlint]\ntarget-torch = 2.1\n")
    (tmp_path / "train.py").write_text(
        PLAIN_LOAD + "opt = torch.optim.Adam(model.parameters(), momentum=0.9)\n"
    )
    result = _flake8("train.py", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [config, optimizer] = result.stdout.splitlines()
    assert config.startswith(
        "train.py:1:1: FTL000 configuration error, linted without its targets: "
        f"{tmp_path / 'pyproject.toml'}: [tool.ftlint] target-torch: expected a release"
    )
    assert optimizer.startswith("train.py:3:44: FTL108")
