"""Q-, K- and V-composition scores between every head of an earlier layer and every head of a later one (C17).

    score(M_A, M_B) = ‖M_A M_B‖_F / (‖M_A‖_F ‖M_B‖_F) ∈ [0, 1]   (0 if either matrix is 0)

For a writer w (earlier layer) and a reader r (later layer):

    Q-composition  ‖W_QK^rᵀ W_OV^w‖_F / (‖W_QK^r‖_F ‖W_OV^w‖_F)
    K-composition  ‖W_QK^r  W_OV^w‖_F / (‖W_QK^r‖_F ‖W_OV^w‖_F)
    V-composition  ‖W_OV^r  W_OV^w‖_F / (‖W_OV^r‖_F ‖W_OV^w‖_F)

These are TransformerLens's ``all_composition_scores`` (OV_TL·QK_TL, OV_TL·QK_TLᵀ, OV_TL·OV_TL
with row-vector OV_TL = W_OVᵀ, QK_TL = W_QK) up to transposition, which leaves ‖·‖_F alone.

Nothing d_model × d_model is formed. For any R_K with R_Kᵀ R_K = W_K W_Kᵀ (a d_head × d_head
square root of a Gram matrix) and likewise R_V, ‖W_Kᵀ X‖_F = ‖R_K X‖_F and ‖X W_V‖_F = ‖X R_Vᵀ‖_F, so
‖W_Kᵀ W_Q W_O^w W_V^w‖_F = ‖R_K W_Q · W_O^w R_V^wᵀ‖_F, and likewise for K (R_Q W_K) and V (R_O W_V). So every reader contributes three d_head × d_model
blocks and every writer one d_model × d_head block, and one matrix product per reader layer
gives all its pairs' numerators.

Baseline: the same scores for heads with independent Gaussian weights of the same shapes (a
seeded sample). Their distribution is invariant under rotations of the residual stream, and
averaging ‖M_A R M_B‖² over rotations R gives ‖M_A‖²‖M_B‖²/d_model, so the root mean square
baseline is exactly 1/√d_model for every mode.

>>> from tensoralg.models.circuits import head_weights
>>> from tensoralg.models.toy_models import induction_model
>>> scores = composition_scores(head_weights(induction_model(n_vocab=4, n_ctx=6)))
>>> round(float(scores.k[0, 1]) ** -2, 9), float(scores.q[0, 1]), float(scores.v[0, 1])   # K = 1/√(2·n_vocab)
(8.0, 0.0, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .circuits import Head, HeadWeights, gram_root, label
from ..errors import ShapeError

MODES = ("Q", "K", "V")


def composition_score(M_A: np.ndarray, M_B: np.ndarray) -> float:
    """‖M_A M_B‖_F / (‖M_A‖_F ‖M_B‖_F) for dense matrices (the definition; 0 if either is 0)."""
    M_A, M_B = np.asarray(M_A, dtype=float), np.asarray(M_B, dtype=float)
    if M_A.ndim != 2 or M_B.ndim != 2 or M_A.shape[1] != M_B.shape[0]:
        raise ShapeError(f"composition score of {M_A.shape} and {M_B.shape}: not a matrix product")
    size = np.linalg.norm(M_A) * np.linalg.norm(M_B)
    return float(np.linalg.norm(M_A @ M_B) / size) if size > 0 else 0.0


@dataclass(frozen=True)
class Baseline:
    """Composition scores of random heads of the same shapes: mean, standard deviation, RMS."""

    mean: float
    std: float
    rms: float
    samples: int

    def z(self, score: float | np.ndarray) -> float | np.ndarray:
        """How many baseline standard deviations ``score`` lies above the baseline mean."""
        return (score - self.mean) / self.std if self.std > 0 else np.inf * np.sign(score - self.mean)


@dataclass(frozen=True, eq=False)
class CompositionScores:
    """``q[w, r]``, ``k[w, r]``, ``v[w, r]``: writer head w into reader head r (indices into ``labels``).

    Pairs where w is not in an earlier layer than r are 0 and False in ``pairs``, as in TransformerLens.
    """

    labels: tuple[Head, ...]
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    pairs: np.ndarray
    baseline: dict[str, Baseline]

    def mode(self, name: str) -> np.ndarray:
        if name not in MODES:
            raise ShapeError(f"composition mode must be one of {', '.join(MODES)}; got {name!r}")
        return {"Q": self.q, "K": self.k, "V": self.v}[name]

    def top(self, count: int) -> list[dict]:
        """The ``count`` pairs (over all modes) most above their baseline, as records for printing/JSON."""
        w, r = np.nonzero(self.pairs)
        rows = []
        for name in MODES:
            scores = self.mode(name)[w, r]
            base = self.baseline[name]
            rows += [
                {"mode": name, "writer": label(self.labels[a]), "reader": label(self.labels[b]), "score": float(s),
                 "baseline_mean": base.mean, "baseline_std": base.std, "ratio": float(s / base.mean) if base.mean > 0 else None}
                for a, b, s in zip(w, r, scores)
            ]
        rows.sort(key=lambda row: (-row["score"] / max(self.baseline[row["mode"]].mean, 1e-300), row["mode"], row["writer"], row["reader"]))
        return rows[:count]


def _pieces(W_Q: np.ndarray, W_K: np.ndarray, W_V: np.ndarray, W_O: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reader blocks (3, H, k, d), writer blocks (H, d, k) in the weights' precision (they feed the big
    product), and the norms ‖W_QK‖_F, ‖W_OV‖_F; the Gram roots and norms are computed in float64."""
    low = np.result_type(W_Q, W_K, W_V, W_O)
    W_Q, W_K, W_V, W_O = (W.astype(np.float64) for W in (W_Q, W_K, W_V, W_O))

    # per-head products are small: einsum's loop, not one BLAS call per head (on a loaded machine each
    # multi-threaded call of that size costs tens of milliseconds in thread hand-offs)
    def root(M: np.ndarray) -> np.ndarray:  # R with RᵀR = M Mᵀ, for M = W_Q, W_K, W_V (d_head × d_model)
        return gram_root(np.einsum("hkd,hjd->hkj", M, M))

    R_Q, R_K, R_V, R_O = root(W_Q), root(W_K), root(W_V), gram_root(np.einsum("hdk,hdj->hkj", W_O, W_O))
    readers = np.stack([np.einsum("hij,hjd->hid", R, W) for R, W in ((R_K, W_Q), (R_Q, W_K), (R_O, W_V))]).astype(low, copy=False)
    writers = np.einsum("hdk,hjk->hdj", W_O, R_V).astype(low, copy=False)
    qk_norm = np.linalg.norm(np.einsum("hik,hjk->hij", R_Q, R_K), axis=(-2, -1))
    ov_norm = np.linalg.norm(np.einsum("hik,hjk->hij", R_O, R_V), axis=(-2, -1))
    return readers, writers, qk_norm, ov_norm


