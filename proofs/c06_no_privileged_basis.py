"""C6 — The residual stream has no privileged basis.

For an attention-only model without LayerNorm and any invertible R (d_model × d_model),

    W_E → R W_E,  W_pos → R W_pos,  W_U → W_U R⁻¹,  W_{Q,K,V}^h → W^h R⁻¹,  W_O^h → R W_O^h

rotates the residual stream X → X Rᵀ and changes nothing else: every score
X Rᵀ R⁻ᵀ W_QK R⁻¹ R Xᵀ = X W_QK Xᵀ, every head write (A⊗R W_OV R⁻¹)·(X Rᵀ) =
((A⊗W_OV)·X) Rᵀ, every logit. The same holds with MLPs if their reading and writing
weights move too (W_in R⁻¹, R W_out): the residual basis is never privileged by them.

NEGATIVE. The MLP's own neuron basis is privileged: a change of basis P of the
d_mlp neurons (W_in → P W_in, b_in → P b_in, W_out → W_out P⁻¹), harmless if φ were
linear, changes the logits (only permutations are harmless, checked as a twin).
With LayerNorm, which centres and rescales in the residual basis, the change of
basis R is refuted too. Both are refuted numerically; the counterexample names
the trial's seed (the weights) and the tokens.

>>> CLAIM.id
'C6'
"""

from __future__ import annotations

import numpy as np

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step, default_model, random_tokens
from tensoralg.algebra.expr import Apply, Inverse, Tensor, atom
from tensoralg.models.model import AttentionLayer, MLPLayer, Model, forward, with_weights
from tensoralg.proofs._shared import invertible, sym
from tensoralg.algebra.symbols import declared_symbol

R = atom(declared_symbol("R", "d_model", "d_model"))
R_inv = Inverse(R)
W_E, W_U = sym("W_E"), sym("W_U")
A, W_Q, W_K, W_V, W_O, W_QK, W_OV = (sym(n, 0, 0) for n in ("A", "W_Q", "W_K", "W_V", "W_O", "W_QK", "W_OV"))
W_V1, W_O1, W_OV1 = (sym(n, 1, 0) for n in ("W_V", "W_O", "W_OV"))
X = atom(declared_symbol("X", "n_ctx", "d_model"))


def derive() -> list[Derivation]:
    return [
        Derivation("every score", [
            Step((X @ R.T) @ (W_Q @ R_inv).T @ (W_K @ R_inv) @ (X @ R.T).T),
            Step(X @ R.T @ R_inv.T @ W_Q.T @ W_K @ R_inv @ R @ X.T, "(XY)ᵀ = YᵀXᵀ"),
            Step(X @ W_QK @ X.T, "Rᵀ R⁻ᵀ = R⁻¹ R = Id; W_QK := W_Qᵀ W_K"),
        ]),
        Derivation("a head's write rotates with the stream", [
            Step(Apply(Tensor((A, (R @ W_O) @ (W_V @ R_inv))), X @ R.T)),
            Step(A @ X @ R.T @ (W_V @ R_inv).T @ (R @ W_O).T, "(A⊗W)·Y = A Y Wᵀ"),
            Step(A @ X @ W_V.T @ W_O.T @ R.T, "Rᵀ R⁻ᵀ = Id"),
            Step(Apply(Tensor((A, W_OV)), X) @ R.T, "W_OV := W_O W_V"),
        ]),
        Derivation("a virtual OV path through two layers", [
            Step((W_U @ R_inv) @ (R @ W_O1) @ (W_V1 @ R_inv) @ (R @ W_O) @ (W_V @ R_inv) @ (R @ W_E)),
            Step(W_U @ W_O1 @ W_V1 @ W_O @ W_V @ W_E, "R⁻¹ R = Id"),
            Step(W_U @ W_OV1 @ W_OV @ W_E, "W_OV := W_O W_V"),
        ]),
    ]


