"""One mutmut run: the module's fast tests, then `tensoralg prove`, in one interpreter (startup is
most of the cost of a mutant). Exit 0 when both pass, i.e. the mutant survived.

    python mutation/runner.py tests/test_algebra.py tests/test_verification.py
"""

from __future__ import annotations

import contextlib
import io
import sys

import pytest


def main(tests: list[str]) -> int:
    if pytest.main(["-x", "-q", "-p", "no:cacheprovider", *tests]) != 0:
        return 1
    from tensoralg.cli import main as tensoralg

    with contextlib.redirect_stdout(io.StringIO()):
        return 1 if tensoralg(["prove"]) != 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
