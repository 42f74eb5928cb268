"""ftlint: find the PyTorch fine-tuning bugs that raise no error.

Importing this package must stay cheap and must never import torch: the flake8 and
pytest plugins load it in every run.
"""

__version__ = "0.1.0"
