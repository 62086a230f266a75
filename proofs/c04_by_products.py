"""C4 — W_Q, W_K act only through W_QK; W_O, W_V only through W_OV.

For any invertible d_head × d_head matrix M (one per head, any two may differ):

    (M W_Q)ᵀ (M⁻ᵀ W_K) = W_Qᵀ Mᵀ M⁻ᵀ W_K = W_Qᵀ W_K = W_QK
    (W_O M⁻¹)(M W_V)   = W_O M⁻¹ M W_V   = W_O W_V   = W_OV

so no score X W_QK Xᵀ, no pattern and no output (A⊗W_OV)·X changes: queries, keys
and values are by-products of a basis choice inside the head. The engine proves
this with the free reduction Mᵀ M⁻ᵀ = Id, then checks it on random models.

NEGATIVE (twins): transforming both sides by M, (M W_Q)ᵀ(M W_K) = W_QK, is refuted,
and so is "the keys W_K x are unchanged": they change while the scores do not.

>>> CLAIM.id
'C4'
"""

from __future__ import annotations

import numpy as np

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step, default_model, random_tokens
from tensoralg.algebra.expr import Apply, Inverse, Tensor, atom
from tensoralg.models.model import AttentionLayer, forward, with_weights
from tensoralg.proofs._shared import invertible, sym
from tensoralg.algebra.symbols import declared_symbol

M = atom(declared_symbol("M", "d_head", "d_head"))
M_inv, M_inv_T = Inverse(M), Inverse(M.T)
W_Q, W_K, W_V, W_O, W_QK, W_OV = (sym(n, 0, 0) for n in ("W_Q", "W_K", "W_V", "W_O", "W_QK", "W_OV"))
A = sym("A", 0, 0)
X = atom(declared_symbol("X", "n_ctx", "d_model"))


def derive() -> list[Derivation]:
    return [
        Derivation("the QK circuit", [
            Step((M @ W_Q).T @ (M_inv_T @ W_K)),
            Step(W_Q.T @ M.T @ M_inv_T @ W_K, "(XY)ᵀ = YᵀXᵀ"),
            Step(W_Q.T @ W_K, "Mᵀ M⁻ᵀ = Id"),
            Step(W_QK, "W_QK := W_Qᵀ W_K"),
        ]),
        Derivation("every score", [
            Step(X @ (M @ W_Q).T @ (M_inv_T @ W_K) @ X.T),
            Step(X @ W_QK @ X.T, "the QK circuit is unchanged"),
        ]),
        Derivation("the head's output", [
            Step(Apply(Tensor((A, (W_O @ M_inv) @ (M @ W_V))), X)),
            Step(Apply(Tensor((A, W_O @ W_V)), X), "M⁻¹ M = Id"),
            Step(Apply(Tensor((A, W_OV)), X), "W_OV := W_O W_V"),
        ]),
    ]


def _rebased(rng: np.random.Generator, layer: AttentionLayer) -> AttentionLayer:
    d_head = layer.W_Q.shape[1]
    Ms = [invertible(rng, d_head) for _ in range(layer.n_heads)]
    Ns = [invertible(rng, d_head) for _ in range(layer.n_heads)]
    return AttentionLayer(
        np.stack([m @ w for m, w in zip(Ms, layer.W_Q)]),
        np.stack([np.linalg.inv(m).T @ w for m, w in zip(Ms, layer.W_K)]),
        np.stack([n @ w for n, w in zip(Ns, layer.W_V)]),
        np.stack([w @ np.linalg.inv(n) for n, w in zip(Ns, layer.W_O)]),
    )


def _everything(run) -> np.ndarray:
    parts = run.scores + run.patterns + run.head_outputs + (run.logits,)
    return np.concatenate([p.ravel() for p in parts])


def _unchanged(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(2, 2))
    rebased = with_weights(model, layers=tuple(_rebased(rng, layer) for layer in model.layers))
    tokens = random_tokens(rng, model)
    return _everything(forward(model, tokens)), _everything(forward(rebased, tokens))


def _keys(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(2,))
    rebased = _rebased(rng, model.layers[0])
    x = forward(model, random_tokens(rng, model)).residuals[0]
    return np.einsum("nd,hed->hne", x, model.layers[0].W_K).ravel(), np.einsum("nd,hed->hne", x, rebased.W_K).ravel()


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("(M W_Q)ᵀ (M⁻ᵀ W_K) = W_QK", (M @ W_Q).T @ (M_inv_T @ W_K), W_QK),
        ctx.identity("(W_O M⁻¹)(M W_V) = W_OV", (W_O @ M_inv) @ (M @ W_V), W_OV),
        ctx.numeric("random M per head: scores, patterns, head outputs and logits unchanged", _unchanged, rtol=1e-8),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.identity("(M W_Q)ᵀ (M W_K) = W_QK", (M @ W_Q).T @ (M @ W_K), W_QK),
        ctx.numeric("the keys W_K x are unchanged by W_K → M⁻ᵀ W_K", _keys),
    ]


CLAIM = Claim(
    "C4",
    "Keys, queries and values are by-products",
    "(W_Q, W_K) → (M W_Q, M⁻ᵀ W_K) and (W_V, W_O) → (M W_V, W_O M⁻¹) change no score, pattern or output",
    r"(M W_Q)^\top (M^{-\top} W_K) = W_Q^\top W_K = W_{QK},\qquad (W_O M^{-1})(M W_V) = W_O W_V = W_{OV}",
    derive=derive,
    check=check,
    refute=refute,
)
