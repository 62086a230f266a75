"""C13 — Virtual attention heads (V-composition).

A head h2 of a later layer reading the write of a head h1 of an earlier one acts as

    (A^{h2}⊗W_OV^{h2})·((A^{h1}⊗W_OV^{h1})·X) = ((A^{h2}A^{h1})⊗(W_OV^{h2}W_OV^{h1}))·X

and A^{h2}A^{h1} is again an attention pattern: if A, B are causal (zero above the
diagonal) and row-stochastic (nonnegative, rows sum to 1) then so is AB, since
(AB)[i,j] = Σ_{i≥k≥j} A[i,k]B[k,j] and AB𝟙 = A𝟙 = 𝟙. So the product term is itself
an attention head, with pattern A^{h2}A^{h1} and OV circuit W_OV^{h2}W_OV^{h1}.

The row sums are also proved symbolically modulo A^{l,h}𝟙 = 𝟙 (every A^{l,h} is a pattern
by default), with a certificate an independent checker re-expands, and causality and
nonnegativity by the product-closed property layer (see C29). Checked exactly on random
rational patterns, under hypothesis, and on the real
softmax patterns of a 2-layer model, whose layer-2 head outputs split into a direct
term and one virtual head per layer-1 head. NEGATIVE (twins): the order of the
patterns matters (A^{h1}A^{h2} ≠ A^{h2}A^{h1}), and with one pattern transposed (an index
slip, A^{h2}A^{h1}ᵀ) the product is not a pattern.

>>> CLAIM.id
'C13'
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step, default_model, random_tokens
from tensoralg.algebra.expr import Apply, Tensor, atom
from tensoralg.models.model import forward
from tensoralg.verify.assumptions import check_assuming
from tensoralg.verify.strategies import causal_patterns
from tensoralg.algebra.symbols import declared_symbol, standard_symbol

A1, A2 = atom(standard_symbol("A", 0, 0)), atom(standard_symbol("A", 1, 0))
W1, W2 = atom(standard_symbol("W_OV", 0, 0)), atom(standard_symbol("W_OV", 1, 0))
X = atom(declared_symbol("X", "n_ctx", "d_model"))


def derive() -> list[Derivation]:
    return [
        Derivation("a head reading a head is one head", [
            Step(Apply(Tensor((A2, W2)), Apply(Tensor((A1, W1)), X))),
            Step(A2 @ A1 @ X @ W1.T @ W2.T, "(A⊗W)·Y = A Y Wᵀ, twice"),
            Step(Apply(Tensor((A2 @ A1, W2 @ W1)), X), "(W₂W₁)ᵀ = W₁ᵀW₂ᵀ"),
            Step(Apply(Tensor((A2, W2)) @ Tensor((A1, W1)), X), "mixed product"),
        ]),
    ]


def _exact_pattern(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = np.tril(rng.integers(0, 5, size=(n, n)))
    np.fill_diagonal(weights, rng.integers(1, 5, size=n))  # every row has some weight
    return np.array([[Fraction(int(w), int(row.sum())) for w in row] for row in weights], dtype=object)


def _pattern_defect(P: np.ndarray) -> Mismatch | None:
    """Where P fails to be causal and row-stochastic (exactly or in float64), or None."""
    n = P.shape[0]
    exact = P.dtype == object
    for i in range(n):
        total = sum(P[i]) if exact else float(P[i].sum())
        if (total != 1) if exact else abs(total - 1) > 1e-12:
            return Mismatch(f"row sum {total}", "1", entry=(i,), dims={"n_ctx": n})
        for j in range(n):
            if (j > i and P[i, j] != 0) or P[i, j] < 0:
                return Mismatch(f"A[{i},{j}] = {P[i, j]}", "0 above the diagonal, ≥ 0", entry=(i, j), dims={"n_ctx": n})
    return None


def _exact_product(rng: np.random.Generator) -> Mismatch | None:
    n = int(rng.integers(1, 6))
    return _pattern_defect(_exact_pattern(rng, n) @ _exact_pattern(rng, n))


def _drawn_product(pair) -> bool:
    return _pattern_defect(pair[0] @ pair[1]) is None


def _model_patterns(rng: np.random.Generator) -> Mismatch | None:
    model = default_model(rng, heads=(2, 2))
    run = forward(model, random_tokens(rng, model))
    for h2 in range(2):
        for h1 in range(2):
            found = _pattern_defect(run.patterns[1][h2] @ run.patterns[0][h1])
            if found is not None:
                return found
    return None


def _split_into_virtual_heads(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(2, 2))
    run = forward(model, random_tokens(rng, model))
    X0, (P1, P2) = run.residuals[0], run.patterns
    W_OV1, W_OV2 = model.layers[0].W_OV, model.layers[1].W_OV
    split = [
        P2[h2] @ X0 @ W_OV2[h2].T
        + sum((P2[h2] @ P1[h1]) @ X0 @ (W_OV2[h2] @ W_OV1[h1]).T for h1 in range(len(P1)))
        for h2 in range(len(P2))
    ]
    return run.head_outputs[1].ravel(), np.stack(split).ravel()


def _commute(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(1, 1))
    run = forward(model, random_tokens(rng, model))
    P1, P2 = run.patterns[0][0], run.patterns[1][0]
    return P2 @ P1, P1 @ P2


def _transposed_product_is_pattern(rng: np.random.Generator) -> Mismatch | None:
    n = int(rng.integers(2, 5))
    return _pattern_defect(_exact_pattern(rng, n) @ _exact_pattern(rng, n).T)


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("(A^{1,0}⊗W_OV^{1,0})(A^{0,0}⊗W_OV^{0,0}) = A^{1,0}A^{0,0}⊗W_OV^{1,0}W_OV^{0,0}",
                     Tensor((A2, W2)) @ Tensor((A1, W1)), Tensor((A2 @ A1, W2 @ W1))),
        ctx.instances("a product of causal row-stochastic patterns is one, over ℚ", _exact_product),
        ctx.law("a product of causal row-stochastic patterns is one, in float64",
                st.integers(1, 6).flatmap(lambda n: st.tuples(causal_patterns(n), causal_patterns(n))), _drawn_product),
        ctx.instances("A^{1,h2}A^{0,h1} of a 2-layer model's softmax patterns is a pattern", _model_patterns, method="numeric"),
        ctx.numeric("layer-2 head = (A^{h2}⊗W_OV^{h2})·X⁰ + Σ_{h1} (A^{h2}A^{h1}⊗W_OV^{h2}W_OV^{h1})·X⁰",
                    _split_into_virtual_heads),
        *_symbolic_pattern_checks(),
    ]


def _symbolic_pattern_checks() -> list[Check]:
    """Symbolic, under the default assumption that every A^{l,h} is a pattern: the rows of the
    product sum to 1 by a certificate A^{1,0}A^{0,0}𝟙 − 𝟙 = A^{1,0}(A^{0,0}𝟙 − 𝟙) + (A^{1,0}𝟙 − 𝟙)
    that the independent checker accepts, and causality and nonnegativity by the product-closed
    property layer."""
    rows = check_assuming("A^{1,0} A^{0,0} 𝟙 == 𝟙")
    report = f"certificate: {len(rows.certificate)} term(s), checker accepts" if rows.certificate_ok else ""
    return [
        Check("A^{1,0}A^{0,0}𝟙 = 𝟙 modulo A^{l,h}𝟙 = 𝟙, with a checked certificate", rows, report),
        Check("pattern (A^{1,0}A^{0,0}): causal, nonnegative, stochastic by closure under products",
              check_assuming("pattern (A^{1,0} A^{0,0})")),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        Check("A^{1,0}A^{0,0}𝟙 = 𝟙 for arbitrary matrices (no pattern assumption)",
              check_assuming("A^{1,0} A^{0,0} 𝟙 == 𝟙", defaults=False, seed=ctx.seed_for("c13 rows") % 10_000)),
        ctx.numeric("the order of V-composition does not matter: A^{h2}A^{h1} = A^{h1}A^{h2}", _commute),
        ctx.instances("with the earlier pattern transposed (A^{h2}A^{h1}ᵀ, an index slip) the product is a pattern",
                      _transposed_product_is_pattern),
    ]


CLAIM = Claim(
    "C13",
    "Virtual attention heads",
    "A^{h2}A^{h1} is causal and row-stochastic, so (A^{h2}A^{h1})⊗(W_OV^{h2}W_OV^{h1}) is an attention head",
    r"(A^{h_2}\otimes W_{OV}^{h_2})(A^{h_1}\otimes W_{OV}^{h_1}) = (A^{h_2}A^{h_1})\otimes(W_{OV}^{h_2}W_{OV}^{h_1}),"
    r"\quad A^{h_2}A^{h_1}\ \text{causal and row-stochastic}",
    derive=derive,
    check=check,
    refute=refute,
)
