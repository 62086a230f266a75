"""Training a QK dictionary (torch, the ``train`` extra): the tiny preset on the C18 induction model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tensoralg.errors import ShapeError  # noqa: E402
from tensoralg.models.model import random_model  # noqa: E402
from tensoralg.models.qk_metrics import pattern_kl  # noqa: E402
from tensoralg.models.toy_models import induction_model  # noqa: E402
from tensoralg.training.qk_dictionary import PRESETS, QKTrainConfig, train_qk_dictionary  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    return train_qk_dictionary(induction_model(n_vocab=6, n_ctx=10), 1, PRESETS["tiny"], model_ref="toy")


def _start_end(curve, k=15):
    return float(np.mean(curve[:k])), float(np.mean(curve[-k:]))


def test_step1_losses_fall(trained):
    _, log = trained
    for name, factor in (("kl", 0.7), ("aux", 0.9)):
        start, end = _start_end(log.step1[name])
        assert end < factor * start, (name, start, end)


def test_mask_kl_stays_low_and_the_shuffled_control_does_not(trained):
    dictionary, log = trained
    figures = dictionary.info["figures"]
    assert figures["kl"]["masked"] < figures["kl"]["transcoder"] + 0.05
    assert figures["kl"]["mask_shuffled"] > 3 * figures["kl"]["masked"] + 0.05
    start, end = _start_end(log.masks["mask"]["penalty"])
    assert end < start  # the L0.5 penalty pushes entries to 0


def test_masks_are_pruned_and_figures_complete(trained):
    dictionary, _ = trained
    for name in ("mask", "mask_without_bias_term", "mask_shuffled"):
        mask = getattr(dictionary, name)
        assert mask.shape == dictionary.feature_map().shape
        assert np.all((mask == 0) | (np.abs(mask) >= PRESETS["tiny"].prune))
    figures = dictionary.info["figures"]
    assert set(figures["loss"]) == {"true", "zero_ablated", "transcoder", "masked", "masked_without_bias_term"}
    assert figures["loss"]["transcoder"] < figures["loss"]["zero_ablated"]
    assert dictionary.model == "toy" and dictionary.info["config"]["seed"] == 0


def test_training_is_reproducible():
    config = replace(PRESETS["tiny"], steps=20, mask_steps=5)
    model = random_model(np.random.default_rng(0), (2,), positional=True, n_ctx=8, layer_norm=True, layer_norm_weights=True)
    first, _ = train_qk_dictionary(model, 0, config)
    second, _ = train_qk_dictionary(model, 0, config)
    for name, value in first.arrays().items():
        np.testing.assert_array_equal(second.arrays()[name], value)
    assert first.layer_norm


def test_the_dictionary_reproduces_the_transcoder_pattern_it_reports(trained):
    """The figure stored at training equals a recomputation from the saved arrays."""
    from tensoralg.models.qk_metrics import layer_data, repeated_segment_tokens

    dictionary, _ = trained
    model = induction_model(n_vocab=6, n_ctx=10)
    data = layer_data(model, repeated_segment_tokens(np.random.default_rng(3), 6, 10, 8), 1)
    assert pattern_kl(data.patterns, dictionary.transcoder_pattern(data.residuals)) < 0.5


BAD = [
    ("no-positions", lambda: train_qk_dictionary(random_model(np.random.default_rng(0), (1,)), 0, PRESETS["tiny"]), "positional"),
    ("layer", lambda: train_qk_dictionary(induction_model(), 2, PRESETS["tiny"]), "layer 2 does not exist"),
    ("d_hidden", lambda: QKTrainConfig(d_hidden=0), "d_hidden must be positive"),
    ("mu", lambda: QKTrainConfig(mask_sparsity=-1.0), "mask_sparsity must be a non-negative number"),
    ("lr", lambda: QKTrainConfig(lr=0.0), "lr must be a positive number"),
    ("nan", lambda: QKTrainConfig(aux=float("nan")), "aux must be a non-negative number"),
]


@pytest.mark.parametrize("call, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_training_input(call, message):
    with pytest.raises(ShapeError, match=message):
        call()
