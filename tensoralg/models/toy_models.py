"""An induction-head model written down from formulas, with no training (CLAIMS C18).

Two attention-only layers with one head each. The residual stream (d_model = 3V + n for
V = n_vocab, n = n_ctx) is split into four blocks of basis vectors:

    tok(t)   the current token            (written by W_E:   W_E e_t = tok(t))
    pos(i)   the position                 (written by W_pos: W_pos e_i = pos(i))
    prev(t)  the previous token           (written by head L0H0)
    out(t)   the predicted next token     (written by head L1H0, read by W_U: W_U out(t) = α e_t)

Both heads have d_head = max(V + 1, n) and use the head-space basis u_0, u_1, …

* L0H0, the previous-token head. Query W_Q pos(i) = β u_i, key W_K pos(j) = u_{σ(j)} with
  σ(j) = j + 1, so the score of destination i on source j is β·[σ(j) = i] = β·[j = i − 1]
  (C15: only this positional term matters). Value W_V tok(t) = u_t, output W_O u_t = prev(t),
  so W_OV = Σ_t prev(t) tok(t)ᵀ moves the source token into the prev block.
* L1H0, the induction head. Query W_Q tok(t) = β (u_t + u_c), key W_K prev(t) = u_t and
  W_K pos(0) = −u_c: the score of i on j is β·([t_i = t_{j−1}] − [j = 0]), large when
  t_i = t_{j−1}. (Position 0 has no predecessor; L0H0 attends to itself there and writes its
  own token into prev, so position 0's key is pushed down by β.) The key reads only what
  L0H0 wrote, so the head works by K-composition: W_Eᵀ W_QK W_OV^{L0H0} W_E = β·I (same
  matching), while its direct term W_Eᵀ W_QK W_E = 0. Value W_V tok(t) = u_t, output
  W_O u_t = out(t): W_U W_OV W_E = α·I, copying score 1.

On [a][b] … [a], L1H0 at the second [a] attends to the position of [b] (its prev block holds a)
and writes out(b), raising logit b.
``score_scale`` is 1 (β is the sharpness). Passing ``previous_source`` replaces σ by another map,
which is how the must-fail twin (:func:`scrambled_induction_model`) is built.

>>> model = induction_model(n_vocab=4, n_ctx=6)
>>> from tensoralg.models.model import forward
>>> run = forward(model, np.array([2, 0, 3, 1, 2]))
>>> int(run.patterns[0][0, 3].argmax()), int(run.patterns[1][0, 4].argmax()), int(run.logits[4].argmax())
(2, 1, 0)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ArchitectureError
from .model import AttentionLayer, Model


def _two_layer_model(d_model: int, tok: np.ndarray, pos: np.ndarray, out: np.ndarray, logit_scale: float,
                     *layers: tuple[np.ndarray, ...]) -> Model:
    """A hand-built model on residual blocks: W_E puts token t at tok(t), W_pos position i at pos(i),
    and W_U reads token t's logit α·out(t); ``layers`` are (W_Q, W_K, W_V, W_O) per layer."""
    V, n = len(tok), len(pos)
    W_E = np.zeros((d_model, V))
    W_E[tok, np.arange(V)] = 1.0
    W_pos = np.zeros((d_model, n))
    W_pos[pos, np.arange(n)] = 1.0
    W_U = np.zeros((V, d_model))
    W_U[np.arange(V), out] = logit_scale
    return Model(W_E, W_U, tuple(AttentionLayer(*layer) for layer in layers), W_pos=W_pos, score_scale=1.0)


def induction_model(
    n_vocab: int = 12,
    n_ctx: int = 16,
    *,
    sharpness: float = 10.0,
    logit_scale: float = 1.0,
    previous_source: Sequence[int] | None = None,
) -> Model:
    """The C18 model above. ``previous_source[j]`` is σ(j), the destination that source j's key
    answers (default j + 1; a value ≥ n_ctx means "none")."""
    if n_vocab < 2 or n_ctx < 2:
        raise ArchitectureError(f"the induction model needs n_vocab ≥ 2 and n_ctx ≥ 2; got {n_vocab}, {n_ctx}")
    sigma = np.arange(1, n_ctx + 1) if previous_source is None else np.asarray(previous_source, dtype=int)
    if sigma.shape != (n_ctx,) or sigma.min() < 0:
        raise ArchitectureError(f"previous_source must give one non-negative position per position (n_ctx = {n_ctx}); got {sigma.tolist()}")
    V, n = n_vocab, n_ctx
    d_model, d_head = 3 * V + n, max(V + 1, n)
    tok, pos, prev, out = np.arange(V), V + np.arange(n), V + n + np.arange(V), 2 * V + n + np.arange(V)
    tokens, positions = np.arange(V), np.arange(n)

    def head() -> tuple[np.ndarray, ...]:
        return np.zeros((1, d_head, d_model)), np.zeros((1, d_head, d_model)), np.zeros((1, d_head, d_model)), np.zeros((1, d_model, d_head))

    Q0, K0, V0, O0 = head()
    Q0[0, positions, pos] = sharpness
    answered = sigma < n
    K0[0, sigma[answered], pos[answered]] = 1.0
    V0[0, tokens, tok] = 1.0
    O0[0, prev, tokens] = 1.0

    Q1, K1, V1, O1 = head()
    Q1[0, tokens, tok] = sharpness
    Q1[0, V, tok] = sharpness  # u_c = u_V: a constant query direction
    K1[0, tokens, prev] = 1.0
    K1[0, V, pos[0]] = -1.0
    V1[0, tokens, tok] = 1.0
    O1[0, out, tokens] = 1.0

    return _two_layer_model(d_model, tok, pos, out, logit_scale, (Q0, K0, V0, O0), (Q1, K1, V1, O1))


