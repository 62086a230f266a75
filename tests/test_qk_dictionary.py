"""QK dictionaries (C19 on trained-shaped objects): the four-term score, masks, the pattern, files,
feature readings and pair contributions. numpy only."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensoralg.errors import ShapeError, WeightsError
from tensoralg.models.model import causal_softmax, forward, random_model
from tensoralg.models.qk_dictionary import QKDictionary, feature_map, random_dictionary, read_dictionary, save_dictionary
from tensoralg.models.qk_features import FeatureReading, feature_pairs, mechanism, read_features
from tensoralg.models.qk_metrics import (
    centre_rows, key_bias_share, layer_data, pattern_kl, patched_loss, repeated_segment_tokens,
)

dims = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 6), st.integers(1, 7), st.integers(1, 7),
                 st.integers(1, 6), st.integers(0, 2**31))


def _draw(spec):
    n_heads, d_head, d_model, f_q, f_k, n, seed = spec
    rng = np.random.default_rng(seed)
    return random_dictionary(rng, n_heads, d_head, d_model, (f_q, f_k)), rng.normal(size=(2, n, d_model)), rng


@given(dims)
def test_masked_map_with_ones_is_the_transcoders_score(spec):
    d, x, _ = _draw(spec)
    exact = np.einsum("...hie,...hje->...hij", d.queries(x), d.keys(x))
    terms = d.score_terms(x, np.ones(d.feature_map().shape))
    np.testing.assert_allclose(terms.total, exact, rtol=1e-10, atol=1e-10)


@given(dims)
def test_feature_map_is_per_head_decoder_gram(spec):
    d, _, _ = _draw(spec)
    for h in range(d.n_heads):
        rows = slice(h * d.d_head, (h + 1) * d.d_head)
        np.testing.assert_allclose(d.feature_map()[:, :, h], d.D_Q[rows].T @ d.D_K[rows], atol=1e-12)


def test_swapped_decoders_do_not_reproduce_the_scores():
    d, x, _ = _draw((2, 3, 5, 4, 4, 5, 0))
    swapped = QKDictionary(0, 2, d.W_enc_Q, d.b_enc_Q, d.D_K, d.b_Q, d.W_enc_K, d.b_enc_K, d.D_Q, d.b_K)
    exact = np.einsum("...hie,...hje->...hij", d.queries(x), d.keys(x))
    ones = np.ones(d.feature_map().shape)
    assert not np.allclose(swapped.score_terms(x, ones, acts=d.encode(x)).total, exact)


def test_a_zero_in_the_mask_changes_the_scores():
    d, x, _ = _draw((1, 3, 5, 4, 4, 5, 1))
    mask = np.ones(d.feature_map().shape)
    a_q, a_k = d.encode(x)
    p, r = np.unravel_index(np.argmax(a_q.sum((0, 1))[:, None] * a_k.sum((0, 1))[None, :] * np.abs(d.feature_map()[:, :, 0])), (4, 4))
    mask[p, r, 0] = 0
    assert not np.allclose(d.score_terms(x, mask).total, d.score_terms(x, np.ones_like(mask)).total)


@given(dims)
def test_only_the_query_only_terms_drop_out_of_the_pattern(spec):
    d, x, _ = _draw(spec)
    terms = d.score_terms(x, np.ones(d.feature_map().shape))
    np.testing.assert_allclose(causal_softmax(terms.total), causal_softmax(terms.bilinear + terms.key_bias), atol=1e-9)
    np.testing.assert_allclose(centre_rows(terms.query_bias + terms.constant), 0.0, atol=1e-9)


def test_the_key_bias_term_changes_the_pattern():
    d, x, _ = _draw((2, 3, 5, 4, 4, 6, 2))
    terms = d.score_terms(x, np.ones(d.feature_map().shape))
    assert pattern_kl(causal_softmax(terms.total), causal_softmax(terms.bilinear)) > 1e-3
    assert 0 < key_bias_share(d, x) < 10


def test_key_bias_share_is_zero_without_query_bias():
    d, x, _ = _draw((2, 3, 5, 4, 4, 6, 3))
    no_bias = QKDictionary(0, 2, d.W_enc_Q, d.b_enc_Q, d.D_Q, np.zeros_like(d.b_Q), d.W_enc_K, d.b_enc_K, d.D_K, d.b_K)
    assert key_bias_share(no_bias, x) == 0.0


def test_pattern_kl():
    rng = np.random.default_rng(0)
    a, b = causal_softmax(rng.normal(size=(3, 5, 5))), causal_softmax(rng.normal(size=(3, 5, 5)))
    assert pattern_kl(a, a) == 0.0
    assert pattern_kl(a, b) > 0
    assert pattern_kl(a, b, axis=(0,)).shape == (3,)
    with pytest.raises(ShapeError):
        pattern_kl(a, b[:2])


def test_patched_loss_with_the_true_pattern_is_the_loss_and_zero_ablation_differs():
    rng = np.random.default_rng(0)
    model = random_model(rng, (2, 2), positional=True, n_ctx=6)
    tokens = repeated_segment_tokens(rng, model.n_vocab, 6, 3)
    for layer in (0, 1):
        data = layer_data(model, tokens, layer)
        assert patched_loss(model, tokens, layer, data.patterns) == pytest.approx(patched_loss(model, tokens, layer, None), abs=1e-12)
        assert patched_loss(model, tokens, layer, np.zeros_like(data.patterns)) != pytest.approx(patched_loss(model, tokens, layer, None))


def test_patched_loss_recomputes_later_layers():
    """Patching layer 0 with zeros: layer 1 must see the patched stream, as a direct computation does."""
    rng = np.random.default_rng(1)
    model = random_model(rng, (1, 1), positional=True, n_ctx=5)
    tokens = repeated_segment_tokens(rng, model.n_vocab, 5, 1)
    ablated = model.__class__(model.W_E, model.W_U, (model.layers[0].__class__(
        model.layers[0].W_Q, model.layers[0].W_K, model.layers[0].W_V, 0 * model.layers[0].W_O), model.layers[1]),
        W_pos=model.W_pos, score_scale=model.score_scale)
    logits = forward(ablated, tokens[0]).logits[:-1]
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    direct = -log_probs[np.arange(4), tokens[0, 1:]].mean()
    assert patched_loss(model, tokens, 0, np.zeros((1, 1, 5, 5))) == pytest.approx(direct, abs=1e-12)


def test_repeated_segment_tokens_repeat_a_segment():
    tokens = repeated_segment_tokens(np.random.default_rng(0), 50, 16, 20)
    for row in tokens:
        assert any(np.array_equal(row[s:s + t], row[s + t:s + 2 * t]) for t in range(2, 9) for s in range(0, 17 - 2 * t))


def test_file_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    d = random_dictionary(rng, 2, 3, 5, (4, 6), mask=rng.normal(size=(4, 6, 2)), score_scale=0.5, layer_norm=True,
                          model="c18-induction", info={"figures": {"kl": 0.1}})
    save_dictionary(d, tmp_path / "d.safetensors")
    back = read_dictionary(tmp_path / "d.safetensors")
    for name, value in d.arrays().items():
        np.testing.assert_array_equal(back.arrays()[name], value)
    assert (back.model, back.info, back.layer_norm, back.score_scale, back.mask_shuffled) == (
        "c18-induction", {"figures": {"kl": 0.1}}, True, 0.5, None)


def _write(tmp_path, change):
    import safetensors.numpy

    arrays = {k: np.array(v) for k, v in random_dictionary(np.random.default_rng(0), 2, 3, 5, (4, 6)).arrays().items()}
    change(arrays)
    path = tmp_path / "bad.safetensors"
    safetensors.numpy.save_file(arrays, str(path))
    return path


BAD_FILES = [
    ("missing-decoder", lambda a: a.pop("D_K"), "missing key D_K"),
    ("missing-config", lambda a: a.pop("config.n_heads"), "missing key config.n_heads"),
    ("wrong-axes", lambda a: a.update(b_Q=np.zeros((6, 1))), "b_Q has shape (6, 1); expected 1 axes"),
    ("inconsistent", lambda a: a.update(D_K=np.zeros((7, 6))), "n_head·d_head is 7"),
    ("mask-shape", lambda a: a.update(mask=np.zeros((4, 5, 2))), "d_hidden_K is 5"),
    ("mask-heads", lambda a: a.update(mask=np.zeros((4, 6, 3))), "config.n_heads is 2"),
    ("unknown", lambda a: a.update(extra=np.zeros(2)), "unknown key extra"),
    ("nan", lambda a: a["D_Q"].__setitem__((0, 0), np.nan), "D_Q (shape (6, 4)) has NaN"),
    ("heads-divide", lambda a: a.update({"config.n_heads": np.array(4.0)}), "not a multiple of n_head = 4"),
    ("heads-fraction", lambda a: a.update({"config.n_heads": np.array(1.5)}), "config.n_heads is 1.5; expected a non-negative integer"),
    ("scale", lambda a: a.update({"config.score_scale": np.array(0.0)}), "config.score_scale must be a positive number"),
    ("missing-eps", lambda a: a.pop("config.ln_eps"), "missing key config.ln_eps"),
    ("integer-dtype", lambda a: a.update({"config.layer": np.array(1)}), "config.layer has dtype"),
]


@pytest.mark.parametrize("change, message", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_dictionary_files(tmp_path, change, message):
    with pytest.raises(WeightsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_dictionary(_write(tmp_path, change))


def test_bad_paths(tmp_path):
    with pytest.raises(WeightsError, match="no such file"):
        read_dictionary(tmp_path / "none.safetensors")
    with pytest.raises(WeightsError, match=r"\.safetensors"):
        read_dictionary(tmp_path / "d.npz")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(WeightsError, match="cannot read"):
        read_dictionary(tmp_path / "junk.safetensors")


def test_wrong_mask_and_residual_widths():
    d, x, _ = _draw((2, 3, 5, 4, 4, 5, 0))
    with pytest.raises(WeightsError, match="mask has shape"):
        d.score_terms(x, np.ones((4, 4, 3)))
    with pytest.raises(WeightsError, match="width 4"):
        d.encode(x[..., :4])


def test_readings_find_current_previous_and_position():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 6, size=(40, 8))
    previous = np.concatenate([np.full((40, 1), -1), tokens[:, :-1]], axis=1)
    acts = np.stack([(tokens == 3) * 2.0, (previous == 4) * 1.5, (np.arange(8) == 5)[None].repeat(40, 0) * 1.0,
                     np.zeros((40, 8))], axis=-1)
    readings = read_features(acts, tokens)
    assert [(r.kind, r.values) for r in readings[:3]] == [("current", (3,)), ("previous", (4,)), ("position", (5,))]
    assert readings[3].values == ()


def test_mechanism_labels():
    def reading(kind, values):
        return FeatureReading(0, kind, values, 1.0, 0.1, ())

    assert mechanism(reading("current", (2,)), reading("previous", (2,))) == "induction"
    assert mechanism(reading("current", (2,)), reading("previous", (3,))) == ""
    assert mechanism(reading("previous", (2,)), reading("current", (2,))) == ""
    assert mechanism(reading("position", (4,)), reading("position", (3,))) == "previous-token"
    assert mechanism(reading("position", (4,)), reading("position", (4,))) == ""
    assert mechanism(reading("current", (2, 5)), reading("current", (5,))) == "same-token"
    assert mechanism(None, reading("previous", (2,))) == ""


def test_pair_contributions_ignore_destination_only_scores():
    """A key feature that is the same at every source adds a per-row constant: contribution 0 (C15)."""
    rng = np.random.default_rng(0)
    d = random_dictionary(rng, 1, 2, 3, (2, 2))
    d = QKDictionary(0, 1, d.W_enc_Q, d.b_enc_Q, d.D_Q, d.b_Q, np.zeros((2, 3)), np.array([1.0, 0.0]), d.D_K, d.b_K)
    x = rng.normal(size=(3, 5, 3))
    patterns = causal_softmax(rng.normal(size=(3, 1, 5, 5)))
    pairs = feature_pairs(d, x, patterns)
    assert pairs and all(abs(p.contribution) < 1e-12 for p in pairs)


@given(dims)
def test_pair_contributions_add_up_to_the_attention_weighted_scores(spec):
    """Σ over pairs and bias terms = mean_{b,i} Σ_j (A − U)[i, j] S[i, j] with S the masked scores."""
    d, x, rng = _draw(spec)
    mask = (rng.random(d.feature_map().shape) < 0.5) * rng.normal(size=d.feature_map().shape)
    patterns = causal_softmax(rng.normal(size=(x.shape[0], d.n_heads, x.shape[1], x.shape[1])))
    n = x.shape[1]
    uniform = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]
    terms = d.score_terms(x, mask)
    expected = (np.tril(patterns - uniform) * (terms.bilinear + terms.key_bias)).sum(-1).mean(axis=(0, 2))
    got = np.zeros(d.n_heads)
    for p in feature_pairs(d, x, patterns, mask):
        got[p.head] += p.contribution
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_feature_map_docstring_shapes():
    assert feature_map(np.ones((4, 3)), np.ones((4, 5)), 2).shape == (3, 5, 2)


@pytest.mark.parametrize("options", [{}, {"layer_norm": True, "layer_norm_weights": True}], ids=["plain", "layernorm"])
def test_layer_data_queries_and_keys_give_the_models_scores(options):
    rng = np.random.default_rng(0)
    model = random_model(rng, (2, 3), positional=True, n_ctx=7, **options)
    tokens = repeated_segment_tokens(rng, model.n_vocab, 7, 2)
    for layer in (0, 1):
        data = layer_data(model, tokens, layer)
        for b, row in enumerate(tokens):
            run = forward(model, row)
            np.testing.assert_allclose(data.queries[b] @ np.swapaxes(data.keys[b], -1, -2), run.scores[layer], atol=1e-10)
            np.testing.assert_allclose(data.patterns[b], run.patterns[layer])
