"""``tensoralg prove``: run the proofs catalog (every claim of CLAIMS.md, or the ones named).

    tensoralg prove                      the table of all claims; exit 1 if any fails
    tensoralg prove C4 C17b --seed 7     two claims, other random instances
    tensoralg prove --json               the run as JSON (schema in the README)
    tensoralg prove --markdown -o catalog.md    the catalog as a document (or --latex, --html)

Everything runs on small embedded random models; nothing is downloaded. An unknown
claim id is a one-line error with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..display.page import document
from ..errors import TensoralgError
from ..verify.cards import catalog_html
from ..verify.catalog import Context, discover, run_catalog, select
from ..verify.catalog_report import catalog_json, render_details, render_table, to_latex_document, to_markdown
from . import check_output, non_negative_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prove",
        help="verify the claims of the catalog (derivations, checks, negative controls)",
        description=(
            "Verify every claim of the catalog: derivation steps symbolically, checks on exact random "
            "instances and random small models, and negative controls that must be refuted."
        ),
    )
    parser.add_argument("claims", nargs="*", metavar="CLAIM", help="claim ids such as C4 or C17b (default: all)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of every random instance and model (default 0)")
    document = parser.add_mutually_exclusive_group()
    document.add_argument("--json", action="store_true", help="print the run as JSON instead of the table")
    document.add_argument("--markdown", action="store_true", help="write the catalog as a Markdown document")
    document.add_argument("--latex", action="store_true", help="write the catalog as a LaTeX document")
    document.add_argument("--html", action="store_true", help="write the catalog as one self-contained HTML page (MathML, no script)")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the JSON or document to FILE")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every check and counterexample under the table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    claims = select(discover(), args.claims)
    if args.output is not None:
        check_output(args.output)  # before the catalog runs
    results = run_catalog(claims, Context(seed=args.seed))
    if args.json:
        text = catalog_json(results, args.seed)
    elif args.markdown:
        text = to_markdown(results, args.seed)
    elif args.latex:
        text = to_latex_document(results, args.seed)
    elif args.html:
        text = document("The tensoralg proofs catalog", [f"<p>Seed {args.seed}.</p>", catalog_html(results)])
    else:
        text = render_table(results) + (render_details(results) if args.verbose else "")
    if args.output is not None:
        try:
            args.output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            raise TensoralgError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(render_table(results) if (args.json or args.markdown or args.latex or args.html) else f"wrote {args.output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0 if all(r.passed for r in results) else 1