def scrambled_induction_model(rng: np.random.Generator, n_vocab: int = 12, n_ctx: int = 16, **kwargs) -> Model:
    """The must-fail twin: the same model with L0H0's positional keys permuted at random
    (σ a random permutation), so it no longer attends to the previous token."""
    return induction_model(n_vocab, n_ctx, previous_source=rng.permutation(n_ctx), **kwargs)


def q_composition_induction_model(n_vocab: int = 8, n_ctx: int = 12, *, sharpness: float = 10.0,
                                  logit_scale: float = 1.0) -> Model:
    """An induction head by the other route, Q-composition with a same-token head (no training).

    Residual blocks tok(t), pos(i), src(i) (the position L0H0 found), out(t); d_model = 2V + 2n.

    * L0H0, a same-token head: query W_Q tok(t) = β u_t and W_Q pos(i) = β w_i, key W_K tok(t) = u_t
      and W_K pos(j) = −w_j, so the score of i on j is β([t_i = t_j] − [i = j]): the earlier
      occurrences of the current token. W_OV pos(j) = src(j) writes where it looked.
    * L1H0: query W_Q src(j) = β w_{j+1}, key W_K pos(k) = w_k, so a query holding src(j) attends to
      position j + 1, the token after the earlier occurrence: its queries read what L0H0 wrote
      (Q-composition). W_OV tok(t) = out(t) and W_U out(t) = α e_t copy the attended token.

    The positional circuit W_posᵀ W_OV^{0,0}ᵀ W_QK^{1,0} W_pos is β·[k = j + 1] and the token QK
    circuit of L0H0 is β·Id (same matching 1); no head attends to the previous position.

    >>> from tensoralg.models.model import forward
    >>> run = forward(q_composition_induction_model(n_vocab=4, n_ctx=6), np.array([2, 0, 3, 1, 2]))
    >>> int(run.patterns[0][0, 4].argmax()), int(run.patterns[1][0, 4].argmax()), int(run.logits[4].argmax())
    (0, 1, 0)
    """
    if n_vocab < 2 or n_ctx < 2:
        raise ArchitectureError(f"the induction model needs n_vocab ≥ 2 and n_ctx ≥ 2; got {n_vocab}, {n_ctx}")
    V, n = n_vocab, n_ctx
    d_model, d_head = 2 * V + 2 * n, V + n
    tok, pos, src, out = np.arange(V), V + np.arange(n), V + n + np.arange(n), V + 2 * n + np.arange(V)
    tokens, positions = np.arange(V), np.arange(n)
    shape_in, shape_out = (1, d_head, d_model), (1, d_model, d_head)
    Q0, K0, V0, O0 = np.zeros(shape_in), np.zeros(shape_in), np.zeros(shape_in), np.zeros(shape_out)
    Q0[0, tokens, tok] = sharpness
    K0[0, tokens, tok] = 1.0
    Q0[0, V + positions, pos] = sharpness
    K0[0, V + positions, pos] = -1.0
    V0[0, positions, pos] = 1.0
    O0[0, src, positions] = 1.0
    Q1, K1, V1, O1 = np.zeros(shape_in), np.zeros(shape_in), np.zeros(shape_in), np.zeros(shape_out)
    Q1[0, positions[1:], src[:-1]] = sharpness  # src(j) → w_{j+1}
    K1[0, positions, pos] = 1.0
    V1[0, tokens, tok] = 1.0
    O1[0, out, tokens] = 1.0
    return _two_layer_model(d_model, tok, pos, out, logit_scale, (Q0, K0, V0, O0), (Q1, K1, V1, O1))
