"""C24 — Attention biases: fold the value bias into b_O, drop the key bias.

Value bias. A head writes A (X W_Vᵀ + 𝟙 b_Vᵀ) W_Oᵀ = A X W_Vᵀ W_Oᵀ + (A𝟙)(W_O b_V)ᵀ, and the rows of
A sum to 1 (A𝟙 = 𝟙), so the bias adds W_O b_V at every position whatever the pattern: it folds
into the layer's output bias, b_O → b_O + Σ_h W_O^h b_V^h, b_V → 0.

Key bias. With q_i = W_Q x_i + b_Q and k_j = W_K x_j + b_K the scores are
S = X W_Qᵀ W_K Xᵀ + 𝟙 b_Qᵀ W_K Xᵀ + (X W_Qᵀ b_K + 𝟙 b_Qᵀ b_K) 𝟙ᵀ; the terms with b_K form u𝟙ᵀ, one
value per query row, which softmax ignores (C15): b_K → 0 changes the scores but no pattern.
(:func:`tensoralg.models.processing.fold_value_biases`, :func:`~tensoralg.models.processing.drop_key_biases`.)

What the engine proves: both expansions (free matrix algebra), and that S(b_K) − S(0) is exactly
(X W_Qᵀ b_K + 𝟙 b_Qᵀ b_K) 𝟙ᵀ. Using A𝟙 = 𝟙 is reasoning under assumptions (C29); here it is
checked numerically, as is each rewrite on random models with LayerNorm (γ, β drawn), biases and MLPs.

NEGATIVE. "b_Q can be set to 0" is refuted: S(b_Q) − S(0) = 𝟙 b_Qᵀ (W_K Xᵀ + b_K 𝟙ᵀ) is not of the
form u𝟙ᵀ (the term b_Qᵀ W_K x_j depends on the key, C19's omitted term), by the engine and on
models. So is dropping b_V without folding it into b_O.

>>> CLAIM.id
'C24'
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tensoralg.algebra.expr import atom
from tensoralg.algebra.symbols import declared_symbol, ones_symbol, standard_symbol
from tensoralg.models.model import Model, forward
from tensoralg.models.processing import drop_key_biases, fold_value_biases
from tensoralg.proofs._assumptions import assumed, certified
from tensoralg.proofs._processing import draw_checkpoint, tokens_of, unchanged
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step

X = atom(declared_symbol("X", "n_ctx", "d_model"))
A = atom(declared_symbol("A", "n_ctx", "n_ctx"))
ones = atom(declared_symbol("e", "n_ctx", "unit"))  # e = 𝟙 over positions
W_Q, W_K, W_V = (atom(declared_symbol(s, "d_head", "d_model")) for s in ("W_Q", "W_K", "W_V"))
W_O = atom(declared_symbol("W_O", "d_model", "d_head"))
b_Q, b_K, b_V = (atom(declared_symbol(s, "d_head", "unit")) for s in ("b_Q", "b_K", "b_V"))


def _scores(query_bias, key_bias):
    return (X @ W_Q.T + ones @ query_bias.T) @ (X @ W_K.T + ones @ key_bias.T).T


def c24_value_bias_checks(ctx: Context) -> list[Check]:
    """C24's value-bias fold: rows of A sum to 1, so the value bias becomes an output bias W_O b_V."""
    return [
        certified(assumed(ctx, "C24: A(X W_Vᵀ + 𝟙 b_Vᵀ) W_Oᵀ = A X W_Vᵀ W_Oᵀ + 𝟙 (W_O b_V)ᵀ (A𝟙 = 𝟙)",
                            "A^{0,0} (X W_V^{0,0}ᵀ + 𝟙 b_Vᵀ) W_O^{0,0}ᵀ == A^{0,0} X W_V^{0,0}ᵀ W_O^{0,0}ᵀ + 𝟙 (W_O^{0,0} b_V)ᵀ")),
        certified(assumed(ctx, "C24: two heads fold into b_O → b_O + Σ_h W_O^h b_V^h",
                            "A^{0,0} (X W_V^{0,0}ᵀ + 𝟙 b_Vᵀ) W_O^{0,0}ᵀ + A^{0,1} (X W_V^{0,1}ᵀ + 𝟙 b_Oᵀ) W_O^{0,1}ᵀ"
                            " == A^{0,0} X W_V^{0,0}ᵀ W_O^{0,0}ᵀ + A^{0,1} X W_V^{0,1}ᵀ W_O^{0,1}ᵀ"
                            " + 𝟙 (W_O^{0,0} b_V + W_O^{0,1} b_O)ᵀ")),
    ]


def c24_key_bias_checks(ctx: Context) -> list[Check]:
    """C24's key bias: with query x and key y, the score splits into key-dependent terms and
    (W_Q x + b_Q)ᵀ b_K, which depends on the query only (so by C15 b_K can be dropped).
    Needs the laws of 1 × 1 words: b_Qᵀ W_K y = yᵀ W_Kᵀ b_Q."""
    return [
        certified(assumed(ctx, "C24: (W_Q x + b_Q)ᵀ(W_K y + b_K) = yᵀW_KᵀW_Q x + yᵀW_Kᵀb_Q + (W_Q x + b_Q)ᵀb_K",
                            "(W_Q^{0} x + b_Q)ᵀ (W_K^{0} y + b_K) == yᵀ W_K^{0}ᵀ W_Q^{0} x + yᵀ W_K^{0}ᵀ b_Q"
                            " + (W_Q^{0} x + b_Q)ᵀ b_K")),
    ]


