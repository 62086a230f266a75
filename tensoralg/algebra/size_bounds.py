"""Sizes at which two different normal forms must differ, with inverses too.

Path argument (no inverses). Let c·w₁⊗…⊗w_k be a term of a nonzero difference D. Give
each factor word w = x₁…x_m its own path of basis vectors v₀ → v₁ → … → v_m, vertex vᵢ in
the space between xᵢ and xᵢ₊₁, and let each letter's matrix carry an edge variable
z on its step (a transposed letter Xᵀ puts its edge on X as v_{i+1} → vᵢ). With the paths
of different factors on disjoint basis vectors, the entry of D at (starts, ends) has the
square-free monomial Π z of all edges only from walks that use every edge once — the
monotone walks, which read exactly w₁⊗…⊗w_k. So D ≠ 0 once every space s has at least
as many basis vectors as the paths have vertices in s: the per-space sizes returned.

Magnus argument (with inverses). For a symbol X that occurs inverted (square), put
X = Id + N_X; then X⁻¹ = Σ_j (−N_X)^j as a power series, Xᵀ = Id + N_Xᵀ, and every word
maps to a noncommutative power series in the letters y_X (for N_X), y_Xᵀ and the plain
symbols. If that series of D has a nonzero coefficient at a monomial u of degree m, the
path argument applied to u (each y a step) shows D(X) ≠ 0 for X = Id + N_X near 0 —
a nonzero rational function of the entries, hence nonzero at generic matrices — at the
per-space sizes of u's path. The expansion is computed up to a degree cap; when it
vanishes up to the cap, no bound is claimed and :attr:`SizeBound.proven` is False (the
Magnus map of the free group algebra is injective, so a larger cap always finds one).

>>> from tensoralg.algebra.expr import atom, Inverse
>>> from tensoralg.algebra.symbols import declared_symbol
>>> X, Y = (atom(declared_symbol(n, "p", "p")) for n in "XY")
>>> size_bound((X @ Y - Y @ X).normal_form).dims
{'p': 3}
>>> b = size_bound((X @ Inverse(X) @ Y - Y).normal_form)   # zero: X X⁻¹ cancels
>>> b.proven, b.dims
(True, {})
>>> b = size_bound((X + Inverse(X) - 2 * (X @ Inverse(X))).normal_form)   # X + X⁻¹ − 2 Id = X⁻¹(X − Id)²
>>> b.proven, b.dims, b.degree
(True, {'p': 3}, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping

from .normal_form import NormalForm
from .symbols import Letter

#: The largest degree of the Magnus expansion computed.
MAGNUS_DEGREE = 8
#: At most this many monomials are kept while expanding (the expansion is abandoned beyond).
MAGNUS_TERMS = 200_000


@dataclass(frozen=True)
class SizeBound:
    """Per-space sizes at which the difference is nonzero on generic matrices (``proven``), the
    degree of the monomial that shows it, and how it was found."""

    dims: Mapping[str, int] = field(default_factory=dict)
    proven: bool = True
    degree: int = 0
    method: str = "path"

    @property
    def size(self) -> int:
        """One size that works for every space (the largest per-space size)."""
        return max(self.dims.values(), default=1)


def _path_dims(words: tuple, shape) -> dict[str, int]:
    dims: dict[str, int] = {}
    for word, (rows, _) in zip(words, shape):
        spaces = [rows] if not word else [l.rows for l in word] + [word[-1].cols]
        for s in spaces:
            dims[s] = dims.get(s, 0) + 1
    return dims


def _cost(dims: Mapping[str, int]) -> tuple[int, int]:
    return (max(dims.values(), default=0), sum(dims.values()))


# A Magnus letter: ("y", symbol, transposed) for N_X, or ("x", letter) for a plain letter.
def _series(letter: Letter, inverted: frozenset, degree: int) -> dict[tuple, Fraction]:
    if letter.symbol not in inverted:
        return {(("x", letter),): Fraction(1)}
    y = ("y", letter.symbol, letter.transposed)
    if not letter.inverse:
        return {(): Fraction(1), (y,): Fraction(1)}
    return {(y,) * j: Fraction((-1) ** j) for j in range(degree + 1)}


def _magnus(word: tuple, inverted: frozenset, degree: int) -> dict[tuple, Fraction] | None:
    acc: dict[tuple, Fraction] = {(): Fraction(1)}
    for letter in word:
        series = _series(letter, inverted, degree)
        nxt: dict[tuple, Fraction] = {}
        for u, c in acc.items():
            for v, d in series.items():
                if len(u) + len(v) <= degree:
                    nxt[u + v] = nxt.get(u + v, Fraction(0)) + c * d
        acc = nxt
        if len(acc) > MAGNUS_TERMS:
            return None
    return acc


def _magnus_dims(monomial: tuple, space: str) -> dict[str, int]:
    if not monomial:
        return {space: 1}
    dims: dict[str, int] = {}

    def step(m) -> tuple[str, str]:
        if m[0] == "x":
            return m[1].rows, m[1].cols
        return m[1].rows, m[1].cols  # inverted symbols are square

    spaces = [step(m)[0] for m in monomial] + [step(monomial[-1])[1]]
    for s in spaces:
        dims[s] = dims.get(s, 0) + 1
    return dims


def size_bound(diff: NormalForm, max_degree: int = MAGNUS_DEGREE) -> SizeBound:
    """Per-space sizes at which the nonzero ``diff`` does not vanish (see the module docstring).

    An empty ``diff`` gives ``dims == {}``.
    """
    if not diff.terms:
        return SizeBound({}, True, 0, "zero")
    inverted = frozenset(l.symbol for key in diff.terms for w in key for l in w if l.inverse)
    if not inverted:
        best = min((_path_dims(key, diff.shape) for key in diff.terms), key=_cost)
        return SizeBound(best, True, min(sum(map(len, k)) for k in diff.terms), "path")
    if len(diff.shape) != 1:
        return SizeBound({}, False, 0, "inverses in a tensor term: no bound derived")
    (rows, _), = diff.shape
    for degree in range(max(map(lambda k: len(k[0]), diff.terms)), max_degree + 1):
        total: dict[tuple, Fraction] = {}
        for key, c in diff.terms.items():
            series = _magnus(key[0], inverted, degree)
            if series is None:
                return SizeBound({}, False, degree, "Magnus expansion too large")
            for u, d in series.items():
                total[u] = total.get(u, Fraction(0)) + Fraction(c) * d
        nonzero = [u for u, c in total.items() if c]
        if nonzero:
            low = min(map(len, nonzero))
            best = min((_magnus_dims(u, rows) for u in nonzero if len(u) == low), key=_cost)
            return SizeBound(best, True, low, "Magnus")
    return SizeBound({}, False, max_degree, f"Magnus expansion zero up to degree {max_degree}")
