"""C3 — Heads are independent and additive.

A layer concatenates its heads' results r^h = (A^h⊗W_V^h)·X into one n_ctx × H·d_head
matrix and applies W_O = [W_O^1 … W_O^H]. Block multiplication splits this into
Σ_h r^h W_O^hᵀ = Σ_h (Id⊗W_O^h)·r^h = Σ_h (A^h⊗W_OV^h)·X: each head is a term of its
own, and changing one head's weights changes no other head's output.

NEGATIVE (a twin): the heads cannot share one pattern, Σ_h (A^h⊗W_OV^h)·X ≠ (A^0⊗Σ_h W_OV^h)·X.

>>> CLAIM.id
'C3'
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step, default_model, random_tokens
from tensoralg.algebra.expr import Apply, Identity, Sum, Tensor, atom
from tensoralg.models.model import AttentionLayer, forward, with_weights
from tensoralg.proofs._shared import sym
from tensoralg.algebra.symbols import declared_symbol

HEADS = range(3)
X = atom(declared_symbol("X", "n_ctx", "d_model"))
Id = Identity("n_ctx")
A, W_O, W_V, W_OV = ({h: sym(name, 0, h) for h in HEADS} for name in ("A", "W_O", "W_V", "W_OV"))


def _sum(terms):
    return Sum(tuple(terms))


def derive() -> list[Derivation]:
    return [
        Derivation("a layer is the sum of its heads", [
            Step(_sum(Apply(Tensor((Id, W_O[h])), Apply(Tensor((A[h], W_V[h])), X)) for h in HEADS)),
            Step(_sum(Apply(Tensor((Id, W_O[h])) @ Tensor((A[h], W_V[h])), X) for h in HEADS),
                 "acting twice is acting with the product"),
            Step(_sum(Apply(Tensor((A[h], W_O[h] @ W_V[h])), X) for h in HEADS), "mixed product"),
            Step(_sum(Apply(Tensor((A[h], W_OV[h])), X) for h in HEADS), "W_OV := W_O W_V"),
            Step(Apply(_sum(Tensor((A[h], W_OV[h])) for h in HEADS), X), "the action is linear in the operator"),
        ]),
    ]


def _results(model, run, l: int) -> np.ndarray:
    """r^h = A^h X W_V^hᵀ for each head of layer l: H × n × d_head."""
    return np.einsum("hij,jd,hed->hie", run.patterns[l], run.residuals[l], model.layers[l].W_V)


def _concatenated(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(3, 2))
    run = forward(model, random_tokens(rng, model))
    lhs, rhs = [], []
    for l, layer in enumerate(model.layers):
        r = np.concatenate(list(_results(model, run, l)), axis=1)  # n × H·d_head
        w_o = np.concatenate(list(layer.W_O), axis=1)  # d_model × H·d_head
        lhs.append(r @ w_o.T)
        rhs.append(run.residuals[l + 1] - run.residuals[l])  # what the layer wrote
    return np.concatenate(lhs).ravel(), np.concatenate(rhs).ravel()


def _exact_blocks(rng: np.random.Generator) -> Mismatch | None:
    heads, n, d_head, d_model = 3, 3, 2, 4
    r = [rng.integers(-3, 4, size=(n, d_head)).astype(object) for _ in range(heads)]
    w_o = [rng.integers(-3, 4, size=(d_model, d_head)).astype(object) for _ in range(heads)]
    scale = Fraction(1, int(rng.integers(1, 4)))  # keep the entries genuinely rational
    concatenated = (np.concatenate(r, axis=1) * scale) @ np.concatenate(w_o, axis=1).T
    summed = sum((rh * scale) @ wh.T for rh, wh in zip(r, w_o))
    for index in np.ndindex(concatenated.shape):
        if concatenated[index] != summed[index]:
            return Mismatch(concatenated[index], summed[index], entry=index,
                            dims={"H": heads, "n_ctx": n, "d_head": d_head, "d_model": d_model})
    return None


def _independent(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(3,))
    layer = model.layers[0]
    changed = AttentionLayer(
        *(np.concatenate([w[:1], rng.normal(size=w[1:].shape)]) for w in (layer.W_Q, layer.W_K, layer.W_V, layer.W_O))
    )
    tokens = random_tokens(rng, model)
    before = forward(model, tokens).head_outputs[0][0]
    after = forward(with_weights(model, layers=(changed,)), tokens).head_outputs[0][0]
    return before.ravel(), after.ravel()


def check(ctx: Context) -> list[Check]:
    return [
        ctx.instances("[r^1 … r^H] [W_O^1 … W_O^H]ᵀ = Σ_h r^h W_O^hᵀ over ℚ", _exact_blocks),
        ctx.numeric("concatenated results times [W_O^1 … W_O^H] = the layer's write Σ_h (A^h⊗W_OV^h)·X", _concatenated),
        ctx.numeric("changing heads 1 and 2 leaves head 0's output unchanged", _independent),
    ]


def refute(ctx: Context) -> list[Check]:
    heads = _sum(Apply(Tensor((A[h], W_OV[h])), X) for h in HEADS)
    merged = Apply(Tensor((A[0], _sum(W_OV[h] for h in HEADS))), X)
    return [ctx.identity("Σ_h (A^h⊗W_OV^h)·X = (A^0⊗Σ_h W_OV^h)·X (one shared pattern)", heads, merged)]


CLAIM = Claim(
    "C3",
    "Heads are independent and additive",
    "[r^1 … r^H] applied by W_O = [W_O^1 … W_O^H] equals Σ_h W_O^h r^h = Σ_h (A^h⊗W_OV^h)·X",
    r"\big[r^1 \cdots r^H\big]\,\big[W_O^1 \cdots W_O^H\big]^\top = \sum_h r^h {W_O^h}^\top"
    r" = \sum_h (A^h\otimes W_{OV}^h)\cdot X",
    derive=derive,
    check=check,
    refute=refute,
)
