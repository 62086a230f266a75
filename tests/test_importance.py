"""C20 on the importance table: the orders sum to the model's logits exactly, and each path's ΔL is its own."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tensoralg.errors import ShapeError
from tensoralg.models.model import forward, random_model, with_weights
from tensoralg.paths.importance import importance, next_token_losses, order_name, path_label
from tensoralg.verify.strategies import seeds


def draw(seed: int, heads, positional: bool):
    rng = np.random.default_rng(seed)
    model = random_model(rng, heads, d_model=8, d_head=3, n_vocab=9, n_ctx=10, positional=positional)
    sequences = [rng.integers(0, 9, size=int(rng.integers(3, 11))) for _ in range(3)]
    return model, sequences


@settings(max_examples=20)
@given(seeds(), st.sampled_from([(2,), (2, 2), (1, 2, 1)]), st.booleans())
def test_partial_sums_end_at_the_full_model(seed, heads, positional):
    """The last row (every order) has exactly the model's loss, and the sum of the terms its logits."""
    model, sequences = draw(seed, heads, positional)
    subsets = {"all": [np.ones(s.size - 1, bool) for s in sequences],
               "odd": [np.arange(s.size - 1) % 2 == 1 for s in sequences]}
    table = importance(model, sequences, subsets)
    assert len(table.rows) == len(heads) + 1 and table.max_sum_error < 1e-9
    for name in subsets:
        assert table.rows[-1].loss[name] == pytest.approx(table.full[name], abs=1e-9)
    own = np.concatenate([next_token_losses(forward(model, s).logits, s) for s in sequences]).mean()
    assert table.full["all"] == pytest.approx(own, abs=1e-12)
    assert len(table.terms) == int(np.prod([1 + h for h in heads])) - 1


def test_a_silenced_head_costs_nothing_and_direct_is_the_bigram_loss():
    """With W_O = 0 in layer 0, removing its heads changes no loss; the first row is the W_U W_E (+ W_pos) loss."""
    model, sequences = draw(3, (2, 2), True)
    layers = (replace(model.layers[0], W_O=np.zeros_like(model.layers[0].W_O)), model.layers[1])
    silenced = with_weights(model, layers=layers)
    table = importance(silenced, sequences, {"all": [np.ones(s.size - 1, bool) for s in sequences]})
    deltas = {t.label: t.delta["all"] for t in table.terms}
    assert abs(deltas["L0H0"]) < 1e-12 and abs(deltas["L1H0∘L0H1"]) < 1e-12 and abs(deltas["L1H1"]) > 1e-6
    assert table.rows[2].loss["all"] == pytest.approx(table.rows[1].loss["all"], abs=1e-12)
    direct = np.concatenate([next_token_losses(model.W_E[:, s].T @ model.W_U.T + model.W_pos[:, :s.size].T @ model.W_U.T, s)
                             for s in sequences]).mean()
    assert table.rows[0].loss["all"] == pytest.approx(direct)


def test_ranked_and_labels():
    model, sequences = draw(1, (2, 2), False)
    table = importance(model, sequences, {"all": [np.ones(s.size - 1, bool) for s in sequences]})
    ranked = table.ranked("all", 3)
    assert len(ranked) == 3 and ranked[0].delta["all"] >= ranked[1].delta["all"] >= ranked[2].delta["all"]
    assert path_label(((0, 1), (1, 0))) == "L1H0∘L0H1" and order_name(1) == "+ single heads"


BAD = [
    ("no-sequences", lambda m, s: importance(m, [], {}), "at least one sequence"),
    ("masks-count", lambda m, s: importance(m, s, {"all": []}), "3 sequences"),
    ("mask-shape", lambda m, s: importance(m, s, {"all": [np.ones(2, bool)] * 3}), "one per predicted token"),
    ("unknown-subset", lambda m, s: importance(m, s, {"all": [np.ones(x.size - 1, bool) for x in s]}).ranked("x"), "no subset"),
]


@pytest.mark.parametrize("call, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input(call, message):
    model, sequences = draw(0, (1, 1), False)
    with pytest.raises(ShapeError, match=message):
        call(model, sequences)


def test_float32_weights_are_summed_in_float64(tmp_path):
    """A model loaded from a float32 file keeps float32 arrays; the table still sums to float64 round-off."""
    from tensoralg.models.weights import load_weights, model_arrays, write_arrays

    model, sequences = draw(2, (2, 2), True)
    path = tmp_path / "m.safetensors"
    write_arrays({k: v.astype(np.float32) if v.ndim else v for k, v in model_arrays(model).items()}, path)
    loaded = load_weights(path)
    assert loaded.W_E.dtype == np.float32
    table = importance(loaded, sequences, {"all": [np.ones(s.size - 1, bool) for s in sequences]})
    assert table.max_sum_error < 1e-9
