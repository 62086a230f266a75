"""``tensoralg normal-form``: the canonical form of an expression, for notes, slides and scripts.

    tensoralg normal-form "(Id⊗W_U)(Id + Σ_{h∈H1} A^h⊗W_OV^h)(Id⊗W_E)" --heads 2
    tensoralg normal-form "(W_OV^{1,0} W_OV^{0,0})ᵀ" --format latex
    tensoralg normal-form "W_QK^{0,0}" --expand --format json

The canonical form is the sorted sum of tensor products of reduced words that
equality compares (:mod:`tensoralg.algebra.normal_form`); ``--expand`` unfolds
W_OV = W_O W_V and W_QK = W_Qᵀ W_K first.
"""

from __future__ import annotations

import argparse
import json

from ..algebra.definitions import expand_definitions
from ..algebra.expr import canonical
from ..formula.parsing import Context, parse
from ..algebra.printing import to_json, to_latex, to_unicode
from . import add_formula_options, formula_heads


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "normal-form",
        help="print the canonical form of an expression (Unicode, LaTeX or JSON)",
        description=(
            "Multiply out an expression of the tensor-product algebra by the mixed-product rule, "
            "collect like terms and print its canonical form, the form equality compares."
        ),
    )
    parser.add_argument("expression", help='the expression, e.g. "(A^{1,0}⊗W_OV^{1,0})(A^{0,0}⊗W_OV^{0,0})"')
    add_formula_options(parser)
    parser.add_argument("--expand", action="store_true", help="unfold W_OV = W_O W_V and W_QK = W_Qᵀ W_K first")
    parser.add_argument("--format", choices=("text", "latex", "json"), default="text", help="output format (default text)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    heads = formula_heads(args)
    expr = parse(args.expression, Context.build(args.declarations, heads))
    if args.expand:
        expr = expand_definitions(expr)
    result = canonical(expr)
    explicit = _ids_stand_alone(result)
    unicode, latex = to_unicode(result, explicit_identity=explicit), to_latex(result, explicit_identity=explicit)
    if args.format == "json":
        print(json.dumps({**to_json(expr), "unicode": unicode, "latex": latex}, ensure_ascii=False, indent=2))
    else:
        print(latex if args.format == "latex" else unicode)
    return 0


def _ids_stand_alone(expr) -> bool:
    """True when some tensor factor of every term is Id, so nothing printed beside an Id would tell
    its space when the output is read back (``tr(Id_{3})`` is ``3 Id_{1}``, not ``3 Id``)."""
    keys = list(expr.normal_form.terms)
    return bool(keys) and any(all(not key[f] for key in keys) for f in range(len(expr.shape)))
