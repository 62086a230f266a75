"""Previous-token and induction heads, from the weights alone and from behaviour (CLAIMS C18).

From the weights:

* previous-token score of a head: run the positional QK circuit alone,
  A = softmax*(s · W_posᵀ W_QK W_pos), and average A[i, i−1] over positions i ≥ 1.
  A candidate scores ≥ ``min_previous`` (default 0.5).
* induction evidence of a head r in a later layer than a previous-token candidate w:
  the K-composition score of (w, r) and its z-score against the random baseline; the copying
  score Σλ/Σ|λ| of r's OV circuit W_U W_OV^r W_E; and the same-matching score Σλ/Σ|λ| of the
  K-composition QK circuit W_Eᵀ W_QK^r W_OV^w W_E (query token against the token w moved into
  the key position). A candidate has z ≥ ``min_z`` and both scores ≥ ``min_copying``/``min_matching``.

From behaviour (Olsson et al. 2022), on T distinct random tokens repeated once (length 2T):

* prefix matching: mean attention from position i ≥ T to i − T + 1, the token after the
  current token's earlier occurrence;
* copying: fraction of positions i ≥ T where the head's direct logit effect W_U·out_h[i]
  raises the token it attends to most (argmax_j A[i, j]) strictly above every other token.

>>> from tensoralg.models.circuits import head_weights, label
>>> from tensoralg.models.toy_models import induction_model
>>> model = induction_model(n_vocab=6, n_ctx=12)
>>> heads = head_weights(model)
>>> [e.is_candidate for e in previous_token_evidence(heads)]
[True, False]
>>> [(label(e.head), e.is_candidate) for e in induction_evidence(heads)]
[('L1H0', True)]
>>> b = behavioural_scores(model, np.random.default_rng(0), seq_len=5)
>>> b.prefix_matching.round(2).tolist(), b.copying.tolist()
([0.0, 1.0], [0.0, 1.0])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .circuits import Frame, Head, HeadWeights, copying_scores, k_composition_qk_circuits, ov_circuits
from .composition import CompositionScores, composition_scores
from ..errors import ShapeError
from .model import LayerRun, Model, iter_layers

@dataclass(frozen=True)
class PreviousTokenEvidence:
    """A head's mean attention to the previous position under its positional QK circuit alone."""

    head: Head
    score: float
    is_candidate: bool


@dataclass(frozen=True)
class InductionEvidence:
    """Why a head is (or is not) an induction head, relative to its best previous-token partner."""

    head: Head
    previous_token_head: Head
    k_composition: float
    k_composition_z: float
    ov_copying: float
    same_matching: float
    is_candidate: bool


def _positions(heads: HeadWeights, positions: int | None, what: str) -> np.ndarray:
    """W_pos restricted to its first ``positions`` columns (all by default), checked: 2 ≤ n ≤ n_ctx."""
    if heads.W_pos is None:
        raise ShapeError(f"{what} need positional embeddings W_pos; this model has none")
    n_ctx = heads.W_pos.shape[1]
    n = n_ctx if positions is None else positions
    if not 2 <= n <= n_ctx:
        raise ShapeError(f"positions must lie in [2, n_ctx = {n_ctx}]; got {n}")
    return heads.W_pos[:, :n]


def previous_token_scores(heads: HeadWeights, positions: int | None = None, group: int = 8) -> np.ndarray:
    """Mean over i ≥ 1 of softmax*(s · W_posᵀ W_QK W_pos)[i, i−1], for each head (the first ``positions`` positions).

    Only the diagonal below the main one is read: A[i, i−1] = exp(s S[i,i−1] − mᵢ) / Σ_{j≤i} exp(s S[i,j] − mᵢ)
    with mᵢ the row maximum, computed in place on one n × n block per head in the weights' precision
    (float32 for a float32 file: every term lies in (0, 1], the row sums are pairwise, and the benchmark's
    float64 reference agrees within 10⁻⁶); the causal mask is built once.
    """
    P = _positions(heads, positions, "previous-token scores")
    n = P.shape[1]
    dtype = np.result_type(P, heads.W_Q)
    mask = np.triu(np.full((n, n), -np.inf, dtype=dtype), 1)
    rows = np.arange(1, n)
    scores = np.empty(len(heads.labels))
    for start in range(0, len(heads.labels), group):  # n × n scores for a few heads at a time
        part = slice(start, start + group)
        g, k = heads.W_Q[part].shape[:2]
        # one GEMM each for the queries and keys of the group; contiguous operands keep the batched
        # n × n products on BLAS (a transposed view made them several times slower)
        Q = np.ascontiguousarray(np.swapaxes((heads.W_Q[part].reshape(g * k, -1) @ P).reshape(g, k, n), -1, -2))
        S = Q @ (heads.W_K[part].reshape(g * k, -1) @ P).reshape(g, k, n)
        S *= dtype.type(heads.score_scale)
        S += mask
        S -= S.max(axis=-1, keepdims=True)
        np.exp(S, out=S)
        total = S.sum(axis=-1)  # pairwise summation: relative error ~ε·log₂ n
        scores[part] = (S[:, rows, rows - 1] / total[:, rows]).mean(axis=-1)
    return scores


