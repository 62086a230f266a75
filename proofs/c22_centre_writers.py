"""C22 — Centring the writers of a LayerNorm model.

When every reader of the residual stream sits behind a LayerNorm, n(x + 𝟙 v) = n(x) for every
shift v along 𝟙 (n subtracts the mean), so every matrix and bias that writes into the stream
(W_E, W_pos, W_O^h, b_O, W_out, b_out) may be replaced by P times itself, P = Id − 𝟙 c 𝟙ᵀ
(c = 1/d_model), with every pattern and logit unchanged
(:func:`tensoralg.models.processing.center_writing_weights`).

What the engine proves: a centred writer differs from the original by 𝟙 times a row,
P W = W − 𝟙 (c 𝟙ᵀ W), so the residual stream of the centred model is X − 𝟙-multiples per position
(the writes add up linearly); and centring commutes with what the next writer adds,
P(W_1 + W_2) = P W_1 + P W_2. That n removes 𝟙-multiples — n(x + 𝟙 v) = n(x) — is checked
numerically (its proof from P𝟙 = 0 is reasoning under assumptions, C29), and so is the whole
rewrite on random models with LayerNorm (γ, β drawn), biases and MLPs.

NEGATIVE. The same centring in a model without LayerNorm (attention-only, and with MLPs) changes
the logits: refuted.

>>> CLAIM.id
'C22'
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tensoralg.algebra.expr import Identity, atom
from tensoralg.algebra.symbols import declared_symbol, ones_symbol, standard_symbol
from tensoralg.models.model import layer_norm
from tensoralg.models.processing import center_writing_weights
from tensoralg.proofs._assumptions import CENTRING_RELATIONS, assumed, certified
from tensoralg.proofs._processing import draw_checkpoint, patterns_and_logits, tokens_of, unchanged
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step

W, W2 = (atom(declared_symbol(s, "d_model", "d_head")) for s in ("W", "V"))
x = atom(declared_symbol("x", "d_model", "unit"))
z = atom(declared_symbol("z", "d_head", "unit"))
ones = atom(declared_symbol("e", "d_model", "unit"))  # e = 𝟙
c = atom(declared_symbol("c", "unit", "unit"))  # c = 1/d_model
P_symbol = declared_symbol("P", "d_model", "d_model")
P = atom(P_symbol)
CENTRING = {P_symbol: Identity("d_model") - ones @ c @ ones.T}


def c22_linear_checks(ctx: Context) -> list[Check]:
    """C22's linear part: readers behind LayerNorm see P·x, and P absorbs centred writers and 𝟙-shifts."""
    return [
        certified(assumed(ctx, "C22: P(P W_E) = P W_E from P² = P", "P (P W_E) == P W_E", CENTRING_RELATIONS)),
        certified(assumed(ctx, "C22: P(P W_E tᵀ + P W_pos) = P(W_E tᵀ + W_pos) (centre every writer)",
                            "P (P W_E tᵀ + P W_pos) == P (W_E tᵀ + W_pos)", CENTRING_RELATIONS)),
        certified(assumed(ctx, "C22: P(W_E + 𝟙cᵀ) = P W_E from P𝟙 = 0 (n(x + c𝟙) = n(x))",
                            "P (W_E + 𝟙 cᵀ) == P W_E", CENTRING_RELATIONS)),
        certified(assumed(ctx, "C22: 𝟙ᵀ P = 0 from P𝟙 = 0 and Pᵀ = P (relations are closed under ᵀ)",
                            "𝟙ᵀ P == 0", CENTRING_RELATIONS)),
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


def derive() -> list[Derivation]:
    return [
        Derivation("a centred writer differs by 𝟙 times a row", [
            Step(P @ W),
            Step(W - ones @ (c @ ones.T @ W), "P := Id − 𝟙 c 𝟙ᵀ", given=CENTRING),
        ]),
        Derivation("centring the writers centres their sum", [
            Step(P @ W + P @ W2),
            Step(P @ (W + W2), "distribute"),
            Step(W + W2 - ones @ (c @ ones.T @ (W + W2)), "P := Id − 𝟙 c 𝟙ᵀ", given=CENTRING),
        ]),
        *c22_linear_derivations(),
    ]


def _shift_invariance(rng: np.random.Generator) -> Mismatch | None:
    x = rng.normal(size=(6, 8))
    v = rng.normal(size=(6, 1)) * 10
    gap = float(np.abs(layer_norm(x + v) - layer_norm(x)).max())
    return None if gap < 1e-10 else Mismatch(f"max |n(x + 𝟙v) − n(x)| = {gap:.3g}", "0")


def _writers_centred(rng: np.random.Generator) -> Mismatch | None:
    centred = center_writing_weights(draw_checkpoint(rng)[0])
    writers = [centred.W_E, centred.W_pos] + [m for layer in centred.layers for m in (layer.W_O, layer.b_O[:, None])]
    writers += [m for mlp in centred.mlps if mlp is not None for m in (mlp.W_out, mlp.b_out[:, None])]
    worst = max(float(np.abs(m.sum(axis=-2)).max()) for m in writers)
    return None if worst < 1e-10 else Mismatch(f"max |𝟙ᵀ W| = {worst:.3g}", "0")


def _without_layer_norm(**options):
    """Centre the writers of a LayerNorm model, then compare the two with LayerNorm switched off."""
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        model, tokens = draw_checkpoint(rng, layer_norm=False, **options)
        centred = center_writing_weights(replace(model, layer_norm=True))
        return patterns_and_logits(model, tokens), patterns_and_logits(replace(centred, layer_norm=False), tokens)

    return sides


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("P(x + W z) = x + W z − 𝟙 c 𝟙ᵀ(x + W z): centring a stream shifts it along 𝟙",
                     (Identity("d_model") - ones @ c @ ones.T) @ (x + W @ z), x + W @ z - ones @ c @ ones.T @ (x + W @ z)),
        ctx.instances("n(x + 𝟙 v) = n(x): LayerNorm ignores shifts along 𝟙", _shift_invariance, method="numeric"),
        ctx.instances("centred writers: 𝟙ᵀ W = 0 for W_E, W_pos, W_O, b_O, W_out, b_out", _writers_centred, method="numeric"),
        ctx.numeric("center_writing_weights: every pattern and logit unchanged (LayerNorm γ, β; biases; MLPs)",
                    unchanged(center_writing_weights), rtol=1e-9),
        *c22_linear_checks(ctx),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.numeric("NEGATIVE: without LayerNorm (attention only), centring the writers changes no logit",
                    _without_layer_norm(mlp=False), explain=tokens_of(layer_norm=False, mlp=False)),
        ctx.numeric("NEGATIVE: without LayerNorm (with MLPs), centring the writers changes no logit",
                    _without_layer_norm(), explain=tokens_of(layer_norm=False)),
    ]


CLAIM = Claim(
    "C22",
    "Centring the writers of a LayerNorm model",
    "every reader behind a LayerNorm: W_E, W_pos, W_O, b_O, W_out, b_out → P·itself leaves every pattern and logit unchanged",
    r"W \to P W,\ P = I - \tfrac{1}{d}\mathbf{1}\mathbf{1}^\top \text{ for every writer: patterns and logits unchanged}",
    derive=derive,
    check=check,
    refute=refute,
)
