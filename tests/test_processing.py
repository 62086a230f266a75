"""Weight processing (C21–C24): each step's law on drawn models, with twins that must fail."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given

from tensoralg.errors import ArchitectureError, ShapeError
from tensoralg.models.model import LayerNorm, Model, forward, random_model
from tensoralg.models.processing import (
    STANDARD, STEPS, center_unembed, center_writing_weights, drop_key_biases, fold_layer_norm, fold_value_biases,
    log_softmax, process_weights,
)
from tensoralg.verify.strategies import small_models

CHECKPOINTS = small_models(max_layers=2, layer_norm=True, layer_norm_weights=True, biases=True, mlp=True)


def outputs(model: Model, log_probs: bool = False) -> np.ndarray:
    tokens = np.arange(min(model.n_ctx, 5)) % model.n_vocab
    run = forward(model, tokens)
    last = log_softmax(run.logits) if log_probs else run.logits
    return np.concatenate([p.ravel() for p in run.patterns] + [last.ravel()])


@pytest.mark.parametrize("step", [fold_layer_norm, center_writing_weights, fold_value_biases, drop_key_biases])
@given(model=CHECKPOINTS)
def test_step_keeps_every_pattern_and_logit(step, model):
    np.testing.assert_allclose(outputs(step(model)), outputs(model), rtol=1e-9, atol=1e-9)


@given(model=CHECKPOINTS)
def test_centring_the_unembedding_keeps_log_probabilities_not_logits(model):
    centred = center_unembed(model)
    np.testing.assert_allclose(outputs(centred, log_probs=True), outputs(model, log_probs=True), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(centred.W_U.mean(axis=0), 0, atol=1e-12)


@given(model=CHECKPOINTS)
def test_processing_is_idempotent_and_leaves_the_standard_form(model):
    once = process_weights(model)
    twice = process_weights(once)
    for a, b in zip(outputs(once), outputs(twice)):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9)
    assert once.ln_final is None and all(n is None for n in once.ln1 + once.ln2)
    assert all(layer.b_V is None and layer.b_K is None for layer in once.layers)
    np.testing.assert_allclose(once.W_E.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(once.layers[0].W_Q.mean(axis=-1), 0, atol=1e-12)


def test_twins_each_rewrite_needs_its_premise():
    rng = np.random.default_rng(3)
    model = random_model(rng, (2, 2), d_model=6, d_head=3, n_vocab=9, n_ctx=5, mlp=True, positional=True,
                         layer_norm=True, layer_norm_weights=True, biases=True)
    plain = replace(model, layer_norm=False, ln1=(), ln2=(), ln_final=None)
    # Centring writers without LayerNorm is not a no-op on the logits (C22's NEGATIVE) — done by hand, since the step
    # itself refuses to apply to a model without LayerNorm.
    forced = replace(center_writing_weights(replace(plain, layer_norm=True)), layer_norm=False)
    assert np.abs(outputs(forced) - outputs(plain)).max() > 1e-3
    assert center_writing_weights(plain) is plain and fold_layer_norm(plain) is plain
    assert np.abs(outputs(center_unembed(model)) - outputs(model)).max() > 1e-3  # logits move (C23's NEGATIVE)
    no_query_bias = replace(model, layers=tuple(replace(l, b_Q=None) for l in model.layers))
    assert np.abs(outputs(no_query_bias) - outputs(model)).max() > 1e-3  # b_Q is not droppable (C24's NEGATIVE)


def test_steps_table_and_order():
    assert tuple(STEPS) == ("fold_layer_norm", "center_writing_weights", "center_unembed", "fold_value_biases", "drop_key_biases")
    assert STANDARD == tuple(STEPS.values())


BAD_MODELS = [
    ("ln-without-layer-norm", lambda m: replace(m, layer_norm=False), ArchitectureError, "without LayerNorm"),
    ("ln-wrong-length", lambda m: replace(m, ln_final=LayerNorm(np.ones(3), np.zeros(3))), ShapeError, "LayerNorm ln_final has shape (3,)"),
    ("ln-bias-length", lambda m: LayerNorm(np.ones(6), np.zeros(5)), ShapeError, "one length"),
    ("ln-count", lambda m: replace(m, ln1=m.ln1[:1]), ArchitectureError, "1 ln1 LayerNorms for 2 layers"),
    ("eps", lambda m: replace(m, ln_eps=0.0), ArchitectureError, "epsilon must be a positive number"),
]


@pytest.mark.parametrize("change, error, fragment", [c[1:] for c in BAD_MODELS], ids=[c[0] for c in BAD_MODELS])
def test_bad_layer_norm_models_are_refused(change, error, fragment):
    model = random_model(np.random.default_rng(0), (1, 1), d_model=6, layer_norm=True, layer_norm_weights=True)
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        change(model)


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 5)])
def test_log_softmax_is_its_definition_on_the_last_axis(shape):
    logits = np.random.default_rng(0).normal(size=shape) * 3
    expected = np.log(np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(log_softmax(logits), expected, rtol=1e-12, atol=1e-12)
    large = log_softmax(logits + 1000.0)  # shifted by the maximum first: no overflow
    assert np.all(np.isfinite(large))
    np.testing.assert_allclose(large, expected, rtol=1e-9, atol=1e-9)


def test_folding_reaches_an_mlp_after_a_layer_without_one():
    model = random_model(np.random.default_rng(1), heads=(1, 1), mlp=True, layer_norm=True, layer_norm_weights=True, positional=True, n_ctx=6)
    model = replace(model, mlps=(None, model.mlps[1]), ln2=(None, model.ln2[1]))
    folded = fold_layer_norm(model)
    assert folded.mlps[0] is None and folded.mlps[1] is not None and len(folded.mlps) == 2
    np.testing.assert_allclose(outputs(folded), outputs(model), rtol=1e-9, atol=1e-9)
