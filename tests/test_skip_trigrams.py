"""The skip-trigram reader recovers the triples of a hand-built 1-layer model, and only those."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tensoralg.errors import ArchitectureError, ShapeError
from tensoralg.models.model import AttentionLayer, Model, forward, random_model
from tensoralg.models.skip_trigrams import parse_head, recall, skip_trigrams
from tensoralg.verify.strategies import seeds


def planted_model(triples, n_vocab: int, heads: int = 1, sharp: float = 8.0, gain: float = 4.0) -> Model:
    """One-hot embeddings (d_model = n_vocab); triple i lives in head i mod ``heads``:
    W_QK[b, a] = sharp (b attends to a), W_OV[c, a] = gain (attending to a raises c)."""
    W_QK = np.zeros((heads, n_vocab, n_vocab))
    W_OV = np.zeros((heads, n_vocab, n_vocab))
    for i, (a, b, c) in enumerate(triples):
        W_QK[i % heads, b, a] = sharp
        W_OV[i % heads, c, a] = gain
    eye = np.broadcast_to(np.eye(n_vocab), (heads, n_vocab, n_vocab))
    layer = AttentionLayer(np.swapaxes(W_QK, 1, 2), eye, eye, W_OV)  # W_Qᵀ W_K = W_QK, W_O W_V = W_OV
    return Model(np.eye(n_vocab), np.eye(n_vocab), (layer,), score_scale=1.0)


@st.composite
def disjoint_triples(draw):
    """Up to 6 triples over a vocabulary of 20–40 with every a and every b used once, c outside the a's."""
    n_vocab = draw(st.integers(20, 40))
    k = draw(st.integers(1, 6))
    order = np.random.default_rng(draw(seeds())).permutation(n_vocab)
    a, b, c = order[:k], order[k:2 * k], order[2 * k:3 * k]
    return n_vocab, [tuple(int(x) for x in t) for t in zip(a, b, c)]


@settings(max_examples=25)
@given(disjoint_triples(), st.integers(1, 3))
def test_reader_recovers_exactly_the_planted_triples(case, heads):
    n_vocab, triples = case
    found = skip_trigrams(planted_model(triples, n_vocab, heads), top=len(triples))
    assert {(t.source, t.destination, t.output) for t in found} == set(triples)
    assert recall(found, triples) == 1.0
    assert all(t.effect > 0 and t.attention > 0.5 and t.logit > 0 for t in found)


def test_scrambled_triples_are_not_recovered():
    """The twin: the same outputs attached to the wrong (a, b) pairs give recall 0."""
    triples = [(0, 5, 10), (1, 6, 11), (2, 7, 12), (3, 8, 13)]
    found = skip_trigrams(planted_model(triples, 16), top=4)
    scrambled = [(a, b, c) for (a, b, _), (_, _, c) in zip(triples, triples[1:] + triples[:1])]
    assert recall(found, scrambled) == 0.0


def test_the_triples_predict_what_the_model_does():
    """On [a][x][b], the model's top prediction after b is the c the reader names (C10)."""
    triples = [(0, 5, 10), (1, 6, 11)]
    model = planted_model(triples, 16, sharp=12.0, gain=8.0)
    for t in skip_trigrams(model, top=2):
        logits = forward(model, np.array([t.source, 3, t.destination])).logits[-1]
        assert int(logits.argmax()) == t.output


def test_shared_source_shows_the_papers_mixing():
    """a … b₁ → c₁ and a … b₂ → c₂ in one head also give a … b₁ → c₂ (C10's "keep … in bay") with the same effect."""
    model = planted_model([(0, 5, 10), (0, 6, 11)], 16)
    effects = {(t.source, t.destination, t.output): t.effect for t in skip_trigrams(model, top=4)}
    assert set(effects) == {(0, 5, 10), (0, 6, 11), (0, 5, 11), (0, 6, 10)}
    assert effects[(0, 5, 11)] == pytest.approx(effects[(0, 5, 10)])


def test_one_head_and_words():
    model = planted_model([(0, 5, 10), (1, 6, 11)], 16, heads=2)
    (only,) = skip_trigrams(model, head=(0, 1), top=1)
    assert (only.source, only.destination, only.output, only.head) == (1, 6, 11, (0, 1))
    words = [f"w{i}" for i in range(16)]
    assert only.words(words) == "w1 … w6 → w11" and only.words() == "1 … 6 → 11"


def test_a_random_model_recovers_nothing_planted():
    model = random_model(np.random.default_rng(0), (2,), d_model=16, n_vocab=30)
    triples = [(0, 5, 10), (1, 6, 11), (2, 7, 12)]
    assert recall(skip_trigrams(model, top=3), triples) == 0.0


BAD = [
    ("no-such-head", lambda m: skip_trigrams(m, head=(0, 5)), ArchitectureError, "no head 0.5"),
    ("no-such-layer", lambda m: skip_trigrams(m, head=(1, 0)), ArchitectureError, "no head 1.0"),
    ("top-zero", lambda m: skip_trigrams(m, top=0), ShapeError, "top"),
    ("empty-recall", lambda m: recall([], []), ShapeError, "planted"),
    ("head-text", lambda m: parse_head("zero"), ShapeError, "L.H"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call(planted_model([(0, 1, 2)], 8))


def test_parse_head_forms():
    assert parse_head("0.3") == (0, 3) and parse_head("L1H2") == (1, 2) and parse_head("l1h2") == (1, 2)


def test_self_triples_are_left_out_unless_asked_for():
    """b attending to its own token (a = b) is a bigram the head adds; distinct=False lists it."""
    model = planted_model([(0, 5, 10), (3, 3, 9)], 16)
    assert {(t.source, t.destination) for t in skip_trigrams(model, top=1)} == {(0, 5)}
    assert (3, 3, 9) in {(t.source, t.destination, t.output) for t in skip_trigrams(model, top=2, distinct=False)}
