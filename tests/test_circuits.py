"""Full OV/QK circuits of all heads: factored answers equal dense ones; copying scores (C9, C16)."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given

from tensoralg.models.circuits import (
    HeadWeights, copying_scores, diagonal_scores, eigenvalue_scores, head_weights, k_composition_qk_circuits, label,
    ov_circuits, positional_qk_circuits, qk_circuits, top_k_scores,
)
from tensoralg.errors import ArchitectureError, ShapeError
from tensoralg.models.model import AttentionLayer, Model, random_model
from tensoralg.verify.strategies import seeds, small_models
from tensoralg.models.toy_models import induction_model

from test_factored import same_multiset


def dense_circuits(model: Model) -> dict[str, np.ndarray]:
    """The n_vocab × n_vocab (or n_ctx × n_ctx) circuits of every head, formed densely."""
    W_OV = np.concatenate([layer.W_OV for layer in model.layers])
    W_QK = np.concatenate([layer.W_QK for layer in model.layers])
    return {
        "ov": model.W_U @ W_OV @ model.W_E,
        "qk": model.W_E.T @ W_QK @ model.W_E,
        "pos": model.W_pos.T @ W_QK @ model.W_pos,
    }


@given(small_models())
def test_factored_circuits_equal_dense_circuits(model):
    heads = head_weights(model)
    dense = dense_circuits(model)
    for name, circuit in (("ov", ov_circuits(heads)), ("qk", qk_circuits(heads)), ("pos", positional_qk_circuits(heads))):
        M = dense[name]
        scale = 1 + np.abs(M).max() * M.shape[-1]
        np.testing.assert_allclose(circuit.dense(), M, atol=1e-9 * scale)
        np.testing.assert_allclose(circuit.trace(), np.trace(M, axis1=-2, axis2=-1), atol=1e-9 * scale)
        np.testing.assert_allclose(circuit.norm(), np.linalg.norm(M, axis=(-2, -1)), rtol=1e-7, atol=1e-9 * scale)
        np.testing.assert_allclose(circuit.diagonal(chunk=3), np.diagonal(M, axis1=-2, axis2=-1), atol=1e-9 * scale)
        sv, expected = circuit.singular_values(), np.linalg.svd(M, compute_uv=False)
        r = min(sv.shape[-1], expected.shape[-1])
        np.testing.assert_allclose(sv[..., :r], expected[..., :r], atol=1e-6 * scale)
        eigs = circuit.eigenvalues()
        for i in range(len(heads.labels)):
            assert same_multiset(eigs[i], np.linalg.eigvals(M[i]), scale)
            np.testing.assert_allclose(circuit[i].dense(), M[i], atol=1e-9 * scale)


@given(small_models(max_layers=2))
def test_three_notions_of_copying_agree_in_sum(model):
    """C16: Σλ = tr = Σ diag for every head's OV circuit."""
    circuit = ov_circuits(head_weights(model))
    eigs = circuit.eigenvalues()
    np.testing.assert_allclose(eigs.sum(axis=-1).real, circuit.trace(), atol=1e-8 * (1 + np.abs(eigs).sum()))
    np.testing.assert_allclose(circuit.diagonal().sum(axis=-1), circuit.trace(), atol=1e-8 * (1 + np.abs(eigs).sum()))
    assert np.all(np.abs(eigs.sum(axis=-1).imag) < 1e-8 * (1 + np.abs(eigs).sum()))


@given(small_models())
def test_copying_scores_lie_in_minus_one_one(model):
    heads = head_weights(model)
    for scores in (copying_scores(ov_circuits(heads)), copying_scores(qk_circuits(heads)), diagonal_scores(ov_circuits(heads))):
        assert np.all(scores >= -1 - 1e-12) and np.all(scores <= 1 + 1e-12)


def signed_model(rng: np.random.Generator, sign: float, d_model: int = 6, d_head: int = 3, n_vocab: int = 9) -> Model:
    """W_U = W_Eᵀ, W_O = ±W_Vᵀ, W_Q = W_K: OV = ±(W_V W_E)ᵀ(W_V W_E) and QK = (W_K W_E)ᵀ(W_K W_E), semidefinite."""
    W_E = rng.normal(size=(d_model, n_vocab))
    W_V, W_K = rng.normal(size=(2, d_head, d_model)), rng.normal(size=(2, d_head, d_model))
    layer = AttentionLayer(W_K, W_K, W_V, sign * np.swapaxes(W_V, -1, -2))
    return Model(W_E, W_E.T, (layer,))


