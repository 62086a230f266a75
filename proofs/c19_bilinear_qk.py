"""C19 — The bilinear QK feature map of query and key transcoders.

A query transcoder writes q̂ = D_Q a_Q + b_Q and a key transcoder k̂ = D_K a_K + b_K
(D: d_head·n_head × d_hidden, sliced per head; a the sparse feature activations).
Per head, with one row per position (a_Q: n_ctx × d_hidden_Q, 𝟙 = e the ones column):

    S = (a_Q D_Qᵀ + 𝟙b_Qᵀ)(a_K D_Kᵀ + 𝟙b_Kᵀ)ᵀ
      = a_Q M a_Kᵀ + 𝟙 b_Qᵀ D_K a_Kᵀ + (a_Q D_Qᵀ b_K + 𝟙 b_Qᵀ b_K) 𝟙ᵀ,   M = D_Qᵀ D_K

with the feature map M[i, j, h] = ⟨D_Q[:, i]_h, D_K[:, j]_h⟩ (d_hidden_Q × d_hidden_K × n_head).
The last two terms are per-row constants and drop out of the pattern (C15); the
query-bias × key-feature term 𝟙 b_Qᵀ D_K a_Kᵀ, which the post omits, does not.
The masked map a_Q (M ⊙ mask) a_Kᵀ reproduces a_Q M a_Kᵀ exactly when the mask is all ones.

Checked exactly on integer transcoders, and on a random model with biases b_Q, b_K
whose queries and keys the (random, linear-encoder) transcoders reconstruct exactly,
against the model's real softmax pattern. NEGATIVE: dropping b_Qᵀ D_K a_K leaves the
pattern unchanged — refuted; a mask with zeros reproduces the scores — refuted.

>>> CLAIM.id
'C19'
"""

from __future__ import annotations

import numpy as np

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step, default_model, random_tokens
from tensoralg.algebra.expr import atom
from tensoralg.models.model import AttentionLayer, causal_softmax, forward, with_weights
from tensoralg.models.qk_dictionary import feature_map
from tensoralg.algebra.symbols import declared_symbol


def _m(name: str, rows: str, cols: str):
    return atom(declared_symbol(name, rows, cols))


a_Q, a_K = _m("a_Q", "n_ctx", "f_Q"), _m("a_K", "n_ctx", "f_K")
D_Q, D_K = _m("D_Q", "d_head", "f_Q"), _m("D_K", "d_head", "f_K")
b_Q, b_K = _m("b_Q", "d_head", "unit"), _m("b_K", "d_head", "unit")
e = _m("e", "n_ctx", "unit")  # 𝟙, the all-ones column (unit = 1)
M = _m("M", "f_Q", "f_K")


def derive() -> list[Derivation]:
    return [
        Derivation("the score of one head", [
            Step((a_Q @ D_Q.T + e @ b_Q.T) @ (a_K @ D_K.T + e @ b_K.T).T),
            Step(a_Q @ D_Q.T @ D_K @ a_K.T + e @ b_Q.T @ D_K @ a_K.T + a_Q @ D_Q.T @ b_K @ e.T + e @ b_Q.T @ b_K @ e.T,
                 "distribute; (XY)ᵀ = YᵀXᵀ"),
            Step(a_Q @ M @ a_K.T + e @ b_Q.T @ D_K @ a_K.T + (a_Q @ D_Q.T @ b_K + e @ b_Q.T @ b_K) @ e.T,
                 "M := D_Qᵀ D_K; the last terms are u𝟙ᵀ (per query row)", given={M.symbol: D_Q.T @ D_K}),
        ]),
    ]


def _integer_transcoders(rng: np.random.Generator):
    n_heads, d_head, f_q, f_k, n = 2, 2, 4, 3, 4
    D_Q_, D_K_ = rng.integers(-3, 4, size=(n_heads * d_head, f_q)), rng.integers(-3, 4, size=(n_heads * d_head, f_k))
    acts_q, acts_k = rng.integers(1, 4, size=(n, f_q)), rng.integers(1, 4, size=(n, f_k))  # int64: exact
    return n_heads, d_head, D_Q_, D_K_, acts_q, acts_k


def _first_difference(lhs: np.ndarray, rhs: np.ndarray, what: str) -> Mismatch | None:
    for index in np.ndindex(lhs.shape):
        if lhs[index] != rhs[index]:
            return Mismatch(int(lhs[index]), int(rhs[index]), entry=tuple(int(i) for i in index), field="Z", note=what,
                            dims={"n_head": 2, "d_head": 2, "f_Q": 4, "f_K": 3, "n_ctx": 4})
    return None


def _masked_map(mask_zeros: bool):
    def trial(rng: np.random.Generator) -> Mismatch | None:
        n_heads, d_head, D_Q_, D_K_, acts_q, acts_k = _integer_transcoders(rng)
        fm = feature_map(D_Q_, D_K_, n_heads)
        mask = np.ones_like(fm)
        if mask_zeros:
            mask[tuple(rng.integers(0, s) for s in fm.shape)] = 0
        for h in range(n_heads):
            rows = slice(h * d_head, (h + 1) * d_head)
            per_head = D_Q_[rows].T @ D_K_[rows]
            found = _first_difference(fm[:, :, h], per_head, f"M[:, :, {h}] against D_Q,hᵀ D_K,h") or _first_difference(
                acts_q @ (fm[:, :, h] * mask[:, :, h]) @ acts_k.T, acts_q @ per_head @ acts_k.T,
                f"head {h}: a_Q (M ⊙ mask) a_Kᵀ against a_Q D_Qᵀ D_K a_Kᵀ",
            )
            if found is not None:
                return found
        return None

    return trial


