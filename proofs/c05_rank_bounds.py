"""C5 — Rank bounds.

Every circuit of a head factors through its d_head-dimensional space, and
rank(XY) ≤ (the inner dimension of XY), so

    rank W_OV^h ≤ d_head                 W_OV = W_O · W_V
    rank W_QK^h ≤ d_head                 W_QK = W_Qᵀ · W_K
    rank W_U W_OV^h W_E ≤ d_head         = (W_U W_O)(W_V W_E)
    rank W_Eᵀ W_QK^h W_E ≤ d_head        = (W_Q W_E)ᵀ(W_K W_E)
    rank W_U W_E ≤ d_model
    rank W_OV^{h2} W_OV^{h1} ≤ min(d_head¹, d_head²)   a virtual head

The derivations exhibit the factorizations; the ranks are computed exactly over ℚ
and over GF(2⁶¹ − 1) with python-flint on random integer weights (the same
factorization holds over every field), and numerically under hypothesis.
NEGATIVE: rank W_OV ≤ d_head − 1 is refuted on generic weights (the bound is attained).

>>> CLAIM.id
'C5'
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step
from tensoralg.algebra.expr import Expr, atom
from tensoralg.proofs._shared import rank_bounded, sym
from tensoralg.verify.strategies import seeds
from tensoralg.algebra.symbols import declared_symbol

W_E, W_U = sym("W_E"), sym("W_U")
W_O, W_V, W_Q, W_K, W_OV, W_QK = (sym(n, 0, 0) for n in ("W_O", "W_V", "W_Q", "W_K", "W_OV", "W_QK"))
# A virtual head whose two heads have different widths d_head¹ and d_head²:
W_O1, W_V1 = atom(declared_symbol("W_O", "d_model", "d_head1", 0, 0)), atom(declared_symbol("W_V", "d_head1", "d_model", 0, 0))
W_O2, W_V2 = atom(declared_symbol("W_O", "d_model", "d_head2", 1, 0)), atom(declared_symbol("W_V", "d_head2", "d_model", 1, 0))

#: (statement, expression, the spaces whose smallest size bounds the rank)
BOUNDS: tuple[tuple[str, Expr, tuple[str, ...]], ...] = (
    ("rank W_OV ≤ d_head", W_OV, ("d_head",)),
    ("rank W_QK ≤ d_head", W_QK, ("d_head",)),
    ("rank W_U W_OV W_E ≤ d_head", W_U @ W_OV @ W_E, ("d_head",)),
    ("rank W_Eᵀ W_QK W_E ≤ d_head", W_E.T @ W_QK @ W_E, ("d_head",)),
    ("rank W_U W_E ≤ d_model", W_U @ W_E, ("d_model",)),
    ("rank W_O² W_V² W_O¹ W_V¹ ≤ min(d_head¹, d_head²)", W_O2 @ W_V2 @ W_O1 @ W_V1, ("d_head1", "d_head2")),
)


F, G = atom(declared_symbol("F", "n_vocab", "d_head")), atom(declared_symbol("G", "d_head", "n_vocab"))
F_Q, F_K = atom(declared_symbol("F_Q", "d_head", "n_vocab")), atom(declared_symbol("F_K", "d_head", "n_vocab"))
P, Q = atom(declared_symbol("P", "d_head2", "d_model")), atom(declared_symbol("Q", "d_model", "d_head1"))


def derive() -> list[Derivation]:
    return [
        Derivation("the OV circuit factors through d_head", [
            Step(W_U @ W_OV @ W_E),
            Step(W_U @ W_O @ W_V @ W_E, "W_OV := W_O W_V"),
            Step(F @ G, "F is n_vocab × d_head, G is d_head × n_vocab",
                 given={F.symbol: W_U @ W_O, G.symbol: W_V @ W_E}),
        ]),
        Derivation("the QK circuit factors through d_head", [
            Step(W_E.T @ W_QK @ W_E),
            Step(W_E.T @ W_Q.T @ W_K @ W_E, "W_QK := W_Qᵀ W_K"),
            Step(F_Q.T @ F_K, "F_Q and F_K are d_head × n_vocab",
                 given={F_Q.symbol: W_Q @ W_E, F_K.symbol: W_K @ W_E}),
        ]),
        Derivation("a virtual head factors through both heads", [
            Step(W_O2 @ W_V2 @ W_O1 @ W_V1),
            Step(W_O2 @ P, "through d_head² (P is d_head² × d_model)", given={P.symbol: W_V2 @ W_O1 @ W_V1}),
            Step(Q @ W_V1, "through d_head¹ (Q is d_model × d_head¹)",
                 given={P.symbol: W_V2 @ W_O1 @ W_V1, Q.symbol: W_O2 @ W_V2 @ W_O1}),
        ]),
    ]


def _dims(rng: np.random.Generator) -> dict[str, int]:
    d_heads = rng.integers(1, 4, size=3)
    d_model = int(d_heads.max()) + int(rng.integers(1, 3))
    return {"d_head": int(d_heads[0]), "d_head1": int(d_heads[1]), "d_head2": int(d_heads[2]),
            "d_model": d_model, "n_vocab": d_model + int(rng.integers(1, 3))}


def _numeric_rank_bound(example) -> bool:
    (d_head, extra, vocab), seed = example
    rng = np.random.default_rng(seed)
    d_model = d_head + extra
    w_u, w_o, w_v, w_e = (rng.normal(size=s) for s in ((vocab, d_model), (d_model, d_head), (d_head, d_model), (d_model, vocab)))
    return int(np.linalg.matrix_rank(w_u @ w_o @ w_v @ w_e)) <= d_head


def check(ctx: Context) -> list[Check]:
    checks = [ctx.instances(f"{text} over ℚ and GF(2⁶¹−1)", rank_bounded(expr, spaces, _dims))
              for text, expr, spaces in BOUNDS]
    checks.append(ctx.law(
        "rank W_U W_O W_V W_E ≤ d_head in float64 (numpy matrix_rank), sizes drawn",
        st.tuples(st.tuples(st.integers(1, 4), st.integers(0, 4), st.integers(1, 10)), seeds()),
        _numeric_rank_bound,
    ))
    return checks


def refute(ctx: Context) -> list[Check]:
    return [ctx.instances("rank W_OV ≤ d_head − 1 (on generic weights)", rank_bounded(W_OV, ("d_head",), _dims, slack=1))]


CLAIM = Claim(
    "C5",
    "Rank bounds",
    "rank W_OV, W_QK, W_U W_OV W_E, W_Eᵀ W_QK W_E ≤ d_head; rank W_U W_E ≤ d_model; virtual head ≤ min d_head",
    r"\operatorname{rank} W_{OV}^h,\ \operatorname{rank} W_{QK}^h,\ \operatorname{rank} W_U W_{OV}^h W_E,\ "
    r"\operatorname{rank} W_E^\top W_{QK}^h W_E \le d_{\mathrm{head}};\ \operatorname{rank} W_U W_E \le d_{\mathrm{model}}",
    derive=derive,
    check=check,
    refute=refute,
)
