"""FactoredMatrix: every answer from the small side equals the dense answer (C16, C17b); products keep
the narrowest inner dimension (C5); vector and scalar products, indexing, the cached SVD and what is built
from it, float16, and a vocabulary-sized matrix that is never formed."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tensoralg.errors import ShapeError, TensoralgError
from tensoralg.models.factored import FactoredIndexError, FactoredMatrix
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
    assert (M @ E).mdim == min(M.mdim, M.rdim, E.mdim)


def test_shared_factor_broadcasts_over_heads():
    rng = np.random.default_rng(0)
    shared, per_head = rng.normal(size=(50, 3)), rng.normal(size=(4, 3, 50))
    M = FactoredMatrix(shared, per_head)
    assert M.shape == (4, 50, 50) and M.eigenvalues().shape == (4, 3)
    assert M.A.shape == (4, 50, 3) and np.shares_memory(M.A, shared) and M.A.strides[0] == 0  # a view, no copy


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


@st.composite
def factored(draw, batch=None, max_dim=5):
    """A FactoredMatrix of drawn batch shape, m, k, n (k on both sides of m and n), and its dense matrix."""
    batch = draw(st.lists(st.integers(1, 3), max_size=2).map(tuple)) if batch is None else batch
    m, k, n = (draw(st.integers(1, max_dim)) for _ in range(3))
    rng = np.random.default_rng(draw(seeds()))
    M = FactoredMatrix(rng.normal(size=batch + (m, k)), rng.normal(size=batch + (k, n)))
    return M, M.A @ M.B


def close(x, y):
    np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-9 * (1 + np.abs(y).max(initial=0)))


@given(factored(), st.integers(1, 5), st.integers(1, 5), seeds())
def test_product_with_factored_matrix_is_dense_product_with_narrowest_inner_dimension(left, k, n, seed):
    M, dense = left
    rng = np.random.default_rng(seed)
    N = FactoredMatrix(rng.normal(size=(M.rdim, k)), rng.normal(size=(k, n)))
    P = M @ N
    close(P.dense(), dense @ N.dense())
    assert P.mdim == min(M.mdim, M.rdim, N.mdim)
    assert (P.ldim, P.rdim) == (M.ldim, n)


@given(factored(), st.integers(1, 5), seeds())
def test_products_with_arrays_keep_the_narrower_side(pair, size, seed):
    M, dense = pair
    rng = np.random.default_rng(seed)
    right, left = rng.normal(size=(M.rdim, size)), rng.normal(size=(size, M.ldim))
    close((M @ right).dense(), dense @ right)
    close((left @ M).dense(), left @ dense)
    assert (M @ right).mdim == min(M.mdim, M.rdim)
    assert (left @ M).mdim == min(M.mdim, M.ldim)


@given(factored(), seeds())
def test_products_with_vectors_are_vectors(pair, seed):
    M, dense = pair
    rng = np.random.default_rng(seed)
    v, w = rng.normal(size=M.rdim), rng.normal(size=M.ldim)
    close(M @ v, dense @ v)
    close(w @ M, w @ dense)
    assert (M @ v).shape == M.batch_shape + (M.ldim,) and (w @ M).shape == M.batch_shape + (M.rdim,)


@given(factored(), st.floats(-3, 3, allow_nan=False))
def test_scalar_multiples(pair, c):
    M, dense = pair
    close((M * c).dense(), c * dense)
    close((c * M).dense(), c * dense)
    close((M * np.array([c])).dense(), c * dense)
    close((-M).dense(), -dense)
    if c != 0:
        close((M / c).dense(), dense / c)


def test_scalar_keeps_float32():
    M = FactoredMatrix(np.ones((4, 2), np.float32), np.ones((2, 4), np.float32))
    assert (M * 0.125).dense().dtype == np.float32 and (M / np.float64(8)).dense().dtype == np.float32


def _row_or_col(draw, size):
    kind = draw(st.sampled_from(["int", "slice", "array", "mask"]))
    if kind == "int":
        return draw(st.integers(-size, size - 1))
    if kind == "slice":
        return slice(draw(st.none() | st.integers(-size, size)), draw(st.none() | st.integers(-size, size)),
                     draw(st.none() | st.sampled_from([1, 2, -1])))
    if kind == "array":
        return draw(st.lists(st.integers(-size, size - 1), max_size=4))
    return np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size)))


def _dense_axis(item, size):
    """The dense meaning of a row/column index: ints keep the axis."""
    if isinstance(item, int):
        item %= size
        return slice(item, item + 1)
    return item


@given(factored(), st.data())
def test_indexing_matches_dense(pair, data):
    M, dense = pair
    batch = tuple(data.draw(st.integers(-s, s - 1) | st.just(slice(None)) | st.just([0, -1])) for s in M.batch_shape)
    batch = batch[:data.draw(st.integers(0, len(batch)))]
    rows, cols = _row_or_col(data.draw, M.ldim), _row_or_col(data.draw, M.rdim)
    form = data.draw(st.sampled_from(["full", "ellipsis", "batch-only", "rows-only"]))
    pad = (slice(None),) * (len(M.batch_shape) - len(batch))
    if form == "batch-only":
        index, rows, cols = batch, slice(None), slice(None)
    elif form == "rows-only":
        index, cols = batch + pad + (rows,), slice(None)
    elif form == "ellipsis":
        index = (...,) + (rows, cols) if not batch else batch + (..., rows, cols)
    else:
        index = batch + pad + (rows, cols)
    got = M[index if len(index) != 1 else index[0]]
    expected = dense[batch + pad + (slice(None), slice(None))]
    expected = expected[..., _dense_axis(rows, M.ldim), :][..., _dense_axis(cols, M.rdim)]
    assert got.mdim == M.mdim
    close(got.dense(), expected)


def test_indexing_rows_and_columns_like_transformer_lens():
    rng = np.random.default_rng(0)
    M = FactoredMatrix(rng.normal(size=(2, 3, 5, 2)), rng.normal(size=(2, 3, 2, 7)))
    dense = M.dense()
    close(M[0, 0, -1].dense(), dense[0, 0, -1:])
    close(M[0, 0, -1, -1].dense(), dense[0, 0, -1:, -1:])
    close(M[:, :, [0, 1], [0]].dense(), dense[:, :, [0, 1]][..., [0]])
    mask = np.array([[True, False, True], [False, True, False]])
    close(M[mask, ..., 1].dense(), dense[mask][..., 1:2])
    close(M[None, ..., 1:4, :].dense(), dense[None, ..., 1:4, :])
    close(M[np.array([1, 0]), ..., 1].dense(), dense[[1, 0], ..., 1:2])
    assert M[1, ..., 2].shape == (3, 5, 1)


@given(factor_pairs(square=True))
def test_eigenvalue_count_per_shape(pair):
    """k ≤ m: the k eigenvalues of BA; k > m: all m of AB; either way the dense spectrum up to zeros."""
    A, B = pair
    M = FactoredMatrix(A, B)
    m, k = M.ldim, M.mdim
    eigs = M.eigenvalues()
    assert eigs.shape == (A.shape[0], min(m, k))
    scale = 1 + np.abs(M.dense()).max() * m
    for got, dense in zip(eigs, M.dense()):
        want = np.linalg.eigvals(dense)
        padded = np.concatenate([got, np.zeros(m - got.size)])
        assert np.allclose(np.sort(np.abs(padded)), np.sort(np.abs(want)), atol=1e-7 * scale)
        assert np.isclose(got.sum(), want.sum(), atol=1e-7 * scale)


def test_product_spectrum_has_rank_many_eigenvalues():
    """A rank-5 product: 5 eigenvalues, not the 6 of the old inner size."""
    rng = np.random.default_rng(1)
    M = FactoredMatrix(rng.normal(size=(9, 6)), rng.normal(size=(6, 5)))
    N = FactoredMatrix(rng.normal(size=(5, 7)), rng.normal(size=(7, 9)))
    P = M @ N
    assert P.mdim == 5 and P.eigenvalues().shape == (5,)
    assert np.linalg.matrix_rank(P.dense()) == 5


@given(factored())
def test_svd_collapse_make_even_and_ba(pair):
    M, dense = pair
    U, S, Vh = M.svd()
    assert M.svd()[0] is U  # cached
    close((U * S[..., None, :]) @ Vh, dense)
    close(M.U @ M.collapse_l(), dense)
    close(M.collapse_r() @ Vh, dense)
    close(np.swapaxes(M.V, -1, -2), Vh)
    even = M.make_even()
    close(even.dense(), dense)
    close(np.swapaxes(even.A, -1, -2) @ even.A, even.B @ np.swapaxes(even.B, -1, -2))
    assert np.array_equal(M.singular_values(), S)
    if M.ldim == M.rdim:
        close(M.BA, M.B @ M.A)


@given(factored(), st.integers(1, 4))
def test_corner_ndim_pair_and_unsqueeze(pair, k):
    M, dense = pair
    close(M.get_corner(k), dense[tuple(slice(k) for _ in range(dense.ndim))])
    assert M.ndim == dense.ndim and M.has_leading_dims == (dense.ndim > 2)
    assert M.pair[0] is M.A and M.pair[1] is M.B
    for axis in list(range(len(M.batch_shape) + 1)) + [-3, -dense.ndim - 1]:
        close(M.unsqueeze(axis).dense(), np.expand_dims(dense, axis))


@settings(max_examples=20)
@given(factor_pairs(square=True))
def test_float16_is_computed_in_float32(pair):
    A, B = pair
    half = FactoredMatrix(A.astype(np.float16), B.astype(np.float16))
    single = FactoredMatrix(A.astype(np.float16).astype(np.float32), B.astype(np.float16).astype(np.float32))
    assert half.A.dtype == np.float32 and half.eigenvalues().dtype == np.complex64
    np.testing.assert_array_equal(half.singular_values(), single.singular_values())
    np.testing.assert_array_equal(half.svd()[1], single.svd()[1])
    np.testing.assert_array_equal(half.eigenvalues(), single.eigenvalues())


def test_vocabulary_sized_matrix_is_never_formed():
    """n_vocab = 50,257: a dense n_vocab² float64 matrix is 20 GB; every operation stays under 64 MB."""
    n, k = 50_257, 8
    rng = np.random.default_rng(0)
    M = FactoredMatrix(rng.normal(size=(n, k)), rng.normal(size=(k, n)))
    M2 = FactoredMatrix(rng.normal(size=(2, n, k)), rng.normal(size=(2, k, n)))
    v = rng.normal(size=n)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        results = [
            M.eigenvalues(), M.singular_values(), M.norm(), M.trace(), M.BA, M.get_corner(4),
            M[123].dense(), M[:, 77].dense(), M[[5, 9], [1, 2, 3]].dense(), M @ v, v @ M,
            (M * 0.5).trace(), (M @ M).eigenvalues(), (M @ M.T).norm(), M.T.eigenvalues(),
            (M @ rng.normal(size=(n, 3))).dense(), (rng.normal(size=(3, n)) @ M).dense(),
            M.collapse_l().shape, M.collapse_r().shape, M.make_even().eigenvalues(), M.svd()[1],
            M.unsqueeze(0)[0, 4].dense(), M2[1, 3].dense(), M2.eigenvalues(), M2.singular_values(),
        ]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(results) == 25
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MB"
    assert np.isclose(M[123].dense()[0, 77], M[:, 77].dense()[123, 0])


BAD = [
    ("inner-mismatch", lambda: FactoredMatrix(np.ones((3, 2)), np.ones((3, 3))), "inner dimensions 2 and 3"),
    ("vector-factor", lambda: FactoredMatrix(np.ones(3), np.ones((3, 3))), "matrices"),
    ("batch-mismatch", lambda: FactoredMatrix(np.ones((2, 3, 1)), np.ones((3, 1, 3))), "mismatch.*(2, 3, 1) and B (3, 1, 3).*do not broadcast"),
    ("eigenvalues-not-square", lambda: FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))).eigenvalues(), "3 × 4"),
    ("trace-not-square", lambda: FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))).trace(), "square"),
    ("matmul-array", lambda: FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))) @ np.ones((3, 2)), "(3, 2)"),
    ("rmatmul-array", lambda: np.ones((2, 2)) @ FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))), "(2, 2)"),
    ("matmul-factored", lambda: FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))) @ FactoredMatrix(np.ones((3, 1)), np.ones((1, 4))), "mismatch.*4 columns against 3 rows"),
    ("matmul-array-batch", lambda: FactoredMatrix(np.ones((3, 4, 1)), np.ones((1, 4))) @ np.ones((2, 4, 4)), "do not broadcast"),
    ("rmatmul-array-batch", lambda: np.ones((2, 4, 4)) @ FactoredMatrix(np.ones((3, 4, 1)), np.ones((1, 4))), "do not broadcast"),
    ("matmul-factored-batch", lambda: FactoredMatrix(np.ones((3, 4, 1)), np.ones((1, 4)))
        @ FactoredMatrix(np.ones((2, 4, 1)), np.ones((1, 4))), "do not broadcast"),
    ("too-many-indices", lambda: FactoredMatrix(np.ones((2, 3, 1)), np.ones((2, 1, 3)))[0, 1, 2, 0], "too long an index"),
    ("batch-mismatch-names-both", lambda: FactoredMatrix(np.ones((9, 5, 3)), np.ones((2, 4, 3, 7))), "mismatch.*(9, 5, 3).*(2, 4, 3, 7)"),
    ("matmul-batch-mismatch", lambda: FactoredMatrix(np.ones((2, 3, 4)), np.ones((2, 4, 6)))
        @ FactoredMatrix(np.ones((4, 6, 7)), np.ones((4, 7, 2))), "mismatch.*(2, 3, 6).*(4, 6, 2)"),
    ("matmul-inner", lambda: FactoredMatrix(np.ones((3, 4)), np.ones((4, 6))) @ FactoredMatrix(np.ones((5, 6)), np.ones((6, 7))), "mismatch.*6 columns against 5 rows"),
    ("matmul-vector", lambda: FactoredMatrix(np.ones((3, 4)), np.ones((4, 6))) @ np.ones(5), "mismatch.*(5,)"),
    ("rmatmul-vector", lambda: np.ones(5) @ FactoredMatrix(np.ones((3, 4)), np.ones((4, 6))), "mismatch.*(5,)"),
    ("mul-matrix", lambda: FactoredMatrix(np.ones((3, 4)), np.ones((4, 6))) * np.ones((2, 2)), "scalar only.*(2, 2)"),
    ("mul-factored", lambda: FactoredMatrix(np.ones((3, 4)), np.ones((4, 3))) * FactoredMatrix(np.ones((3, 4)), np.ones((4, 3))), "use @"),
    ("divide-by-zero", lambda: FactoredMatrix(np.ones((3, 4)), np.ones((4, 6))) / 0, "zero"),
    ("ba-not-square", lambda: FactoredMatrix(np.ones((3, 4)), np.ones((4, 6))).BA, "3 × 6"),
    ("unsqueeze-matrix-axis", lambda: FactoredMatrix(np.ones((3, 4)), np.ones((4, 6))).unsqueeze(1), "matrix axes"),
    ("index-too-long", lambda: FactoredMatrix(np.ones((5, 2)), np.ones((2, 7)))[..., 0, 0, 0], "too long an index"),
    ("two-ellipses", lambda: FactoredMatrix(np.ones((5, 2)), np.ones((2, 7)))[..., ...], "single ellipsis"),
    ("row-out-of-range", lambda: FactoredMatrix(np.ones((5, 2)), np.ones((2, 7)))[5], "row index 5 is out of range"),
    ("column-out-of-range", lambda: FactoredMatrix(np.ones((5, 2)), np.ones((2, 7)))[:, [0, 7]], "column indices 0..7 out of range"),
    ("batch-out-of-range", lambda: FactoredMatrix(np.ones((2, 5, 2)), np.ones((2, 7)))[2], "batch axes"),
    ("newaxis-inside-matrix", lambda: FactoredMatrix(np.ones((5, 2)), np.ones((2, 7)))[0, None], "None"),
    ("text-factor", lambda: FactoredMatrix(np.array([["a"]]), np.ones((1, 1))), "dtype"),
]


@pytest.mark.parametrize("build, pattern", [(b, p) for _, b, p in BAD], ids=[i for i, _, _ in BAD])
def test_bad_input_is_rejected(build, pattern):
    with pytest.raises(TensoralgError, match=pattern.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_index_errors_are_also_index_errors():
    with pytest.raises(IndexError):
        FactoredMatrix(np.ones((2, 2, 2)), np.ones((2, 2, 2)))[0, 1, 2]
    assert issubclass(FactoredIndexError, ShapeError)