@given(seeds())
def test_copying_score_is_one_for_psd_and_minus_one_for_nsd(seed):
    rng = np.random.default_rng(seed)
    for sign in (1.0, -1.0):
        heads = head_weights(signed_model(rng, sign))
        np.testing.assert_allclose(copying_scores(ov_circuits(heads)), sign, atol=1e-9)
        np.testing.assert_allclose(copying_scores(qk_circuits(heads)), 1.0, atol=1e-9)
        np.testing.assert_allclose(diagonal_scores(ov_circuits(heads)), sign, atol=1e-9)


@given(seeds())
def test_twin_one_flipped_direction_is_not_copying(seed):
    """W_O = W_Vᵀ D with D = diag(1, −1, 1): the OV spectrum is that of G^½ D G^½ (G ≻ 0), which by
    Sylvester's law has exactly one negative eigenvalue, so the score is strictly inside (−1, 1)."""
    rng = np.random.default_rng(seed)
    model = signed_model(rng, 1.0)
    layer = model.layers[0]
    flipped = AttentionLayer(layer.W_Q, layer.W_K, layer.W_V, layer.W_O * np.array([1.0, -1.0, 1.0]))
    scores = copying_scores(ov_circuits(head_weights(Model(model.W_E, model.W_U, (flipped,)))))
    assert np.all(np.abs(scores) < 1 - 1e-9)
    eigs = ov_circuits(head_weights(Model(model.W_E, model.W_U, (flipped,)))).eigenvalues()
    assert ((eigs.real < 0).sum(axis=-1) == 1).all()


def test_eigenvalue_score_of_zero_spectrum_is_zero():
    assert eigenvalue_scores(np.zeros((2, 3))).tolist() == [0.0, 0.0]
    assert float(eigenvalue_scores(np.array([1 + 1j, 1 - 1j]))) == pytest.approx(1 / np.sqrt(2))


@given(small_models(max_layers=2))
def test_top_k_scores_match_dense_ranks(model):
    heads = head_weights(model)
    M = dense_circuits(model)["ov"]
    n = M.shape[-1]
    for k in (1, 3):
        own = M[:, np.arange(n), np.arange(n)]
        expected = ((M >= own[:, None, :]).sum(axis=1) - 1 < k).mean(axis=-1)
        np.testing.assert_allclose(top_k_scores(ov_circuits(heads), k, chunk=4), expected)
    subset = [0, n - 1]
    own = M[:, subset, subset]
    expected = ((M[:, :, subset] >= own[:, None, :]).sum(axis=1) - 1 < 2).mean(axis=-1)
    np.testing.assert_allclose(top_k_scores(ov_circuits(heads), 2, tokens=subset), expected)


def test_top_k_and_diagonal_on_the_induction_model():
    heads = head_weights(induction_model(n_vocab=5, n_ctx=6))
    ov = ov_circuits(heads)
    assert top_k_scores(ov, 1).tolist() == [0.0, 1.0]  # L0H0 writes nothing W_U reads; L1H0 copies exactly
    assert diagonal_scores(ov).tolist() == [0.0, 1.0]


@given(seeds())
def test_k_composition_qk_circuit_equals_dense(seed):
    model = random_model(np.random.default_rng(seed), heads=(2, 2), d_model=6, d_head=2, n_vocab=7)
    heads = head_weights(model)
    pairs = [(0, 2), (1, 3), (0, 3)]
    circuit = k_composition_qk_circuits(heads, pairs)
    W_QK = np.concatenate([l.W_QK for l in model.layers])
    W_OV = np.concatenate([l.W_OV for l in model.layers])
    for i, (w, r) in enumerate(pairs):
        np.testing.assert_allclose(circuit[i].dense(), model.W_E.T @ W_QK[r] @ W_OV[w] @ model.W_E, atol=1e-9)
    assert [label(h) for h in circuit.labels] == ["L1H0", "L1H1", "L1H1"]


