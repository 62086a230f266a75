"""Skip-trigrams "a … b → c" read off the QK and OV circuits of attention heads (CLAIMS C9, C10).

For head h, with s its score scale (column-vector convention, one-hot tokens):

    QK circuit   Q^h = W_Eᵀ W_QK^h W_E    Q^h[b, a]: score of destination token b on source token a
    OV circuit   O^h = W_U W_OV^h W_E     O^h[:, a]: the logits that attending to a adds (C10)

How much a destination b attends to a source a is read as the attention b would pay a in a
context holding every token once, α^h[b, a] = softmax_a(s·Q^h[b, :]); what attending to a
does to output c is the centred logit effect o^h[c, a] = O^h[c, a] − mean_{c'} O^h[c', a]
(softmax ignores a constant shift, C15). The combined effect of the skip-trigram is

    E(a, b, c) = Σ_h α^h[b, a] · o^h[c, a]

over the heads read (one with ``head``), C10's A[i, j]·(W_U W_OV W_E)[:, t_j] with the pattern
read off the weights. The top K triples by E are returned. Triples with a = b are left out unless
``distinct=False``: the weights cannot tell a destination attending to its own position (a
bigram the head adds to the direct path) from one attending to an earlier copy of its token. Only n_vocab × n_vocab matrices per
head are formed, and E one source a at a time (a rank-H n_vocab × n_vocab slice), never the
whole n_vocab³ table.

>>> import numpy as np
>>> from tensoralg.models.model import AttentionLayer, Model
>>> V = 4                     # hand-built: destination 1 attends to source 0, and 0 raises 2
>>> W_QK = np.zeros((V, V)); W_QK[1, 0] = 10.0
>>> W_OV = np.zeros((V, V)); W_OV[2, 0] = 5.0
>>> layer = AttentionLayer(W_QK.T[None], np.eye(V)[None], np.eye(V)[None], W_OV[None])
>>> model = Model(np.eye(V), np.eye(V), (layer,), score_scale=1.0)
>>> [(t.source, t.destination, t.output) for t in skip_trigrams(model, top=1)]
[(0, 1, 2)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..errors import ArchitectureError, ShapeError
from .circuits import Head, head_weights
from .model import Model

#: The largest vocabulary for which the dense n_vocab × n_vocab circuits are formed.
MAX_VOCAB = 4096


@dataclass(frozen=True)
class SkipTrigram:
    """a … b → c with its combined effect E and the parts of the largest contributing head."""

    source: int
    destination: int
    output: int
    effect: float
    head: Head
    attention: float
    logit: float

    def words(self, vocabulary: Sequence[str] | None = None) -> str:
        """"a … b → c" in token strings (or ids)."""
        name = (lambda t: str(t)) if vocabulary is None else (lambda t: vocabulary[t])
        return f"{name(self.source)} … {name(self.destination)} → {name(self.output)}"


def _heads(model: Model, head: Head | None) -> list[int]:
    labels = model.head_labels
    if head is None:
        if not labels:
            raise ArchitectureError("the model has no attention heads")
        return list(range(len(labels)))
    if head not in labels:
        raise ArchitectureError(f"no head {head[0]}.{head[1]}: the model has heads per layer {list(model.heads)}")
    return [labels.index(head)]


def circuits(model: Model, head: Head | None = None) -> tuple[tuple[Head, ...], np.ndarray, np.ndarray]:
    """(labels, α, o): attention α[h, b, a] and centred logit effects o[h, c, a] of the heads read."""
    if model.n_vocab > MAX_VOCAB:
        raise ShapeError(f"skip-trigram reading forms n_vocab × n_vocab circuits per head; n_vocab = {model.n_vocab} "
                         f"exceeds {MAX_VOCAB}")
    chosen = _heads(model, head)
    weights = head_weights(model)
    W_E, W_U = weights.W_E, weights.W_U
    Q = np.einsum("hkd,hke->hde", weights.W_Q[chosen], weights.W_K[chosen])  # W_QK per head
    scores = model.score_scale * np.einsum("db,hde,ea->hba", W_E, Q, W_E)
    scores -= scores.max(axis=-1, keepdims=True)
    attention = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    ov = W_U @ (weights.W_O[chosen] @ (weights.W_V[chosen] @ W_E))
    ov -= ov.mean(axis=-2, keepdims=True)
    return tuple(weights.labels[i] for i in chosen), attention, ov


def skip_trigrams(model: Model, head: Head | None = None, top: int = 10, distinct: bool = True) -> tuple[SkipTrigram, ...]:
    """The ``top`` triples (a, b, c) with the largest combined effect E, largest first (ties by ids);
    with ``distinct`` only those with a ≠ b."""
    if top < 1:
        raise ShapeError(f"top must be at least 1; got {top}")
    labels, attention, ov = circuits(model, head)
    V = model.n_vocab
    keep = min(top, V * (V - 1) if distinct else V * V)
    best: list[tuple[float, int, int, int]] = []
    for a in range(V):
        slice_ = attention[:, :, a].T @ ov[:, :, a]  # b × c: Σ_h α^h[b, a] o^h[c, a]
        if distinct:
            slice_[a] = -np.inf
        flat = slice_.ravel()
        idx = np.argpartition(-flat, keep - 1)[:keep]
        best.extend((float(flat[i]), a, int(i // V), int(i % V)) for i in idx)
        best.sort(key=lambda t: (-t[0], t[1], t[2], t[3]))
        del best[keep:]
    out = []
    for effect, a, b, c in best:
        parts = attention[:, b, a] * ov[:, c, a]
        h = int(parts.argmax())
        out.append(SkipTrigram(a, b, c, effect, labels[h], float(attention[h, b, a]), float(ov[h, c, a])))
    return tuple(out)


def recall(found: Iterable[SkipTrigram], planted: Iterable[Sequence[int]]) -> float:
    """|found ∩ planted| / |planted|, triples compared as (a, b, c).

    >>> recall([SkipTrigram(0, 1, 2, 1.0, (0, 0), 1.0, 1.0)], [(0, 1, 2), (3, 4, 5)])
    0.5
    """
    planted = {tuple(int(x) for x in t) for t in planted}
    if not planted:
        raise ShapeError("recall needs at least one planted triple")
    return len(planted & {(t.source, t.destination, t.output) for t in found}) / len(planted)


def parse_head(text: str) -> Head:
    """"L.H" (e.g. "0.3") or "LxHy" as (layer, head)."""
    cleaned = text.strip().upper().replace("L", "").replace("H", ".")
    parts = cleaned.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ShapeError(f"a head is written L.H, e.g. 0.3 (or L0H3); got {text!r}")
    return int(parts[0]), int(parts[1])

