"""Low-rank matrices kept as a product M = A·B that is never formed.

A is m × k and B is k × n with k small (d_head) and m, n possibly huge (n_vocab).
Everything is answered from k-sized pieces:

    eigenvalues   the nonzero spectrum of AB equals that of BA (k × k)        (C16)
    singular vals A = Q_A R_A, Bᵀ = Q_B R_B ⇒ AB = Q_A (R_A R_Bᵀ) Q_Bᵀ, and the
                  singular values of AB are those of the small core R_A R_Bᵀ   (C17b)
    ‖AB‖_F²       tr(Bᵀ Aᵀ A B) = tr((AᵀA)(BBᵀ)) = Σ (AᵀA) ⊙ (BBᵀ)   (k × k Gram matrices)
    tr AB         Σᵢⱼ A[i,j] B[j,i]
    products      (AB)(CD) keeps the narrowest of k_AB, the shared side and k_CD as its
                  inner dimension: rank(XY) ≤ min(rank X, rank Y) along every dimension the
                  product passes through (C5)
    rows, columns (AB)[I, J] = A[I, :] · B[:, J]: indexing never forms AB

Leading axes are batch axes (layers, heads) and broadcast like numpy's matmul, as in
TransformerLens's ``FactoredMatrix``; the README lists every TransformerLens operation with its
equivalent here and the deliberate differences (numpy's SVD convention, ``eigenvalues()`` a
method returning min(m, k) values, ``v @ M`` a vector).

>>> rng = np.random.default_rng(0)
>>> A, B = rng.normal(size=(3, 1000, 2)), rng.normal(size=(3, 2, 1000))
>>> M = FactoredMatrix(A, B)
>>> M.shape, M.eigenvalues().shape
((3, 1000, 1000), (3, 2))
>>> bool(np.allclose(M[1].trace(), np.trace(A[1] @ B[1])))
True
>>> M[1, 7].shape, (M @ np.ones((1000, 4))).mdim, (M @ np.ones(1000)).shape
((1, 1000), 2, (3, 1000))
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import ShapeError, TensoralgError


class FactoredIndexError(ShapeError, IndexError):
    """An index that does not fit a FactoredMatrix (too long, out of range); also an ``IndexError``, as numpy's is."""


def _float(array: Any, name: str = "factor") -> np.ndarray:
    """A floating array: integers and booleans become float64, float16 becomes float32 (numpy's
    linear algebra has no half precision; TransformerLens computes eigenvalues in float32 too)."""
    array = np.asarray(array)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.inexact):
        return array
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return array.astype(np.float64)
    raise TensoralgError(f"{name} must hold numbers; got dtype {array.dtype}")


def _batch(left: tuple[int, ...], right: tuple[int, ...], what: str) -> tuple[int, ...]:
    """The broadcast batch shape of two operands (last two axes excluded), or a ShapeError naming both shapes."""
    try:
        return np.broadcast_shapes(left[:-2], right[:-2])
    except ValueError:
        raise ShapeError(f"batch shape mismatch: {what}: leading axes {left[:-2]} and {right[:-2]} do not broadcast") from None


def frobenius_from_grams(left_gram: np.ndarray, right_gram: np.ndarray) -> np.ndarray:
    """‖XY‖_F = √Σ (XᵀX) ⊙ (YYᵀ), from the two small Gram matrices (clipped at 0 against rounding)."""
    return np.sqrt(np.maximum(np.einsum("...ij,...ij->...", left_gram, right_gram), 0.0))


def _swap(array: np.ndarray) -> np.ndarray:
    return np.swapaxes(array, -1, -2)


def _scalar(value: Any) -> int | float | complex:
    """A Python number (so float32 factors stay float32), from a number or a one-element array."""
    if isinstance(value, FactoredMatrix):
        raise ShapeError(f"FactoredMatrix * FactoredMatrix {value.shape}: * takes a scalar; use @ for the matrix product")
    array = np.asarray(value)
    if array.size != 1 or not np.issubdtype(array.dtype, np.number):
        raise ShapeError(f"a FactoredMatrix is multiplied by a scalar only; got an array of shape {array.shape}, "
                         f"dtype {array.dtype} (use @ for matrix products)")
    return array.reshape(()).item()