def previous_token_evidence(heads: HeadWeights, min_previous: float = 0.5, positions: int | None = None) -> tuple[PreviousTokenEvidence, ...]:
    """Every head's previous-token score, flagged as a candidate when ≥ ``min_previous``."""
    scores = previous_token_scores(heads, positions)
    return tuple(PreviousTokenEvidence(h, float(s), bool(s >= min_previous)) for h, s in zip(heads.labels, scores))


def induction_evidence(
    heads: HeadWeights,
    composition: CompositionScores | None = None,
    previous: tuple[PreviousTokenEvidence, ...] | None = None,
    *,
    copying: np.ndarray | None = None,
    frame: Frame | None = None,
    min_z: float = 3.0,
    min_copying: float = 0.5,
    min_matching: float = 0.5,
) -> tuple[InductionEvidence, ...]:
    """Evidence for each head in a later layer than some previous-token candidate (none if there is no candidate).

    ``copying`` (each head's OV copying score) and ``frame`` (the token QK frame) are
    recomputed when not given; a caller that has them already passes them in, since at
    vocabulary scale each costs an n_vocab · d_model² product.
    """
    composition = composition if composition is not None else composition_scores(heads)
    previous = previous if previous is not None else previous_token_evidence(heads)
    candidates = np.array([e.is_candidate for e in previous], dtype=bool)
    K = np.where(candidates[:, None] & composition.pairs, composition.k, -np.inf)
    readers = np.flatnonzero(np.isfinite(K).any(axis=0))
    if readers.size == 0:
        return ()
    writers = K[:, readers].argmax(axis=0)
    copying = copying if copying is not None else copying_scores(ov_circuits(heads))
    matching = copying_scores(k_composition_qk_circuits(heads, list(zip(writers, readers)), frame))
    base = composition.baseline["K"]
    evidence = []
    for w, r, m in zip(writers, readers, matching):
        k, z = float(composition.k[w, r]), float(base.z(composition.k[w, r]))
        ok = z >= min_z and copying[r] >= min_copying and m >= min_matching
        evidence.append(InductionEvidence(heads.labels[r], heads.labels[w], k, z, float(copying[r]), float(m), bool(ok)))
    return tuple(evidence)


@dataclass(frozen=True, eq=False)
class BehaviouralScores:
    """Olsson et al.'s prefix-matching and copying scores per head (``labels`` order), on repeated random tokens."""

    labels: tuple[Head, ...]
    prefix_matching: np.ndarray
    copying: np.ndarray
    seq_len: int
    sequences: int


def _strict_top(X: np.ndarray, own: np.ndarray, W_U: np.ndarray, U_norms: np.ndarray, first: int = 512, chunk: int = 8192) -> np.ndarray:
    """For each row x of X (R × d, float64): is (W_U x)[own] strictly above every other logit (W_U x)[t]?

    Vocabulary chunks are scanned in W_U's precision and a row stops as soon as some t ≠ own
    certainly reaches its logit, so a row that is not a copier costs one small first chunk. The
    float32 error of W_U[t]·x is at most γ_{d+1} ‖W_U[t]‖ ‖x‖ (Cauchy–Schwarz on the standard
    dot-product bound, any summation order); comparisons inside that margin are redone in float64,
    so the answer is that of the float64 logits.
    """
    R, d = X.shape
    own_logit = np.einsum("rd,rd->r", X, W_U[own].astype(np.float64))
    X_low = X.astype(W_U.dtype)
    unit = np.finfo(W_U.dtype).eps / 2
    # 1.001: slack for the rounding of the norms themselves (W_U's are computed in its precision)
    margin_scale = 1.001 * (d + 1) * unit / (1 - (d + 1) * unit) * np.linalg.norm(X, axis=1)
    alive = np.ones(R, dtype=bool)
    n_vocab = W_U.shape[0]
    start, size = 0, first
    while start < n_vocab and alive.any():
        rows = np.flatnonzero(alive)
        stop = min(start + size, n_vocab)
        cols = np.arange(start, stop)
        diff = (X_low[rows] @ W_U[start:stop].T) - own_logit[rows, None]
        margin = margin_scale[rows, None] * U_norms[None, cols] + 1e-300
        reached = diff >= margin
        unsure = np.abs(diff) < margin
        if unsure.any():
            r, c = np.nonzero(unsure)
            exact = np.einsum("id,id->i", X[rows[r]], W_U[cols[c]].astype(np.float64))
            reached[r, c] = exact >= own_logit[rows[r]]
        reached &= cols[None, :] != own[rows, None]
        alive[rows[reached.any(axis=1)]] = False
        start, size = start + size, chunk
    return alive


