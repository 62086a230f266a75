"""Reading a QK dictionary: what each feature responds to and which feature pairs carry a head.

A feature's activation a[b, i] over a corpus is grouped three ways: by the current token t_i,
by the previous token t_{i−1} and by the position i. The reading is the grouping with the
largest correlation ratio η² = Σ_g n_g (ā_g − ā)² / Σ (a − ā)² (the share of the activation's
variance that the grouping explains), and its values are the groups whose mean activation is at
least half the largest group mean: "current token is X", "previous token was X", "position is p".

A surviving pair (p, r, h) of the masked feature map M̃ = M ⊙ m contributes the score
c(i, j) = a_Q,p(i) M̃[p, r, h] a_K,r(j). Only its row-centred part reaches the pattern (C15), so a
pair is ranked by

    contribution = mean_{b,i} Σ_{j≤i} (A[i, j] − 1/(i+1)) · c(i, j),

how much it raises the score where head h attends above the row average (0 for any c that
depends on i only). The key-bias term b_Qᵀ D_K a_K is listed the same way with a_Q,p ≡ 1.
A pair reads as the induction mechanism when the query feature reads "current token is X" and
the key feature "previous token was X" with a shared X, as the previous-token mechanism when
it reads "position is p" against "position is p − 1", and as a same-token head (the first step of
the Q-composition route to induction) when both read "current token is X".

>>> tokens = np.array([[0, 1, 0, 1]])
>>> acts = np.array([[[2.0], [0.0], [2.0], [0.0]]])
>>> r = read_features(acts, tokens)[0]
>>> r.kind, r.values, round(r.eta2, 3)
('current', (0,), 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .qk_dictionary import QKDictionary

KINDS = ("current", "previous", "position")


@dataclass(frozen=True)
class FeatureReading:
    """What feature ``index`` reads (``kind`` ∈ KINDS, ``values`` the groups it fires on, η²) and its
    top-activating examples as (sequence, position, activation)."""

    index: int
    kind: str
    values: tuple[int, ...]
    eta2: float
    frequency: float
    top: tuple[tuple[int, int, float], ...]


def _eta2(acts: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[float, np.ndarray]:
    counts = np.bincount(groups, minlength=n_groups)
    sums = np.bincount(groups, weights=acts, minlength=n_groups)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
    total = ((acts - acts.mean()) ** 2).sum()
    between = (counts * (np.where(counts > 0, means, 0.0) - acts.mean()) ** 2).sum()
    return (float(between / total) if total > 0 else 0.0), means


def read_features(acts: np.ndarray, tokens: np.ndarray, top: int = 5) -> tuple[FeatureReading, ...]:
    """A :class:`FeatureReading` per feature of ``acts`` (B × n × d_hidden) on ``tokens`` (B × n)."""
    b, n, f = acts.shape
    tokens = np.asarray(tokens)
    n_vocab = int(tokens.max()) + 1
    previous = np.concatenate([np.full((b, 1), n_vocab), tokens[:, :-1]], axis=1)  # n_vocab: no previous token
    groupings = {"current": (tokens.ravel(), n_vocab), "previous": (previous.ravel(), n_vocab + 1),
                 "position": (np.broadcast_to(np.arange(n), (b, n)).ravel(), n)}
    flat = acts.reshape(-1, f)
    readings = []
    for p in range(f):
        a = flat[:, p]
        best = max(((*_eta2(a, g, k), kind) for kind, (g, k) in groupings.items()), key=lambda r: r[0])
        eta2, means, kind = best
        limit = means.max() / 2 if means.max() > 0 else np.inf
        values = tuple(int(v) for v in np.argsort(-means) if means[v] >= limit)
        if kind == "previous" and values and values[0] == n_vocab:  # fires where there is no previous token
            kind, values = "position", (0,)
        values = tuple(v for v in values if not (kind == "previous" and v == n_vocab))
        order = np.argsort(-a, kind="stable")[:top]
        examples = tuple((int(i // n), int(i % n), float(a[i])) for i in order if a[i] > 0)
        readings.append(FeatureReading(p, kind, values, eta2, float((a > 0).mean()), examples))
    return tuple(readings)


@dataclass(frozen=True)
class FeaturePair:
    """A surviving entry of the masked feature map: query feature ``q`` (None for the query bias
    b_Q), key feature ``k``, head, its weight M̃[q, k, h] and its contribution (module docstring)."""

    q: int | None
    k: int
    head: int
    weight: float
    contribution: float


def feature_pairs(dictionary: QKDictionary, residuals: np.ndarray, patterns: np.ndarray,
                  mask: np.ndarray | None = None, *, bias_term: bool = True) -> tuple[FeaturePair, ...]:
    """Every surviving pair (and, with ``bias_term``, every key feature's b_Qᵀ D_K term), by |contribution|."""
    a_q, a_k = dictionary.encode(residuals)
    mask = dictionary.mask if mask is None else mask
    weights = dictionary.feature_map() * (1.0 if mask is None else mask)
    n = patterns.shape[-1]
    uniform = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]
    excess = np.where(np.tril(np.ones((n, n), bool)), patterns - uniform, 0.0)
    rows = patterns.shape[0] * n
    per_key = np.einsum("bhij,bjr->bhir", excess, a_k)  # Σ_j (A − U)[i, j] a_K,r(j)
    gram = np.einsum("bip,bhir->prh", a_q, per_key) / rows
    contributions = weights * gram
    pairs = [FeaturePair(int(p), int(r), int(h), float(weights[p, r, h]), float(contributions[p, r, h]))
             for p, r, h in zip(*np.nonzero(weights))]
    if bias_term:
        h_, e = dictionary.n_heads, dictionary.d_head
        bias_map = np.einsum("he,her->rh", dictionary.b_Q.reshape(h_, e), dictionary.D_K.reshape(h_, e, -1))
        bias_gram = per_key.sum(axis=(0, 2)).T / rows  # r × h
        pairs += [FeaturePair(None, int(r), int(h), float(bias_map[r, h]), float(bias_map[r, h] * bias_gram[r, h]))
                  for r, h in zip(*np.nonzero(bias_map))]
    return tuple(sorted(pairs, key=lambda pair: (-abs(pair.contribution), pair.head, pair.q or -1, pair.k)))