def _axis_index(item: Any, size: int, axis: str, shape: tuple[int, ...]) -> slice | np.ndarray:
    """One row or column index as a slice or 1-D array, so the axis is never dropped: i ↦ i:i+1."""
    if isinstance(item, slice):
        return item
    if isinstance(item, np.ndarray) and item.ndim == 0 and np.issubdtype(item.dtype, np.integer):
        item = int(item)
    if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
        if not -size <= item < size:
            raise FactoredIndexError(f"{axis} index {item} is out of range for a FactoredMatrix of shape {shape} ({size} {axis}s)")
        item = int(item) % size
        return slice(item, item + 1)
    array = np.asarray(item)
    if array.size == 0 and array.ndim == 1:
        array = array.astype(np.intp)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise FactoredIndexError(f"{axis}s of a FactoredMatrix take an int, a slice or a 1-D integer or boolean array; "
                                 f"got {item!r} for shape {shape}")
    if array.dtype == np.bool_ and array.size != size:
        raise FactoredIndexError(f"boolean {axis} mask of length {array.size} for {size} {axis}s (shape {shape})")
    if array.dtype != np.bool_ and array.size and not (-size <= array.min() and array.max() < size):
        raise FactoredIndexError(f"{axis} indices {array.min()}..{array.max()} out of range for {size} {axis}s (shape {shape})")
    return array


def _as_index_item(item: Any) -> Any:
    """Lists and tuples inside an index are arrays (as in numpy); everything else is kept."""
    return np.asarray(item) if isinstance(item, (list, tuple)) else item


def _width(item: Any) -> int:
    """How many axes an index item consumes."""
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, np.ndarray) and item.dtype == np.bool_:
        return item.ndim
    return 1


