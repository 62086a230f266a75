"""C2 — An attention head is h(X) = (A ⊗ W_O W_V)·X.

The head first reads values r = (A⊗W_V)·X = A X W_Vᵀ (each position's value
vector, mixed across positions by the pattern A), then writes them with
(Id⊗W_O)·r = r W_Oᵀ. By the mixed product the two steps are the single term
(Id⊗W_O)(A⊗W_V) = A⊗W_O W_V = A⊗W_OV. With A fixed the head is linear in X.

Checked on random models against the reference forward pass with the heads' real
softmax patterns. NEGATIVE (a twin of linearity): when the pattern is recomputed
from X by the softmax, the head is not linear, h(2X) ≠ 2h(X).

>>> CLAIM.id
'C2'
"""

from __future__ import annotations

import numpy as np

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step, default_model, random_tokens
from tensoralg.algebra.expr import Apply, Identity, Tensor, atom
from tensoralg.models.model import causal_softmax, forward, with_weights
from tensoralg.algebra.symbols import declared_symbol, standard_symbol

A = atom(standard_symbol("A", 0, 0))
W_V, W_O, W_OV = (atom(standard_symbol(n, 0, 0)) for n in ("W_V", "W_O", "W_OV"))
X, Y = (atom(declared_symbol(n, "n_ctx", "d_model")) for n in ("X", "Y"))
Id = Identity("n_ctx")


def derive() -> list[Derivation]:
    return [
        Derivation("read values, then write them", [
            Step(Apply(Tensor((Id, W_O)), Apply(Tensor((A, W_V)), X))),
            Step(Apply(Tensor((Id, W_O)), A @ X @ W_V.T), "r = (A⊗W_V)·X = A X W_Vᵀ"),
            Step(A @ X @ W_V.T @ W_O.T, "(Id⊗W_O)·r = r W_Oᵀ"),
            Step(Apply(Tensor((Id, W_O)) @ Tensor((A, W_V)), X), "acting twice is acting with the product"),
            Step(Apply(Tensor((A, W_O @ W_V)), X), "mixed product (Id⊗W_O)(A⊗W_V) = A⊗W_O W_V"),
            Step(Apply(Tensor((A, W_OV)), X), "W_OV := W_O W_V"),
        ]),
        Derivation("with A fixed the head is linear in X", [
            Step(Apply(Tensor((A, W_OV)), X + 3 * Y)),
            Step(A @ (X + 3 * Y) @ W_OV.T, "(A⊗W_OV)·Z = A Z W_OVᵀ"),
            Step(Apply(Tensor((A, W_OV)), X) + 3 * Apply(Tensor((A, W_OV)), Y), "distribute"),
        ]),
    ]


def _head_outputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(2, 2))
    run = forward(model, random_tokens(rng, model))
    predicted = [
        np.einsum("hij,jd,hed->hie", run.patterns[l], run.residuals[l], layer.W_OV)
        for l, layer in enumerate(model.layers)
    ]
    return np.concatenate(run.head_outputs).ravel(), np.concatenate(predicted).ravel()


def _frozen_linear(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # With the patterns frozen, layer 0's input t W_Eᵀ is linear in W_E, so its heads are too.
    model = default_model(rng, heads=(2,))
    other = rng.normal(size=model.W_E.shape)
    tokens = random_tokens(rng, model)
    frozen = forward(model, tokens).patterns
    a, b = rng.normal(size=2)
    mixed = forward(with_weights(model, W_E=a * model.W_E + b * other), tokens, frozen).head_outputs[0]
    parts = [forward(with_weights(model, W_E=w), tokens, frozen).head_outputs[0] for w in (model.W_E, other)]
    return mixed.ravel(), (a * parts[0] + b * parts[1]).ravel()


def _head(x: np.ndarray, model, h: int) -> np.ndarray:
    layer = model.layers[0]
    pattern = causal_softmax(model.score_scale * (x @ layer.W_QK[h] @ x.T))
    return pattern @ x @ layer.W_OV[h].T


def _softmax_head_is_homogeneous(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(1,))
    x = forward(model, random_tokens(rng, model)).residuals[0]
    return _head(2 * x, model, 0).ravel(), (2 * _head(x, model, 0)).ravel()


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("(Id⊗W_O)·((A⊗W_V)·X) = (A⊗W_OV)·X", Apply(Tensor((Id, W_O)), Apply(Tensor((A, W_V)), X)),
                     Apply(Tensor((A, W_OV)), X)),
        ctx.numeric("every head of a random 2-layer model outputs (A⊗W_OV)·X, A its softmax pattern", _head_outputs),
        ctx.numeric("with frozen patterns a head is linear in its input", _frozen_linear),
    ]


def refute(ctx: Context) -> list[Check]:
    return [ctx.numeric("with the softmax pattern recomputed, h(2X) = 2 h(X)", _softmax_head_is_homogeneous)]


CLAIM = Claim(
    "C2",
    "An attention head is a tensor-product term",
    "h(X) = (A⊗W_O W_V)·X: r = (A⊗W_V)·X, then (Id⊗W_O)·r; linear in X for fixed A",
    r"h(X) = (\mathrm{Id}\otimes W_O)\cdot\big((A\otimes W_V)\cdot X\big) = (A\otimes W_O W_V)\cdot X = A X W_{OV}^\top",
    derive=derive,
    check=check,
    refute=refute,
)
