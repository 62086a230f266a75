"""C17 — Composition scores.

    score(M_A, M_B) = ‖M_A M_B‖_F / (‖M_A‖_F ‖M_B‖_F) ∈ [0, 1]

since ‖M_A M_B‖_F ≤ ‖M_A‖_F ‖M_B‖_F (Cauchy–Schwarz on each entry), and it is invariant
to rescaling either matrix. For a head h1 of an earlier layer and h2 of a later one:

    Q-composition  ‖W_QK^{h2}ᵀ W_OV^{h1}‖_F      K-composition  ‖W_QK^{h2} W_OV^{h1}‖_F
    V-composition  ‖W_OV^{h2} W_OV^{h1}‖_F         (each over the product of the norms)

TransformerLens works with row vectors, OV_TL = W_OVᵀ and QK_TL = W_QK, and multiplies
OV_TL^{h1}·QK_TL^{h2}, OV_TL^{h1}·QK_TL^{h2}ᵀ and OV_TL^{h1}·OV_TL^{h2}: the transposes of
ours, with the same Frobenius norms. The library's fast scores (tensoralg.models.composition)
are checked against the definition, with the random-weight baseline reported beside them.

NEGATIVE (the paper's erratum): the cyclic identity, which holds for traces and
eigenvalues, does not hold for Frobenius norms:
‖W_Q^{h2}ᵀ W_K^{h2} W_O^{h1} W_V^{h1}‖_F = ‖W_K^{h2} W_O^{h1} W_V^{h1} W_Q^{h2}ᵀ‖_F is refuted.

>>> CLAIM.id
'C17'
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Step, default_model
from tensoralg.models.circuits import head_weights
from tensoralg.models.composition import composition_score, composition_scores
from tensoralg.proofs._shared import sym
from tensoralg.verify.strategies import real_matrices

W_OV1, W_QK2, W_OV2 = sym("W_OV", 0, 0), sym("W_QK", 1, 0), sym("W_OV", 1, 0)
W_Q2, W_K2, W_O1, W_V1 = sym("W_Q", 1, 0), sym("W_K", 1, 0), sym("W_O", 0, 0), sym("W_V", 0, 0)

#: (mode, our product, TransformerLens's row-vector product)
MODES = (
    ("Q", W_QK2.T @ W_OV1, W_OV1.T @ W_QK2),
    ("K", W_QK2 @ W_OV1, W_OV1.T @ W_QK2.T),
    ("V", W_OV2 @ W_OV1, W_OV1.T @ W_OV2.T),
)


def derive() -> list[Derivation]:
    return [
        Derivation("K-composition, TransformerLens's product transposed", [
            Step((W_OV1.T @ W_QK2.T).T),
            Step(W_QK2 @ W_OV1, "(XY)ᵀ = YᵀXᵀ"),
            Step(W_Q2.T @ W_K2 @ W_O1 @ W_V1, "W_QK := W_Qᵀ W_K, W_OV := W_O W_V"),
        ]),
    ]


def _pairs():
    dims = st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4))
    return dims.flatmap(lambda d: st.tuples(real_matrices(rows=d[0], cols=d[1]), real_matrices(rows=d[1], cols=d[2])))


def _in_unit_interval(pair) -> bool:
    return 0.0 <= composition_score(*pair) <= 1.0 + 1e-12


def _scale_invariant(example) -> bool:
    (M_A, M_B), (c, d) = example
    base = composition_score(M_A, M_B)
    return bool(np.isclose(composition_score(c * M_A, d * M_B), base, rtol=1e-9, atol=1e-12))


def _definition(model) -> dict[str, np.ndarray]:
    """score[mode][w, r] from the dense definition, for writer w in layer 0 and reader r in layer 1."""
    first, second = model.layers
    products = {
        "Q": lambda w, r: (second.W_QK[r].T, first.W_OV[w]),
        "K": lambda w, r: (second.W_QK[r], first.W_OV[w]),
        "V": lambda w, r: (second.W_OV[r], first.W_OV[w]),
    }
    return {
        mode: np.array([[composition_score(*pick(w, r)) for r in range(second.n_heads)] for w in range(first.n_heads)])
        for mode, pick in products.items()
    }


def _transformer_lens(model) -> dict[str, np.ndarray]:
    """The same scores in TransformerLens's row-vector convention (x ↦ x W, weights transposed)."""
    first, second = model.layers
    ov_tl = lambda layer, h: layer.W_V[h].T @ layer.W_O[h].T  # noqa: E731 — W_V^TL W_O^TL
    qk_tl = lambda layer, h: layer.W_Q[h].T @ layer.W_K[h]  # noqa: E731 — W_Q^TL W_K^TLᵀ
    products = {
        "Q": lambda w, r: (ov_tl(first, w), qk_tl(second, r)),
        "K": lambda w, r: (ov_tl(first, w), qk_tl(second, r).T),
        "V": lambda w, r: (ov_tl(first, w), ov_tl(second, r)),
    }
    return {
        mode: np.array([[composition_score(*pick(w, r)) for r in range(second.n_heads)] for w in range(first.n_heads)])
        for mode, pick in products.items()
    }