def c24_value_bias_negative(ctx: Context) -> Check:
    """NEGATIVE: without A𝟙 = 𝟙 (no default pattern assumption) the fold is refuted."""
    return assumed(ctx, "C24 without A𝟙 = 𝟙: the value-bias fold",
                    "A^{0,0} (X W_V^{0,0}ᵀ + 𝟙 b_Vᵀ) W_O^{0,0}ᵀ == A^{0,0} X W_V^{0,0}ᵀ W_O^{0,0}ᵀ + 𝟙 (W_O^{0,0} b_V)ᵀ",
                    defaults=False)


def c24_value_bias_derivations() -> list[Derivation]:
    """C24's value-bias fold as a free-algebra chain; the last term vanishes by A𝟙 = 𝟙."""
    A0, ONE = atom(standard_symbol("A", 0, 0)), atom(ones_symbol("n_ctx"))
    X = atom(declared_symbol("X", "n_ctx", "d_model"))
    W_V, W_O = atom(standard_symbol("W_V", 0, 0)), atom(standard_symbol("W_O", 0, 0))
    b_V = atom(declared_symbol("b_V", "d_head", "1"))
    return [
        Derivation("the value bias enters through A𝟙", [
            Step(A0 @ (X @ W_V.T + ONE @ b_V.T) @ W_O.T),
            Step(A0 @ X @ W_V.T @ W_O.T + (A0 @ ONE) @ (W_O @ b_V).T, "distribute; (W_O b_V)ᵀ = b_Vᵀ W_Oᵀ"),
            Step(A0 @ X @ W_V.T @ W_O.T + ONE @ (W_O @ b_V).T + (A0 @ ONE - ONE) @ (W_O @ b_V).T,
                 "add and subtract 𝟙 (W_O b_V)ᵀ: the last term is 0 when A𝟙 = 𝟙"),
        ]),
    ]


def derive() -> list[Derivation]:
    return [
        Derivation("the value bias writes (A𝟙)(W_O b_V)ᵀ", [
            Step(A @ (X @ W_V.T + ones @ b_V.T) @ W_O.T),
            Step(A @ X @ W_V.T @ W_O.T + (A @ ones) @ (W_O @ b_V).T, "distribute; (W_O b_V)ᵀ = b_Vᵀ W_Oᵀ"),
        ]),
        Derivation("scores with biases", [
            Step(_scores(b_Q, b_K)),
            Step(X @ W_Q.T @ W_K @ X.T + ones @ b_Q.T @ W_K @ X.T + (X @ W_Q.T @ b_K + ones @ b_Q.T @ b_K) @ ones.T,
                 "distribute; (XY)ᵀ = YᵀXᵀ"),
        ]),
        *c24_value_bias_derivations(),
    ]


def _rows_sum_to_one(rng: np.random.Generator) -> Mismatch | None:
    model, tokens = draw_checkpoint(rng)
    worst = max(float(np.abs(p.sum(axis=-1) - 1).max()) for p in forward(model, tokens).patterns)
    return None if worst < 1e-12 else Mismatch(f"max |A𝟙 − 𝟙| = {worst:.3g}", "0")


def _zero(bias: str):
    def rewrite(model: Model) -> Model:
        return replace(model, layers=tuple(replace(layer, **{bias: None}) for layer in model.layers))

    return rewrite


def _first_patterns(model: Model, tokens: np.ndarray) -> np.ndarray:
    """The patterns of layer 0, where a query bias acts directly."""
    return forward(model, tokens).patterns[0]


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("S(b_Q, b_K) − S(b_Q, 0) = (X W_Qᵀ b_K + 𝟙 b_Qᵀ b_K) 𝟙ᵀ: one value per query row",
                     _scores(b_Q, b_K) - (X @ W_Q.T + ones @ b_Q.T) @ (X @ W_K.T).T,
                     (X @ W_Q.T @ b_K + ones @ b_Q.T @ b_K) @ ones.T),
        ctx.instances("every pattern's rows sum to 1 (A𝟙 = 𝟙)", _rows_sum_to_one, method="numeric"),
        ctx.numeric("fold_value_biases: every pattern and logit unchanged (LayerNorm γ, β; biases; MLPs)",
                    unchanged(fold_value_biases), rtol=1e-9),
        ctx.numeric("drop_key_biases: every pattern and logit unchanged", unchanged(drop_key_biases), rtol=1e-9),
        *c24_value_bias_checks(ctx),
        *c24_key_bias_checks(ctx),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.identity("NEGATIVE: S(b_Q, b_K) − S(0, b_K) = 𝟙 b_Qᵀ b_K 𝟙ᵀ (b_Q only adds a per-row constant)",
                     _scores(b_Q, b_K) - (X @ W_Q.T) @ (X @ W_K.T + ones @ b_K.T).T, ones @ b_Q.T @ b_K @ ones.T),
        ctx.numeric("NEGATIVE: b_Q can be set to 0 without changing any pattern", unchanged(_zero("b_Q"), _first_patterns),
                    explain=tokens_of()),
        ctx.numeric("NEGATIVE: b_V can be dropped without folding it into b_O", unchanged(_zero("b_V")), explain=tokens_of()),
        c24_value_bias_negative(ctx),
    ]


CLAIM = Claim(
    "C24",
    "Attention biases: fold b_V into b_O, drop b_K",
    "rows of A sum to 1: b_O → b_O + Σ_h W_O^h b_V^h, b_V → 0; b_K's score terms depend on the query only: b_K → 0",
    r"b_O \to b_O + \textstyle\sum_h W_O^h b_V^h,\ b_V \to 0,\ b_K \to 0 \text{ leave every pattern and logit unchanged}",
    derive=derive,
    check=check,
    refute=refute,
)
