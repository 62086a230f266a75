"""Random exact matrices that satisfy assumptions: patterns, projectors, rotations, symmetric ones.

A counterexample to an identity under assumptions must satisfy every assumption, so
each symbol is drawn from a family built to satisfy what is assumed of it, over ℚ:

    pattern / stochastic   W/rowsum(W), W ≥ 0 integer weights (lower-triangular if causal,
                           a positive diagonal so that no row is empty)
    rows sum to s          W − (rowsum(W) − s)/n on each row (causal: on its support)
    columns sum to s       the transpose of a row-sum draw
    causal, nonnegative    lower-triangular / nonnegative integer entries
    projector P² = P       B (CᵀB)⁻¹ Cᵀ, B and C of a random rank k (C = B if Pᵀ = P);
                           P𝟙 = 0 puts 𝟙 ⊥ C, 𝟙ᵀP = 0 puts 𝟙 ⊥ B, P𝟙 = 𝟙 puts 𝟙 in B
    isometry RᵀR = Id      the first columns of a rotation (Id − K)(Id + K)⁻¹ (Cayley transform
                           of a random skew-symmetric K, exact over ℚ) with random column signs;
                           R Rᵀ = Id the transpose of one
    symmetric S = Sᵀ       M + Mᵀ (double-centred when its rows must sum to s)
    𝟙                      the column of ones

Other combinations raise :class:`CannotSample`; the caller then checks every assumption
on what it drew anyway, so a family that does not fit can never yield a false counterexample.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> A = draw(Kind(causal=True, nonnegative=True, row_sum=Fraction(1)), 3, 3, rng)
>>> [sum(row) for row in A], all(A[i][j] == 0 for i in range(3) for j in range(3) if j > i)
([Fraction(1, 1), Fraction(1, 1), Fraction(1, 1)], True)
>>> R = draw(Kind(isometry="columns"), 3, 2, rng)
>>> [[sum(R[k][i] * R[k][j] for k in range(3)) for j in range(2)] for i in range(2)]
[[Fraction(1, 1), Fraction(0, 1)], [Fraction(0, 1), Fraction(1, 1)]]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import flint
import numpy as np

from ..errors import TensoralgError

Rows = list[list[Fraction]]


class CannotSample(TensoralgError):
    """No family of this module satisfies this combination of assumptions at these sizes."""


@dataclass(frozen=True)
class Kind:
    """What is assumed of one symbol, as far as sampling is concerned."""

    causal: bool = False
    nonnegative: bool = False
    row_sum: Fraction | None = None
    col_sum: Fraction | None = None
    idempotent: bool = False
    symmetric: bool = False
    isometry: str | None = None  # "columns": XᵀX = Id; "rows": X Xᵀ = Id
    ones: bool = False

    def describe(self) -> str:
        """The family drawn from, in words."""
        if self.ones:
            return "the column of ones"
        if self.isometry:
            what = "orthonormal columns (XᵀX = Id)" if self.isometry == "columns" else "orthonormal rows (X Xᵀ = Id)"
            return f"a rational matrix with {what}, from a Cayley rotation"
        parts = []
        if self.idempotent:
            parts.append("an orthogonal projector" if self.symmetric else "a projector (P² = P) of random rank")
        elif self.symmetric:
            parts.append("a symmetric matrix")
        if self.causal:
            parts.append("causal")
        if self.nonnegative:
            parts.append("nonnegative")
        if self.row_sum is not None:
            parts.append(f"rows summing to {self.row_sum}")
        if self.col_sum is not None:
            parts.append(f"columns summing to {self.col_sum}")
        return ", ".join(parts) if parts else "random integers in −3…3"


def _ints(rng: np.random.Generator, rows: int, cols: int, low: int, high: int) -> Rows:
    return [[Fraction(int(x)) for x in row] for row in rng.integers(low, high + 1, size=(rows, cols))]


def _transpose(m: Rows, rows: int, cols: int) -> Rows:
    return [[m[i][j] for i in range(rows)] for j in range(cols)]


def to_flint(m: Rows, rows: int, cols: int):
    """A list of rows of Fractions as a python-flint ``fmpq_mat``."""
    return flint.fmpq_mat(rows, cols, [flint.fmpq(x.numerator, x.denominator) for row in m for x in row])


def _from_flint(m) -> Rows:
    cols = m.ncols()
    flat = [Fraction(int(x.p), int(x.q)) for x in m.entries()]
    return [flat[i : i + cols] for i in range(0, len(flat), cols)]


def _row_sums(kind: Kind, rows: int, cols: int, rng: np.random.Generator) -> Rows:
    s = kind.row_sum
    support = [[not (kind.causal and j > i) for j in range(cols)] for i in range(rows)]
    if kind.nonnegative:
        if s is not None and s < 0:
            raise CannotSample("nonnegative rows cannot sum to a negative number")
        w = _ints(rng, rows, cols, 0, 4)
        for i in range(rows):
            for j in range(cols):
                if not support[i][j]:
                    w[i][j] = Fraction(0)
            if s is None:
                continue
            if s == 0:
                w[i] = [Fraction(0)] * cols
                continue
            if not any(w[i]):
                j = min(i, cols - 1) if kind.causal else int(rng.integers(cols))
                w[i][j] = Fraction(int(rng.integers(1, 5)))
            total = sum(w[i])
            w[i] = [x * s / total for x in w[i]]
        return w
    w = _ints(rng, rows, cols, -3, 3)
    for i in range(rows):
        free = [j for j in range(cols) if support[i][j]]
        for j in range(cols):
            if not support[i][j]:
                w[i][j] = Fraction(0)
        if s is not None:
            if not free:
                raise CannotSample("a causal row with no entry cannot have a nonzero sum")
            shift = (sum(w[i]) - s) / len(free)
            for j in free:
                w[i][j] -= shift
    return w


def _projector(kind: Kind, n: int, rng: np.random.Generator) -> Rows:
    """B (CᵀB)⁻¹ Cᵀ: range span B, kernel ⊥ C. P𝟙 = 0 ⇔ C ⊥ 𝟙; 𝟙ᵀP = 0 ⇔ B ⊥ 𝟙; P𝟙 = 𝟙 ⇔ 𝟙 ∈ span B."""
    sym = kind.symmetric
    b_perp = kind.col_sum == 0 or (sym and kind.row_sum == 0)
    b_ones = kind.row_sum == 1 or (sym and kind.col_sum == 1)
    c_perp = kind.row_sum == 0 or (sym and kind.col_sum == 0)
    c_ones = kind.col_sum == 1 or (sym and kind.row_sum == 1)
    if (b_perp and b_ones) or (c_perp and c_ones):
        raise CannotSample("a projector with 𝟙 both in its range and orthogonal to it")
    low = 1 if (b_ones or c_ones) else 0
    high = n - (1 if (b_perp or c_perp) else 0)
    if high < low:
        raise CannotSample(f"no projector of size {n} fits these sums")
    k = int(rng.integers(low, high + 1))
    if k == 0:
        return [[Fraction(0)] * n for _ in range(n)]

    def basis(perp: bool, ones: bool) -> Rows:
        vectors = _ints(rng, k, n, -3, 3)
        if ones:
            vectors[0] = [Fraction(1)] * n
        if perp:
            vectors = [[x - sum(v) / n for x in v] for v in vectors]
        return vectors

    for _ in range(50):
        B = basis(b_perp, b_ones)
        C = B if sym else basis(c_perp, c_ones)
        Bm, Cm = to_flint(_transpose(B, k, n), n, k), to_flint(_transpose(C, k, n), n, k)
        gram = Cm.transpose() * Bm
        if gram.det() != 0:
            return _from_flint(Bm * gram.inv() * Cm.transpose())
    raise CannotSample("could not draw a projector of the drawn rank")


def _isometry(n: int, k: int, rng: np.random.Generator) -> Rows:
    """n × k with orthonormal columns: k columns of a Cayley rotation, random signs."""
    if n < k:
        raise CannotSample(f"an n × k matrix with orthonormal columns needs n ≥ k; got {n} × {k}")
    upper = _ints(rng, n, n, -2, 2)
    K = [[upper[i][j] if i < j else -upper[j][i] if i > j else Fraction(0) for j in range(n)] for i in range(n)]
    eye = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    minus = to_flint([[eye[i][j] - K[i][j] for j in range(n)] for i in range(n)], n, n)
    plus = to_flint([[eye[i][j] + K[i][j] for j in range(n)] for i in range(n)], n, n)
    Q = _from_flint(minus * plus.inv())  # Id + K is invertible for skew-symmetric K over ℝ
    signs = [Fraction(int(rng.choice([-1, 1]))) for _ in range(k)]
    columns = sorted(rng.permutation(n)[:k].tolist())
    return [[Q[i][c] * s for c, s in zip(columns, signs)] for i in range(n)]


def _symmetric(kind: Kind, n: int, rng: np.random.Generator) -> Rows:
    M = _ints(rng, n, n, -3, 3)
    S = [[M[i][j] + M[j][i] for j in range(n)] for i in range(n)]
    if kind.row_sum is None and kind.col_sum is None:
        return S
    s = kind.row_sum if kind.row_sum is not None else kind.col_sum
    if kind.row_sum is not None and kind.col_sum is not None and kind.row_sum != kind.col_sum:
        raise CannotSample("a symmetric matrix has equal row and column sums")
    r = [sum(row) / n for row in S]
    total = sum(r) / n
    return [[S[i][j] - r[i] - r[j] + total + s / n for j in range(n)] for i in range(n)]


def draw(kind: Kind, rows: int, cols: int, rng: np.random.Generator) -> Rows:
    """A rows × cols matrix over ℚ (a list of rows of Fractions) from the family of ``kind``."""
    square = rows == cols
    if kind.ones:
        return [[Fraction(1)] * cols for _ in range(rows)]
    if kind.isometry:
        if kind != Kind(isometry=kind.isometry):
            raise CannotSample("an isometry with further assumptions")
        if kind.isometry == "columns":
            return _isometry(rows, cols, rng)
        return _transpose(_isometry(cols, rows, rng), cols, rows)
    if (kind.causal or kind.idempotent or kind.symmetric) and not square:
        raise CannotSample(f"a causal, projector or symmetric matrix is square; got {rows} × {cols}")
    if kind.idempotent:
        if kind.causal or kind.nonnegative:
            raise CannotSample("a causal or nonnegative projector")
        return _projector(kind, rows, rng)
    if kind.symmetric:
        if kind.causal or kind.nonnegative:
            raise CannotSample("a causal or nonnegative symmetric matrix")
        return _symmetric(kind, rows, rng)
    if kind.col_sum is not None:
        if kind.row_sum is not None or kind.causal:
            raise CannotSample("a matrix whose columns and rows both have fixed sums, or causal with column sums")
        return _transpose(_row_sums(replace(kind, row_sum=kind.col_sum, col_sum=None), cols, rows, rng), cols, rows)
    return _row_sums(kind, rows, cols, rng)
