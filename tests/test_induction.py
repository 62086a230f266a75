"""Induction heads (C18): the formula-built model is detected by weights and by behaviour; its twins are not."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tensoralg.models.circuits import copying_scores, head_weights, k_composition_qk_circuits, label, qk_circuits
from tensoralg.models.composition import composition_scores
from tensoralg.errors import ArchitectureError, ShapeError
from tensoralg.models.induction import behavioural_scores, induction_evidence, previous_token_evidence, previous_token_scores
from tensoralg.models.model import AttentionLayer, forward, random_model, with_weights
from tensoralg.verify.strategies import seeds
from tensoralg.models.toy_models import induction_model, scrambled_induction_model


def detected(model) -> list[str]:
    return [label(e.head) for e in induction_evidence(head_weights(model)) if e.is_candidate]


def anti_copying(model):
    """The induction model with L1H0's output negated: same attention, OV copying −1."""
    l0, l1 = model.layers
    return with_weights(model, layers=(l0, AttentionLayer(l1.W_Q, l1.W_K, l1.W_V, -l1.W_O)))


@settings(max_examples=10)
@given(st.integers(3, 10), st.integers(6, 16), seeds())
def test_the_toy_model_completes_a_b_a_with_b(n_vocab, n_ctx, seed):
    """On [a][b] … [a] the layer-1 head puts its largest weight on [b]'s position and raises logit [b]."""
    rng = np.random.default_rng(seed)
    length = min(n_vocab + 1, n_ctx)
    first = rng.choice(n_vocab, size=length - 1, replace=False)
    i = rng.integers(0, length - 2)  # the earlier [a] sits at i, [b] at i + 1
    tokens = np.concatenate([first, [first[i]]])
    run = forward(induction_model(n_vocab, n_ctx), tokens)
    assert run.patterns[1][0, -1].argmax() == i + 1
    assert run.logits[-1].argmax() == tokens[i + 1]
    assert (run.patterns[0][0, 1:].argmax(axis=-1) == np.arange(len(tokens) - 1)).all()


def test_toy_model_weights_say_previous_token_then_induction():
    heads = head_weights(induction_model())
    prev = previous_token_evidence(heads)
    assert [e.is_candidate for e in prev] == [True, False] and prev[0].score > 0.99
    (e,) = induction_evidence(heads)
    assert (label(e.head), label(e.previous_token_head), e.is_candidate) == ("L1H0", "L0H0", True)
    assert e.ov_copying == pytest.approx(1.0) and e.same_matching == pytest.approx(1.0) and e.k_composition_z > 3


def test_toy_model_qk_works_by_k_composition_not_directly():
    """Same matching lives in W_Eᵀ W_QK W_OV^{prev} W_E (= β·I), not in the direct W_Eᵀ W_QK W_E (= 0)."""
    heads = head_weights(induction_model(n_vocab=5, n_ctx=8, sharpness=3.0))
    assert copying_scores(qk_circuits(heads)).tolist() == [0.0, 0.0]
    np.testing.assert_allclose(k_composition_qk_circuits(heads, [(0, 1)])[0].dense(), 3.0 * np.eye(5))


def test_toy_model_behaviour_is_induction():
    b = behavioural_scores(induction_model(), np.random.default_rng(0), seq_len=8, sequences=4)
    assert b.prefix_matching[1] > 0.95 and b.copying[1] == 1.0
    assert b.prefix_matching[0] < 0.05 and b.copying[0] == 0.0  # L0H0 looks one back and writes nothing W_U reads


@settings(max_examples=10)
@given(seeds())
def test_twin_scrambled_previous_token_head_is_not_induction(seed):
    model = scrambled_induction_model(np.random.default_rng(seed))
    heads = head_weights(model)
    assert not any(e.is_candidate for e in previous_token_evidence(heads))
    assert detected(model) == []
    b = behavioural_scores(model, np.random.default_rng(seed), seq_len=8)
    assert b.prefix_matching[1] < 0.5


def test_twin_anti_copying_head_is_not_induction():
    model = anti_copying(induction_model())
    (e,) = induction_evidence(head_weights(model))
    assert e.ov_copying == pytest.approx(-1.0) and not e.is_candidate
    b = behavioural_scores(model, np.random.default_rng(0), seq_len=8)
    assert b.prefix_matching[1] > 0.95 and b.copying[1] == 0.0  # still attends right, but suppresses what it sees


@settings(max_examples=10)
@given(seeds())
def test_twin_random_models_are_not_induction(seed):
    rng = np.random.default_rng(seed)
    model = random_model(rng, heads=(2, 2), d_model=16, d_head=4, n_vocab=20, n_ctx=16, positional=True)
    assert detected(model) == []
    b = behavioural_scores(model, rng, seq_len=8)
    assert np.all(b.prefix_matching < 0.5)


def test_previous_token_scores_match_forward_on_a_positions_only_model():
    """With W_E = 0 the scores are the positional QK circuit alone, so the forward pattern gives the score."""
    model = induction_model(n_vocab=4, n_ctx=7)
    positional_only = with_weights(model, W_E=np.zeros_like(model.W_E))
    run = forward(positional_only, np.zeros(7, dtype=int))
    expected = [np.diagonal(p, offset=-1).mean() for p in (run.patterns[0][0], run.patterns[1][0])]
    np.testing.assert_allclose(previous_token_scores(head_weights(model)), expected)
    np.testing.assert_allclose(previous_token_scores(head_weights(model), positions=3),
                               [np.diagonal(forward(positional_only, np.zeros(3, dtype=int)).patterns[l][0], offset=-1).mean() for l in (0, 1)])


def test_precomputed_composition_and_evidence_are_reused():
    heads = head_weights(induction_model())
    scores = composition_scores(heads, np.random.default_rng(1), 50)
    (e,) = induction_evidence(heads, scores, previous_token_evidence(heads), min_z=1e9)
    assert not e.is_candidate  # the thresholds are the caller's
    assert induction_evidence(heads, scores, tuple(p.__class__(p.head, p.score, False) for p in previous_token_evidence(heads))) == ()


BAD = [
    ("no-W_pos", lambda: previous_token_scores(head_weights(random_model(np.random.default_rng(0), heads=(1,)))), ShapeError, "positional embeddings"),
    ("positions", lambda: previous_token_scores(head_weights(induction_model(3, 4)), positions=9), ShapeError, r"\[2, n_ctx = 4\]"),
    ("seq-len-too-long", lambda: behavioural_scores(induction_model(3, 6), np.random.default_rng(0), seq_len=4), ShapeError, "2·seq_len ≤ n_ctx = 6"),
    ("seq-len-one", lambda: behavioural_scores(induction_model(3, 6), np.random.default_rng(0), seq_len=1), ShapeError, "seq_len must be ≥ 2"),
    ("sequences", lambda: behavioural_scores(induction_model(3, 6), np.random.default_rng(0), sequences=0), ShapeError, "sequences must be ≥ 1"),
    ("toy-size", lambda: induction_model(1, 4), ArchitectureError, "n_vocab ≥ 2"),
    ("toy-sigma", lambda: induction_model(3, 4, previous_source=[1, 2]), ArchitectureError, "one non-negative position per position"),
]


@pytest.mark.parametrize("build, error, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_rejected(build, error, message):
    with pytest.raises(error, match=message):
        build()
