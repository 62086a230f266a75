"""Full OV and QK circuits of every head at once, never forming an n_vocab × n_vocab matrix.

Per head h (CLAIMS C9, column-vector convention):

    OV circuit   W_U W_O^h W_V^h W_E        n_vocab × n_vocab, rank ≤ d_head (C5)
    QK circuit   W_Eᵀ W_Q^hᵀ W_K^h W_E      n_vocab × n_vocab
    positional   W_posᵀ W_Q^hᵀ W_K^h W_pos  n_ctx × n_ctx

Each is L·(A_h B_h)·R with outer factors L, R shared by all heads (a :class:`Frame`) and a
d_head-rank core A_h B_h (a batched :class:`FactoredMatrix`). The frame's d_model-sized
products (R L, LᵀL, R Rᵀ) are computed once and reused by
every head, so all heads' eigenvalues cost one n_vocab·d_model² product plus
H·d_head·d_model² more, instead of H·n_vocab·d_model·d_head.

Statistics: the copying score Σλ/Σ|λ| of the OV circuit and the same statistic of the QK
circuit ("same matching", C16, C18); Σλ = tr = Σ diag, so the diagonal score Σdiag/Σ|diag|
agrees in sum; and the top-k score (how often a token's own logit is among the k it raises most).

>>> from tensoralg.models.toy_models import induction_model
>>> heads = head_weights(induction_model(n_vocab=5, n_ctx=6))
>>> [label(h) for h in heads.labels]
['L0H0', 'L1H0']
>>> copying_scores(ov_circuits(heads)).round(6).tolist()
[0.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

from ..errors import ArchitectureError, ShapeError
from .factored import FactoredMatrix, _swap, frobenius_from_grams
from .model import Model

Head = tuple[int, int]


def label(head: Head) -> str:
    """'L{layer}H{head}', the TransformerLens label of a head."""
    return f"L{head[0]}H{head[1]}"


@dataclass(frozen=True, eq=False)
class HeadWeights:
    """Every attention head of a model on one axis (column-vector convention).

    W_Q, W_K, W_V: H × d_head × d_model; W_O: H × d_model × d_head; ``labels[i]`` is
    (layer, head) of row i. The dtype of the arrays is kept (float32 halves time and memory).
    """

    labels: tuple[Head, ...]
    W_Q: np.ndarray
    W_K: np.ndarray
    W_V: np.ndarray
    W_O: np.ndarray
    W_E: np.ndarray
    W_U: np.ndarray
    W_pos: np.ndarray | None = None
    score_scale: float = 1.0

    def __post_init__(self) -> None:
        H, k, d = np.shape(self.W_Q)
        n_vocab = np.shape(self.W_E)[1]
        expected = {
            "W_Q": (H, k, d), "W_K": (H, k, d), "W_V": (H, k, d), "W_O": (H, d, k),
            "W_E": (d, n_vocab), "W_U": (n_vocab, d),
        }
        for name, shape in expected.items():
            if np.shape(getattr(self, name)) != shape:
                raise ShapeError(f"{name} has shape {np.shape(getattr(self, name))}; expected {shape}")
        if self.W_pos is not None and np.shape(self.W_pos)[0] != d:
            raise ShapeError(f"W_pos has shape {np.shape(self.W_pos)}; expected ({d}, n_ctx)")
        if len(self.labels) != H:
            raise ShapeError(f"{len(self.labels)} labels for {H} heads")

    @property
    def layers(self) -> np.ndarray:
        """The layer of each head."""
        return np.array([l for l, _ in self.labels], dtype=int)


def head_weights(model: Model, dtype: type | None = None) -> HeadWeights:
    """Stack the heads of all layers of ``model``; every layer must have the same d_head.

    ``dtype`` defaults to the model's: a float32 file is not copied to float64; the n_vocab-long
    products are computed in float64 chunk by chunk (:func:`wide_product`), and so everything per head.
    """
    if dtype is None:
        dtype = np.result_type(model.W_E, model.W_U, *(layer.W_Q for layer in model.layers))
    layers = [layer for layer in model.layers if layer.n_heads]
    d_heads = {layer.W_Q.shape[1] for layer in layers}
    if len(d_heads) > 1:
        per_layer = [layer.W_Q.shape[1] for layer in model.layers]
        raise ArchitectureError(f"circuit analysis stacks all heads and needs one d_head; layers have d_head {per_layer}")
    labels = model.head_labels

    def stack(name: str, empty: tuple[int, int]) -> np.ndarray:
        if not layers:
            return np.zeros((0,) + empty, dtype=dtype)
        return np.concatenate([getattr(layer, name) for layer in layers]).astype(dtype, copy=False)

    d = model.d_model
    return HeadWeights(
        labels,
        stack("W_Q", (0, d)), stack("W_K", (0, d)), stack("W_V", (0, d)), stack("W_O", (d, 0)),
        model.W_E.astype(dtype, copy=False), model.W_U.astype(dtype, copy=False),
        None if model.W_pos is None else model.W_pos.astype(dtype, copy=False),
        model.score_scale,
    )


def wide_product(left: np.ndarray, right: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """left (a × N) · right (N × b) in float64 for a long inner axis N (n_vocab).

    float64 inputs are multiplied directly; lower-precision inputs (a float32 file) are cast to
    float64 one chunk of N at a time, so there is never a float64 copy of an n_vocab-sized matrix.
    Not float32: the copying score Σλ/Σ|λ| of a random-looking head is a small difference of
    large eigenvalues, and a float32 sum of 50,257 terms (relative error ~3·10⁻⁷ in every entry of
    R L) moves it by up to ~10⁻⁵ relative at GPT-2 small; in float64 the error is ~10⁻¹⁵.
    """
    if np.result_type(left, right) == np.float64:
        return left @ right
    out = np.zeros((left.shape[0], right.shape[1]))
    for start in range(0, left.shape[1], chunk):
        out += left[:, start:start + chunk].astype(np.float64) @ right[start:start + chunk].astype(np.float64)
    return out


@dataclass(frozen=True, eq=False)
class Frame:
    """The outer factors L (N_out × d) and R (d × N_in) shared by all heads' circuits.

    ``symmetric`` says L = Rᵀ (QK circuits), so the two Gram matrices are one.
    Derived d × d products are cached on first use.
    """

    left: np.ndarray
    right: np.ndarray
    symmetric: bool = False

    def __post_init__(self) -> None:
        if self.left.shape[1] != self.right.shape[0]:
            raise ShapeError(f"frame L {self.left.shape} and R {self.right.shape} disagree on d_model")

    @cached_property
    def bridge(self) -> np.ndarray:
        """R L (d × d, float64): the only product touching n_vocab that the eigenvalues need."""
        return wide_product(self.right, self.left)

    @cached_property
    def left_gram(self) -> np.ndarray:
        """Lᵀ L (float64)."""
        return self.right_gram if self.symmetric else wide_product(self.left.T, self.left)

    @cached_property
    def right_gram(self) -> np.ndarray:
        """R Rᵀ (float64)."""
        return wide_product(self.right, self.right.T)



def gram_root(gram: np.ndarray) -> np.ndarray:
    """A square root S with SᵀS = gram (per batch element): the Cholesky factor Lᵀ of gram = L Lᵀ,
    or, when some gram is singular, diag(√λ) Vᵀ from gram = V diag(λ) Vᵀ (negative noise clipped).

    Used instead of QR of the n_vocab × d_head factors: their Gram matrices come almost free from
    the shared d_model × d_model ones, while batched QR of tall matrices is slow in LAPACK. Singular
    values far below the largest lose relative accuracy (the Gram squares the condition number).
    """
    gram64 = gram.astype(np.float64)
    try:
        root = _swap(np.linalg.cholesky(gram64))
    except np.linalg.LinAlgError:  # rank-deficient, e.g. a head that reads only part of the stream
        values, vectors = np.linalg.eigh(gram64)
        root = np.sqrt(np.clip(values, 0.0, None))[..., :, None] * _swap(vectors)
    return root.astype(gram.dtype, copy=False)


def _rmul(stack: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """stack (…, a, d) @ matrix (d, e) as one matrix product (numpy's broadcast loop over the batch is far slower)."""
    flat = stack.reshape(-1, stack.shape[-1]) @ matrix
    return flat.reshape(stack.shape[:-1] + (matrix.shape[-1],))


@dataclass(frozen=True, eq=False)
class FullCircuit:
    """L·(A_h B_h)·R for a batch of heads h: ``frame`` holds L, R; ``core`` holds A (H × d × k), B (H × k × d)."""

    frame: Frame
    core: FactoredMatrix
    labels: tuple[Head, ...]

    def __post_init__(self) -> None:
        d = self.frame.left.shape[1]
        if (self.core.ldim, self.core.rdim) != (d, d):
            raise ShapeError(f"core {self.core.shape} does not fit the frame's d_model = {d}")
        if self.core.batch_shape != (len(self.labels),):
            raise ShapeError(f"core batch {self.core.batch_shape} for {len(self.labels)} labels")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.labels), self.frame.left.shape[0], self.frame.right.shape[1])

    def __getitem__(self, i: int) -> FactoredMatrix:
        """Head i's circuit as TransformerLens would give it: (L A_i)(B_i R), n_vocab × d_head factors."""
        return self.frame.left @ self.core[i] @ self.frame.right  # inner dimension stays d_head (≤ d_model)

    def column(self, t: int) -> np.ndarray:
        """Column t of every head's circuit, H × N_out: L · ((A_h B_h) · R[:, t]) (for the OV circuit, the
        logits raised when the head attends to token t: TransformerLens's row t of ``OV``)."""
        return (self.core @ self.frame.right[:, t]) @ self.frame.left.T

    def row(self, t: int) -> np.ndarray:
        """Row t of every head's circuit, H × N_in: (L[t] · (A_h B_h)) · R."""
        return (self.frame.left[t] @ self.core) @ self.frame.right

    def dense(self) -> np.ndarray:
        """Every head's full matrix (small models only)."""
        return self.frame.left @ self.core.dense() @ self.frame.right

    def _cycled(self, heads: slice = slice(None)) -> FactoredMatrix:
        """A_h·(B_h R L), d_model × d_model: the same nonzero spectrum and trace as L A_h B_h R."""
        core = self.core[heads]
        # contiguous A (a QK core's is a transposed view), so the batched B·A stays on BLAS
        return FactoredMatrix(np.ascontiguousarray(core.A), _rmul(core.B, self.frame.bridge))

    def _per_head_chunks(self, answer: str, chunk: int = 48) -> np.ndarray:
        """``answer`` of the cycled matrices, ``chunk`` heads at a time: the float64 H × d_head × d_model
        products would otherwise cost gigabytes at GPT-2-XL's 1200 heads (48 heads: ~40 MB each at d_model 1600)."""
        H = len(self.labels)
        return np.concatenate([getattr(self._cycled(slice(s, s + chunk)), answer)() for s in range(0, max(H, 1), chunk)])[:H]

    def eigenvalues(self) -> np.ndarray:
        """H × min(d_head, d_model) eigenvalues: those of B_h (R L) A_h, the nonzero spectrum of L A_h B_h R."""
        return self._per_head_chunks("eigenvalues")

    def trace(self) -> np.ndarray:
        """tr(L A B R) = tr(B (R L) A) per head."""
        return self._per_head_chunks("trace")

    def _grams(self) -> tuple[np.ndarray, np.ndarray]:
        """(LA)ᵀ(LA) = Aᵀ LᵀL A and (BR)(BR)ᵀ = B R Rᵀ Bᵀ, d_head × d_head per head."""
        A, B = self.core.A, self.core.B
        return _rmul(_swap(A), self.frame.left_gram) @ A, _rmul(B, self.frame.right_gram) @ _swap(B)

    def norm(self) -> np.ndarray:
        """‖L A B R‖_F = √Σ (Aᵀ LᵀL A) ⊙ (B R Rᵀ Bᵀ) per head."""
        return frobenius_from_grams(*self._grams())

    def singular_values(self) -> np.ndarray:
        """Singular values of L A B R, descending: those of S_X S_Yᵀ (d_head × d_head), where S_Xᵀ S_X = XᵀX
        and S_Yᵀ S_Y = Y Yᵀ for X = LA, Y = BR (then X = U S_X, Y = S_Yᵀ Vᵀ with U, V isometries)."""
        left, right = self._grams()
        return np.linalg.svd(gram_root(left) @ _swap(gram_root(right)), compute_uv=False)

    def diagonal(self, chunk: int = 4096) -> np.ndarray:
        """H × N diagonal entries M[t, t] = (L A)[t, :] · (B R)[:, t], in token chunks (memory H·chunk·d_head)."""
        if self.frame.left.shape[0] != self.frame.right.shape[1]:
            raise ShapeError(f"the diagonal needs a square circuit; this one is {self.shape[1]} × {self.shape[2]}")
        n = self.frame.right.shape[1]
        out = np.empty((len(self.labels), n), dtype=np.result_type(self.core.A, self.frame.left))
        for start in range(0, n, chunk):
            part = slice(start, min(start + chunk, n))
            rows = self.frame.left[part] @ self.core.A  # H × c × k
            cols = self.core.B @ self.frame.right[:, part]  # H × k × c
            out[:, part] = np.einsum("hck,hkc->hc", rows, cols)
        return out


