"""C25 — Traces: cyclic words, transposes and tensor products.

    tr(XY) = tr(YX),   tr(Xᵀ) = tr(X),   tr(A⊗B) = tr(A) tr(B)

A trace is a cyclic word up to rotation and transpose-reversal
(:mod:`tensoralg.algebra.scalars`), so the engine decides trace identities symbolically:
Σλ of an n_vocab-sized OV circuit is tr(W_U W_OV W_E) = tr(W_OV W_E W_U), a d_model-sized
trace, and after W_OV = W_O W_V the d_head-sized tr(W_V W_E W_U W_O). With ‖E‖_F² = tr(EᵀE),
‖XY‖_F² = tr(YᵀXᵀXY) = tr(XᵀX YYᵀ).

Checked: those identities symbolically (and on exact instances); the trace evaluates as the
sum of the diagonal (numpy's np.trace on the dense Kronecker product, an independent
definition) on random float instances, tensor terms included.
NEGATIVE: tr(XYZ) = tr(XZY) (a rotation is not any permutation), ‖XY‖_F² = ‖YX‖_F² (C17's
erratum), tr(A⊗B) = tr(AB) and tr(XY) = tr(XᵀY) are refuted.

>>> CLAIM.id
'C25'
"""

from __future__ import annotations

import numpy as np

from tensoralg.algebra.evaluate import evaluate
from tensoralg.algebra.expr import Tensor, Trace, atom
from tensoralg.algebra.symbols import declared_symbol, standard_symbol
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step

X, Y, Z = (atom(declared_symbol(n, "p", "p")) for n in "XYZ")
B = atom(declared_symbol("B", "q", "q"))
W_E, W_U = atom(standard_symbol("W_E")), atom(standard_symbol("W_U"))
W_OV, W_O, W_V = (atom(standard_symbol(n, 0, 0)) for n in ("W_OV", "W_O", "W_V"))
MATRICES = ["X, Y, Z: p x p", "B: q x q", "S: p x q", "R: q x p"]


def derive() -> list[Derivation]:
    return [
        Derivation("Σλ of the OV circuit is a small trace", [
            Step(Trace(W_U @ W_OV @ W_E)),
            Step(Trace(W_OV @ W_E @ W_U), "rotate: tr(XY) = tr(YX)"),
            Step(Trace(W_V @ W_E @ W_U @ W_O), "W_OV = W_O W_V, rotate again: a d_head × d_head trace"),
        ]),
        Derivation("the Frobenius norm of a product", [
            Step(Trace((X @ Y).T @ (X @ Y))),
            Step(Trace(Y.T @ X.T @ X @ Y), "(XY)ᵀ = YᵀXᵀ"),
            Step(Trace(X.T @ X @ Y @ Y.T), "rotate YᵀXᵀXY to XᵀXYYᵀ"),
        ]),
        Derivation("the trace of a tensor product", [
            Step(Trace(Tensor((X, B)))),
            Step(Trace(X) @ Trace(B), "tr(A⊗B) = tr(A) tr(B)"),
        ]),
    ]


def _trace_is_diagonal_sum(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    p, q = (int(n) for n in rng.integers(1, 5, size=2))
    x, y = (declared_symbol(n, "p", "p") for n in "XY")
    b = declared_symbol("B", "q", "q")
    values = {x: rng.normal(size=(p, p)), y: rng.normal(size=(p, p)), b: rng.normal(size=(q, q))}
    expr = Trace(Tensor((atom(x) @ atom(y), atom(b))))
    dense = np.kron(values[x] @ values[y], values[b])
    return evaluate(expr, values), np.array([[np.trace(dense)]])


def check(ctx: Context) -> list[Check]:
    return [
        ctx.formula("tr(XY) = tr(YX) for rectangular S, R", "tr(S R) == tr(R S)", MATRICES),
        ctx.formula("tr(Xᵀ) = tr(X)", "tr(Xᵀ) == tr(X)", MATRICES),
        ctx.formula("tr(XYZ) = tr(ZᵀYᵀXᵀ)", "tr(X Y Z) == tr(Zᵀ Yᵀ Xᵀ)", MATRICES),
        ctx.formula("tr(A⊗B) = tr(A) tr(B)", "tr(X ⊗ B) == tr(X) tr(B)", MATRICES),
        ctx.formula("‖XY‖_F² = tr(YᵀXᵀXY) = tr(XᵀX YYᵀ)", "‖X Y‖_F^2 == tr(Xᵀ X Y Yᵀ)", MATRICES),
        ctx.formula("Σλ(W_U W_OV W_E) = tr(W_V W_E W_U W_O), a d_head-sized trace",
                    "tr(W_U W_OV^{0,0} W_E) == tr(W_V^{0,0} W_E W_U W_O^{0,0})"),
        ctx.formula("tr(Id_3) = 3 and tr(P P⁻¹) = tr(Id)", "tr(Id_{3}) == tr(P P^{-1})", ["P: 3 x 3"]),
        ctx.numeric("tr evaluates as the sum of the diagonal of the dense Kronecker product", _trace_is_diagonal_sum),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.formula("tr(XYZ) = tr(XZY)", "tr(X Y Z) == tr(X Z Y)", MATRICES),
        ctx.formula("‖XY‖_F² = ‖YX‖_F² (the cyclic identity misapplied to norms)", "‖X Y‖_F^2 == ‖Y X‖_F^2", MATRICES),
        ctx.formula("tr(A⊗B) = tr(AB)", "tr(X ⊗ Y) == tr(X Y)", MATRICES),
        ctx.formula("tr(XY) = tr(XᵀY)", "tr(X Y) == tr(Xᵀ Y)", MATRICES),
    ]


CLAIM = Claim(
    "C25",
    "Traces",
    "tr(XY) = tr(YX), tr(Xᵀ) = tr(X), tr(A⊗B) = tr(A) tr(B); ‖XY‖_F² = tr(XᵀX YYᵀ)",
    r"\operatorname{tr}(XY) = \operatorname{tr}(YX),\ \operatorname{tr}(X^\top) = \operatorname{tr}(X),\ "
    r"\operatorname{tr}(A\otimes B) = \operatorname{tr}(A)\operatorname{tr}(B)",
    derive=derive,
    check=check,
    refute=refute,
)
