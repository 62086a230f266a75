"""Term importance in nats (CLAIMS C20): the loss of the direct path, + single heads, + virtual heads.

With every attention pattern frozen at its value in the model's own forward pass, the logits
are exactly the sum of the path terms (C12), T = T₀ + T₁ + … + T_L with T_k the terms through
k heads (each with its positional twin when the model has W_pos). So each partial sum is a
prediction and has a loss, the next-token cross-entropy −log softmax(·)[x_{i+1}] in nats:

    direct path only    T₀
    + single heads      T₀ + T₁
    + virtual heads     T₀ + T₁ + T₂ (+ … for deeper models) = the full model's logits

The table also gives each path's own importance: the change in loss when that path (a single
head, or a virtual head h₂∘h₁, with all its sources) is removed from the full sum,
ΔL = L(T − T_path) − L(T). Losses are averaged over the positions of each named subset
(e.g. ordinary tokens, and the second copies of repeated segments) separately.

>>> from tensoralg.models.model import random_model
>>> model = random_model(np.random.default_rng(0), (1, 1), d_model=8, n_vocab=6, n_ctx=8, positional=True)
>>> tokens = [np.array([1, 2, 3, 1, 2, 3, 0])]
>>> table = importance(model, tokens, {"all": [np.ones(6, dtype=bool)]})
>>> [row.name for row in table.rows]
['direct path only', '+ single heads', '+ virtual heads']
>>> bool(abs(table.rows[-1].loss["all"] - table.full["all"]) < 1e-9)
True
>>> sorted(t.label for t in table.terms)
['L0H0', 'L1H0', 'L1H0∘L0H0']
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Mapping, Sequence

import numpy as np

from ..errors import ShapeError
from ..models.model import Model
from ..algebra.architecture import Architecture
from .expansion import Head, TermValues, iter_logit_terms

ORDER_NAMES = ("direct path only", "+ single heads", "+ virtual heads")


def order_name(order: int) -> str:
    """The row name of the partial sum up to ``order``: "direct path only", "+ single heads", "+ virtual heads", …

    >>> order_name(3)
    '+ virtual heads of order 3'
    """
    return ORDER_NAMES[order] if order < 3 else f"+ virtual heads of order {order}"


def path_label(heads: tuple[Head, ...]) -> str:
    """"L1H2∘L0H3" for the path through L0H3 then L1H2 (later head first, as composition)."""
    return "∘".join(f"L{l}H{h}" for l, h in reversed(heads)) or "direct"


def next_token_losses(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """−log softmax(logits_i)[tokens_{i+1}] for i < n − 1 (nats); logits may carry leading axes."""
    z = logits[..., :-1, :] - logits[..., :-1, :].max(axis=-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    index = np.broadcast_to(tokens[1:, None], log_probs.shape[:-1] + (1,))
    return -np.take_along_axis(log_probs, index, axis=-1)[..., 0]


@dataclass(frozen=True)
class OrderRow:
    """A partial sum T₀ + … + T_k: its name, order k and mean loss per subset (nats)."""

    name: str
    order: int
    loss: dict[str, float]


@dataclass(frozen=True)
class PathImportance:
    """The loss change per subset when one path (all its sources) is removed from the full sum."""

    heads: tuple[Head, ...]
    label: str
    family: str
    delta: dict[str, float]


@dataclass(frozen=True)
class ImportanceTable:
    """Rows by order, the full model's loss, each path's ΔL, and the largest |Σ terms − logits| seen."""

    subsets: tuple[str, ...]
    positions: dict[str, int]
    rows: tuple[OrderRow, ...]
    full: dict[str, float]
    terms: tuple[PathImportance, ...]
    max_sum_error: float

    def ranked(self, subset: str, top: int | None = None) -> tuple[PathImportance, ...]:
        """The paths by ΔL on ``subset``, most important (largest increase when removed) first."""
        if subset not in self.subsets:
            raise ShapeError(f"no subset {subset!r}; subsets: {', '.join(self.subsets)}")
        ordered = sorted(self.terms, key=lambda t: (-t.delta[subset], t.label))
        return tuple(ordered if top is None else ordered[:top])


def _float64(part):
    """``part`` (a model, layer or MLP) with every array field in float64, so the sums are exact to
    float64 round-off even for a model loaded from float32 weights."""
    arrays = {f.name: np.asarray(getattr(part, f.name), dtype=np.float64) for f in fields(part)
              if isinstance(getattr(part, f.name), np.ndarray)}
    return replace(part, **arrays)


def importance(model: Model, sequences: Sequence[np.ndarray], subsets: Mapping[str, Sequence[np.ndarray]]) -> ImportanceTable:
    """The table over ``sequences``; ``subsets[name][s]`` is a boolean mask over the n − 1 predictions of sequence s.
    The computation runs in float64 whatever the model's dtype."""
    if not sequences:
        raise ShapeError("importance needs at least one sequence")
    for name, masks in subsets.items():
        if len(masks) != len(sequences):
            raise ShapeError(f"subset {name!r} has {len(masks)} masks for {len(sequences)} sequences")
        for s, (mask, tokens) in enumerate(zip(masks, sequences)):
            if np.shape(mask) != (np.size(tokens) - 1,):
                raise ShapeError(f"subset {name!r}, sequence {s}: mask of shape {np.shape(mask)}; "
                                 f"expected ({np.size(tokens) - 1},), one per predicted token")
    model = replace(_float64(model), layers=tuple(_float64(layer) for layer in model.layers),
                    mlps=tuple(None if mlp is None else _float64(mlp) for mlp in model.mlps))
    architecture = Architecture.from_model(model)
    terms = list(iter_logit_terms(architecture))
    paths = sorted({t.heads for t in terms}, key=lambda h: (len(h), h))
    L = len(model.layers)
    order_sums = {name: np.zeros(L + 1) for name in subsets}
    full = {name: 0.0 for name in subsets}
    removed = {name: np.zeros(len(paths)) for name in subsets}
    counts = {name: 0 for name in subsets}
    error = 0.0
    for s, tokens in enumerate(sequences):
        tokens = np.asarray(tokens)
        values = TermValues(model, tokens)
        by_path = np.zeros((len(paths), tokens.size, model.n_vocab))
        for term in terms:
            by_path[paths.index(term.heads)] += values.logits(term)
        logits = values.run.logits
        total = by_path.sum(axis=0)
        error = max(error, float(np.abs(total - logits).max()))
        by_order = np.zeros((L + 1,) + logits.shape)
        for p, heads in enumerate(paths):
            by_order[len(heads)] += by_path[p]
        cumulative = next_token_losses(np.cumsum(by_order, axis=0), tokens)  # (L+1) × (n−1)
        own = next_token_losses(logits, tokens)
        without = next_token_losses(total[None] - by_path, tokens)  # paths × (n−1)
        for name, masks in subsets.items():
            mask = np.asarray(masks[s], dtype=bool)
            counts[name] += int(mask.sum())
            order_sums[name] += cumulative[:, mask].sum(axis=1)
            full[name] += float(own[mask].sum())
            removed[name] += (without[:, mask] - own[mask]).sum(axis=1)

    def mean(name: str, value):
        return value / counts[name] if counts[name] else np.nan * value

    rows = tuple(OrderRow(order_name(k), k, {n: float(mean(n, order_sums[n][k])) for n in subsets}) for k in range(L + 1))
    table_terms = tuple(
        PathImportance(heads, path_label(heads), "single-head" if len(heads) == 1 else "virtual",
                       {n: float(mean(n, removed[n][p])) for n in subsets})
        for p, heads in enumerate(paths) if heads
    )
    return ImportanceTable(tuple(subsets), dict(counts), rows, {n: float(mean(n, full[n])) for n in subsets},
                           table_terms, error)