def mechanism(query: FeatureReading | None, key: FeatureReading) -> str:
    """The known mechanism a pair of readings matches: "induction", "previous-token", "same-token" or ""."""
    if query is None:
        return ""
    if query.kind == "current" and key.kind == "previous" and set(query.values) & set(key.values):
        return "induction"
    if query.kind == "current" and key.kind == "current" and set(query.values) & set(key.values):
        return "same-token"
    if query.kind == "position" and key.kind == "position" and {v - 1 for v in query.values} & set(key.values):
        return "previous-token"
    return ""


def describe(reading: FeatureReading, vocab: Sequence[str], limit: int = 4) -> str:
    """'current token is 'X'' / 'previous token was 'X' or 'Y'' / 'position is 3'."""
    if not reading.values:
        return "never active"
    names = [repr(vocab[v]) if reading.kind != "position" and v < len(vocab) else str(v) for v in reading.values[:limit]]
    more = f" (+{len(reading.values) - limit} more)" if len(reading.values) > limit else ""
    verb = {"current": "current token is", "previous": "previous token was", "position": "position is"}[reading.kind]
    return f"{verb} {' or '.join(names)}{more}"


def context(tokens: np.ndarray, example: tuple[int, int, float], vocab: Sequence[str], before: int = 2) -> str:
    """An example as '…a b [c]' (the feature fires at the bracketed token)."""
    b, i, _ = example
    start = max(0, i - before)
    words = [vocab[t] if t < len(vocab) else str(t) for t in tokens[b, start:i + 1]]
    return ("…" if start else "") + " ".join(words[:-1] + [f"[{words[-1]}]"])