def ov_circuits(heads: HeadWeights) -> FullCircuit:
    """W_U (W_O^h W_V^h) W_E for every head."""
    return FullCircuit(Frame(heads.W_U, heads.W_E), FactoredMatrix(heads.W_O, heads.W_V), heads.labels)


def qk_frame(heads: HeadWeights) -> Frame:
    """The frame W_Eᵀ · … · W_E of the token QK circuits (direct and composed), shared between them."""
    return Frame(heads.W_E.T, heads.W_E, symmetric=True)


def qk_circuits(heads: HeadWeights, frame: Frame | None = None) -> FullCircuit:
    """W_Eᵀ (W_Q^hᵀ W_K^h) W_E for every head."""
    return FullCircuit(frame or qk_frame(heads), FactoredMatrix(_swap(heads.W_Q), heads.W_K), heads.labels)


def positional_qk_circuits(heads: HeadWeights) -> FullCircuit:
    """W_posᵀ (W_Q^hᵀ W_K^h) W_pos: the scores between positions alone (n_ctx × n_ctx)."""
    if heads.W_pos is None:
        raise ArchitectureError("the positional QK circuit needs positional embeddings W_pos; this model has none")
    return FullCircuit(Frame(heads.W_pos.T, heads.W_pos, symmetric=True), FactoredMatrix(_swap(heads.W_Q), heads.W_K), heads.labels)


