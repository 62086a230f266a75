"""Low-rank matrices kept as a product M = A·B that is never formed.

A is m × k and B is k × n with k small (d_head) and m, n possibly huge (n_vocab).
Everything is answered from k-sized pieces:

    eigenvalues   the nonzero spectrum of AB equals that of BA (k × k)        (C16)
    singular vals A = Q_A R_A, Bᵀ = Q_B R_B ⇒ AB = Q_A (R_A R_Bᵀ) Q_Bᵀ, and the
                  singular values of AB are those of the small core R_A R_Bᵀ   (C17b)
    ‖AB‖_F²       tr(Bᵀ Aᵀ A B) = tr((AᵀA)(BBᵀ)) = Σ (AᵀA) ⊙ (BBᵀ)   (k × k Gram matrices)
    tr AB         Σᵢⱼ A[i,j] B[j,i]

Leading axes are batch axes (layers, heads) and broadcast like numpy's matmul, as in
TransformerLens's ``FactoredMatrix``.

>>> rng = np.random.default_rng(0)
>>> A, B = rng.normal(size=(3, 1000, 2)), rng.normal(size=(3, 2, 1000))
>>> M = FactoredMatrix(A, B)
>>> M.shape, M.eigenvalues().shape
((3, 1000, 1000), (3, 2))
>>> bool(np.allclose(M[1].trace(), np.trace(A[1] @ B[1])))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError


def _float(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def _broadcast_batches(left: tuple[int, ...], right: tuple[int, ...], what: str) -> None:
    """Refuse operands whose leading (layer, head) batch axes do not broadcast, before numpy does."""
    try:
        np.broadcast_shapes(left[:-2], right[:-2])
    except ValueError:
        raise ShapeError(f"batch axes of {what} do not broadcast") from None


def frobenius_from_grams(left_gram: np.ndarray, right_gram: np.ndarray) -> np.ndarray:
    """‖XY‖_F = √Σ (XᵀX) ⊙ (YYᵀ), from the two small Gram matrices (clipped at 0 against rounding)."""
    return np.sqrt(np.maximum(np.einsum("...ij,...ij->...", left_gram, right_gram), 0.0))


def _swap(array: np.ndarray) -> np.ndarray:
    return np.swapaxes(array, -1, -2)


@dataclass(frozen=True, eq=False)
class FactoredMatrix:
    """The matrix A·B (shape ``batch + (m, n)``) stored as its factors A (…, m, k) and B (…, k, n).

    Construction checks the inner dimension and that the batch axes broadcast; the
    factors are kept as given (no copy), so a factor shared by every head costs nothing.
    """

    A: np.ndarray
    B: np.ndarray

    __array_ufunc__ = None  # so ndarray @ FactoredMatrix defers to __rmatmul__ instead of treating it as an object

    def __post_init__(self) -> None:
        A, B = _float(self.A), _float(self.B)
        if A.ndim < 2 or B.ndim < 2:
            raise ShapeError(f"the factors of a FactoredMatrix must be (batches of) matrices; got A {A.shape}, B {B.shape}")
        if A.shape[-1] != B.shape[-2]:
            raise ShapeError(f"A {A.shape} · B {B.shape}: inner dimensions {A.shape[-1]} and {B.shape[-2]} differ")
        _broadcast_batches(A.shape, B.shape, f"A {A.shape} and B {B.shape}")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "B", B)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return np.broadcast_shapes(self.A.shape[:-2], self.B.shape[:-2])

    @property
    def shape(self) -> tuple[int, ...]:
        return self.batch_shape + (self.ldim, self.rdim)

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
    def T(self) -> FactoredMatrix:
        """(AB)ᵀ = Bᵀ Aᵀ."""
        return FactoredMatrix(_swap(self.B), _swap(self.A))

    def __getitem__(self, index: int | slice | tuple) -> FactoredMatrix:
        """Select along the batch axes only: ``circuits[3]`` is head 3's factored matrix."""
        index = index if isinstance(index, tuple) else (index,)
        if any(i is Ellipsis or i is None for i in index) or len(index) > len(self.batch_shape):
            raise ShapeError(f"a FactoredMatrix of batch shape {self.batch_shape} takes at most {len(self.batch_shape)} batch indices; got {index}")
        batch = self.batch_shape
        A = np.broadcast_to(self.A, batch + self.A.shape[-2:])[index]
        B = np.broadcast_to(self.B, batch + self.B.shape[-2:])[index]
        return FactoredMatrix(A, B)

    def __matmul__(self, other: FactoredMatrix | np.ndarray) -> FactoredMatrix:
        """AB·M = A(BM); AB·CD = A((BC)D) if k_AB ≤ k_CD else (A(BC))D, keeping the smaller inner dimension."""
        if isinstance(other, FactoredMatrix):
            if self.rdim != other.ldim:
                raise ShapeError(f"FactoredMatrix {self.shape} @ FactoredMatrix {other.shape}: {self.rdim} ≠ {other.ldim}")
            _broadcast_batches(self.shape, other.shape, f"FactoredMatrix {self.shape} @ FactoredMatrix {other.shape}")
            middle = self.B @ other.A
            if self.mdim <= other.mdim:
                return FactoredMatrix(self.A, middle @ other.B)
            return FactoredMatrix(self.A @ middle, other.B)
        other = _float(other)
        if other.ndim < 2 or other.shape[-2] != self.rdim:
            raise ShapeError(f"FactoredMatrix {self.shape} @ array {other.shape}: {self.rdim} columns against {other.shape[-2:]}")
        _broadcast_batches(self.shape, other.shape, f"FactoredMatrix {self.shape} @ array {other.shape}")
        return FactoredMatrix(self.A, self.B @ other)

    def __rmatmul__(self, other: np.ndarray) -> FactoredMatrix:
        other = _float(other)
        if other.ndim < 2 or other.shape[-1] != self.ldim:
            raise ShapeError(f"array {other.shape} @ FactoredMatrix {self.shape}: {other.shape[-1]} columns against {self.ldim} rows")
        _broadcast_batches(other.shape, self.shape, f"array {other.shape} @ FactoredMatrix {self.shape}")
        return FactoredMatrix(other @ self.A, self.B)

    def dense(self) -> np.ndarray:
        """The full matrix AB (only for small shapes; the point of the class is not to need it)."""
        return self.A @ self.B

    def _require_square(self, what: str) -> None:
        if self.ldim != self.rdim:
            raise ShapeError(f"{what} needs a square matrix; this FactoredMatrix is {self.ldim} × {self.rdim}")

    def trace(self) -> np.ndarray:
        """tr(AB) = Σᵢⱼ A[i,j] B[j,i], per batch element."""
        self._require_square("the trace")
        return np.einsum("...ij,...ji->...", self.A, self.B)

    def eigenvalues(self) -> np.ndarray:
        """min(m, k) eigenvalues of AB (complex, unsorted); the other m − k are 0.

        For k < m they are the eigenvalues of the k × k matrix BA, which has the
        same nonzero spectrum as AB (AB·Ax = λAx whenever BA·x = λx and Ax ≠ 0).
        """
        self._require_square("eigenvalues")
        small = self.B @ self.A if self.mdim <= self.ldim else self.A @ self.B
        return np.linalg.eigvals(small)

    def _core(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Q_A, R_A = np.linalg.qr(self.A)
        Q_B, R_B = np.linalg.qr(_swap(self.B))
        return Q_A, R_A @ _swap(R_B), Q_B

    def svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin SVD AB = U diag(S) Vh from the SVDs of the factors (C17b): U (…, m, r), S (…, r),
        Vh (…, r, n), r = min(m, n, k).

        A = U_A S_A V_A and B = U_B S_B V_B give C = S_A V_A U_B S_B = U_C S_C V_C (r_A × r_B), so
        AB = U_A C V_B = (U_A U_C) S_C (V_C V_B): orthonormal columns, singular values, orthonormal rows.
        """
        U_a, s_a, V_a = np.linalg.svd(self.A, full_matrices=False)
        U_b, s_b, V_b = np.linalg.svd(self.B, full_matrices=False)
        core = (s_a[..., :, None] * V_a) @ (U_b * s_b[..., None, :])
        U_c, s_c, V_c = np.linalg.svd(core, full_matrices=False)
        return U_a @ U_c, s_c, V_c @ V_b

    def singular_values(self) -> np.ndarray:
        """The min(m, n, k) largest singular values of AB, descending (the rest are 0)."""
        return np.linalg.svd(self._core()[1], compute_uv=False)

    def norm(self) -> np.ndarray:
        """‖AB‖_F = √Σ (AᵀA) ⊙ (BBᵀ), from two k × k Gram matrices."""
        return frobenius_from_grams(_swap(self.A) @ self.A, self.B @ _swap(self.B))
