"""C26 — Rank bounds as statements, decided from an expression's form.

rank(E) ≤ k is PROVED when a bound read off E's factorisation is at most k for all sizes
(:mod:`tensoralg.algebra.rank_bounds`): a product is bounded by the smallest space it passes
through, so rank(W_U W_OV^h W_E) ≤ d_head once W_OV = W_O W_V is unfolded; a sum by the sum
of its terms' bounds; a tensor product by the product of its factors'. It is REFUTED by the
exact rank of a random integer instance over ℚ above k (:mod:`tensoralg.verify.statements`).

Checked: the rank bounds of C5 as typed statements; a virtual head's OV circuit and a sum of
two heads; a tensor term; and, independently of the bound rules, the exact rank of random
ℚ instances at random sizes never exceeds the bound the rules prove.
NEGATIVE: rank(W_OV^{0,0} + W_OV^{0,1}) ≤ d_head (refuted where 2 d_head ≤ d_model),
rank(W_U W_E) ≤ d_head (the wrong space), rank(A^{0,0} ⊗ W_OV^{0,0}) ≤ d_head (a tensor
product multiplies ranks) are refuted.

>>> CLAIM.id
'C26'
"""

from __future__ import annotations

import numpy as np

from tensoralg.algebra.definitions import expand_definitions
from tensoralg.algebra.exact import RATIONALS, evaluate_exact, random_instance
from tensoralg.algebra.expr import atom, spaces_in, symbols_in
from tensoralg.algebra.rank_bounds import at_most, evaluate_size, parse_size, rank_bounds
from tensoralg.algebra.symbols import standard_symbol
from tensoralg.formula.parsing import parse
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step

W_E, W_U = atom(standard_symbol("W_E")), atom(standard_symbol("W_U"))
W_OV, W_O, W_V = (atom(standard_symbol(n, 0, 0)) for n in ("W_OV", "W_O", "W_V"))

#: (statement, expression, bound) for the exact-rank check of the bound rules.
BOUNDED = [
    ("W_U W_OV^{0,0} W_E", "d_head"),
    ("W_E^T W_QK^{1,0} W_E", "d_head"),
    ("W_OV^{1,0} W_OV^{0,0}", "d_head"),
    ("W_OV^{0,0} + W_OV^{0,1}", "2 d_head"),
    ("A^{0,0} ⊗ W_OV^{0,0}", "n_ctx d_head"),
]


def derive() -> list[Derivation]:
    return [
        Derivation("the OV circuit factors through d_head", [
            Step(W_U @ W_OV @ W_E),
            Step((W_U @ W_O) @ (W_V @ W_E), "W_OV = W_O W_V: n_vocab × d_head times d_head × n_vocab"),
        ]),
    ]


def _exact_rank_within_bound(rng: np.random.Generator) -> Mismatch | None:
    text, bound = BOUNDED[int(rng.integers(len(BOUNDED)))]
    expr = expand_definitions(parse(text))
    dims = {s: int(rng.integers(1, 5)) for s in spaces_in(expr)}
    values = random_instance(symbols_in(expr), dims, int(rng.integers(2**31)), RATIONALS)
    rank = evaluate_exact(expr, values, dims, RATIONALS).rank()
    k = parse_size(bound)
    if not at_most(rank_bounds(expr), k) or rank > evaluate_size(k, dims):
        return Mismatch(f"rank {rank}", f"≤ {bound} = {evaluate_size(k, dims)}", dims=dims, note=text)
    return None


def check(ctx: Context) -> list[Check]:
    return [
        ctx.formula("rank W_OV^h ≤ d_head", "rank(W_OV^{0,0}) <= d_head"),
        ctx.formula("rank W_QK^h ≤ d_head", r"\operatorname{rank}(W_{QK}^{0,0}) \le d_head"),
        ctx.formula("rank(W_U W_OV^h W_E) ≤ d_head", "rank(W_U W_OV^{0,0} W_E) ≤ d_head"),
        ctx.formula("rank(W_Eᵀ W_QK^h W_E) ≤ d_head", "rank(W_Eᵀ W_QK^{1,0} W_E) <= d_head"),
        ctx.formula("rank(W_U W_E) ≤ d_model", "rank(W_U W_E) <= d_model"),
        ctx.formula("a virtual head: rank(W_OV^{h2} W_OV^{h1}) ≤ d_head", "rank(W_OV^{1,0} W_OV^{0,0}) <= d_head"),
        ctx.formula("two heads: rank(W_OV^{0,0} + W_OV^{0,1}) ≤ 2 d_head", "rank(W_OV^{0,0} + W_OV^{0,1}) <= 2 d_head"),
        ctx.formula("a tensor term: rank(A ⊗ W_OV) ≤ n_ctx d_head", "rank(A^{0,0} ⊗ W_OV^{0,0}) <= n_ctx d_head"),
        ctx.instances("the exact rank over ℚ of random instances at random sizes is within the proved bound",
                      _exact_rank_within_bound, trials=8),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.formula("two heads: rank(W_OV^{0,0} + W_OV^{0,1}) ≤ d_head", "rank(W_OV^{0,0} + W_OV^{0,1}) <= d_head"),
        ctx.formula("the wrong space: rank(W_U W_E) ≤ d_head", "rank(W_U W_E) <= d_head"),
        ctx.formula("a tensor product multiplies ranks: rank(A ⊗ W_OV) ≤ d_head", "rank(A^{0,0} ⊗ W_OV^{0,0}) <= d_head"),
    ]


CLAIM = Claim(
    "C26",
    "Rank bounds as statements",
    "rank(E) ≤ k from E's factorisation: products by their smallest space, sums add, tensor products multiply",
    r"\operatorname{rank}(W_U W_{OV}^h W_E) \le d_{\mathrm{head}},\ "
    r"\operatorname{rank}(X+Y) \le \operatorname{rank} X + \operatorname{rank} Y,\ "
    r"\operatorname{rank}(X\otimes Y) = \operatorname{rank} X \operatorname{rank} Y",
    derive=derive,
    check=check,
    refute=refute,
)