def k_composition_qk_circuits(
    heads: HeadWeights, pairs: Sequence[tuple[int, int]], frame: Frame | None = None
) -> FullCircuit:
    """W_Eᵀ W_QK^{r} W_OV^{w} W_E for each (writer w, reader r) pair of head indices: the QK
    term in which the reader's keys read what the writer wrote (C14); labels are the readers'."""
    w = np.array([p[0] for p in pairs], dtype=int)
    r = np.array([p[1] for p in pairs], dtype=int)
    B = (heads.W_K[r] @ heads.W_O[w]) @ heads.W_V[w]
    return FullCircuit(frame or qk_frame(heads), FactoredMatrix(_swap(heads.W_Q[r]), B), tuple(heads.labels[i] for i in r))


def eigenvalue_scores(eigenvalues: np.ndarray) -> np.ndarray:
    """Σλ / Σ|λ| over the last axis, in [−1, 1]; 0 where every eigenvalue is 0."""
    total = np.real(eigenvalues.sum(axis=-1))
    size = np.abs(eigenvalues).sum(axis=-1)
    return np.divide(total, size, out=np.zeros_like(total, dtype=np.float64), where=size > 0)


def copying_scores(circuit: FullCircuit) -> np.ndarray:
    """Σλ/Σ|λ| of each head's circuit: 1 for a positive semidefinite circuit, −1 for a negative one (C16).

    Applied to OV circuits this is the copying score; to QK circuits, the same-matching score."""
    return eigenvalue_scores(circuit.eigenvalues())