def behavioural_scores(
    model: Model, rng: np.random.Generator, seq_len: int | None = None, sequences: int = 4,
    *, progress: Callable[[int, int], None] | None = None,
) -> BehaviouralScores:
    """Run ``sequences`` sequences of ``seq_len`` random tokens, each followed by itself, through the model
    (all sequences in one batched float64 pass, layer by layer; no final logits). ``progress(done, total)``
    is called after each layer.

    Tokens within a sequence are distinct when seq_len ≤ n_vocab, so the earlier occurrence is unique.
    The copying check is exact against float64 logits but scans the vocabulary only until a rival is
    found (see ``_strict_top``).
    """
    T = seq_len if seq_len is not None else min(25, (model.n_ctx or 50) // 2)
    if T < 2 or (model.n_ctx is not None and 2 * T > model.n_ctx):
        raise ShapeError(f"seq_len must be ≥ 2 with 2·seq_len ≤ n_ctx = {model.n_ctx}; got {T}")
    if sequences < 1:
        raise ShapeError(f"sequences must be ≥ 1; got {sequences}")
    labels = model.head_labels
    prefix, copying = np.zeros(len(labels)), np.zeros(len(labels))
    second = np.arange(T, 2 * T)
    first = np.stack([rng.choice(model.n_vocab, size=T, replace=T > model.n_vocab) for _ in range(sequences)])
    tokens = np.concatenate([first, first], axis=1)
    U_norms = np.sqrt(np.einsum("td,td->t", model.W_U, model.W_U))  # no n_vocab × d_model temporary
    start = 0
    for run in iter_layers(model, tokens, dtype=np.float64):
        if not isinstance(run, LayerRun):
            break
        pattern, H = run.patterns, run.patterns.shape[1]
        heads = slice(start, start + H)
        start += H
        prefix[heads] = pattern[:, :, second, second - T + 1].mean(axis=(0, 2))
        out = run.head_outputs[:, :, second]  # S × H × T × d
        if model.layer_norm:  # the final LayerNorm centres each position; its positive scale cannot change an argmax
            out = out - out.mean(axis=-1, keepdims=True)
        attended = np.take_along_axis(tokens[:, None, None, :], pattern[:, :, second].argmax(axis=-1)[..., None], axis=-1)[..., 0]
        top = _strict_top(out.reshape(-1, out.shape[-1]), attended.reshape(-1), model.W_U, U_norms)
        copying[heads] = top.reshape(attended.shape).mean(axis=(0, 2))
        if progress is not None:
            progress(run.layer + 1, len(model.layers))
    return BehaviouralScores(labels, prefix, copying, T, sequences)


# --- the two routes to an induction head, and agreement with behaviour -------------------------
#
# K-composition (the paper's route): a layer-0 head attends to the previous position and writes
# that token; the induction head's keys read it, so the key at j says "t_{j−1}" and the query t_i
# matches it (W_Eᵀ W_QK W_OV^{prev} W_E same-matching). Q-composition: a layer-0 head attends to
# the earlier occurrence of the current token and writes that occurrence's position; the
# induction head's queries read it, so the query at i says "position j" and matches the key at
# position j + 1 (W_posᵀ W_OV^{same}ᵀ W_QK W_pos puts its weight one position on).

ROUTES = ("K-composition", "Q-composition")


@dataclass(frozen=True)
class RouteEvidence:
    """A later-layer head's best case for one route: the partner head (previous-token for
    K-composition, same-token for Q-composition), the composition score and its z against the
    random baseline, the reader's OV copying, and the route's matching score (same matching of
    the K-composition QK circuit, or next-position matching of the Q-composition positional circuit)."""

    head: Head
    route: str
    partner: Head
    composition: float
    composition_z: float
    ov_copying: float
    matching: float
    is_candidate: bool


def same_token_scores(heads: HeadWeights, frame: Frame | None = None) -> np.ndarray:
    """Σλ/Σ|λ| of each head's token QK circuit W_Eᵀ W_QK W_E (its same matching, C16): near 1 for a
    head whose queries look for their own token."""
    from .circuits import qk_circuits

    return copying_scores(qk_circuits(heads, frame))


def next_position_scores(heads: HeadWeights, pairs: list[tuple[int, int]], positions: int | None = None) -> np.ndarray:
    """For each (writer w, reader r): mean over query positions j < n − 1 of
    softmax_k(s · W_posᵀ W_OV^wᵀ W_QK^r W_pos)[j, j + 1], the weight r's query, holding the position j
    that w copied, puts on the key one position later (no causal mask: the true destination comes later)."""
    P = _positions(heads, positions, "next-position scores")
    out = np.empty(len(pairs))
    for i, (w, r) in enumerate(pairs):
        query = heads.W_Q[r] @ (heads.W_O[w] @ (heads.W_V[w] @ P))  # d_head × n
        S = heads.score_scale * (query.T @ (heads.W_K[r] @ P))
        S = S - S.max(axis=-1, keepdims=True)
        A = np.exp(S) / np.exp(S).sum(axis=-1, keepdims=True)
        out[i] = np.diagonal(A, offset=1).mean()
    return out


def route_evidence(
    heads: HeadWeights,
    composition: CompositionScores | None = None,
    previous: tuple[PreviousTokenEvidence, ...] | None = None,
    *,
    copying: np.ndarray | None = None,
    frame: Frame | None = None,
    same: np.ndarray | None = None,
    min_previous: float = 0.5,
    min_same: float = 0.5,
    min_z: float = 3.0,
    min_copying: float = 0.5,
    min_matching: float = 0.5,
    min_next: float = 0.3,
) -> tuple[RouteEvidence, ...]:
    """Both routes' evidence for every head in a layer after the first, from the weights alone.

    K-composition: partner = the previous-token candidate (score ≥ ``min_previous``) with the largest
    K-composition into the head; candidate when z ≥ ``min_z``, copying ≥ ``min_copying`` and same
    matching ≥ ``min_matching`` (as :func:`induction_evidence`). Q-composition: partner = the
    same-token candidate (same matching of its token QK circuit ≥ ``min_same``) with the largest
    Q-composition; candidate when z ≥ ``min_z``, copying ≥ ``min_copying`` and next-position score
    ≥ ``min_next``. A route with no partner candidate gives no row. ``copying``, ``frame`` and
    ``same`` (the heads' :func:`same_token_scores`) are recomputed when not given.
    """
    composition = composition if composition is not None else composition_scores(heads)
    copying = copying if copying is not None else copying_scores(ov_circuits(heads))
    out: list[RouteEvidence] = []
    if heads.W_pos is not None:
        previous = previous if previous is not None else previous_token_evidence(heads, min_previous)
        for e in induction_evidence(heads, composition, previous, copying=copying, frame=frame, min_z=min_z,
                                    min_copying=min_copying, min_matching=min_matching):
            out.append(RouteEvidence(e.head, ROUTES[0], e.previous_token_head, e.k_composition, e.k_composition_z,
                                     e.ov_copying, e.same_matching, e.is_candidate))
        same = (same if same is not None else same_token_scores(heads, frame)) >= min_same
        Q = np.where(same[:, None] & composition.pairs, composition.q, -np.inf)
        readers = np.flatnonzero(np.isfinite(Q).any(axis=0))
        if readers.size:
            writers = Q[:, readers].argmax(axis=0)
            nxt = next_position_scores(heads, list(zip(writers.tolist(), readers.tolist())))
            base = composition.baseline["Q"]
            for w, r, m in zip(writers, readers, nxt):
                q, z = float(composition.q[w, r]), float(base.z(composition.q[w, r]))
                ok = z >= min_z and copying[r] >= min_copying and m >= min_next
                out.append(RouteEvidence(heads.labels[r], ROUTES[1], heads.labels[w], q, z, float(copying[r]),
                                         float(m), bool(ok)))
    return tuple(sorted(out, key=lambda e: (e.head, ROUTES.index(e.route))))


@dataclass(frozen=True)
class Disagreement:
    """A head that one kind of evidence calls an induction head and the other does not."""

    head: Head
    weights_say: bool
    behaviour_says: bool
    prefix_matching: float
    copying: float


def behavioural_induction(behaviour: BehaviouralScores, min_prefix: float = 0.3, min_copying: float = 0.5) -> np.ndarray:
    """Per head (``behaviour.labels`` order): prefix matching ≥ ``min_prefix`` and copying ≥ ``min_copying``."""
    return (behaviour.prefix_matching >= min_prefix) & (behaviour.copying >= min_copying)


def disagreements(routes: tuple[RouteEvidence, ...], behaviour: BehaviouralScores, min_prefix: float = 0.3,
                  min_copying: float = 0.5) -> tuple[Disagreement, ...]:
    """Heads where the weights-only verdict (a candidate by either route) and the behavioural one differ."""
    by_weights = {e.head for e in routes if e.is_candidate}
    by_behaviour = behavioural_induction(behaviour, min_prefix, min_copying)
    return tuple(
        Disagreement(head, head in by_weights, bool(b), float(p), float(c))
        for head, b, p, c in zip(behaviour.labels, by_behaviour, behaviour.prefix_matching, behaviour.copying)
        if (head in by_weights) != bool(b)
    )
