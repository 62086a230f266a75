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
(centring writers: P(P W) = P W, P(W + 𝟙cᵀ) = P W) and C24's value-bias fold
(A(XW_Vᵀ + 𝟙b_Vᵀ)W_Oᵀ = AXW_Vᵀ W_Oᵀ + 𝟙(W_O b_V)ᵀ). :func:`c22_linear_derivations`,
:func:`c22_linear_checks`, :func:`c24_value_bias_derivations`, :func:`c24_value_bias_checks`,
:func:`c24_key_bias_checks` and :func:`c24_value_bias_negative` are self-contained so the C22 and C24 modules can call them.

NEGATIVE: AB𝟙 = 𝟙 assuming only A𝟙 = 𝟙 (A a pattern, B arbitrary) is refuted with A
causal and row-stochastic and B not; RRᵀ = Id from RᵀR = Id alone is refuted at a
rectangular size; an affine (not convex) combination of patterns is not a pattern.

>>> CLAIM.id
'C29'
"""

from __future__ import annotations

from typing import Sequence

from tensoralg.algebra.expr import Identity, atom
from tensoralg.algebra.symbols import declared_symbol, ones_symbol, standard_symbol
from tensoralg.verify.assumptions import check_assuming
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step
from tensoralg.verify.verification import Verdict

A1, A0 = atom(standard_symbol("A", 1, 0)), atom(standard_symbol("A", 0, 0))
ONE = atom(ones_symbol("n_ctx"))
X = atom(declared_symbol("X", "n_ctx", "d_model"))
W_V, W_O = atom(standard_symbol("W_V", 0, 0)), atom(standard_symbol("W_O", 0, 0))
b_V = atom(declared_symbol("b_V", "d_head", "1"))

#: Declarations shared by the statements below.
LETS = ("X: n_ctx x d_model", "b_V, b_O, b_Q, b_K: d_head x 1", "y: d_model x 1", "B: n_ctx x n_ctx", "P: d_model x d_model",
        "R: d_model x d_head", "O, S: d_model x d_model", "c: n_vocab x 1", "x: d_model x 1")
CENTRING = ("P P = P", "Pᵀ = P", "P 𝟙 = 0")


def _assumed(ctx: Context, description: str, text: str, assume: Sequence[str] = (), *, defaults: bool = True) -> Check:
    """A check whose verdict comes from :func:`tensoralg.verify.assumptions.check_assuming`."""
    verdict = check_assuming(text, assume, declarations=LETS, seed=ctx.seed_for(description) % 10_000,
                             trials=ctx.trials, defaults=defaults)
    report = ""
    if getattr(verdict, "certificate", None) is not None:
        report = f"certificate: {len(verdict.certificate)} term(s), checker {'accepts' if verdict.certificate_ok else 'rejects'}"
    return Check(description, verdict, report)


def _certified(check: Check) -> Check:
    """PROVED only with a certificate the independent checker accepts (or none needed)."""
    v = check.verdict
    if v.status == "PROVED" and getattr(v, "certificate", None) is not None and not v.certificate_ok:
        return Check(check.description, Verdict("ERROR", v.method, v.statement, "certificate rejected"), check.report)
    return check


def c22_linear_checks(ctx: Context) -> list[Check]:
    """C22's linear part: readers behind LayerNorm see P·x, and P absorbs centred writers and 𝟙-shifts."""
    return [
        _certified(_assumed(ctx, "C22: P(P W_E) = P W_E from P² = P", "P (P W_E) == P W_E", CENTRING)),
        _certified(_assumed(ctx, "C22: P(P W_E tᵀ + P W_pos) = P(W_E tᵀ + W_pos) (centre every writer)",
                            "P (P W_E tᵀ + P W_pos) == P (W_E tᵀ + W_pos)", CENTRING)),
        _certified(_assumed(ctx, "C22: P(W_E + 𝟙cᵀ) = P W_E from P𝟙 = 0 (n(x + c𝟙) = n(x))",
                            "P (W_E + 𝟙 cᵀ) == P W_E", CENTRING)),
        _certified(_assumed(ctx, "C22: 𝟙ᵀ P = 0 from P𝟙 = 0 and Pᵀ = P (relations are closed under ᵀ)",
                            "𝟙ᵀ P == 0", CENTRING)),
        ctx.instances("C22: P = Id − 𝟙𝟙ᵀ/d satisfies P² = P, Pᵀ = P, P𝟙 = 0 exactly", _centring_projector),
    ]


