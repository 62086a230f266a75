"""The data generator plants what it says: triple frequencies, the bigram chain, repeated segments."""

import numpy as np
import pytest
from hypothesis import given, settings

from tensoralg.errors import TensoralgError
from tensoralg.training.data import FIRST, LATER, ORDINARY, SECOND, TRIGRAM, DataConfig, DataError, Grammar
from tensoralg.verify.strategies import seeds

TRIGRAMS = DataConfig(n_vocab=64, n_ctx=32, seed=5, n_triples=12, shared=2, fire=0.7, p_a=0.08, p_b=0.08)


def test_planted_triples_fire_with_the_stated_probability():
    """P(next = c | a earlier, current b) = fire + (1 − fire)·P(c | b), within 4 binomial standard deviations."""
    grammar = Grammar.build(TRIGRAMS)
    batch = grammar.sample(np.random.default_rng(0), 3000)
    where = batch.kinds == TRIGRAM
    hit = batch.tokens[:, 1:][where] == batch.planted[where]
    stated = TRIGRAMS.fire + (1 - TRIGRAMS.fire) * grammar.chain[batch.tokens[:, :-1][where], batch.planted[where]]
    assert where.sum() > 2000
    assert abs(hit.mean() - stated.mean()) < 4 * np.sqrt((stated * (1 - stated)).sum()) / where.sum()
    # each planted c follows its own b: every planted triple occurs and fires
    seen = {tuple(t) for t in np.stack([batch.planted[where] * 0 + 0, batch.tokens[:, :-1][where], batch.planted[where]], 1)[:, 1:]}
    assert {(b, c) for _, b, c in grammar.triples} <= seen


def test_a_wrong_probability_is_detected():
    """The twin: the same statistic against fire − 0.1 fails, so the test above can fail."""
    grammar = Grammar.build(TRIGRAMS)
    batch = grammar.sample(np.random.default_rng(0), 3000)
    where = batch.kinds == TRIGRAM
    hit = batch.tokens[:, 1:][where] == batch.planted[where]
    wrong = (TRIGRAMS.fire - 0.1) + (1.1 - TRIGRAMS.fire) * grammar.chain[batch.tokens[:, :-1][where], batch.planted[where]]
    assert abs(hit.mean() - wrong.mean()) > 4 * np.sqrt((wrong * (1 - wrong)).sum()) / where.sum()


def test_background_follows_the_bigram_chain():
    """Without triples or repeats, transition counts match P(x_{i+1} | x_i) (total variation per row < 0.1)."""
    grammar = Grammar.build(DataConfig(n_vocab=12, n_ctx=32, seed=1, successors=3, smoothing=0.2))
    tokens = grammar.sample(np.random.default_rng(1), 2000).tokens
    counts = np.zeros((12, 12))
    np.add.at(counts, (tokens[:, :-1].ravel(), tokens[:, 1:].ravel()), 1)
    empirical = counts / counts.sum(axis=1, keepdims=True)
    assert 0.5 * np.abs(empirical - grammar.chain).sum(axis=1).max() < 0.1


def test_shared_triples_share_a_or_b_and_outputs_stay_outside_triggers():
    grammar = Grammar.build(TRIGRAMS)
    a, b, c = grammar.triples.T
    assert len(a) == 12 and len(set(a.tolist())) == 12 - 2 and len(set(b.tolist())) == 12 - 2
    assert not set(c.tolist()) & (set(a.tolist()) | set(b.tolist()))
    assert grammar.triple_strings()[0].count(" … ") == 1 and " → " in grammar.triple_strings()[0]


@settings(max_examples=15)
@given(seeds())
def test_repeated_copies_are_predictable_by_induction(seed):
    """At every second/later-copy position the current token occurred before, followed by the next token."""
    grammar = Grammar.build(DataConfig(n_vocab=64, n_ctx=48, seed=seed % 7, repeat=1.0, segment=(2, 12), copies=(2, 5)))
    batch = grammar.sample(np.random.default_rng(seed), 8)
    for tokens, kinds in zip(batch.tokens, batch.kinds):
        assert (kinds == FIRST).sum() >= 1
        for i in np.flatnonzero(np.isin(kinds, (SECOND, LATER))):
            earlier = np.flatnonzero(tokens[:i] == tokens[i])
            assert (tokens[earlier + 1] == tokens[i + 1]).any()


def test_segments_sit_at_random_offsets_and_distances():
    grammar = Grammar.build(DataConfig(n_vocab=64, n_ctx=64, seed=0, repeat=1.0, segment=(4, 8)))
    kinds = grammar.sample(np.random.default_rng(0), 200).kinds
    firsts = {int(np.flatnonzero(k == FIRST)[0]) for k in kinds}
    distances = {int(np.flatnonzero(k == SECOND)[0] - np.flatnonzero(k == FIRST)[0]) for k in kinds}
    assert len(firsts) > 20 and len(distances) > 20


def test_same_seed_same_text_and_vocabulary_is_word_like():
    config = DataConfig(n_vocab=40, n_ctx=16, seed=3, n_triples=4, repeat=0.5, segment=(2, 8))
    one, two = Grammar.build(config), Grammar.build(config)
    assert one.vocabulary == two.vocabulary and len(set(one.vocabulary)) == 40
    assert all(w.isalpha() and len(w) == 4 for w in one.vocabulary)
    np.testing.assert_array_equal(one.sample(np.random.default_rng(9), 5).tokens, two.sample(np.random.default_rng(9), 5).tokens)
    assert (one.sample(np.random.default_rng(9), 5).kinds >= ORDINARY).all()


BAD = [
    ("vocab-too-small", dict(n_vocab=4), "n_vocab"),
    ("context-too-short", dict(n_ctx=2), "n_ctx"),
    ("fire-not-a-probability", dict(fire=1.5), "fire"),
    ("p_a-plus-p_b", dict(p_a=0.7, p_b=0.6), r"p_a \+ p_b"),
    ("too-many-shared", dict(n_triples=4, shared=2), "shared"),
    ("too-many-triples", dict(n_vocab=16, n_triples=8), "need"),
    ("segment-too-long", dict(repeat=1.0, n_ctx=16, segment=(4, 12)), "segment"),
    ("one-copy", dict(repeat=1.0, copies=(1, 2)), "copies"),
    ("successors", dict(successors=0), "successors"),
]


@pytest.mark.parametrize("changes, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_settings_are_named(changes, message):
    with pytest.raises(DataError, match=message) as info:
        DataConfig(**changes)
    assert isinstance(info.value, TensoralgError)


def test_bad_batch_size():
    with pytest.raises(DataError, match="batch size"):
        Grammar.build(DataConfig()).sample(np.random.default_rng(0), 0)
