"""The ``tensoralg`` command line.

Each subcommand lives in its own module of this package, which provides
``register(subparsers)`` (adding its parser, with ``run`` as the handler) and
``run(args) -> int``. Errors a user caused (:class:`TensoralgError`) become one line
on stderr and exit code 2. Anything else is a bug: one line naming the exception and exit
code 4 (never 1, which means REFUTED or a failed claim to scripts); the global ``--debug``
flag (before or after the subcommand) prints its traceback too.

Exit codes: 0 success, 1 refuted / a claim failed, 2 bad input, 3 not decided (``check``:
no proof and no counterexample), 4 internal error.

The top layer: it may import every other subpackage; none imports it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from pathlib import Path
from typing import Callable, Sequence

from ..errors import TensoralgError

#: Subcommand modules, in the order ``tensoralg --help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "prove", "check", "normal_form", "expand", "analyze", "convert", "models", "skip_trigrams", "importance", "train",
    "report",
    "qk_dictionary", "qk_pairs",
)


#: The exit code of an internal error (a bug, not the user's input).
INTERNAL_ERROR = 4


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in low…high, else a one-line usage error.

    >>> bounded_int(1, 10)("3")
    3
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer in {low}…{high}; got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer in {low}…{high}; got {text!r}")
        return value

    return parse


def non_negative_int(text: str) -> int:
    """An argparse type: an integer ≥ 0, else a one-line usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {text!r}")
    return value


def check_output(path: Path | str) -> None:
    """Refuse, before any work, an output path that cannot be a file: a directory, or one whose directory is missing.

    >>> check_output("/")
    Traceback (most recent call last):
    ...
    tensoralg.errors.TensoralgError: cannot write /: it is a directory
    """
    path = Path(path)
    if path.is_dir():
        raise TensoralgError(f"cannot write {path}: it is a directory")
    if not path.parent.is_dir():
        raise TensoralgError(f"cannot write {path}: its directory {path.parent} does not exist")


def add_formula_options(parser: argparse.ArgumentParser) -> None:
    """--let (declared symbols) and --heads (for Σ over a layer's heads), as formulas read them."""
    parser.add_argument(
        "--let", dest="declarations", action="append", default=[], metavar="DECL",
        help='declare symbols, e.g. --let "M, N: d_model x d_model" (repeatable)',
    )
    parser.add_argument("--heads", metavar="H1,H2,…", help="heads per layer for Σ_{h∈H1}, e.g. 2,2 (H1 is layer index 0)")


def formula_heads(args: argparse.Namespace) -> tuple[int, ...] | None:
    """The heads per layer given with --heads, or None."""
    from ..algebra.architecture import Architecture

    return None if args.heads is None else Architecture.parse(args.heads).heads


def positive_int(text: str) -> int:
    """An argparse type: an integer ≥ 1, else a one-line usage error."""
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2, like every other user error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="tensoralg",
        description="Symbolic and exact verification of the mathematics of transformer circuits.",
    )
    parser.add_argument("--version", action="version", version=f"tensoralg {__version__}")
    debug = "print the traceback of an internal error (exit code 4)"
    parser.add_argument("--debug", action="store_true", help=debug)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    for subparser in sub.choices.values():
        if subparser.description:  # descriptions come from reST docstrings: no ``literal`` marks in --help
            subparser.description = subparser.description.replace("``", "")
        # SUPPRESS: a subcommand without --debug keeps the value given before it.
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except TensoralgError as exc:
        print(f"tensoralg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: never exit 1, which scripts read as REFUTED
        if args.debug:
            traceback.print_exc()
        message = " ".join(str(exc).split())[:300]
        print(f"tensoralg {args.command}: internal error: {type(exc).__name__}: {message} "
              "(a bug in tensoralg; rerun with --debug for the traceback)", file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
