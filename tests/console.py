"""The ``tensoralg`` console script as this interpreter runs it, for tests of the installed entry point.

The command is built from the entry point the package declares (``console_scripts``), run by
``sys.executable`` with this checkout first on the path, so it works without an activated
virtual environment and never picks up another installation from PATH.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

import tensoralg

#: This checkout, wherever the editable install points.
ROOT = str(Path(tensoralg.__file__).resolve().parent.parent)


def command() -> list[str]:
    """argv that runs the declared ``tensoralg`` entry point with the running interpreter."""
    (point,) = entry_points(group="console_scripts", name="tensoralg")
    module, _, function = point.value.partition(":")
    return [sys.executable, "-c", f"import sys; from {module} import {function}; sys.exit({function}())"]


def environment() -> dict[str, str]:
    """os.environ with this checkout first on PYTHONPATH."""
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
