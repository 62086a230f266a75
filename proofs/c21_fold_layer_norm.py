"""C21 — Folding a LayerNorm into the readers behind it.

With n(x) = (x − μ(x)𝟙)/σ(x) and LN(x) = γ ⊙ n(x) + β = G n(x) + β (G = diag γ), a reader W
(W_Q, W_K, W_V, W_in, W_U) with bias b satisfies

    W·LN(x) + b = (W G)·n(x) + (b + W β),

and since 𝟙ᵀ n(x) = 0, also = (W G P)·n(x) + (b + W β) with P = Id − 𝟙 c 𝟙ᵀ, c = 1/d_model.
Folding (W → W G P, b → b + W β, γ → 𝟙, β → 0; :func:`tensoralg.models.processing.fold_layer_norm`)
therefore leaves every pattern and logit unchanged.

What the engine proves: the first identity (free matrix algebra, G and β symbols), and that
W G P n = W G n − W G 𝟙 c (𝟙ᵀ n) once P := Id − 𝟙 c 𝟙ᵀ — the last term is zero because 𝟙ᵀ n(x) = 0,
a fact about n checked numerically here (proving it from 𝟙ᵀ𝟙 = d_model needs reasoning under
assumptions, C29). The fold itself is checked numerically on random models with LayerNorm (γ, β
drawn), biases everywhere, MLPs and positions.

NEGATIVE. Folding the bias as b + W G β is refuted by the engine and on models; folding γ into the
writer (W_O → G W_O) instead of the readers is refuted; folding a post-LN block (LayerNorm after
the residual addition, so that its output is the residual stream itself) as if it were pre-LN is
refuted.

>>> CLAIM.id
'C21'
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tensoralg.algebra.expr import Identity, atom
from tensoralg.algebra.symbols import declared_symbol
from tensoralg.models.model import ACTIVATIONS, AttentionLayer, LayerNorm, Model, layer_norm
from tensoralg.models.processing import fold_layer_norm
from tensoralg.proofs._processing import draw_checkpoint, tokens_of, unchanged
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step

W = atom(declared_symbol("W", "d_head", "d_model"))
G = atom(declared_symbol("G", "d_model", "d_model"))  # G = diag γ
n = atom(declared_symbol("n", "d_model", "unit"))  # n(x), one position
beta, ones = (atom(declared_symbol(s, "d_model", "unit")) for s in ("beta", "e"))  # β and e = 𝟙
b = atom(declared_symbol("b", "d_head", "unit"))
c = atom(declared_symbol("c", "unit", "unit"))  # c = 1/d_model
P_symbol = declared_symbol("P", "d_model", "d_model")
P = atom(P_symbol)


def derive() -> list[Derivation]:
    return [
        Derivation("fold γ and β into the reader", [
            Step(W @ (G @ n + beta) + b),
            Step(W @ G @ n + W @ beta + b, "distribute"),
            Step((W @ G) @ n + (b + W @ beta), "regroup: reader W G, bias b + W β"),
        ]),
        Derivation("centre the folded reader", [
            Step((W @ G @ P) @ n),
            Step(W @ G @ n - W @ G @ ones @ c @ (ones.T @ n), "P := Id − 𝟙 c 𝟙ᵀ", given={P_symbol: Identity("d_model") - ones @ c @ ones.T}),
        ]),
    ]


def _normalized_sums_vanish(rng: np.random.Generator) -> Mismatch | None:
    x = rng.normal(size=(6, 8)) * rng.uniform(0.1, 10) + rng.normal(size=(1, 8))
    sums = layer_norm(x).sum(axis=-1)
    return None if np.allclose(sums, 0, atol=1e-12) else Mismatch(f"𝟙ᵀn(x) = {sums.tolist()}", "0")


def _folded_readers_are_centred(rng: np.random.Generator) -> Mismatch | None:
    model, _ = draw_checkpoint(rng)
    folded = fold_layer_norm(model)
    readers = [m for layer in folded.layers for m in (layer.W_Q, layer.W_K, layer.W_V)]
    readers += [mlp.W_in for mlp in folded.mlps if mlp is not None] + [folded.W_U]
    worst = max(float(np.abs(m.sum(axis=-1)).max()) for m in readers)
    return None if worst < 1e-10 else Mismatch(f"max |W 𝟙| = {worst:.3g}", "0")


def _bias_folded_through_gamma(model: Model) -> Model:
    """The wrong bias b + W G β (γ applied to β twice) in every attention reader; the rest folded right."""
    folded = fold_layer_norm(model)
    layers = []
    for layer, original, norm in zip(folded.layers, model.layers, model.ln1):
        wrong = {f"b_{x}": getattr(layer, f"b_{x}") + getattr(original, f"W_{x}") @ ((norm.w - 1) * norm.b) for x in "QKV"}
        layers.append(replace(layer, **wrong))
    return replace(folded, layers=tuple(layers))


def _gamma_into_writer(model: Model) -> Model:
    """γ of each attention LayerNorm moved onto that layer's writer W_O (rows scaled) instead of its readers."""
    layers = tuple(replace(layer, W_O=norm.w[:, None] * layer.W_O) for layer, norm in zip(model.layers, model.ln1))
    ln1 = tuple(LayerNorm(np.ones_like(norm.w), norm.b) for norm in model.ln1)
    return replace(model, layers=layers, ln1=ln1)


