"""C15 — Softmax is invariant to a per-row constant.

softmax(s)_j = e^{s_j} / Σ_k e^{s_k}, so adding c to every entry of a row multiplies
numerator and denominator by e^c: softmax*(S + c𝟙ᵀ) = softmax*(S) for every c ∈ ℝ^{n_ctx},
with or without the causal mask (the mask removes the same entries on both sides).
A score term of the form u𝟙ᵀ — one that depends only on the query position — drops
out of the pattern.

With biases, q_i = W_Q x_i + b_Q and k_j = W_K x_j + b_K, the derivation expands the
scores into X W_QK Xᵀ + 𝟙 b_Qᵀ W_K Xᵀ + (X W_Qᵀ b_K + 𝟙 b_Qᵀ b_K)𝟙ᵀ: the last term is
per-row and drops out; the middle one, which depends on the key, stays.
NEGATIVE (the twin): a per-column term 𝟙vᵀ does not drop out.

>>> CLAIM.id
'C15'
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step, default_model, random_tokens
from tensoralg.algebra.expr import atom
from tensoralg.models.model import AttentionLayer, causal_softmax, forward, with_weights
from tensoralg.verify.strategies import real_matrices
from tensoralg.algebra.symbols import declared_symbol, standard_symbol

X = atom(declared_symbol("X", "n_ctx", "d_model"))
ones = atom(declared_symbol("e", "n_ctx", "unit"))  # e = 𝟙, the all-ones column (unit = 1)
b_Q, b_K = (atom(declared_symbol(n, "d_head", "unit")) for n in ("b_Q", "b_K"))
W_Q, W_K, W_QK = (atom(standard_symbol(n, 0, 0)) for n in ("W_Q", "W_K", "W_QK"))


def derive() -> list[Derivation]:
    queries, keys = X @ W_Q.T + ones @ b_Q.T, X @ W_K.T + ones @ b_K.T
    return [
        Derivation("scores with biases", [
            Step(queries @ keys.T),
            Step(X @ W_Q.T @ W_K @ X.T + ones @ b_Q.T @ W_K @ X.T + X @ W_Q.T @ b_K @ ones.T + ones @ b_Q.T @ b_K @ ones.T,
                 "distribute; (XY)ᵀ = YᵀXᵀ"),
            Step(X @ W_QK @ X.T + ones @ b_Q.T @ W_K @ X.T + (X @ W_Q.T @ b_K + ones @ b_Q.T @ b_K) @ ones.T,
                 "W_QK := W_Qᵀ W_K; the last two terms are u𝟙ᵀ, one value per query row"),
        ]),
    ]


def _plain_softmax(S: np.ndarray) -> np.ndarray:
    e = np.exp(S - S.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _invariant(softmax):
    def holds(example) -> bool:
        S, c = example
        return bool(np.allclose(softmax(S + c[:, None]), softmax(S), rtol=1e-9, atol=1e-12))

    return holds


def _rows_and_constants():
    return st.integers(1, 6).flatmap(
        lambda n: st.tuples(real_matrices(rows=n, cols=n, bound=5.0), real_matrices(rows=n, cols=1, bound=5.0).map(np.ravel))
    )


def _biased(rng: np.random.Generator):
    model = default_model(rng, heads=(2,))
    layer = model.layers[0]
    n_heads, d_head, _ = layer.W_Q.shape
    biased = AttentionLayer(layer.W_Q, layer.W_K, layer.W_V, layer.W_O,
                            b_Q=rng.normal(size=(n_heads, d_head)), b_K=rng.normal(size=(n_heads, d_head)))
    model = with_weights(model, layers=(biased,))
    return model, forward(model, random_tokens(rng, model))


def _query_terms_drop_out(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, run = _biased(rng)
    layer, x = model.layers[0], run.residuals[0]
    kept = [x @ layer.W_QK[h] @ x.T + (layer.b_Q[h] @ layer.W_K[h] @ x.T)[None, :] for h in range(layer.n_heads)]
    return run.patterns[0].ravel(), causal_softmax(model.score_scale * np.stack(kept)).ravel()


def _key_terms_drop_out(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.integers(2, 7))
    S, v = rng.normal(size=(n, n)), rng.normal(size=n)
    return causal_softmax(S + v[None, :]), causal_softmax(S)


def check(ctx: Context) -> list[Check]:
    return [
        ctx.law("softmax*(S + c𝟙ᵀ) = softmax*(S), causal mask", _rows_and_constants(), _invariant(causal_softmax)),
        ctx.law("softmax(S + c𝟙ᵀ) = softmax(S), no mask", _rows_and_constants(), _invariant(_plain_softmax)),
        ctx.numeric("with biases b_Q, b_K the pattern is softmax*(s·(X W_QK Xᵀ + 𝟙 b_Qᵀ W_K Xᵀ))", _query_terms_drop_out),
    ]


def refute(ctx: Context) -> list[Check]:
    return [ctx.numeric("softmax*(S + 𝟙vᵀ) = softmax*(S) (a per-key term)", _key_terms_drop_out)]


CLAIM = Claim(
    "C15",
    "Softmax is invariant to per-row constants",
    "softmax*(S + c𝟙ᵀ) = softmax*(S) with or without the mask: score terms depending only on the query drop out",
    r"\operatorname{softmax}^*(S + c\,\mathbb{1}^\top) = \operatorname{softmax}^*(S)\quad \forall c \in \mathbb{R}^{n_{ctx}}",
    derive=derive,
    check=check,
    refute=refute,
)