@dataclass(frozen=True, eq=False, repr=False)
class FactoredMatrix:
    """The matrix A·B (shape ``batch + (m, n)``) stored as its factors A (…, m, k) and B (…, k, n).

    Construction checks the inner dimension and that the batch axes broadcast, and stores both
    factors broadcast to the common batch shape (read-only views: a factor shared by every head
    costs nothing). Integer factors become float64 and float16 factors float32; float32 is kept.
    """

    A: np.ndarray
    B: np.ndarray

    __array_ufunc__ = None  # so ndarray @ FactoredMatrix defers to __rmatmul__ instead of treating it as an object

    def __post_init__(self) -> None:
        A, B = _float(self.A, "A"), _float(self.B, "B")
        if A.ndim < 2 or B.ndim < 2:
            raise ShapeError(f"the factors of a FactoredMatrix must be (batches of) matrices; got A {A.shape}, B {B.shape}")
        if A.shape[-1] != B.shape[-2]:
            raise ShapeError(f"inner dimension mismatch: A {A.shape} · B {B.shape}: inner dimensions {A.shape[-1]} and {B.shape[-2]} differ")
        batch = _batch(A.shape, B.shape, f"A {A.shape} and B {B.shape}")
        object.__setattr__(self, "A", A if A.shape[:-2] == batch else np.broadcast_to(A, batch + A.shape[-2:]))
        object.__setattr__(self, "B", B if B.shape[:-2] == batch else np.broadcast_to(B, batch + B.shape[-2:]))

    def __repr__(self) -> str:
        return f"FactoredMatrix(shape={self.shape}, mdim={self.mdim}, dtype={np.result_type(self.A, self.B)})"

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.A.shape[:-2]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.batch_shape + (self.ldim, self.rdim)

    @property
    def ndim(self) -> int:
        """len(shape): the batch axes and the two matrix axes."""
        return len(self.batch_shape) + 2

    @property
    def has_leading_dims(self) -> bool:
        """True when there are batch axes (even of length 1)."""
        return bool(self.batch_shape)

    @property
    def ldim(self) -> int:
        """m, the number of rows of AB."""
        return self.A.shape[-2]

    @property
    def mdim(self) -> int:
        """k, the inner dimension (a bound on the rank, C5)."""
        return self.A.shape[-1]

    @property
    def rdim(self) -> int:
        """n, the number of columns of AB."""
        return self.B.shape[-1]

    @property
    def pair(self) -> tuple[np.ndarray, np.ndarray]:
        """The factors (A, B)."""
        return self.A, self.B

    @property
    def T(self) -> FactoredMatrix:
        """(AB)ᵀ = Bᵀ Aᵀ."""
        return FactoredMatrix(_swap(self.B), _swap(self.A))

    def unsqueeze(self, axis: int) -> FactoredMatrix:
        """A new batch axis of length 1 where ``np.expand_dims(M.dense(), axis)`` puts it; it must land among the batch axes."""
        position = axis if axis >= 0 else self.ndim + 1 + axis
        if not 0 <= position <= len(self.batch_shape):
            raise ShapeError(f"unsqueeze({axis}) of a FactoredMatrix of shape {self.shape} would split its matrix axes; "
                             f"a new axis goes at positions 0..{len(self.batch_shape)} (or {-self.ndim - 1}..-3)")
        return FactoredMatrix(np.expand_dims(self.A, position), np.expand_dims(self.B, position))

    def __getitem__(self, index: Any) -> FactoredMatrix:
        """Select batch elements, rows and columns without forming AB: (AB)[b, I, J] = A[b, I, :] · B[b, :, J].

        Batch axes follow numpy's rules (ints drop the axis; slices, integer arrays, boolean masks,
        ``None``, one ``...``). On the two matrix axes an int keeps its axis (``M[..., t, :]`` is
        1 × n, as in TransformerLens), and rows and columns are indexed independently (``M[..., I, J]``
        is |I| × |J|, like ``np.ix_``). The inner dimension is unchanged.
        """
        items = [_as_index_item(i) for i in (index if isinstance(index, tuple) else (index,))]
        if sum(i is Ellipsis for i in items) > 1:
            raise FactoredIndexError(f"an index can only have a single ellipsis (...); got {index!r}")
        used = sum(_width(i) for i in items)
        if used > self.ndim:
            raise FactoredIndexError(f"{index!r} is too long an index for a FactoredMatrix of shape {self.shape}")
        if any(i is Ellipsis for i in items):
            at = next(j for j, i in enumerate(items) if i is Ellipsis)
            items[at:at + 1] = [slice(None)] * (self.ndim - used)
        else:
            items += [slice(None)] * (self.ndim - used)
        batch_axes, batch, matrix = len(self.batch_shape), [], []
        axis = 0
        for item in items:
            if axis + _width(item) <= batch_axes and not matrix:
                batch.append(item)
            elif item is None:
                raise FactoredIndexError(f"None (a new axis) may only come before the two matrix axes; got {index!r} for shape {self.shape}")
            elif axis < batch_axes or _width(item) != 1:
                raise FactoredIndexError(f"a boolean mask in {index!r} spans several axes across or within the matrix axes of shape {self.shape}")
            else:
                matrix.append(item)
            axis += _width(item)
        rows = _axis_index(matrix[0], self.ldim, "row", self.shape)
        cols = _axis_index(matrix[1], self.rdim, "column", self.shape)
        try:
            A = self.A[tuple(batch) + (slice(None), slice(None))]
            B = self.B[tuple(batch) + (slice(None), slice(None))]
        except IndexError as exc:
            raise FactoredIndexError(f"index {index!r} does not fit the batch axes {self.batch_shape}: {exc}") from None
        return FactoredMatrix(A[..., rows, :], B[..., :, cols])

    def __matmul__(self, other: FactoredMatrix | np.ndarray) -> FactoredMatrix | np.ndarray:
        """M @ X as a FactoredMatrix whose inner dimension is the narrowest the product passes through:

            (AB)(CD)  min(k_AB, n_AB = m_CD, k_CD)        (AB)X   min(k_AB, n_AB)

        M @ v for a 1-D v is the vector A(Bv) (batch + (m,)).
        """
        if isinstance(other, FactoredMatrix):
            if self.rdim != other.ldim:
                raise ShapeError(f"inner dimension mismatch: FactoredMatrix {self.shape} @ FactoredMatrix {other.shape}: "
                                 f"{self.rdim} columns against {other.ldim} rows")
            _batch(self.shape, other.shape, f"FactoredMatrix {self.shape} @ FactoredMatrix {other.shape}")
            narrowest = min(self.mdim, self.rdim, other.mdim)
            if self.mdim == narrowest:
                return FactoredMatrix(self.A, (self.B @ other.A) @ other.B)
            if other.mdim == narrowest:
                return FactoredMatrix(self.A @ (self.B @ other.A), other.B)
            return FactoredMatrix(self.dense(), other.dense())
        other = _float(other, "the right operand")
        if other.ndim == 1:
            if other.shape[0] != self.rdim:
                raise ShapeError(f"inner dimension mismatch: FactoredMatrix {self.shape} @ vector {other.shape}: {self.rdim} columns")
            return (self.A @ (self.B @ other)[..., None])[..., 0]
        if other.ndim == 0 or other.shape[-2] != self.rdim:
            raise ShapeError(f"inner dimension mismatch: FactoredMatrix {self.shape} @ array {other.shape}: {self.rdim} columns against "
                             f"{other.shape[-2:] if other.ndim else 'a scalar (use *)'}")
        _batch(self.shape, other.shape, f"FactoredMatrix {self.shape} @ array {other.shape}")
        if self.mdim <= self.rdim:
            return FactoredMatrix(self.A, self.B @ other)
        return FactoredMatrix(self.dense(), other)

    def __rmatmul__(self, other: np.ndarray) -> FactoredMatrix | np.ndarray:
        """X @ M with inner dimension min(m_AB, k_AB); v @ M for a 1-D v is the vector (vA)B (batch + (n,))."""
        other = _float(other, "the left operand")
        if other.ndim == 1:
            if other.shape[0] != self.ldim:
                raise ShapeError(f"inner dimension mismatch: vector {other.shape} @ FactoredMatrix {self.shape}: {self.ldim} rows")
            return ((other @ self.A)[..., None, :] @ self.B)[..., 0, :]
        if other.ndim == 0 or other.shape[-1] != self.ldim:
            raise ShapeError(f"inner dimension mismatch: array {other.shape} @ FactoredMatrix {self.shape}: "
                             f"{other.shape[-1] if other.ndim else 'a scalar (use *)'} columns against {self.ldim} rows")
        _batch(other.shape, self.shape, f"array {other.shape} @ FactoredMatrix {self.shape}")
        if self.mdim <= self.ldim:
            return FactoredMatrix(other @ self.A, self.B)
        return FactoredMatrix(other, self.dense())

    def __mul__(self, scalar: Any) -> FactoredMatrix:
        """c·(AB) = (cA)B or A(cB), scaling the smaller factor; c is a number or a one-element array."""
        c = _scalar(scalar)
        if self.A.size <= self.B.size:
            return FactoredMatrix(self.A * c, self.B)
        return FactoredMatrix(self.A, self.B * c)

    __rmul__ = __mul__

    def __truediv__(self, scalar: Any) -> FactoredMatrix:
        """(AB)/c = (1/c)·AB for a nonzero scalar c."""
        c = _scalar(scalar)
        if c == 0:
            raise ShapeError("division of a FactoredMatrix by zero")
        return self * (1 / c)

    def __neg__(self) -> FactoredMatrix:
        return self * -1

    def dense(self) -> np.ndarray:
        """The full matrix AB (only for small shapes; the point of the class is not to need it)."""
        return self.A @ self.B

    def _require_square(self, what: str) -> None:
        if self.ldim != self.rdim:
            raise ShapeError(f"{what} needs a square matrix; this FactoredMatrix is {self.ldim} × {self.rdim}")

    @property
    def BA(self) -> np.ndarray:
        """B·A (batch + (k, k)), defined when AB is square: the matrix whose spectrum is AB's nonzero one."""
        self._require_square("BA")
        return self.B @ self.A

    def get_corner(self, k: int = 3) -> np.ndarray:
        """The dense top-left corner M[:k, …, :k] (first k along every axis, batch axes included)."""
        return self[tuple(slice(k) for _ in range(self.ndim))].dense()

    def trace(self) -> np.ndarray:
        """tr(AB) = Σᵢⱼ A[i,j] B[j,i], per batch element."""
        self._require_square("the trace")
        return np.einsum("...ij,...ji->...", self.A, self.B)

    def eigenvalues(self) -> np.ndarray:
        """min(m, k) eigenvalues of the square AB (complex, in LAPACK's order), per batch element.

        k ≤ m: the k eigenvalues of the k × k matrix BA, which has the same nonzero spectrum as
        AB (AB·Ax = λAx whenever BA·x = λx and Ax ≠ 0); AB's other m − k eigenvalues are 0.
        k > m: the m eigenvalues of AB itself (its whole spectrum; TransformerLens returns k values,
        k − m of them extra zeros). After a product the inner dimension is already the narrowest
        (see ``@``), so a rank-5 product has 5 eigenvalues, not the old inner size.
        """
        self._require_square("eigenvalues")
        values = np.linalg.eigvals(self.BA if self.mdim <= self.ldim else self.dense())
        return values.astype(np.result_type(values, np.complex64), copy=False)  # complex even when every λ is real

    def _core(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Q_A, R_A = np.linalg.qr(self.A)
        Q_B, R_B = np.linalg.qr(_swap(self.B))
        return Q_A, R_A @ _swap(R_B), Q_B

    @cached_property
    def _svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        U_a, s_a, V_a = np.linalg.svd(self.A, full_matrices=False)
        U_b, s_b, V_b = np.linalg.svd(self.B, full_matrices=False)
        core = (s_a[..., :, None] * V_a) @ (U_b * s_b[..., None, :])
        U_c, s_c, V_c = np.linalg.svd(core, full_matrices=False)
        result = (U_a @ U_c, s_c, V_c @ V_b)
        for array in result:
            array.setflags(write=False)  # cached: a caller must not change what later calls return
        return result

    def svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin SVD AB = U diag(S) Vh (numpy's convention) from the SVDs of the factors (C17b), computed once
        and cached: U (…, m, r), S (…, r) descending, Vh (…, r, n), r = min(m, n, k).

        A = U_A S_A V_A and B = U_B S_B V_B give C = S_A V_A U_B S_B = U_C S_C V_C (r_A × r_B), so
        AB = U_A C V_B = (U_A U_C) S_C (V_C V_B): orthonormal columns, singular values, orthonormal rows.
        """
        return self._svd

    @property
    def U(self) -> np.ndarray:
        """Left singular vectors, m × r."""
        return self._svd[0]

    @property
    def S(self) -> np.ndarray:
        """Singular values, descending, r of them."""
        return self._svd[1]

    @property
    def V(self) -> np.ndarray:
        """Right singular vectors as columns, n × r (AB = U diag(S) Vᵀ; TransformerLens's ``V``)."""
        return _swap(self._svd[2])

    def singular_values(self) -> np.ndarray:
        """The min(m, n, k) largest singular values of AB, descending (the rest are 0)."""
        if "_svd" in self.__dict__:
            return self._svd[1]
        return np.linalg.svd(self._core()[1], compute_uv=False)

    def collapse_l(self) -> np.ndarray:
        """diag(S) Vh (…, r, n): AB with its left isometry U dropped (AB = U · collapse_l())."""
        U, S, Vh = self._svd
        return S[..., :, None] * Vh

    def collapse_r(self) -> np.ndarray:
        """U diag(S) (…, m, r): AB with its right isometry dropped (AB = collapse_r() · Vh)."""
        U, S, Vh = self._svd
        return U * S[..., None, :]

    def make_even(self) -> FactoredMatrix:
        """The same matrix as (U √S)(√S Vh): both factors carry half of each singular value and have
        orthogonal columns / rows, with Gram matrices (U√S)ᵀ(U√S) = diag(S) = (√S Vh)(√S Vh)ᵀ."""
        U, S, Vh = self._svd
        root = np.sqrt(S)
        return FactoredMatrix(U * root[..., None, :], root[..., :, None] * Vh)

    def norm(self) -> np.ndarray:
        """‖AB‖_F = √Σ (AᵀA) ⊙ (BBᵀ), from two k × k Gram matrices."""
        return frobenius_from_grams(_swap(self.A) @ self.A, self.B @ _swap(self.B))