def _centring_projector(rng) -> Mismatch | None:
    import flint

    d = int(rng.integers(1, 9))
    P = flint.fmpq_mat(d, d, [flint.fmpq(int(i == j) * d - 1, d) for i in range(d) for j in range(d)])
    ones = flint.fmpq_mat(d, 1, [1] * d)
    for name, left, right in (("P²", P * P, P), ("Pᵀ", P.transpose(), P), ("P𝟙", P * ones, ones * 0)):
        if left != right:
            return Mismatch(str(left), str(right), note=f"{name} at d_model = {d}", dims={"d_model": d})
    return None


def c24_value_bias_checks(ctx: Context) -> list[Check]:
    """C24's value-bias fold: rows of A sum to 1, so the value bias becomes an output bias W_O b_V."""
    return [
        _certified(_assumed(ctx, "C24: A(X W_Vᵀ + 𝟙 b_Vᵀ) W_Oᵀ = A X W_Vᵀ W_Oᵀ + 𝟙 (W_O b_V)ᵀ (A𝟙 = 𝟙)",
                            "A^{0,0} (X W_V^{0,0}ᵀ + 𝟙 b_Vᵀ) W_O^{0,0}ᵀ == A^{0,0} X W_V^{0,0}ᵀ W_O^{0,0}ᵀ + 𝟙 (W_O^{0,0} b_V)ᵀ")),
        _certified(_assumed(ctx, "C24: two heads fold into b_O → b_O + Σ_h W_O^h b_V^h",
                            "A^{0,0} (X W_V^{0,0}ᵀ + 𝟙 b_Vᵀ) W_O^{0,0}ᵀ + A^{0,1} (X W_V^{0,1}ᵀ + 𝟙 b_Oᵀ) W_O^{0,1}ᵀ"
                            " == A^{0,0} X W_V^{0,0}ᵀ W_O^{0,0}ᵀ + A^{0,1} X W_V^{0,1}ᵀ W_O^{0,1}ᵀ"
                            " + 𝟙 (W_O^{0,0} b_V + W_O^{0,1} b_O)ᵀ")),
    ]


def c24_key_bias_checks(ctx: Context) -> list[Check]:
    """C24's key bias: with query x and key y, the score splits into key-dependent terms and
    (W_Q x + b_Q)ᵀ b_K, which depends on the query only (so by C15 b_K can be dropped).
    Needs the laws of 1 × 1 words: b_Qᵀ W_K y = yᵀ W_Kᵀ b_Q."""
    return [
        _certified(_assumed(ctx, "C24: (W_Q x + b_Q)ᵀ(W_K y + b_K) = yᵀW_KᵀW_Q x + yᵀW_Kᵀb_Q + (W_Q x + b_Q)ᵀb_K",
                            "(W_Q^{0} x + b_Q)ᵀ (W_K^{0} y + b_K) == yᵀ W_K^{0}ᵀ W_Q^{0} x + yᵀ W_K^{0}ᵀ b_Q"
                            " + (W_Q^{0} x + b_Q)ᵀ b_K")),
    ]


def c24_value_bias_negative(ctx: Context) -> Check:
    """NEGATIVE: without A𝟙 = 𝟙 (no default pattern assumption) the fold is refuted."""
    return _assumed(ctx, "C24 without A𝟙 = 𝟙: the value-bias fold",
                    "A^{0,0} (X W_V^{0,0}ᵀ + 𝟙 b_Vᵀ) W_O^{0,0}ᵀ == A^{0,0} X W_V^{0,0}ᵀ W_O^{0,0}ᵀ + 𝟙 (W_O^{0,0} b_V)ᵀ",
                    defaults=False)


def c22_linear_derivations() -> list[Derivation]:
    """C22's linear part as free-algebra chains; the last link's term vanishes by P𝟙 = 0 (resp. P² = P)."""
    P = atom(declared_symbol("P", "d_model", "d_model"))
    W_E, c = atom(standard_symbol("W_E")), atom(declared_symbol("c", "n_vocab", "1"))
    one = atom(ones_symbol("d_model"))
    return [
        Derivation("a shift by 𝟙cᵀ enters the reader through P𝟙", [
            Step(P @ (W_E + one @ c.T)),
            Step(P @ W_E + (P @ one) @ c.T, "distribute: the second term is 0 when P𝟙 = 0"),
        ]),
        Derivation("a centred writer enters the reader through P² − P", [
            Step(P @ (P @ W_E)),
            Step(P @ W_E + (P @ P - P) @ W_E, "add and subtract P W_E: the second term is 0 when P² = P"),
        ]),
    ]


