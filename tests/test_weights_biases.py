"""Biases keep their axes between the namings: only matrices are transposed (W_TL = Wᵀ)."""

from __future__ import annotations

import numpy as np

from tensoralg.models.model import random_model
from tensoralg.models.weights import model_arrays, to_tensoralg, to_transformer_lens

BIASES = {  # tensoralg key → TransformerLens key, for layer 0
    "layers.0.b_Q": "blocks.0.attn.b_Q",
    "layers.0.b_K": "blocks.0.attn.b_K",
    "layers.0.b_V": "blocks.0.attn.b_V",
    "layers.0.b_O": "blocks.0.attn.b_O",
    "b_U": "unembed.b_U",
}


def test_biases_convert_without_transposition():
    # n_heads = 3 ≠ d_head = 2, so a transposed bias would have another shape.
    rng = np.random.default_rng(0)
    ours = model_arrays(random_model(rng, heads=(3,), d_model=5, d_head=2, n_vocab=4))
    ours |= {"layers.0.b_Q": rng.normal(size=(3, 2)), "layers.0.b_K": rng.normal(size=(3, 2)),
             "layers.0.b_V": rng.normal(size=(3, 2)), "layers.0.b_O": rng.normal(size=5), "b_U": rng.normal(size=4)}
    theirs = to_transformer_lens(ours)
    for key, tl_key in BIASES.items():
        assert np.array_equal(theirs[tl_key], ours[key]), key
    back = to_tensoralg(theirs)
    for key in BIASES:
        assert np.array_equal(back[key], ours[key]), key


def test_layer_norm_epsilon_defaults_to_1e_5():
    from tensoralg.models.weights import model_from_arrays

    model = random_model(np.random.default_rng(0), heads=(1,), layer_norm=True, layer_norm_weights=True)
    arrays = model_arrays(model)
    arrays.pop("config.ln_eps", None)
    assert model_from_arrays(arrays).ln_eps == 1e-5
