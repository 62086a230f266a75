"""The ``tensoralg`` command line.

Each subcommand lives in its own module of this package, which provides
``register(subparsers)`` (adding its parser, with ``run`` as the handler) and
``run(args) -> int``. Errors a user caused (:class:`TensoralgError`) become one line
on stderr and exit code 2; anything else is a bug and keeps its traceback.

The top layer: it may import every other subpackage; none imports it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from ..errors import TensoralgError

#: Subcommand modules, in the order ``tensoralg --help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "prove", "check", "normal_form", "expand", "analyze", "convert", "models", "skip_trigrams", "importance", "train",
    "report",
    "qk_dictionary", "qk_pairs",
)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer ≥ 0, else a one-line usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {text!r}")
    return value


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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
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


if __name__ == "__main__":
    sys.exit(main())