def diagonal_scores(circuit: FullCircuit, chunk: int = 4096) -> np.ndarray:
    """Σ_t M[t,t] / Σ_t |M[t,t]| per head: how consistently tokens raise their own logit (0 if the diagonal is 0)."""
    return eigenvalue_scores(circuit.diagonal(chunk))


def top_k_scores(circuit: FullCircuit, k: int = 5, tokens: Sequence[int] | None = None, chunk: int = 256) -> np.ndarray:
    """Per head, the fraction of source tokens t whose own logit M[t, t] is among the k largest of
    column t: fewer than k other tokens get a logit ≥ M[t, t] (so a zero column never counts).

    Column t of the OV circuit is the logit effect of attending to t. Costs N·d_model per
    column and head, so pass ``tokens`` (e.g. a seeded sample) for large vocabularies.
    """
    n_out, n_in = circuit.shape[1:]
    if n_out != n_in:
        raise ShapeError(f"top-k copying needs a square circuit; this one is {n_out} × {n_in}")
    if k < 1:
        raise ShapeError(f"top-k copying needs k ≥ 1; got {k}")
    cols = np.arange(n_in) if tokens is None else np.asarray(tokens, dtype=int)
    if cols.size == 0 or cols.min() < 0 or cols.max() >= n_in:
        raise ShapeError(f"tokens must be a non-empty set in [0, {n_in}); got {cols.tolist()[:8]}")
    hits = np.zeros(len(circuit.labels))
    L, R = circuit.frame.left, circuit.frame.right
    for h in range(len(circuit.labels)):
        for start in range(0, cols.size, chunk):
            part = cols[start:start + chunk]
            block = L @ (circuit.core[h] @ R[:, part]).dense()  # N × c columns, never N × N
            own = block[part, np.arange(part.size)]
            rivals = (block >= own).sum(axis=0) - 1  # other tokens raised at least as much (ties count against)
            hits[h] += np.count_nonzero(rivals < k)
    return hits / cols.size
