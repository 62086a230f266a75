"""``tensoralg check``: prove or refute an identity typed at the command line, or a derivation file.

    tensoralg check "(W_U W_E)ᵀ == W_Eᵀ W_Uᵀ"
    tensoralg check "M N == N M" --let "M, N: d_model x d_model"
    tensoralg check "Σ_{h∈H1} A^h ⊗ W_OV^h == …" --heads 2,2 --json
    tensoralg check --file derivation.txt
    tensoralg check "A^{1,0} A^{0,0} 𝟙 == 𝟙"            (A^{l,h} are patterns by default)
    tensoralg check "P (P X) == P X" --let "P: d x d" --let "X: d x k" --assume "P P = P"

    tensoralg check "rank(W_U W_OV^{0,0} W_E) <= d_head"
    tensoralg check "tr(M N P) == tr(P M N)" --let "M, N, P: d_model x d_model"

Without --heads, Σ_{h∈H1} ranges over a layer's heads whatever their number: PROVED then
holds for every head count, REFUTED names the head counts of its counterexample.

Exit codes: 0 proved or holds, 1 refuted, 2 bad input (parse or shape error), 3 not decided
(differing normal forms with no counterexample found, a rank bound neither proved nor refuted,
or completion under assumptions past its cap), 4 internal error.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..algebra.completion import Caps
from ..verify.assumptions import check_assuming, write_lean
from ..verify.derivation import check_file
from ..errors import TensoralgError
from . import add_formula_options, bounded_int, check_output, formula_heads, non_negative_int

#: More instances per size than this only spend time: each misses with probability ≤ degree/2⁶¹.
MAX_TRIALS = 100


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="prove or refute an identity (PROVED / REFUTED with a counterexample / HOLDS)",
        description=(
            "Check an identity 'LHS == RHS' of the tensor-product algebra, or each step of a derivation "
            "file. PROVED: the normal forms agree (for all sizes). REFUTED: an exact counterexample "
            "(sizes, seed, entry, both values). HOLDS: equal once W_OV and W_QK are unfolded (--no-expand). "
            "UNDECIDED: no proof and no counterexample (the Schwartz–Zippel bound is printed). Under assumptions (--assume; every A^{l,h} is a pattern by default): PROVED "
            "with a certificate, REFUTED by an instance satisfying them, or UNDECIDED. Exit 0 proved/holds, 1 refuted, "
            "2 bad input, 3 not decided, 4 internal error."
        ),
    )
    parser.add_argument("formula", nargs="?", help="the identity, e.g. \"(A⊗B)(C⊗D) == A C ⊗ B D\"")
    parser.add_argument("--file", "-f", metavar="PATH", help="a derivation: one expression per line, or e0 = e1 = e2")
    add_formula_options(parser)
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the random exact instances (default 0)")
    parser.add_argument("--trials", type=bounded_int(1, MAX_TRIALS), default=3,
                        help=f"random instances per size, 1…{MAX_TRIALS} (default 3)")
    parser.add_argument("--no-expand", action="store_true", help="do not unfold W_OV = W_O W_V, W_QK = W_Qᵀ W_K symbolically")
    parser.add_argument(
        "--assume", action="append", default=[], metavar="RELATION",
        help='an assumption: a relation "A^{l,h} 𝟙 = 𝟙", "P P = P", or a property "causal A", '
        '"nonnegative A", "stochastic A", "pattern A" (repeatable; index names are variables)',
    )
    parser.add_argument("--no-default-assumptions", action="store_true",
                        help="do not assume that every A^{l,h} is an attention pattern")
    parser.add_argument("--max-steps", type=non_negative_int, default=Caps().steps,
                        help=f"completion cap: S-polynomials processed (default {Caps().steps})")
    parser.add_argument("--max-rules", type=non_negative_int, default=Caps().rules,
                        help=f"completion cap: rules kept beyond one per input relation (default {Caps().rules})")
    parser.add_argument("--lean", metavar="PATH",
                        help="write a PROVED identity with its certificate as a Lean 4 / mathlib theorem to PATH")
    parser.add_argument("--full", action="store_true", help="print every term of a refuted identity's difference left − right")
    parser.add_argument("--json", action="store_true", help="print the verdict (or the derivation report) as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if (args.formula is None) == (args.file is None):
        print("tensoralg check: error: give either a formula or --file PATH (not both)", file=sys.stderr)
        return 2
    if args.lean is not None:
        if args.file is not None:
            raise TensoralgError("--lean writes one proved identity: give a formula, not --file")
        check_output(args.lean)
    heads = formula_heads(args)
    options = dict(declarations=args.declarations, heads=heads, seed=args.seed, trials=args.trials,
                   expand=not args.no_expand, full=args.full)
    defaults = not args.no_default_assumptions
    if args.file is not None:
        report = check_file(args.file, assume=args.assume, defaults=defaults, **options)
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2) if args.json else report.describe())
        return report.exit_code
    caps = Caps(steps=args.max_steps, rules=args.max_rules)
    verdict = check_assuming(args.formula, args.assume, defaults=defaults, caps=caps, **options)
    if args.json:
        print(json.dumps(verdict.to_json(), ensure_ascii=False, indent=2))
    elif verdict.status == "ERROR":
        print(f"tensoralg check: error: {verdict.detail}", file=sys.stderr)
    else:
        print(verdict.describe())
    if args.lean is not None and verdict.status == "PROVED":
        write_lean(args.formula, verdict, args.lean, declarations=args.declarations, heads=heads)
    return verdict.exit_code