def c24_value_bias_derivations() -> list[Derivation]:
    """C24's value-bias fold as a free-algebra chain; the last term vanishes by A𝟙 = 𝟙."""
    return [
        Derivation("the value bias enters through A𝟙", [
            Step(A0 @ (X @ W_V.T + ONE @ b_V.T) @ W_O.T),
            Step(A0 @ X @ W_V.T @ W_O.T + (A0 @ ONE) @ (W_O @ b_V).T, "distribute; (W_O b_V)ᵀ = b_Vᵀ W_Oᵀ"),
            Step(A0 @ X @ W_V.T @ W_O.T + ONE @ (W_O @ b_V).T + (A0 @ ONE - ONE) @ (W_O @ b_V).T,
                 "add and subtract 𝟙 (W_O b_V)ᵀ: the last term is 0 when A𝟙 = 𝟙"),
        ]),
    ]


def derive() -> list[Derivation]:
    B = atom(declared_symbol("B", "n_ctx", "n_ctx"))
    return [
        Derivation("the certificate of A B 𝟙 = 𝟙 is a free-algebra identity", [
            Step(A1 @ A0 @ ONE - ONE),
            Step(A1 @ (A0 @ ONE - ONE) + (A1 @ ONE - ONE), "A B 𝟙 − 𝟙 = A(B𝟙 − 𝟙) + (A𝟙 − 𝟙)"),
        ]),
        *c24_value_bias_derivations(),
        *c22_linear_derivations(),
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
        _certified(_assumed(ctx, "C13: A^{1,0}A^{0,0}𝟙 = 𝟙 (patterns by default)", "A^{1,0} A^{0,0} 𝟙 == 𝟙")),
        _certified(_assumed(ctx, "C13: A^{1,1}A^{1,0}A^{0,1}A^{0,0}𝟙 = 𝟙", "A^{1,1} A^{1,0} A^{0,1} A^{0,0} 𝟙 == 𝟙")),
        _assumed(ctx, "C13: pattern (A^{1,0}A^{0,0}) by the product-closed property layer", "pattern (A^{1,0} A^{0,0})"),
        _assumed(ctx, "a convex combination of products of patterns is a pattern",
                 "pattern ((1/3) A^{1,0} A^{0,0} + (2/3) A^{0,1})"),
        _certified(_assumed(ctx, "R Rᵀ R = R from RᵀR = Id (R rectangular)", "R Rᵀ R == R", ["Rᵀ R = Id"])),
        _certified(_assumed(ctx, "O Oᵀ = Id from OᵀO = Id once O is square and invertible (O⁻¹O = Id)",
                            "O Oᵀ == Id", ["Oᵀ O = Id", "O⁻¹ O = Id"])),
        _certified(_assumed(ctx, "(S x)ᵀ = xᵀ S from S = Sᵀ", "(S x)ᵀ == xᵀ S", ["S = Sᵀ"])),
        _certified(_assumed(ctx, "P𝟙 = 0 and P² = P: (Id − P) 𝟙 = 𝟙", "(Id - P) 𝟙 == 𝟙", CENTRING)),
        *c22_linear_checks(ctx),
        *c24_value_bias_checks(ctx),
        *c24_key_bias_checks(ctx),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        _assumed(ctx, "A B 𝟙 = 𝟙 assuming only A𝟙 = 𝟙 (A a pattern, B arbitrary)", "A^{0,0} B 𝟙 == 𝟙"),
        _assumed(ctx, "R Rᵀ = Id from RᵀR = Id alone (R rectangular)", "R Rᵀ == Id", ["Rᵀ R = Id"]),
        _assumed(ctx, "an affine combination of patterns is a pattern", "pattern (A^{0,0} + A^{1,0} - A^{0,1})"),
        _assumed(ctx, "the transpose of a pattern is causal", "causal (A^{0,0}ᵀ)"),
        _assumed(ctx, "C24: b_Q can be dropped: the b_Q term of the score does not depend on the key",
                 "(W_Q^{0} x + b_Q)ᵀ (W_K^{0} y + b_K) == xᵀ W_Q^{0}ᵀ W_K^{0} y + (W_Q^{0} x)ᵀ b_K + b_Qᵀ b_K"),
        _assumed(ctx, "C22 without a LayerNorm: the centred writer leaves the logits unchanged",
                 "W_U P W_E == W_U W_E", CENTRING),
        c24_value_bias_negative(ctx),
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