def change_residual_basis(model: Model, R: np.ndarray) -> Model:
    """The model with residual stream X Rᵀ: W_E → R W_E, W_U → W_U R⁻¹, readers W R⁻¹, writers R W."""
    R_inv = np.linalg.inv(R)
    layers = tuple(AttentionLayer(l.W_Q @ R_inv, l.W_K @ R_inv, l.W_V @ R_inv, R @ l.W_O) for l in model.layers)
    mlps = tuple(
        None if m is None else MLPLayer(m.W_in @ R_inv, R @ m.W_out, m.b_in, None if m.b_out is None else R @ m.b_out, m.activation)
        for m in model.mlps
    )
    return with_weights(
        model, W_E=R @ model.W_E, W_U=model.W_U @ R_inv, layers=layers, mlps=mlps,
        W_pos=None if model.W_pos is None else R @ model.W_pos,
    )


def change_neuron_basis(model: Model, P: np.ndarray) -> Model:
    """The model with every MLP's neurons mixed by P: W_in → P W_in, b_in → P b_in, W_out → W_out P⁻¹."""
    P_inv = np.linalg.inv(P)
    mlps = tuple(
        None if m is None else MLPLayer(P @ m.W_in, m.W_out @ P_inv, None if m.b_in is None else P @ m.b_in, m.b_out, m.activation)
        for m in model.mlps
    )
    return with_weights(model, mlps=mlps)


def _outputs(model: Model, tokens: np.ndarray) -> np.ndarray:
    run = forward(model, tokens)
    return np.concatenate([p.ravel() for p in run.patterns] + [run.logits.ravel()])


def _draw(rng: np.random.Generator, **options):
    model = default_model(rng, heads=(2, 2), **options)
    return model, random_tokens(rng, model)


def _residual_basis(**options):
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        model, tokens = _draw(rng, **options)
        rotated = change_residual_basis(model, invertible(rng, model.d_model))
        return _outputs(model, tokens), _outputs(rotated, tokens)

    return sides


def _neuron_basis(permutation: bool):
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        model, tokens = _draw(rng, mlp=True)
        d_mlp = model.mlps[0].W_in.shape[0]
        P = np.eye(d_mlp)[rng.permutation(d_mlp)] if permutation else invertible(rng, d_mlp)
        return _outputs(model, tokens), _outputs(change_neuron_basis(model, P), tokens)

    return sides


def _tokens(**options):
    def explain(rng: np.random.Generator) -> str:
        model, tokens = _draw(rng, **options)
        return f"tokens {tokens.tolist()} on the 2-layer model drawn from this seed"

    return explain


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("W_Eᵀ Rᵀ (W_Q R⁻¹)ᵀ (W_K R⁻¹) R W_E = W_Eᵀ W_QK W_E",
                     (R @ W_E).T @ (W_Q @ R_inv).T @ (W_K @ R_inv) @ (R @ W_E), W_E.T @ W_QK @ W_E),
        ctx.numeric("attention-only, positional: every pattern and logit unchanged by R",
                    _residual_basis(positional=True), rtol=1e-8),
        ctx.numeric("with MLPs (W_in R⁻¹, R W_out): every pattern and logit unchanged by R",
                    _residual_basis(mlp=True), rtol=1e-8),
        ctx.numeric("permuting the MLP neurons changes no logit", _neuron_basis(permutation=True)),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.numeric("with an MLP, a change of basis P of its neurons changes no logit",
                    _neuron_basis(permutation=False), explain=_tokens(mlp=True)),
        ctx.numeric("with LayerNorm, the change of basis R changes no logit",
                    _residual_basis(layer_norm=True), explain=_tokens(layer_norm=True)),
    ]


CLAIM = Claim(
    "C6",
    "The residual stream has no privileged basis",
    "attention-only, no LayerNorm: W_E→R W_E, W_pos→R W_pos, W_U→W_U R⁻¹, W^h→W^h R⁻¹, W_O^h→R W_O^h change nothing",
    r"W_E \to R W_E,\ W_{pos} \to R W_{pos},\ W_U \to W_U R^{-1},\ W_{Q,K,V}^h \to W_{Q,K,V}^h R^{-1},\ "
    r"W_O^h \to R W_O^h \ \text{leave every pattern and logit unchanged}",
    derive=derive,
    check=check,
    refute=refute,
)
