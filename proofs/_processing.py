"""Helpers of the weight-processing proofs C21–C24 (skipped by discovery: the name starts with ``_``).

* :func:`draw_checkpoint`: a catalog default model with everything processing touches — LayerNorm
  with random γ and β, biases everywhere, MLPs, positional embeddings — and a context of tokens.
* :func:`unchanged`: a numeric check's sides, a model's patterns and logits before and after a
  rewrite of its weights (or log-probabilities, for C23).

>>> model, tokens = draw_checkpoint(np.random.default_rng(0))
>>> model.layer_norm, model.ln1[0] is not None, model.layers[0].b_V is not None, model.mlps[1] is not None
(True, True, True, True)
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tensoralg.models.model import Model, forward
from tensoralg.models.processing import log_softmax
from tensoralg.verify.catalog import default_model, random_tokens

Rewrite = Callable[[Model], Model]
Run = Callable[[Model, np.ndarray], np.ndarray]


def _options(options: dict) -> dict:
    return {"layer_norm": True, "layer_norm_weights": True, "biases": True, "mlp": True, "positional": True} | options


def draw_checkpoint(rng: np.random.Generator, **options) -> tuple[Model, np.ndarray]:
    """A 2-layer model with LayerNorm (γ, β drawn), biases, MLPs and positions, and a full context of tokens."""
    model = default_model(rng, heads=(2, 2), **_options(options))
    return model, random_tokens(rng, model)


def patterns_and_logits(model: Model, tokens: np.ndarray) -> np.ndarray:
    run = forward(model, tokens)
    return np.concatenate([p.ravel() for p in run.patterns] + [run.logits.ravel()])


def patterns_and_log_probs(model: Model, tokens: np.ndarray) -> np.ndarray:
    run = forward(model, tokens)
    return np.concatenate([p.ravel() for p in run.patterns] + [log_softmax(run.logits).ravel()])


def unchanged(rewrite: Rewrite, run: Run = patterns_and_logits, **options) -> Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    """Sides (before, after) of ``run`` on a drawn checkpoint and on ``rewrite`` of it."""
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        model, tokens = draw_checkpoint(rng, **options)
        return run(model, tokens), run(rewrite(model), tokens)

    return sides


def tokens_of(**options) -> Callable[[np.random.Generator], str]:
    """The ``explain`` of a numeric check: the drawn tokens of the failing trial."""
    def explain(rng: np.random.Generator) -> str:
        _, tokens = draw_checkpoint(rng, **options)
        return f"tokens {tokens.tolist()} on the 2-layer model drawn from this seed ({', '.join(k for k, v in _options(options).items() if v)})"

    return explain
