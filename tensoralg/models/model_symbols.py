"""The standard symbols of CLAIMS.md bound to a numeric model, so any expression evaluates on it.

On a model run on n tokens, the spaces take the sizes n_ctx = n, d_model, d_head,
n_vocab, and the symbols the values

    W_E, W_U, W_pos[:, :n]        the embeddings (W_pos only if the model has one)
    t                             the one-hot tokens, n × n_vocab
    A^{l,h}                       head (l, h)'s softmax pattern, or the frozen one given
    W_Q^{l,h} … W_O^{l,h}         its weights, and W_OV^{l,h} = W_O W_V, W_QK^{l,h} = W_Qᵀ W_K

so that evaluate(Apply(T, t), symbol_values(model, tokens)) is T·t on that model.

>>> import numpy as np
>>> from tensoralg.algebra.evaluate import evaluate
>>> from tensoralg.algebra.expr import Apply, Identity, Tensor, atom
>>> from tensoralg.models.model import forward, random_model
>>> from tensoralg.algebra.symbols import standard_symbol as s
>>> model = random_model(np.random.default_rng(0), heads=(), n_vocab=5)
>>> tokens = np.array([1, 4, 2])
>>> bigram = Apply(Tensor((Identity("n_ctx"), atom(s("W_U")) @ atom(s("W_E")))), atom(s("t")))
>>> bool(np.allclose(evaluate(bigram, symbol_values(model, tokens)), forward(model, tokens).logits))
True
>>> symbol_values(model, np.array([1, 9]))
Traceback (most recent call last):
...
tensoralg.errors.ShapeError: tokens must lie in [0, 5); got 1..9
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .model import Model, forward, one_hot
from ..algebra.symbols import Symbol, standard_symbol


def symbol_values(
    model: Model, tokens: np.ndarray, patterns: Sequence[np.ndarray] | None = None
) -> dict[Symbol, np.ndarray]:
    """Values of the standard symbols on ``model`` and ``tokens``; ``patterns`` (one
    n_heads × n × n array per layer) replaces the model's own softmax patterns."""
    # The forward pass validates the tokens and any frozen patterns (count and shapes).
    patterns = forward(model, tokens, patterns).patterns
    tokens = np.asarray(tokens)
    values: dict[Symbol, np.ndarray] = {
        standard_symbol("W_E"): model.W_E,
        standard_symbol("W_U"): model.W_U,
        standard_symbol("t"): one_hot(tokens, model.n_vocab),
    }
    if model.W_pos is not None:
        values[standard_symbol("W_pos")] = model.W_pos[:, : tokens.size]
    for l, layer in enumerate(model.layers):
        per_head = {"W_Q": layer.W_Q, "W_K": layer.W_K, "W_V": layer.W_V, "W_O": layer.W_O,
                    "W_OV": layer.W_OV, "W_QK": layer.W_QK, "A": patterns[l]}
        for h in range(layer.n_heads):
            for name, stack in per_head.items():
                values[standard_symbol(name, l, h)] = stack[h]
    return values
