"""Exact term counts of path expansions, without enumerating a single term.

A path through layers l₁ < … < l_k picks one head in each, so the paths of order k
through layers with |H_1|, …, |H_L| heads number e_k(|H_1|, …, |H_L|), the k-th
elementary symmetric polynomial, and all of them Π_l (1 + |H_l|) = Σ_k e_k
(CLAIMS C12). The e_k are the coefficients of Π_l (1 + |H_l| x), computed exactly
with Python integers in O(L·K) operations, so a 12 × 12 model's 13¹² terms are
counted instantly.

Sources multiply the count: every path starts at the token (W_E), at the position
(W_pos, with a positional embedding) or at the output of an MLP, which only the
layers after it read. A score term pairs a query path with a key path into the
head's layer, so the score counts are products (the square of C14).

>>> elementary_symmetric((4, 4))
(1, 8, 16)
>>> from tensoralg.algebra.architecture import Architecture
>>> logit_counts(Architecture((4, 4)))
((0, {'token': 1}), (1, {'token': 8}), (2, {'token': 16}))
>>> total(logit_counts(Architecture((12,) * 12)))
23298085122481
>>> total(score_counts(Architecture((2, 3)), 1))
9
"""

from __future__ import annotations

from typing import Sequence

from ..algebra.architecture import Architecture

#: Where a path starts: the token (W_E), the position (W_pos) or the output of an MLP.
TOKEN, POSITION, MLP = "token", "position", "mlp"

#: Counts per order: (order, {source: count}) with the sources "token", "position", "mlp".
OrderCounts = tuple[tuple[int, dict[str, int]], ...]


def sources(architecture: Architecture, stop: int | None = None) -> tuple[tuple[str, int | None], ...]:
    """The (source, source layer) pairs that reach layer ``stop`` (None: the unembedding).

    The token, the position with a positional embedding, then the MLP after layer m
    for each m < stop, by increasing m: the order in which paths list their sources.

    >>> sources(Architecture((1, 1, 1), positional=True, mlp=True), 2)
    (('token', None), ('position', None), ('mlp', 0), ('mlp', 1))
    """
    stop = architecture.n_layers if stop is None else stop
    found: list[tuple[str, int | None]] = [(TOKEN, None)]
    if architecture.positional:
        found.append((POSITION, None))
    found.extend((MLP, m) for m in architecture.mlp_layers if m < stop)
    return tuple(found)


def elementary_symmetric(values: Sequence[int], max_k: int | None = None) -> tuple[int, ...]:
    """(e_0, e_1, …, e_K) of ``values``: the coefficients of Π_i (1 + vᵢ x), K = max_k or len(values).

    >>> elementary_symmetric((1, 2, 3))
    (1, 6, 11, 6)
    >>> elementary_symmetric((1, 2, 3), max_k=1)
    (1, 6)
    """
    top = len(values) if max_k is None else min(max_k, len(values))
    coefficients = [1] + [0] * top
    for used, v in enumerate(values, start=1):
        for k in range(min(used, top), 0, -1):
            coefficients[k] += v * coefficients[k - 1]
    return tuple(coefficients)


def path_counts(architecture: Architecture, stop: int | None = None, max_order: int | None = None) -> OrderCounts:
    """Per order k, the paths into layer ``stop`` (None: into the unembedding) by source.

    token and position paths run through layers 0…stop−1: e_k(|H_0|, …, |H_{stop−1}|) each;
    the MLP after layer m starts paths through layers m+1…stop−1 only.
    """
    heads = architecture.heads
    stop = len(heads) if stop is None else stop
    bound = stop if max_order is None else min(max_order, stop)
    counts: list[dict[str, int]] = [{} for _ in range(bound + 1)]

    def add(source: str, e: tuple[int, ...]) -> None:
        for k, n in enumerate(e):
            if n:
                counts[k][source] = counts[k].get(source, 0) + n

    embedded = elementary_symmetric(heads[:stop], bound)
    for source, m in sources(architecture, stop):
        add(source, embedded if m is None else elementary_symmetric(heads[m + 1 : stop], bound))
    return tuple((k, c) for k, c in enumerate(counts) if c)


def logit_counts(architecture: Architecture, max_order: int | None = None) -> OrderCounts:
    """Counts per order of the terms of the logits T = (Id⊗W_U) Π_l (Id + Σ_h A^{l,h}⊗W_OV^{l,h}) (Id⊗W_E)."""
    return path_counts(architecture, None, max_order)


def score_counts(
    architecture: Architecture, layer: int, max_order: int | None = None
) -> tuple[tuple[int, int, int], ...]:
    """(query order, key order, count) of a layer-``layer`` head's score terms; ``max_order`` bounds each side.

    >>> score_counts(Architecture((2, 3)), 1)
    ((0, 0, 1), (1, 0, 2), (0, 1, 2), (1, 1, 4))
    """
    sides = {k: sum(c.values()) for k, c in path_counts(architecture, layer, max_order)}
    return tuple((a, b, sides[a] * sides[b]) for a, b in order_pairs(sides))


def order_pairs(orders: Sequence[int] | dict[int, int]) -> list[tuple[int, int]]:
    """(query order, key order) pairs by total order, query-side composition first (as in C14).

    >>> order_pairs((0, 1))
    [(0, 0), (1, 0), (0, 1), (1, 1)]
    """
    return sorted(((a, b) for a in orders for b in orders), key=lambda p: (p[0] + p[1], p[1]))


def total(counts: OrderCounts | tuple[tuple[int, int, int], ...]) -> int:
    """The number of terms in a result of :func:`logit_counts` or :func:`score_counts`."""
    return sum(sum(row[-1].values()) if isinstance(row[-1], dict) else row[-1] for row in counts)
