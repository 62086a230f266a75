"""Weight processing: rewrite a checkpoint so that its circuits can be read off the matrices (C21–C24).

Each step is a pure function ``Model -> Model`` that leaves every attention pattern unchanged,
and every logit (C21, C22, C24) or every log-probability (C23) unchanged. With
n(x) = (x − μ(x)𝟙)/σ(x) the parameter-free LayerNorm, LN(x) = γ ⊙ n(x) + β, and
P = Id − 𝟙𝟙ᵀ/d_model the centring projector:

    fold_layer_norm          every reader W (W_Q, W_K, W_V, W_in, W_U) behind LN:
                             W → W diag(γ) P, b → b + W β, then γ → 𝟙, β → 0          (C21)
    center_writing_weights   every writer (W_E, W_pos, W_O, b_O, W_out, b_out) → P · itself,
                             since n(x + c𝟙) = n(x) when every reader sits behind a LayerNorm   (C22)
    center_unembed           W_U → (Id − 𝟙𝟙ᵀ/n_vocab) W_U, b_U likewise: one constant per position   (C23)
    fold_value_biases        b_O → b_O + Σ_h W_O^h b_V^h, b_V → 0 (rows of A sum to 1)             (C24)
    drop_key_biases          b_K → 0: its score terms depend on the query only (C15)             (C24)

:func:`process_weights` composes them in this order (TransformerLens's ``fold_ln``,
``center_writing_weights``, ``center_unembed``, ``fold_value_biases``, plus dropping b_K).
A step returns its input unchanged when it does not apply: the two LayerNorm steps do nothing
to a model without LayerNorm, where centring the writers would change the logits.

>>> from tensoralg.models.model import forward, random_model
>>> rng = np.random.default_rng(0)
>>> model = random_model(rng, heads=(2,), d_model=6, d_head=3, n_vocab=7, n_ctx=4, mlp=True, layer_norm=True,
...                      layer_norm_weights=True, biases=True)
>>> processed = process_weights(model)
>>> processed.ln1, processed.ln_final, processed.layers[0].b_V
((None,), None, None)
>>> tokens = np.array([1, 4, 2])
>>> before, after = forward(model, tokens).logits, forward(processed, tokens).logits
>>> bool(np.allclose(log_softmax(before), log_softmax(after)))
True
>>> bool(np.allclose(processed.W_E.mean(axis=0), 0)), bool(np.allclose(processed.W_U.mean(axis=0), 0))
(True, True)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from .model import AttentionLayer, LayerNorm, MLPLayer, Model

Step = Callable[[Model], Model]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis: logits − logsumexp(logits)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _centre_in(W: np.ndarray) -> np.ndarray:
    """W P: subtract the mean over the last (d_model) axis, the reader side."""
    return W - W.mean(axis=-1, keepdims=True)


def _centre_out(W: np.ndarray, axis: int) -> np.ndarray:
    """P W (or (Id − 𝟙𝟙ᵀ/n) W): subtract the mean over the written axis."""
    return W - W.mean(axis=axis, keepdims=True)


def _fold(W: np.ndarray, b: np.ndarray | None, norm: LayerNorm | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(W diag γ P, b + W β) for a reader W (…, out, d_model) with bias b (…, out)."""
    if norm is None:
        return _centre_in(W), b
    folded = _centre_in(W * norm.w)
    if norm.b is None:
        return folded, b
    shift = W @ norm.b
    return folded, shift if b is None else b + shift


def fold_layer_norm(model: Model) -> Model:
    """Fold every LayerNorm's γ and β into the readers behind it and centre them (C21)."""
    if not model.layer_norm:
        return model
    layers = []
    for layer, norm in zip(model.layers, model.ln1):
        (W_Q, b_Q), (W_K, b_K), (W_V, b_V) = (_fold(getattr(layer, f"W_{x}"), getattr(layer, f"b_{x}"), norm) for x in "QKV")
        layers.append(AttentionLayer(W_Q, W_K, W_V, layer.W_O, b_Q, b_K, b_V, layer.b_O))
    mlps = []
    for mlp, norm in zip(model.mlps, model.ln2):
        if mlp is None:
            mlps.append(None)
            continue
        W_in, b_in = _fold(mlp.W_in, mlp.b_in, norm)
        mlps.append(MLPLayer(W_in, mlp.W_out, b_in, mlp.b_out, mlp.activation))
    W_U, b_U = _fold(model.W_U, model.b_U, model.ln_final)
    n = len(model.layers)
    return replace(model, layers=tuple(layers), mlps=tuple(mlps), W_U=W_U, b_U=b_U,
                   ln1=(None,) * n, ln2=(None,) * n, ln_final=None)


def center_writing_weights(model: Model) -> Model:
    """Replace every writer into the residual stream by P times itself (C22); needs LayerNorm before every reader."""
    if not model.layer_norm:
        return model
    layers = tuple(
        replace(layer, W_O=_centre_out(layer.W_O, -2), b_O=None if layer.b_O is None else _centre_out(layer.b_O, -1))
        for layer in model.layers
    )
    mlps = tuple(
        None if mlp is None else replace(mlp, W_out=_centre_out(mlp.W_out, 0),
                                         b_out=None if mlp.b_out is None else _centre_out(mlp.b_out, -1))
        for mlp in model.mlps
    )
    return replace(model, W_E=_centre_out(model.W_E, 0), W_pos=None if model.W_pos is None else _centre_out(model.W_pos, 0),
                   layers=layers, mlps=mlps)


def center_unembed(model: Model) -> Model:
    """W_U → (Id − 𝟙𝟙ᵀ/n_vocab) W_U and b_U → b_U − mean(b_U): log-probabilities unchanged (C23)."""
    return replace(model, W_U=_centre_out(model.W_U, 0), b_U=None if model.b_U is None else _centre_out(model.b_U, -1))


def fold_value_biases(model: Model) -> Model:
    """b_O → b_O + Σ_h W_O^h b_V^h and b_V → 0 in every layer (C24)."""
    layers = []
    for layer in model.layers:
        if layer.b_V is None:
            layers.append(layer)
            continue
        shift = np.einsum("hdk,hk->d", layer.W_O, layer.b_V)
        layers.append(replace(layer, b_V=None, b_O=shift if layer.b_O is None else layer.b_O + shift))
    return replace(model, layers=tuple(layers))


def drop_key_biases(model: Model) -> Model:
    """b_K → 0 in every layer: (W_Q x_i + b_Q)ᵀ b_K depends on the query position only (C24, C15)."""
    return replace(model, layers=tuple(replace(layer, b_K=None) for layer in model.layers))


#: The standard processing, in the order it is applied.
STANDARD: tuple[Step, ...] = (fold_layer_norm, center_writing_weights, center_unembed, fold_value_biases, drop_key_biases)
#: Every step by name.
STEPS: dict[str, Step] = {step.__name__: step for step in STANDARD}


def process_weights(model: Model, steps: Sequence[Step] = STANDARD) -> Model:
    """Apply ``steps`` (default: all of :data:`STANDARD`) in order."""
    for step in steps:
        model = step(model)
    return model