def test_no_n_vocab_squared_matrix_is_formed():
    """n_vocab = 20000: a dense circuit would need 3.2 GB per head; the factored one stays tiny."""
    heads = head_weights(random_model(np.random.default_rng(0), heads=(2, 2), d_model=16, d_head=4, n_vocab=20000))
    tracemalloc.start()
    try:
        ov, qk = ov_circuits(heads), qk_circuits(heads)
        for circuit in (ov, qk):
            circuit.eigenvalues(), circuit.norm(), circuit.singular_values(), circuit.trace(), circuit.diagonal()
        top_k_scores(ov, 5, tokens=np.arange(0, 20000, 4000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20


@given(seeds())
def test_float32_weights_stay_float32_and_scores_match_float64(seed):
    """float32 weights are not copied to float64; the n_vocab-long products are float64 chunk by
    chunk and the per-head work is float64, so the scores agree with an all-float64 run."""
    model = random_model(np.random.default_rng(seed), heads=(2, 2), d_model=16, d_head=4, n_vocab=5000)
    heads64 = head_weights(model)
    heads32 = head_weights(model, dtype=np.float32)
    assert heads32.W_E.dtype == np.float32 and heads32.W_Q.dtype == np.float32
    exact = head_weights(Model(*(np.asarray(a, np.float64) for a in (heads32.W_E, heads32.W_U)), model.layers))
    for circuits in (ov_circuits, qk_circuits):
        low, high = circuits(heads32), circuits(exact)
        np.testing.assert_allclose(copying_scores(low), copying_scores(high), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(low.singular_values(), high.singular_values(), rtol=1e-5, atol=1e-5 * high.singular_values().max())
        np.testing.assert_allclose(low.norm(), high.norm(), rtol=1e-5)
    assert copying_scores(ov_circuits(heads64)).shape == (4,)


def _mixed_d_head() -> Model:
    rng = np.random.default_rng(0)
    m1, m2 = (random_model(rng, heads=(1,), d_model=4, d_head=d, n_vocab=5) for d in (2, 3))
    return Model(m1.W_E, m1.W_U, m1.layers + m2.layers)


def _heads(**changes) -> HeadWeights:
    base = dict(labels=((0, 0),), W_Q=np.ones((1, 2, 4)), W_K=np.ones((1, 2, 4)), W_V=np.ones((1, 2, 4)),
                W_O=np.ones((1, 4, 2)), W_E=np.ones((4, 5)), W_U=np.ones((5, 4)))
    return HeadWeights(**{**base, **changes})


BAD = [
    ("mixed-d_head", lambda: head_weights(_mixed_d_head()), ArchitectureError, r"one d_head; layers have d_head \[2, 3\]"),
    ("W_O-shape", lambda: _heads(W_O=np.ones((1, 2, 4))), ShapeError, r"W_O has shape \(1, 2, 4\); expected \(1, 4, 2\)"),
    ("W_U-shape", lambda: _heads(W_U=np.ones((4, 5))), ShapeError, r"W_U has shape \(4, 5\)"),
    ("W_pos-shape", lambda: _heads(W_pos=np.ones((3, 6))), ShapeError, r"W_pos has shape \(3, 6\)"),
    ("labels", lambda: _heads(labels=()), ShapeError, "0 labels for 1 heads"),
    ("no-W_pos", lambda: positional_qk_circuits(_heads()), ArchitectureError, "needs positional embeddings W_pos"),
    ("top-k-tokens", lambda: top_k_scores(ov_circuits(_heads()), 1, tokens=[7]), ShapeError, r"in \[0, 5\)"),
    ("top-k-k", lambda: top_k_scores(ov_circuits(_heads()), 0), ShapeError, "k ≥ 1"),
]


@pytest.mark.parametrize("build, error, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_rejected(build, error, message):
    with pytest.raises(error, match=message):
        build()


def _circuit(M: np.ndarray, right: np.ndarray | None = None):
    """One head whose full circuit is M R (L = Id, A = M, B = Id, R = Id or ``right``); M is square."""
    from tensoralg.models.circuits import Frame, FullCircuit
    from tensoralg.models.factored import FactoredMatrix

    d = M.shape[0]
    R = np.eye(d) if right is None else right
    return FullCircuit(Frame(np.eye(d), R), FactoredMatrix(M[None], np.eye(d)[None]), ((0, 0),))


def test_top_k_counts_the_default_five_rivals():
    # Column t: M[t, t] = 0, five other tokens get 1, the rest −1: own logit 6th, so in the top 6 only.
    n = 8
    M = -np.ones((n, n))
    for t in range(n):
        M[t, t] = 0
        for r in range(1, 6):
            M[(t + r) % n, t] = 1
    circuit = _circuit(M)
    assert top_k_scores(circuit)[0] == top_k_scores(circuit, k=5)[0] == 0.0
    assert top_k_scores(circuit, k=6)[0] == 1.0


def test_messages_name_the_shape_and_the_first_tokens():
    wide = _circuit(np.ones((3, 3)), right=np.ones((3, 5)))
    with pytest.raises(ShapeError, match="this one is 3 × 5"):
        wide.diagonal()
    with pytest.raises(ShapeError, match=r"got \[-1, 0, 1, 2, 3, 4, 5, 6\]$"):
        top_k_scores(_circuit(np.eye(4)), tokens=list(range(-1, 11)))
    with pytest.raises(ShapeError, match=r"in \[0, 4\); got \[4\]"):
        top_k_scores(_circuit(np.eye(4)), tokens=[4])


def test_a_model_without_heads_stacks_empty_weights():
    heads = head_weights(random_model(np.random.default_rng(0), heads=(), d_model=6))
    assert heads.labels == ()
    assert (heads.W_Q.shape, heads.W_K.shape, heads.W_V.shape, heads.W_O.shape) == ((0, 0, 6),) * 3 + ((0, 6, 0),)
