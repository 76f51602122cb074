"""Import an optional package, or say which extra to install.

Formats beyond scikit-learn and ONNX live behind optional extras (pyproject.toml), so that a
team that never uses XGBoost does not install it. The import happens when the format is
first used; a missing package then becomes a `MissingExtraError` naming the extra.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from benchharness.errors import MissingExtraError


def import_extra(module: str, *, package: str, extra: str, what: str) -> ModuleType:
    """`importlib.import_module(module)`, with MissingExtraError when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(what, package, extra) from None
