"""Everything about the package is in pyproject.toml, but for one file: ftlint-guard.pth.

site.py runs the ``import`` line of every ``.pth`` file in site-packages at each
interpreter startup. That line lets ``ftlint run torchrun ...`` guard every worker: it
calls ``ftlint.guard._startup.start()`` when ``FTLINT_GUARD`` is set, and costs nothing
else otherwise (see ftlint/guard/_startup.py). pyproject.toml cannot put a file at the
root of site-packages (``data-files`` is deprecated and installs under the prefix), so
build_py writes it: into build_lib for a wheel, and for ``pip install -e .`` into the
directory setuptools makes the editable wheel from.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "ftlint-guard.pth"  # sorts after __editable__.*.pth, which makes ftlint importable
PTH_LINE = (
    'import os; os.environ.get("FTLINT_GUARD") and '
    '__import__("ftlint.guard._startup").guard._startup.start()\n'
)


class build_py_with_pth(build_py):
    def run(self):
        super().run()
        root = self.build_lib
        if self.editable_mode:  # the editable wheel holds the install directory, not build_lib
            root = self.get_finalized_command("install").install_lib
        path = os.path.join(root, PTH_NAME)
        self.mkpath(root)
        with open(path, "w", encoding="utf-8") as pth:
            pth.write(PTH_LINE)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else [*outputs, os.path.join(self.build_lib, PTH_NAME)]


setup(cmdclass={"build_py": build_py_with_pth})
