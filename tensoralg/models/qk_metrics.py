"""What a QK dictionary is judged by: pattern KL, the model's loss with a pattern patched in,
L0, surviving feature pairs and the share of the pattern carried by b_Qᵀ D_K a_K.

* Pattern KL of a layer: the mean over sequences, heads and destination positions i of
  KL(A_i ‖ Â_i) = Σ_{j≤i} A[i, j] log(A[i, j] / Â[i, j]).
* Patched loss: the mean next-token cross-entropy −log softmax(logits_i)[t_{i+1}] when layer L's
  pattern is replaced (all heads) and every later layer recomputes its own from the patched
  stream; "zero-ablated" patches in A = 0 (the layer's heads write nothing).
* Omitted-bias share: by C15 only the row-centred scores S − (1/(i+1)) Σ_{j≤i} S[i, j] reach
  the pattern, so the share of b_Qᵀ D_K a_K is ‖centre(b_Qᵀ D_K a_K)‖_F / ‖centre(q̂ k̂ᵀ)‖_F.

The corpus is random tokens with a repeated segment (where induction heads act): each sequence
draws a length T ∈ [2, n/2] and an offset s and sets t[s+T : s+2T] = t[s : s+T].

>>> tokens = repeated_segment_tokens(np.random.default_rng(0), n_vocab=5, n_ctx=8, sequences=3)
>>> tokens.shape, int(tokens.max()) < 5
((3, 8), True)
>>> p = np.array([[1.0, 0.0], [0.5, 0.5]])
>>> float(pattern_kl(p, p)), round(float(pattern_kl(p, np.array([[1.0, 0.0], [0.25, 0.75]]))), 4)
(0.0, 0.0719)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from .model import Model, causal_softmax, forward, layer_norm
from .qk_dictionary import QKDictionary


def repeated_segment_tokens(rng: np.random.Generator, n_vocab: int, n_ctx: int, sequences: int) -> np.ndarray:
    """``sequences`` × ``n_ctx`` uniform random tokens, each with one segment repeated right after itself."""
    if n_ctx < 4 or n_vocab < 2 or sequences < 1:
        raise ShapeError(f"a repeated-segment corpus needs n_ctx ≥ 4, n_vocab ≥ 2, sequences ≥ 1; got {n_ctx}, {n_vocab}, {sequences}")
    tokens = rng.integers(0, n_vocab, size=(sequences, n_ctx))
    for row in tokens:
        length = int(rng.integers(2, n_ctx // 2 + 1))
        start = int(rng.integers(0, n_ctx - 2 * length + 1))
        row[start + length:start + 2 * length] = row[start:start + length]
    return tokens


@dataclass(frozen=True, eq=False)
class LayerData:
    """A corpus run through the model, seen from ``layer``: residuals entering it (B × n × d_model),
    its true patterns (B × n_head × n × n), its queries and keys with biases (B × n_head × n × d_head)."""

    tokens: np.ndarray
    layer: int
    residuals: np.ndarray
    patterns: np.ndarray
    queries: np.ndarray
    keys: np.ndarray


def layer_data(model: Model, tokens: np.ndarray, layer: int) -> LayerData:
    """Run every sequence of ``tokens`` (B × n) and keep what layer ``layer`` reads and computes."""
    tokens = np.asarray(tokens)
    if not 0 <= layer < len(model.layers):
        raise ShapeError(f"layer {layer} does not exist: the model has {len(model.layers)} layers (0…{len(model.layers) - 1})")
    if tokens.ndim != 2:
        raise ShapeError(f"tokens must be sequences × positions; got shape {tokens.shape}")
    runs = [forward(model, row) for row in tokens]
    residuals = np.stack([r.residuals[layer] for r in runs])
    attention = model.layers[layer]
    read = layer_norm(residuals, model.ln_eps, model.ln1[layer]) if model.layer_norm else residuals  # LN(x) = γ ⊙ n(x) + β
    q = np.einsum("bnd,hed->bhne", read, attention.W_Q)
    k = np.einsum("bnd,hed->bhne", read, attention.W_K)
    if attention.b_Q is not None:
        q = q + attention.b_Q[:, None, :]
    if attention.b_K is not None:
        k = k + attention.b_K[:, None, :]
    return LayerData(tokens, layer, residuals, np.stack([r.patterns[layer] for r in runs]), q, k)


def pattern_kl(true: np.ndarray, approx: np.ndarray, axis: tuple[int, ...] | None = None) -> np.ndarray:
    """Mean over rows (all axes but the last, or all but ``axis`` kept) of Σ_j p log(p / q), 0 log 0 = 0."""
    true, approx = np.asarray(true, float), np.asarray(approx, float)
    if true.shape != approx.shape:
        raise ShapeError(f"patterns of shapes {true.shape} and {approx.shape} cannot be compared")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(true > 0, true * (np.log(np.where(true > 0, true, 1.0)) - np.log(np.maximum(approx, 1e-300))), 0.0)
    rows = terms.sum(axis=-1)
    if axis is None:
        return rows.mean()
    return rows.mean(axis=tuple(a for a in range(rows.ndim) if a not in axis))


def patched_loss(model: Model, tokens: np.ndarray, layer: int, patterns: np.ndarray | None) -> float:
    """Mean next-token cross-entropy with layer ``layer``'s patterns (B × n_head × n × n) patched in
    (None: the model's own); later layers recompute their patterns from the patched stream."""
    losses = []
    for b, row in enumerate(np.asarray(tokens)):
        run = forward(model, row)
        if patterns is not None:
            frozen = list(run.patterns)
            frozen[layer] = patterns[b]
            # pass k makes layer layer+k's pattern that of the patched stream
            for _ in range(layer + 1, len(model.layers)):
                scores = forward(model, row, patterns=frozen).scores
                frozen = frozen[:layer + 1] + [causal_softmax(model.score_scale * s) for s in scores[layer + 1:]]
            run = forward(model, row, patterns=frozen)
        logits = run.logits[:-1]
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        losses.append(-log_probs[np.arange(row.size - 1), row[1:]].mean())
    return float(np.mean(losses))


def centre_rows(scores: np.ndarray) -> np.ndarray:
    """S[i, j] − mean_{j' ≤ i} S[i, j'] on the causal entries j ≤ i, 0 above the diagonal (C15's quotient)."""
    n = scores.shape[-1]
    causal = np.tril(np.ones((n, n), dtype=bool))
    mean = np.where(causal, scores, 0.0).sum(axis=-1, keepdims=True) / np.arange(1, n + 1)[:, None]
    return np.where(causal, scores - mean, 0.0)


def key_bias_share(dictionary: QKDictionary, residuals: np.ndarray) -> float:
    """‖centre(b_Qᵀ D_K a_K)‖_F / ‖centre(q̂ k̂ᵀ)‖_F: the part of the pattern-relevant scores carried by the term the post omits."""
    terms = dictionary.score_terms(residuals, np.ones(dictionary.feature_map().shape))
    total = np.linalg.norm(centre_rows(terms.total))
    return float(np.linalg.norm(centre_rows(terms.key_bias)) / total) if total > 0 else 0.0


def surviving_pairs(mask: np.ndarray) -> dict:
    """Nonzero mask entries: total, per head, and their fraction of all entries."""
    alive = mask != 0
    return {"surviving": int(alive.sum()), "entries": int(alive.size), "fraction": float(alive.mean()),
            "per_head": [int(n) for n in alive.sum(axis=(0, 1))]}


def evaluate(dictionary: QKDictionary, model: Model, data: LayerData) -> dict:
    """Every figure of the dictionary on ``data`` (JSON-ready): L0 and live features per encoder,
    pattern KL (transcoders; each mask; without b_Qᵀ D_K a_K), patched losses, the omitted-bias share."""
    if data.layer != dictionary.layer:
        raise ShapeError(f"the data are layer {data.layer}'s; the dictionary is for layer {dictionary.layer}")
    x = data.residuals
    acts = dictionary.encode(x)
    ones = np.ones(dictionary.feature_map().shape)
    transcoder = dictionary.transcoder_pattern(x)
    patterns = {
        "transcoder": transcoder,
        "transcoder_without_bias_term": dictionary.masked_pattern(x, ones, query_bias_term=False, acts=acts),
    }
    if dictionary.mask is not None:
        patterns["masked"] = dictionary.masked_pattern(x, acts=acts)
    if dictionary.mask_without_bias_term is not None:
        patterns["masked_without_bias_term"] = dictionary.masked_pattern(
            x, dictionary.mask_without_bias_term, query_bias_term=False, acts=acts)
    if dictionary.mask_shuffled is not None:
        patterns["mask_shuffled"] = dictionary.masked_pattern(x, dictionary.mask_shuffled, acts=acts)
    report = {
        "layer": dictionary.layer, "d_hidden": list(dictionary.d_hidden), "sequences": int(x.shape[0]),
        "l0": {side: float((a > 0).sum(axis=-1).mean()) for side, a in zip("QK", acts)},
        "live": {side: int((a > 0).any(axis=(0, 1)).sum()) for side, a in zip("QK", acts)},
        "kl": {name: float(pattern_kl(data.patterns, p)) for name, p in patterns.items()},
        "kl_per_head": {name: [float(v) for v in pattern_kl(data.patterns, p, axis=(1,))] for name, p in patterns.items()},
        "key_bias_share": key_bias_share(dictionary, x),
        "pairs": {name: surviving_pairs(m) for name in ("mask", "mask_without_bias_term", "mask_shuffled")
                  if (m := getattr(dictionary, name)) is not None},
    }
    report["loss"] = {"true": patched_loss(model, data.tokens, data.layer, None),
                      "zero_ablated": patched_loss(model, data.tokens, data.layer, np.zeros_like(data.patterns))}
    for name in ("transcoder", "masked", "masked_without_bias_term"):
        if name in patterns:
            report["loss"][name] = patched_loss(model, data.tokens, data.layer, patterns[name])
    return report