def _frobenius_of_products(block: np.ndarray, right: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """‖·‖_F of every k × k block of block @ right, reshaped to ``shape`` = (…, k, W, k): the product in
    the inputs' precision (one GEMM), the squares summed in float64."""
    product = block @ right
    np.square(product, out=product)
    return np.sqrt(product.reshape(shape).sum(axis=(-3, -1), dtype=np.float64))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(np.broadcast_shapes(numerator.shape, denominator.shape)), where=denominator > 0)


def _bartlett(rng: np.random.Generator, k: int, dof: int, n: int) -> np.ndarray:
    """n upper-triangular k × k matrices T with TᵀT ~ Wishart(k, dof, I) (Bartlett: T_ii² ~ χ²_{dof−i},
    T_ij ~ N(0, 1) above the diagonal); TᵀT has the law of GᵀG for a dof × k Gaussian G. Needs dof ≥ k."""
    T = np.triu(rng.standard_normal((n, k, k)), 1)
    T[:, np.arange(k), np.arange(k)] = np.sqrt(rng.chisquare(dof - np.arange(k), size=(n, k)))
    return T


def _sampled_scores(d_model: int, d_head: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """n composition scores of independent Gaussian heads, drawn with d_head × d_head pieces only (d_model ≥ 2·d_head).

    Every mode's score has the form ‖R_a X Y R_bᵀ‖ / (‖R_a X‖ ‖R_Y R_bᵀ‖): X (d_head × d_model) a reader
    matrix, Y = W_O^w (d_model × d_head), R_a and R_b roots of two more independent Gram matrices
    (Wishart(d_head, d_model)), R_Y a root of YᵀY. With Y = Q_Y T_Y (QR; Q_Y Haar, independent of the
    Bartlett factor T_Y), XY = G T_Y for the Gaussian G = X Q_Y (d_head × d_head), and XXᵀ = GGᵀ + CᵀC
    with CᵀC ~ Wishart(d_head, d_model − d_head) independent of G. So the score has the law of
    ‖T_a G T_Y T_bᵀ‖ / (√(‖T_a G‖² + ‖T_a Cᵀ‖²) ‖T_Y T_bᵀ‖): the same in all three modes, at cost O(d_head³).
    """
    T_a, T_Y, T_b = (_bartlett(rng, d_head, d_model, n) for _ in range(3))
    C = _bartlett(rng, d_head, d_model - d_head, n)
    G = rng.standard_normal((n, d_head, d_head))
    left = T_a @ G
    numerator = np.linalg.norm(left @ T_Y @ np.swapaxes(T_b, -1, -2), axis=(-2, -1))
    reader = np.sqrt(np.linalg.norm(left, axis=(-2, -1)) ** 2 + np.linalg.norm(T_a @ np.swapaxes(C, -1, -2), axis=(-2, -1)) ** 2)
    return numerator / (reader * np.linalg.norm(T_Y @ np.swapaxes(T_b, -1, -2), axis=(-2, -1)))


def _direct_scores(d_model: int, d_head: int, rng: np.random.Generator, samples: int, dtype: type) -> np.ndarray:
    """3 × samples scores from Gaussian heads drawn in full (any shapes)."""
    scores = []
    for start in range(0, samples, 25):  # batches bound the memory at real d_model
        n = min(25, samples - start)
        shape = (2, n, d_head, d_model)
        W_Q, W_K, W_V = (rng.standard_normal(shape, dtype=dtype) for _ in range(3))
        W_O = rng.standard_normal((2, n, d_model, d_head), dtype=dtype)
        readers, _, qk_norm, ov_norm = _pieces(W_Q[0], W_K[0], W_V[0], W_O[0])
        _, writers, _, writer_norm = _pieces(W_Q[1], W_K[1], W_V[1], W_O[1])
        numerators = np.linalg.norm((readers @ writers).astype(np.float64), axis=(-2, -1))  # 3 × n: sample i with sample i
        scores.append(_ratio(numerators, np.stack([qk_norm, qk_norm, ov_norm]) * writer_norm))
    return np.concatenate(scores, axis=1)


def random_baseline(
    d_model: int, d_head: int, rng: np.random.Generator, samples: int = 100, dtype: type = np.float64
) -> dict[str, Baseline]:
    """Scores of ``samples`` independent pairs of Gaussian heads (d_head × d_model maps), per mode.

    rms is exact: 1/√d_model (module docstring). mean and std have no closed form and are estimated
    from a seeded sample, drawn from d_head × d_head pieces with the same law (``_sampled_scores``)
    when d_model ≥ 2·d_head, else from full Gaussian heads (in ``dtype``).
    """
    if samples < 2:
        raise ShapeError(f"a baseline needs at least 2 samples; got {samples}")
    if d_model >= 2 * d_head:
        s = np.stack([_sampled_scores(d_model, d_head, rng, samples) for _ in MODES])
    else:
        s = _direct_scores(d_model, d_head, rng, samples, dtype)
    return {name: Baseline(float(s[m].mean()), float(s[m].std(ddof=1)), float(1 / np.sqrt(d_model)), samples)
            for m, name in enumerate(MODES)}


def composition_scores(
    heads: HeadWeights, rng: np.random.Generator | None = None, baseline_samples: int = 100,
    *, progress: Callable[[int, int], None] | None = None,
) -> CompositionScores:
    """All Q/K/V composition scores between heads of earlier and later layers, with the random baseline.

    ``rng`` draws the baseline (default: a generator seeded with 0, so results are reproducible).
    Cost: Σ over reader layers of 3·H_l·d_head × d_model × (heads before l)·d_head multiply-adds
    (quadratic in the layers: the one phase of ``analyze`` that is). ``progress(done, total)`` is
    called after each reader layer.
    """
    H, k = len(heads.labels), heads.W_Q.shape[1]
    d = heads.W_Q.shape[2]
    layers = heads.layers
    # column block h of ``writers`` is W_O^h R_V^hᵀ (d × k); a layer's readers are built when it is reached,
    # its writers kept for the later layers: memory 1 × the writers, not 3 × the readers on top
    writers = np.empty((d, H * k), dtype=np.result_type(heads.W_Q, heads.W_O))
    qk_norm, ov_norm = np.empty(H), np.empty(H)
    scores = np.zeros((3, H, H))
    reader_layers = np.unique(layers)
    for done, l in enumerate(reader_layers, 1):
        r_idx, w_idx = np.flatnonzero(layers == l), np.flatnonzero(layers < l)
        readers, written, qk_norm[r_idx], ov_norm[r_idx] = _pieces(heads.W_Q[r_idx], heads.W_K[r_idx], heads.W_V[r_idx], heads.W_O[r_idx])
        writers.reshape(d, H, k)[:, r_idx] = np.swapaxes(written, 0, 1)
        block = readers.reshape(-1, d)  # (3·R·k) × d
        reader_norms = np.stack([qk_norm[r_idx], qk_norm[r_idx], ov_norm[r_idx]])[:, None, :]
        per_chunk = max(1, 2**24 // (block.shape[0] * k))  # writer heads per product: ≤ 2²⁴ entries (64 MB of float32)
        for start in range(0, w_idx.size, per_chunk):
            w = w_idx[start:start + per_chunk]
            contiguous = w.size == w[-1] - w[0] + 1
            right = writers[:, w[0] * k:(w[-1] + 1) * k] if contiguous else writers.reshape(d, H, k)[:, w].reshape(d, -1)
            numerators = np.swapaxes(_frobenius_of_products(block, right, (3, r_idx.size, k, w.size, k)), 1, 2)  # 3 × W × R
            scores[:, w[:, None], r_idx[None, :]] = _ratio(numerators, reader_norms * ov_norm[w][None, :, None])
        if progress is not None:
            progress(done, reader_layers.size)
    pairs = layers[:, None] < layers[None, :]
    d_model = heads.W_E.shape[0]
    rng = rng if rng is not None else np.random.default_rng(0)
    baseline = random_baseline(d_model, k, rng, baseline_samples, np.float32 if heads.W_Q.dtype == np.float32 else np.float64)
    return CompositionScores(heads.labels, scores[0], scores[1], scores[2], pairs, baseline)
