"""Evaluation figures of a model on held-out text from its generator (numpy, tensoralg's forward pass).

Per kind of position (:data:`tensoralg.training.data.KIND_NAMES`), the mean next-token loss
−log p(x_{i+1}) in nats; the induction gap, loss on second copies minus loss on first copies
(first copies are unpredictable random tokens, ≈ ln n_vocab); and at planted-trigram positions
the model's mean probability of the planted c beside the two references: the background chain's
P(c | b) and the generator's own P(c | a … b) = fire + (1 − fire)·P(c | b).

>>> from tensoralg.models.model import random_model
>>> grammar = Grammar.build(DataConfig(n_vocab=16, n_ctx=12, n_triples=2, repeat=1.0, segment=(2, 4)))
>>> model = random_model(np.random.default_rng(0), (1,), d_model=8, n_vocab=16, n_ctx=12, positional=True)
>>> figures = evaluate(model, grammar, np.random.default_rng(0), sequences=8)
>>> sorted(figures["loss"])[:3]
['all', 'first copy', 'later copy']
"""

from __future__ import annotations

import numpy as np

from ..models.model import Model, forward
from .data import FIRST, KIND_NAMES, SECOND, TRIGRAM, Batch, DataConfig, Grammar  # noqa: F401 (the doctest)


def log_probabilities(model: Model, tokens: np.ndarray) -> np.ndarray:
    """B × (n − 1) × n_vocab: log softmax(logits_i) for the predictions i < n − 1 of each sequence."""
    out = np.empty((tokens.shape[0], tokens.shape[1] - 1, model.n_vocab))
    for row, sequence in enumerate(tokens):
        logits = forward(model, sequence).logits[:-1]
        z = logits - logits.max(axis=-1, keepdims=True)
        out[row] = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return out


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 5) if values.size else None


def evaluate_batch(model: Model, grammar: Grammar, batch: Batch) -> dict:
    """The figures of the module docstring on one batch."""
    log_probs = log_probabilities(model, batch.tokens)
    losses = -np.take_along_axis(log_probs, batch.tokens[:, 1:, None], axis=-1)[..., 0]
    figures: dict = {"sequences": int(batch.tokens.shape[0]), "loss": {"all": _mean(losses)}, "positions": {}}
    for kind, name in enumerate(KIND_NAMES):
        figures["loss"][name] = _mean(losses[batch.kinds == kind])
        figures["positions"][name] = int((batch.kinds == kind).sum())
    first, second = figures["loss"][KIND_NAMES[FIRST]], figures["loss"][KIND_NAMES[SECOND]]
    figures["induction_gap"] = None if first is None or second is None else round(second - first, 5)
    where = batch.kinds == TRIGRAM
    if where.any():
        b = batch.tokens[:, :-1][where]
        c = batch.planted[where]
        background = grammar.chain[b, c]
        figures["planted_trigram"] = {
            "model_probability_of_c": _mean(np.exp(log_probs[where, c])),
            "background_probability_of_c": _mean(background),
            "generator_probability_of_c": _mean(grammar.config.fire + (1 - grammar.config.fire) * background),
        }
    return figures


def evaluate(model: Model, grammar: Grammar, rng: np.random.Generator, sequences: int = 256) -> dict:
    """The figures on ``sequences`` fresh sequences drawn with ``rng``."""
    return evaluate_batch(model, grammar, grammar.sample(rng, sequences))