def post_ln_logits(model: Model, tokens: np.ndarray) -> np.ndarray:
    """A post-LN transformer with the same weights: x ← LN₁(x + attention(x)), x ← LN₂(x + MLP(x)), logits W_U LN_f(x) + b_U."""
    x = model.W_E[:, tokens].T + model.W_pos[:, : tokens.size].T
    n = tokens.size
    mask = np.tril(np.ones((n, n), dtype=bool))
    for layer, mlp, ln1, ln2 in zip(model.layers, model.mlps, model.ln1, model.ln2):
        x = layer_norm(x + _attention(model, layer, x, mask), model.ln_eps, ln1)
        if mlp is not None:
            hidden = ACTIVATIONS[mlp.activation](x @ mlp.W_in.T + (0 if mlp.b_in is None else mlp.b_in))
            x = layer_norm(x + hidden @ mlp.W_out.T + (0 if mlp.b_out is None else mlp.b_out), model.ln_eps, ln2)
    return layer_norm(x, model.ln_eps, model.ln_final) @ model.W_U.T + (0 if model.b_U is None else model.b_U)


def _attention(model: Model, layer: AttentionLayer, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    def project(W, b):
        return np.einsum("nd,hed->hne", x, W) + (0 if b is None else b[:, None, :])

    q, k, v = project(layer.W_Q, layer.b_Q), project(layer.W_K, layer.b_K), project(layer.W_V, layer.b_V)
    scores = np.where(mask, model.score_scale * q @ np.swapaxes(k, -1, -2), -np.inf)
    pattern = np.exp(scores - scores.max(axis=-1, keepdims=True))
    pattern /= pattern.sum(axis=-1, keepdims=True)
    out = np.einsum("hij,hje,hde->id", pattern, v, layer.W_O)
    return out + (0 if layer.b_O is None else layer.b_O)


def _post_ln_folded(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, tokens = draw_checkpoint(rng)
    return post_ln_logits(model, tokens), post_ln_logits(fold_layer_norm(model), tokens)


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("W(G n + β) + b = (W G) n + (b + W β)", W @ (G @ n + beta) + b, (W @ G) @ n + (b + W @ beta)),
        ctx.instances("𝟙ᵀ n(x) = 0 for the parameter-free LayerNorm n", _normalized_sums_vanish, method="numeric"),
        ctx.instances("folded readers are centred: W 𝟙 = 0", _folded_readers_are_centred, method="numeric"),
        ctx.numeric("fold_layer_norm: every pattern and logit unchanged (LayerNorm γ, β; biases; MLPs)",
                    unchanged(fold_layer_norm), rtol=1e-9),
        ctx.numeric("fold_layer_norm twice = once (a folded model has nothing left to fold)", _idempotent, rtol=1e-12),
    ]


def _weights(model: Model) -> list[np.ndarray]:
    return [model.W_U] + [m for layer in model.layers for m in (layer.W_Q, layer.W_K, layer.W_V, layer.b_Q, layer.b_K, layer.b_V)]


def _idempotent(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, _ = draw_checkpoint(rng)
    once = fold_layer_norm(model)
    return (np.concatenate([a.ravel() for a in _weights(once)]),
            np.concatenate([a.ravel() for a in _weights(fold_layer_norm(once))]))


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.identity("NEGATIVE: W(G n + β) + b = (W G) n + (b + W G β)", W @ (G @ n + beta) + b, (W @ G) @ n + (b + W @ G @ beta)),
        ctx.numeric("NEGATIVE: folding the bias as b + W diag(γ) β changes no logit",
                    unchanged(_bias_folded_through_gamma), explain=tokens_of()),
        ctx.numeric("NEGATIVE: folding γ into the writer W_O instead of the readers changes no logit",
                    unchanged(_gamma_into_writer), explain=tokens_of()),
        ctx.numeric("NEGATIVE: folding a post-LN model as if it were pre-LN changes no logit", _post_ln_folded,
                    explain=tokens_of()),
    ]


CLAIM = Claim(
    "C21",
    "Folding LayerNorm into the readers",
    "W·LN(x) + b = (W diag γ P)·n(x) + (b + W β): folding γ, β into every reader leaves every pattern and logit unchanged",
    r"W\,\mathrm{LN}(x) + b = (W\,\mathrm{diag}\,\gamma\,P)\,n(x) + (b + W\beta)",
    derive=derive,
    check=check,
    refute=refute,
)
