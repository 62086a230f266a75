"""FactoredMatrix: every answer from the small side equals the dense answer (C16, C17b)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tensoralg.errors import ShapeError
from tensoralg.models.factored import FactoredMatrix
from tensoralg.verify.strategies import factor_pairs, seeds


def padded_sorted(values: np.ndarray, size: int) -> np.ndarray:
    """A spectrum as a multiset: padded with zeros to ``size`` and sorted by (real, imaginary) part."""
    values = np.asarray(values, dtype=complex)
    return np.sort_complex(np.concatenate([values, np.zeros(size - values.size)]))


def same_multiset(a: np.ndarray, b: np.ndarray, scale: float) -> bool:
    size = max(a.size, b.size)
    # sort_complex on noisy near-equal reals can order conjugate pairs differently; match greedily
    left, right = list(padded_sorted(a, size)), list(padded_sorted(b, size))
    for x in left:
        j = int(np.argmin([abs(x - y) for y in right]))
        if abs(x - right[j]) > 1e-7 * scale:
            return False
        right.pop(j)
    return True


@given(factor_pairs(square=True))
def test_eigenvalues_are_the_dense_spectrum(pair):
    A, B = pair
    M = FactoredMatrix(A, B)
    dense = A @ B
    scale = 1 + np.abs(dense).max() * dense.shape[-1]
    for i in range(dense.shape[0]):
        assert same_multiset(M.eigenvalues()[i], np.linalg.eigvals(dense[i]), scale)


@given(factor_pairs(square=True))
def test_nonzero_spectrum_of_AB_equals_that_of_BA(pair):
    A, B = pair
    scale = 1 + np.abs(A).max() * np.abs(B).max() * A.shape[-1] * A.shape[-2]
    for a, b in zip(A, B):
        assert same_multiset(np.linalg.eigvals(a @ b), np.linalg.eigvals(b @ a), scale)


@given(seeds())
def test_twin_singular_values_of_AB_and_BA_differ(seed):
    """The cyclic identity holds for spectra, not for singular values or ‖·‖_F (the C17 erratum)."""
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(4, 2)), rng.normal(size=(2, 4))
    AB, BA = FactoredMatrix(A, B), FactoredMatrix(B, A)
    assert same_multiset(AB.eigenvalues(), BA.eigenvalues(), 1e3)
    assert not np.allclose(AB.singular_values(), BA.singular_values()[:2])
    assert not np.isclose(AB.norm(), BA.norm())


@given(factor_pairs())
def test_singular_values_norm_and_svd_match_dense(pair):
    A, B = pair
    M = FactoredMatrix(A, B)
    dense = A @ B
    expected = np.linalg.svd(dense, compute_uv=False)
    r = M.singular_values().shape[-1]
    np.testing.assert_allclose(M.singular_values(), expected[..., :r], atol=1e-9 * (1 + expected.max()))
    np.testing.assert_allclose(expected[..., r:], 0, atol=1e-9 * (1 + expected.max()))
    np.testing.assert_allclose(M.norm(), np.linalg.norm(dense, axis=(-2, -1)), rtol=1e-9, atol=1e-12)
    U, S, Vh = M.svd()
    np.testing.assert_allclose((U * S[..., None, :]) @ Vh, dense, atol=1e-9 * (1 + np.abs(dense).max()))
    np.testing.assert_allclose(np.swapaxes(U, -1, -2) @ U, np.broadcast_to(np.eye(U.shape[-1]), S.shape[:-1] + (U.shape[-1],) * 2), atol=1e-9)


@given(factor_pairs(square=True))
def test_trace_matches_dense(pair):
    A, B = pair
    np.testing.assert_allclose(FactoredMatrix(A, B).trace(), np.trace(A @ B, axis1=-2, axis2=-1), atol=1e-9)


@given(factor_pairs(), factor_pairs(), seeds())
def test_products_transpose_and_indexing_match_dense(p, q, seed):
    A, B = p
    M = FactoredMatrix(A, B)
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(M.rdim, 3))
    D = rng.normal(size=(2, M.ldim))
    np.testing.assert_allclose((M @ C).dense(), A @ B @ C, atol=1e-9)
    np.testing.assert_allclose((D @ M).dense(), D @ A @ B, atol=1e-9)
    np.testing.assert_allclose(M.T.dense(), np.swapaxes(A @ B, -1, -2))
    np.testing.assert_allclose(M[0].dense(), A[0] @ B[0])
    E = FactoredMatrix(rng.normal(size=(M.rdim, q[0].shape[-1])), q[1][0])
    np.testing.assert_allclose((M @ E).dense(), A @ B @ E.dense(), atol=1e-9)
    assert (M @ E).mdim == min(M.mdim, E.mdim)


def test_shared_factor_broadcasts_over_heads():
    rng = np.random.default_rng(0)
    shared, per_head = rng.normal(size=(50, 3)), rng.normal(size=(4, 3, 50))
    M = FactoredMatrix(shared, per_head)
    assert M.shape == (4, 50, 50) and M.eigenvalues().shape == (4, 3)
    assert M.A is shared  # no copy of the shared factor


def test_float32_is_kept():
    A, B = np.ones((2, 5, 2), np.float32), np.ones((2, 2, 5), np.float32)
    M = FactoredMatrix(A, B)
    assert M.norm().dtype == np.float32 and M.singular_values().dtype == np.float32


@settings(max_examples=20)
@given(st.integers(1, 4), seeds())
def test_psd_product_has_real_nonnegative_eigenvalues(k, seed):
    A = np.random.default_rng(seed).normal(size=(6, k))
    eigs = FactoredMatrix(A, A.T).eigenvalues()
    assert np.all(np.abs(eigs.imag) < 1e-9) and np.all(eigs.real > -1e-9)


BAD = [
    ("inner-mismatch", lambda: FactoredMatrix(np.ones((3, 2)), np.ones((3, 3))), "inner dimensions 2 and 3"),
    ("vector-factor", lambda: FactoredMatrix(np.ones(3), np.ones((3, 3))), "matrices"),
    ("batch-mismatch", lambda: FactoredMatrix(np.ones((2, 3, 1)), np.ones((3, 1, 3))), "do not broadcast"),
    ("eigenvalues-not-square", lambda: FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))).eigenvalues(), "3 × 4"),
    ("trace-not-square", lambda: FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))).trace(), "square"),
    ("matmul-array", lambda: FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))) @ np.ones((3, 2)), "(3, 2)"),
    ("rmatmul-array", lambda: np.ones((2, 2)) @ FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))), "(2, 2)"),
    ("matmul-factored", lambda: FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))) @ FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))), "4 ≠ 3"),
    ("matmul-array-batch", lambda: FactoredMatrix(np.ones((3, 4, 1)), np.ones((1, 4))) @ np.ones((2, 4, 4)), "do not broadcast"),
    ("rmatmul-array-batch", lambda: np.ones((2, 4, 4)) @ FactoredMatrix(np.ones((3, 4, 1)), np.ones((1, 4))), "do not broadcast"),
    ("matmul-factored-batch", lambda: FactoredMatrix(np.ones((3, 4, 1)), np.ones((1, 4)))
        @ FactoredMatrix(np.ones((2, 4, 1)), np.ones((1, 4))), "do not broadcast"),
    ("too-many-indices", lambda: FactoredMatrix(np.ones((2, 3, 1)), np.ones((2, 1, 3)))[0, 1], "at most 1"),
]


@pytest.mark.parametrize("build, message", [(b, m) for _, b, m in BAD], ids=[i for i, _, _ in BAD])
def test_bad_input_is_rejected(build, message):
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()