def _setup(rng: np.random.Generator):
    """A random model with biases b_Q, b_K, and transcoders that reconstruct its queries and keys.

    Decoders D are random with full row rank; a linear encoder a = X (D⁺ W)ᵀ then gives
    D a + b = W x + b exactly, so the pattern softmax*(s·q̂ k̂ᵀ) is the model's own.
    """
    model = default_model(rng, heads=(2,))
    layer = model.layers[0]
    n_heads, d_head, d_model = layer.W_Q.shape
    b_q, b_k = rng.normal(size=(n_heads, d_head)), rng.normal(size=(n_heads, d_head))
    model = with_weights(model, layers=(AttentionLayer(layer.W_Q, layer.W_K, layer.W_V, layer.W_O, b_Q=b_q, b_K=b_k),))
    run = forward(model, random_tokens(rng, model))
    x = run.residuals[0]
    coders = []
    for W, b, f in ((layer.W_Q, b_q, 10), (layer.W_K, b_k, 9)):
        D = rng.normal(size=(n_heads * d_head, f))
        acts = x @ (np.linalg.pinv(D) @ W.reshape(n_heads * d_head, d_model)).T
        coders.append((D, acts, b.reshape(-1)))
    return model, run, coders


def _terms(rng: np.random.Generator):
    model, run, ((D_Q_, a_q, b_q), (D_K_, a_k, b_k)) = _setup(rng)
    n_heads = model.layers[0].n_heads
    fm, d = feature_map(D_Q_, D_K_, n_heads), D_Q_.shape[0] // n_heads
    ones = np.ones((a_q.shape[0], 1))
    terms = []
    for h in range(n_heads):
        rows = slice(h * d, (h + 1) * d)
        terms.append((
            a_q @ fm[:, :, h] @ a_k.T,  # a_Q M a_Kᵀ
            ones @ (b_q[rows] @ D_K_[rows] @ a_k.T)[None, :],  # 𝟙 b_Qᵀ D_K a_Kᵀ
            (a_q @ D_Q_[rows].T @ b_k[rows])[:, None] @ ones.T,  # a_Q D_Qᵀ b_K 𝟙ᵀ
            np.full((a_q.shape[0],) * 2, b_q[rows] @ b_k[rows]),  # b_Qᵀ b_K
        ))
    return model, run, terms


def _scores(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    model, run, terms = _terms(rng)
    parts = np.stack([sum(t) for t in terms])
    return run.scores[0].ravel(), parts.ravel(), float(np.max(np.abs(terms)))


def _pattern(kept: int):
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        model, run, terms = _terms(rng)
        scores = np.stack([sum(t[:kept]) for t in terms])
        return run.patterns[0].ravel(), causal_softmax(model.score_scale * scores).ravel()

    return sides


def check(ctx: Context) -> list[Check]:
    return [
        ctx.instances("M[i,j,h] = ⟨D_Q[:,i]_h, D_K[:,j]_h⟩ and a_Q (M ⊙ 𝟙) a_Kᵀ = a_Q D_Qᵀ D_K a_Kᵀ, exactly",
                      _masked_map(mask_zeros=False)),
        ctx.numeric("the model's scores = a_Q M a_Kᵀ + 𝟙 b_Qᵀ D_K a_Kᵀ + a_Q D_Qᵀ b_K 𝟙ᵀ + b_Qᵀ b_K", _scores),
        ctx.numeric("the model's pattern = softmax*(s·(a_Q M a_Kᵀ + 𝟙 b_Qᵀ D_K a_Kᵀ)): the last two terms drop out",
                    _pattern(kept=2)),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.numeric("dropping 𝟙 b_Qᵀ D_K a_Kᵀ too leaves the pattern unchanged: softmax*(s·a_Q M a_Kᵀ)", _pattern(kept=1)),
        ctx.instances("a_Q (M ⊙ mask) a_Kᵀ reproduces the scores for a mask with a zero", _masked_map(mask_zeros=True)),
    ]


CLAIM = Claim(
    "C19",
    "The bilinear QK feature map",
    "q̂ᵀk̂ = a_Qᵀ M a_K + b_Qᵀ D_K a_K + a_Qᵀ D_Qᵀ b_K + b_Qᵀ b_K, M = D_Qᵀ D_K; only the last two drop out",
    r"\hat q^\top \hat k = a_Q^\top M a_K + b_Q^\top D_K a_K + a_Q^\top D_Q^\top b_K + b_Q^\top b_K,\quad"
    r" M[i,j,h] = \langle D_Q[:,i]_h, D_K[:,j]_h\rangle",
    derive=derive,
    check=check,
    refute=refute,
)
