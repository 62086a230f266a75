"""C29 — Reasoning under assumptions: identities modulo relations, with certificates.

Assumptions are relations between words — A𝟙 = 𝟙 (an attention pattern's rows sum to 1),
P² = P, Pᵀ = P, P𝟙 = 0 (the centring projector), RᵀR = Id (orthonormal columns), S = Sᵀ —
and properties closed under products (causal, nonnegative, stochastic; ``pattern`` is all
three, and every A^{l,h} carries it by default). An identity is PROVED modulo the relations
when completion (Buchberger–Mora, typed by spaces) reduces L − R to 0; the reduction is a
certificate, e.g.

    A^{1,0}A^{0,0}𝟙 − 𝟙 = A^{1,0}(A^{0,0}𝟙 − 𝟙) + (A^{1,0}𝟙 − 𝟙),

which an independent checker re-expands in the free algebra. False statements are refuted
by exact instances that satisfy every assumption (causal row-stochastic patterns,
projectors, Cayley rotations over ℚ).

Uses: C13's row-stochastic part (products of patterns are patterns), C22's linear part
(centring writers: P(P W) = P W, P(W + 𝟙cᵀ) = P W; in ``c22_centre_writers``) and C24's
value-bias fold (A(XW_Vᵀ + 𝟙b_Vᵀ)W_Oᵀ = AXW_Vᵀ W_Oᵀ + 𝟙(W_O b_V)ᵀ; in ``c24_attention_biases``).

NEGATIVE: AB𝟙 = 𝟙 assuming only A𝟙 = 𝟙 (A a pattern, B arbitrary) is refuted with A
causal and row-stochastic and B not; RRᵀ = Id from RᵀR = Id alone is refuted at a
rectangular size; an affine (not convex) combination of patterns is not a pattern.

>>> CLAIM.id
'C29'
"""

from __future__ import annotations

from tensoralg.algebra.expr import Identity, atom
from tensoralg.algebra.symbols import declared_symbol, ones_symbol, standard_symbol
from tensoralg.proofs._assumptions import CENTRING_RELATIONS, assumed, certified
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step

A1, A0 = atom(standard_symbol("A", 1, 0)), atom(standard_symbol("A", 0, 0))
ONE = atom(ones_symbol("n_ctx"))

def derive() -> list[Derivation]:
    B = atom(declared_symbol("B", "n_ctx", "n_ctx"))
    return [
        Derivation("the certificate of A B 𝟙 = 𝟙 is a free-algebra identity", [
            Step(A1 @ A0 @ ONE - ONE),
            Step(A1 @ (A0 @ ONE - ONE) + (A1 @ ONE - ONE), "A B 𝟙 − 𝟙 = A(B𝟙 − 𝟙) + (A𝟙 − 𝟙)"),
        ]),
        Derivation("a rectangular R with RᵀR = Id: R Rᵀ R − R = R (RᵀR − Id)", [
            Step(atom(declared_symbol("R", "d_model", "d_head")) @ (atom(declared_symbol("R", "d_model", "d_head")).T
                 @ atom(declared_symbol("R", "d_model", "d_head")) - Identity("d_head"))),
            Step(atom(declared_symbol("R", "d_model", "d_head")) @ atom(declared_symbol("R", "d_model", "d_head")).T
                 @ atom(declared_symbol("R", "d_model", "d_head")) - atom(declared_symbol("R", "d_model", "d_head")),
                 "distribute"),
        ]),
        Derivation("B is not assumed: A B 𝟙 − 𝟙 = A(B𝟙 − 𝟙) + (A𝟙 − 𝟙) leaves B𝟙 − 𝟙", [
            Step(A0 @ B @ ONE - ONE),
            Step(A0 @ (B @ ONE - ONE) + (A0 @ ONE - ONE), "only the second term vanishes by A𝟙 = 𝟙"),
        ]),
    ]


def check(ctx: Context) -> list[Check]:
    return [
        certified(assumed(ctx, "C13: A^{1,0}A^{0,0}𝟙 = 𝟙 (patterns by default)", "A^{1,0} A^{0,0} 𝟙 == 𝟙")),
        certified(assumed(ctx, "C13: A^{1,1}A^{1,0}A^{0,1}A^{0,0}𝟙 = 𝟙", "A^{1,1} A^{1,0} A^{0,1} A^{0,0} 𝟙 == 𝟙")),
        assumed(ctx, "C13: pattern (A^{1,0}A^{0,0}) by the product-closed property layer", "pattern (A^{1,0} A^{0,0})"),
        assumed(ctx, "a convex combination of products of patterns is a pattern",
                 "pattern ((1/3) A^{1,0} A^{0,0} + (2/3) A^{0,1})"),
        certified(assumed(ctx, "R Rᵀ R = R from RᵀR = Id (R rectangular)", "R Rᵀ R == R", ["Rᵀ R = Id"])),
        certified(assumed(ctx, "O Oᵀ = Id from OᵀO = Id once O is square and invertible (O⁻¹O = Id)",
                            "O Oᵀ == Id", ["Oᵀ O = Id", "O⁻¹ O = Id"])),
        certified(assumed(ctx, "(S x)ᵀ = xᵀ S from S = Sᵀ", "(S x)ᵀ == xᵀ S", ["S = Sᵀ"])),
        certified(assumed(ctx, "P𝟙 = 0 and P² = P: (Id − P) 𝟙 = 𝟙", "(Id - P) 𝟙 == 𝟙", CENTRING_RELATIONS)),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        assumed(ctx, "A B 𝟙 = 𝟙 assuming only A𝟙 = 𝟙 (A a pattern, B arbitrary)", "A^{0,0} B 𝟙 == 𝟙"),
        assumed(ctx, "R Rᵀ = Id from RᵀR = Id alone (R rectangular)", "R Rᵀ == Id", ["Rᵀ R = Id"]),
        assumed(ctx, "an affine combination of patterns is a pattern", "pattern (A^{0,0} + A^{1,0} - A^{0,1})"),
        assumed(ctx, "the transpose of a pattern is causal", "causal (A^{0,0}ᵀ)"),
        assumed(ctx, "C24: b_Q can be dropped: the b_Q term of the score does not depend on the key",
                 "(W_Q^{0} x + b_Q)ᵀ (W_K^{0} y + b_K) == xᵀ W_Q^{0}ᵀ W_K^{0} y + (W_Q^{0} x)ᵀ b_K + b_Qᵀ b_K"),
        assumed(ctx, "C22 without a LayerNorm: the centred writer leaves the logits unchanged",
                 "W_U P W_E == W_U W_E", CENTRING_RELATIONS),
    ]


CLAIM = Claim(
    "C29",
    "Reasoning under assumptions",
    "identities modulo relations (A𝟙 = 𝟙, P² = P, Pᵀ = P, P𝟙 = 0, RᵀR = Id, S = Sᵀ) are PROVED with a "
    "certificate Σ cᵢuᵢ(relᵢ)vᵢ that an independent checker accepts; false ones are refuted by instances "
    "satisfying the assumptions",
    r"A^{1,0}A^{0,0}\mathbf{1} - \mathbf{1} = A^{1,0}(A^{0,0}\mathbf{1} - \mathbf{1}) + (A^{1,0}\mathbf{1} - \mathbf{1})",
    derive=derive,
    check=check,
    refute=refute,
)