def _library(model) -> dict[str, np.ndarray]:
    scores = composition_scores(head_weights(model), baseline_samples=2)
    w = [i for i, (layer, _) in enumerate(scores.labels) if layer == 0]
    r = [i for i, (layer, _) in enumerate(scores.labels) if layer == 1]
    return {mode: scores.mode(mode)[np.ix_(w, r)] for mode in ("Q", "K", "V")}


def _compare(left, right):
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        model = default_model(rng, heads=(2, 3))
        a, b = left(model), right(model)
        return np.concatenate([a[m].ravel() for m in "QKV"]), np.concatenate([b[m].ravel() for m in "QKV"])

    return sides


def _cyclic(norm: bool):
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        model = default_model(rng, heads=(1, 1))
        first, second = model.layers
        W_Q, W_K, W_O, W_V = second.W_Q[0], second.W_K[0], first.W_O[0], first.W_V[0]
        measure = np.linalg.norm if norm else np.trace
        return np.array([measure(W_Q.T @ W_K @ W_O @ W_V)]), np.array([measure(W_K @ W_O @ W_V @ W_Q.T)])

    return sides


def _report(ctx: Context) -> str:
    model = default_model(ctx.rng("C17 report"), heads=(2, 2), d_model=16, d_head=4)
    scores = composition_scores(head_weights(model), rng=ctx.rng("C17 baseline"))
    parts = [
        f"{m}: mean {scores.mode(m)[scores.pairs].mean():.3f} vs random baseline {scores.baseline[m].mean:.3f} "
        f"± {scores.baseline[m].std:.3f}"
        for m in ("Q", "K", "V")
    ]
    return "Default 2-layer model (d_model 16, d_head 4): " + "; ".join(parts)


def check(ctx: Context) -> list[Check]:
    checks = [
        ctx.identity(f"{mode}-composition: TransformerLens's product is the transpose of ours", tl.T, ours)
        for mode, ours, tl in MODES
    ]
    return checks + [
        ctx.law("score(M_A, M_B) ∈ [0, 1]", _pairs(), _in_unit_interval),
        ctx.law("score(c M_A, d M_B) = score(M_A, M_B) for c, d ≠ 0",
                st.tuples(_pairs(), st.tuples(*[st.floats(0.1, 10) | st.floats(-10, -0.1)] * 2)), _scale_invariant),
        ctx.numeric("Q/K/V scores in TransformerLens's row-vector convention = ours", _compare(_transformer_lens, _definition)),
        ctx.numeric("tensoralg.models.composition's fast scores = the definition", _compare(_library, _definition),
                    report=_report(ctx)),
        ctx.numeric("the cyclic identity holds for traces: tr(W_Qᵀ W_K W_O W_V) = tr(W_K W_O W_V W_Qᵀ)", _cyclic(norm=False)),
    ]


def refute(ctx: Context) -> list[Check]:
    return [ctx.numeric("‖W_Q^{h2}ᵀ W_K^{h2} W_O^{h1} W_V^{h1}‖_F = ‖W_K^{h2} W_O^{h1} W_V^{h1} W_Q^{h2}ᵀ‖_F (erratum)",
                        _cyclic(norm=True))]


CLAIM = Claim(
    "C17",
    "Composition scores",
    "‖M_A M_B‖_F/(‖M_A‖_F‖M_B‖_F) ∈ [0, 1], scale-invariant; Q: W_QKᵀW_OV, K: W_QK W_OV, V: W_OV W_OV",
    r"\frac{\|M_A M_B\|_F}{\|M_A\|_F\,\|M_B\|_F} \in [0, 1];\ Q: {W_{QK}^{h_2}}^\top W_{OV}^{h_1},\ "
    r"K: W_{QK}^{h_2} W_{OV}^{h_1},\ V: W_{OV}^{h_2} W_{OV}^{h_1}",
    derive=derive,
    check=check,
    refute=refute,
)
