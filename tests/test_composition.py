"""Composition scores (C17): definition, TransformerLens agreement, bounds, scale invariance, baseline."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tensoralg.models.circuits import head_weights
from tensoralg.models.composition import MODES, composition_score, composition_scores, random_baseline
from tensoralg.errors import ShapeError
from tensoralg.models.model import AttentionLayer, Model, random_model, with_weights
from tensoralg.verify.strategies import seeds, small_models
from tensoralg.models.toy_models import induction_model
from tensoralg.models.weights import model_arrays, to_transformer_lens


def dense_scores(model: Model) -> dict[str, np.ndarray]:
    """C17 formulas with dense d_model × d_model matrices, for all head pairs."""
    W_QK = np.concatenate([l.W_QK for l in model.layers])
    W_OV = np.concatenate([l.W_OV for l in model.layers])
    H = W_QK.shape[0]
    out = {m: np.zeros((H, H)) for m in MODES}
    for w, r in itertools.product(range(H), repeat=2):
        out["Q"][w, r] = composition_score(W_QK[r].T, W_OV[w])
        out["K"][w, r] = composition_score(W_QK[r], W_OV[w])
        out["V"][w, r] = composition_score(W_OV[r], W_OV[w])
    return out


def transformer_lens_scores(model: Model) -> dict[str, np.ndarray]:
    """TransformerLens's all_composition_scores on the converted (row-vector) weights:
    left = OV = W_V W_O, right = QK = W_Q W_Kᵀ (Q), QKᵀ (K), OV (V); ‖left·right‖ / (‖left‖‖right‖)."""
    tl = to_transformer_lens(model_arrays(model))
    n_layers = len(model.layers)
    OV = np.concatenate([tl[f"blocks.{l}.attn.W_V"] @ tl[f"blocks.{l}.attn.W_O"] for l in range(n_layers)])
    QK = np.concatenate([tl[f"blocks.{l}.attn.W_Q"] @ np.swapaxes(tl[f"blocks.{l}.attn.W_K"], -1, -2) for l in range(n_layers)])
    right = {"Q": QK, "K": np.swapaxes(QK, -1, -2), "V": OV}
    out = {}
    for m in MODES:
        composed = np.linalg.norm(OV[:, None] @ right[m][None, :], axis=(-2, -1))
        out[m] = composed / np.linalg.norm(OV, axis=(-2, -1))[:, None] / np.linalg.norm(right[m], axis=(-2, -1))[None, :]
    return out


def layer_mask(model: Model) -> np.ndarray:
    layers = np.array([l for l, layer in enumerate(model.layers) for _ in range(layer.n_heads)])
    return layers[:, None] < layers[None, :]


@given(small_models(max_layers=3))
def test_vectorised_scores_equal_the_definition(model):
    scores = composition_scores(head_weights(model), baseline_samples=2)
    mask = layer_mask(model)
    assert (scores.pairs == mask).all()
    for m, expected in dense_scores(model).items():
        np.testing.assert_allclose(scores.mode(m), np.where(mask, expected, 0.0), atol=1e-9)


@given(small_models(max_layers=3))
def test_scores_equal_transformer_lens_up_to_transposition(model):
    scores = composition_scores(head_weights(model), baseline_samples=2)
    for m, expected in transformer_lens_scores(model).items():
        np.testing.assert_allclose(scores.mode(m), np.where(scores.pairs, expected, 0.0), atol=1e-9)


@given(seeds())
def test_twin_cyclic_rotation_inside_the_norm_is_refuted(seed):
    """The erratum: ‖W_Qᵀ W_K W_O W_V‖_F ≠ ‖W_K W_O W_V W_Qᵀ‖_F (cyclicity holds for traces, not norms)."""
    rng = np.random.default_rng(seed)
    W_Q, W_K, W_V = rng.normal(size=(3, 2, 5))
    W_O = rng.normal(size=(5, 2))
    true = np.linalg.norm(W_Q.T @ W_K @ W_O @ W_V)
    rotated = np.linalg.norm(W_K @ W_O @ W_V @ W_Q.T)
    assert not np.isclose(true, rotated, rtol=1e-6)
    assert np.isclose(np.trace(W_Q.T @ W_K @ W_O @ W_V), np.trace(W_K @ W_O @ W_V @ W_Q.T))


@given(seeds(), st.floats(1e-3, 1e3), st.floats(1e-3, 1e3))
def test_score_lies_in_unit_interval_and_ignores_scale(seed, a, b):
    rng = np.random.default_rng(seed)
    M_A, M_B = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    s = composition_score(M_A, M_B)
    assert 0 <= s <= 1
    assert composition_score(a * M_A, b * M_B) == pytest.approx(s, rel=1e-9)
    assert composition_score(-a * M_A, M_B) == pytest.approx(s, rel=1e-9)


@settings(max_examples=20)
@given(seeds(), st.floats(0.01, 100))
def test_all_pair_scores_are_bounded_and_scale_invariant(seed, c):
    model = random_model(np.random.default_rng(seed), heads=(2, 2, 1), d_model=6, d_head=2)
    scores = composition_scores(head_weights(model), baseline_samples=2)
    scaled = with_weights(model, layers=tuple(
        AttentionLayer(c * l.W_Q, l.W_K, l.W_V, c * l.W_O) for l in model.layers))
    rescaled = composition_scores(head_weights(scaled), baseline_samples=2)
    for m in MODES:
        assert np.all((scores.mode(m) >= 0) & (scores.mode(m) <= 1 + 1e-12))
        np.testing.assert_allclose(rescaled.mode(m), scores.mode(m), atol=1e-12)


def test_rank_one_aligned_matrices_score_one_and_orthogonal_score_zero():
    u, v, w = np.eye(3)
    assert composition_score(np.outer(w, u), np.outer(u, v)) == pytest.approx(1.0)
    assert composition_score(np.outer(w, u), np.outer(v, v)) == 0.0
    assert composition_score(np.zeros((3, 3)), np.eye(3)) == 0.0


@given(seeds())
def test_mean_squared_score_over_a_group_is_exactly_one_over_d(seed):
    """The baseline's RMS: averaging ‖M_A R M_B‖² over R in {sign flips}×{cyclic shifts} (which
    averages R X Rᵀ to tr(X)/d · Id) gives ‖M_A‖²‖M_B‖²/d exactly, so E score² = 1/d."""
    d = 4
    rng = np.random.default_rng(seed)
    M_A, M_B = rng.normal(size=(3, d)), rng.normal(size=(d, 2))
    shifts = [np.roll(np.eye(d), s, axis=0) for s in range(d)]
    signs = [np.diag(s) for s in itertools.product((1.0, -1.0), repeat=d)]
    mean = np.mean([composition_score(M_A, D @ P @ M_B) ** 2 for D in signs for P in shifts])
    assert mean == pytest.approx(1 / d, rel=1e-9)
    assert composition_score(M_A, M_B) ** 2 != pytest.approx(1 / d, rel=1e-3)  # one rotation is not the average


def test_random_baseline_rms_is_one_over_root_d_model():
    for d_model, d_head in ((16, 4), (40, 8)):
        base = random_baseline(d_model, d_head, np.random.default_rng(0), samples=400)
        for m in MODES:
            assert base[m].rms == pytest.approx(1 / np.sqrt(d_model), rel=0.05)
            assert 0 < base[m].std < base[m].mean


def test_induction_model_k_composition_stands_out_and_q_v_do_not():
    scores = composition_scores(head_weights(induction_model()))
    k = scores.k[0, 1]
    assert k == pytest.approx(1 / np.sqrt(2 * 12))  # ‖β·I_tok‖ / (‖W_QK‖ ‖W_OV‖) with ‖W_QK‖² = 2·12·β²
    assert scores.baseline["K"].z(k) > 3
    assert scores.q[0, 1] == 0 and scores.v[0, 1] == 0
    top = scores.top(2)
    assert (top[0]["mode"], top[0]["writer"], top[0]["reader"]) == ("K", "L0H0", "L1H0")
    assert top[0]["ratio"] > 1 and top[1]["score"] == 0


def test_scores_are_reproducible_from_the_seed():
    heads = head_weights(random_model(np.random.default_rng(3), heads=(2, 2)))
    a = composition_scores(heads, np.random.default_rng(5), 10)
    b = composition_scores(heads, np.random.default_rng(5), 10)
    assert a.baseline == b.baseline


BAD = [
    ("not-a-product", lambda: composition_score(np.ones((2, 3)), np.ones((2, 3))), r"\(2, 3\) and \(2, 3\)"),
    ("vector", lambda: composition_score(np.ones(3), np.ones((3, 3))), "not a matrix product"),
    ("one-sample", lambda: random_baseline(4, 2, np.random.default_rng(0), samples=1), "at least 2 samples"),
    ("unknown-mode", lambda: composition_scores(head_weights(induction_model(3, 4)), baseline_samples=2).mode("X"), "one of Q, K, V"),
]


@pytest.mark.parametrize("build, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_rejected(build, message):
    with pytest.raises(ShapeError, match=message):
        build()


def test_random_baseline_is_the_sample_statistics_of_the_definition():
    # The same draws (batches of 25: W_Q, W_K, W_V, then W_O, each for a reader set 0 and a
    # writer set 1), scored one pair at a time with the dense definition. d_model < 2·d_head, so the
    # baseline draws full Gaussian heads (at d_model ≥ 2·d_head it samples the same law from
    # d_head-sized pieces: tests/test_fast_paths.py); its rms is the exact 1/√d_model.
    d_model, d_head, samples = 3, 2, 30
    base = random_baseline(d_model, d_head, np.random.default_rng(7), samples=samples)
    rng = np.random.default_rng(7)
    scores = {mode: [] for mode in MODES}
    for start in range(0, samples, 25):
        n = min(25, samples - start)
        W_Q, W_K, W_V = (rng.standard_normal((2, n, d_head, d_model)) for _ in range(3))
        W_O = rng.standard_normal((2, n, d_model, d_head))
        for i in range(n):
            qk, ov_reader, ov_writer = W_Q[0, i].T @ W_K[0, i], W_O[0, i] @ W_V[0, i], W_O[1, i] @ W_V[1, i]
            scores["Q"].append(composition_score(qk.T, ov_writer))
            scores["K"].append(composition_score(qk, ov_writer))
            scores["V"].append(composition_score(ov_reader, ov_writer))
    for mode in MODES:
        s = np.array(scores[mode])
        expected = (s.mean(), s.std(ddof=1), 1 / np.sqrt(d_model))
        assert (base[mode].mean, base[mode].std, base[mode].rms) == pytest.approx(expected, rel=1e-9)
        assert base[mode].samples == samples


def test_a_head_that_writes_nothing_composes_with_score_zero_not_nan():
    model = random_model(np.random.default_rng(0), heads=(2, 1), d_model=6, d_head=2, n_vocab=5)
    layer = model.layers[0]
    silent = AttentionLayer(layer.W_Q, layer.W_K, layer.W_V, layer.W_O * np.array([0.0, 1.0])[:, None, None])
    scores = composition_scores(head_weights(with_weights(model, layers=(silent, model.layers[1]))))
    for mode in MODES:
        values = scores.mode(mode)
        assert np.all(np.isfinite(values)) and values[0, 2] == 0.0 and values[1, 2] > 0.0


def test_defaults_seed_0_and_100_baseline_samples_and_frozen_results():
    import dataclasses

    heads = head_weights(induction_model(n_vocab=4, n_ctx=6))
    default, seeded = composition_scores(heads), composition_scores(heads, np.random.default_rng(0))
    assert default.baseline == seeded.baseline and default.baseline["K"].samples == 100
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.baseline["K"].mean = 0.0
