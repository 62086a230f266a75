"""C23 — Centring the unembedding changes the logits but not the log-probabilities.

W_U → (Id − 𝟙 c 𝟙ᵀ) W_U and b_U → b_U − 𝟙 c 𝟙ᵀ b_U (𝟙 ∈ ℝ^{n_vocab}, c = 1/n_vocab) change the
logits ℓ = W_U y + b_U of a position into ℓ − 𝟙 (c 𝟙ᵀ ℓ): one constant subtracted from every
logit of that position, which log softmax ignores, so every log-probability is unchanged
exactly (:func:`tensoralg.models.processing.center_unembed`).

What the engine proves: the centred logits are ℓ − 𝟙 (c 𝟙ᵀ ℓ) (free matrix algebra); that
log softmax(ℓ + 𝟙 s) = log softmax(ℓ) is checked numerically (C15 is the same fact for softmax),
and so is the whole rewrite on random models with LayerNorm (γ, β drawn), biases and MLPs.

NEGATIVE. "The logits are unchanged" is refuted, by the engine (the centred logits are not ℓ)
and on models.

>>> CLAIM.id
'C23'
"""

from __future__ import annotations

import numpy as np

from tensoralg.algebra.expr import Identity, atom
from tensoralg.algebra.symbols import declared_symbol
from tensoralg.models.model import Model, forward
from tensoralg.models.processing import center_unembed, log_softmax
from tensoralg.proofs._processing import patterns_and_log_probs, tokens_of, unchanged
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step

W_U = atom(declared_symbol("W_U", "n_vocab", "d_model"))
y = atom(declared_symbol("y", "d_model", "unit"))  # the final (normalised) residual stream of a position
b_U, ones = (atom(declared_symbol(s, "n_vocab", "unit")) for s in ("b_U", "e"))  # e = 𝟙
c = atom(declared_symbol("c", "unit", "unit"))  # c = 1/n_vocab
Q_symbol = declared_symbol("Q", "n_vocab", "n_vocab")
Q = atom(Q_symbol)  # Q = Id − 𝟙 c 𝟙ᵀ over the vocabulary
CENTRING = {Q_symbol: Identity("n_vocab") - ones @ c @ ones.T}


def derive() -> list[Derivation]:
    return [
        Derivation("centred logits shift every logit of a position by one constant", [
            Step((Q @ W_U) @ y + Q @ b_U),
            Step(Q @ (W_U @ y + b_U), "distribute"),
            Step(W_U @ y + b_U - ones @ (c @ ones.T @ (W_U @ y + b_U)), "Q := Id − 𝟙 c 𝟙ᵀ", given=CENTRING),
        ]),
    ]


def _log_softmax_ignores_shifts(rng: np.random.Generator) -> Mismatch | None:
    logits = rng.normal(size=(5, 12)) * 4
    shift = rng.normal(size=(5, 1)) * 50
    gap = float(np.abs(log_softmax(logits + shift) - log_softmax(logits)).max())
    return None if gap < 1e-10 else Mismatch(f"max |Δ log softmax| = {gap:.3g}", "0")


def _logits(model: Model, tokens: np.ndarray) -> np.ndarray:
    return forward(model, tokens).logits


def check(ctx: Context) -> list[Check]:
    centred = (Identity("n_vocab") - ones @ c @ ones.T) @ (W_U @ y + b_U)
    return [
        ctx.identity("(Id − 𝟙 c 𝟙ᵀ)(W_U y + b_U) = ℓ − 𝟙 (c 𝟙ᵀ ℓ), ℓ = W_U y + b_U",
                     centred, W_U @ y + b_U - ones @ (c @ ones.T @ (W_U @ y + b_U))),
        ctx.instances("log softmax(ℓ + 𝟙 s) = log softmax(ℓ)", _log_softmax_ignores_shifts, method="numeric"),
        ctx.numeric("center_unembed: every pattern and log-probability unchanged (LayerNorm γ, β; biases; MLPs)",
                    unchanged(center_unembed, patterns_and_log_probs), rtol=1e-9),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.identity("NEGATIVE: (Id − 𝟙 c 𝟙ᵀ)(W_U y + b_U) = W_U y + b_U (the logits are unchanged)",
                     (Identity("n_vocab") - ones @ c @ ones.T) @ (W_U @ y + b_U), W_U @ y + b_U),
        ctx.numeric("NEGATIVE: center_unembed changes no logit", unchanged(center_unembed, _logits), explain=tokens_of()),
    ]


CLAIM = Claim(
    "C23",
    "Centring the unembedding",
    "W_U → (Id − 𝟙𝟙ᵀ/n_vocab) W_U, b_U likewise: one constant per position, log-probabilities unchanged exactly",
    r"W_U \to (I - \tfrac{1}{n_{vocab}}\mathbf{1}\mathbf{1}^\top) W_U:\ \log\mathrm{softmax} \text{ unchanged}",
    derive=derive,
    check=check,
    refute=refute,
)
