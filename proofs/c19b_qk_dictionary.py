"""C19b — A trained QK dictionary: the masked feature map on a model with a known induction head.

The dictionary shipped with the package (``tensoralg qk-dictionary``: query and key transcoders
trained on the pattern KL, then a mask over M[p, r, h] = ⟨D_Q[:, p]_h, D_K[:, r]_h⟩ trained
with an L0.5 penalty) decomposes the layer of the model's induction head. On it:

* with the mask all ones, a_Q M a_Kᵀ + 𝟙 b_Qᵀ D_K a_Kᵀ + a_Q D_Qᵀ b_K 𝟙ᵀ + b_Qᵀ b_K 𝟙𝟙ᵀ = q̂ k̂ᵀ
  exactly: both sides computed over ℚ from the stored float64 values (every float is a
  rational), on one sequence of the corpus (C19 for the trained weights);
* the pattern KL with the trained, pruned mask is within 0.01 nats per head and position of
  the transcoders' own (held-out repeated-segment sequences);
* on the induction head (found from the weights: :func:`tensoralg.models.induction.induction_evidence`)
  the top surviving feature pair reads "current token is X" × "previous token was X".

Derivation (the scores the mask is trained on): a_Q M a_Kᵀ + 𝟙 b_Qᵀ D_K a_Kᵀ = q̂ (k̂ − 𝟙 b_Kᵀ)ᵀ,
the transcoders' scores up to the per-row term q̂ b_K 𝟙ᵀ, which drops out of the pattern (C15).

NEGATIVE: the mask trained with the source positions shuffled (a_K of a random permutation of
the positions) reconstructs the pattern within the same bound — refuted; the feature map built
from swapped decoders, M' = D_Kᵀ D_Q, reproduces the scores — refuted.

>>> CLAIM.id
'C19b'
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from tensoralg.algebra.expr import atom
from tensoralg.algebra.symbols import declared_symbol
from tensoralg.models.circuits import head_weights
from tensoralg.models.induction import induction_evidence, previous_token_evidence
from tensoralg.models.qk_dictionary import QKDictionary, load_model, read_dictionary, shipped_dictionaries
from tensoralg.models.qk_features import feature_pairs, mechanism, read_features
from tensoralg.models.qk_metrics import layer_data, pattern_kl, repeated_segment_tokens
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step

#: KL(masked) − KL(transcoders) may not exceed this (nats per head and destination position).
KL_BOUND = 0.01
#: The shipped dictionary checked, by preference (the first one present).
PREFERRED = ("qk-attn-only-2l-L1", "qk-c18-induction-L1")


def _m(name: str, rows: str, cols: str):
    return atom(declared_symbol(name, rows, cols))


a_Q, a_K = _m("a_Q", "n_ctx", "f_Q"), _m("a_K", "n_ctx", "f_K")
D_Q, D_K = _m("D_Q", "d_head", "f_Q"), _m("D_K", "d_head", "f_K")
b_Q, b_K = _m("b_Q", "d_head", "unit"), _m("b_K", "d_head", "unit")
e = _m("e", "n_ctx", "unit")
M = _m("M", "f_Q", "f_K")
Q_hat, K_hat = _m("Q̂", "n_ctx", "d_head"), _m("K̂", "n_ctx", "d_head")


def derive() -> list[Derivation]:
    return [
        Derivation("the masked scores with mask 𝟙 and the key-bias term", [
            Step(a_Q @ M @ a_K.T + e @ b_Q.T @ D_K @ a_K.T),
            Step((a_Q @ D_Q.T + e @ b_Q.T) @ D_K @ a_K.T, "M := D_Qᵀ D_K; factor D_K a_Kᵀ", given={M.symbol: D_Q.T @ D_K}),
            Step(Q_hat @ (K_hat - e @ b_K.T).T, "Q̂ := a_Q D_Qᵀ + 𝟙b_Qᵀ, K̂ := a_K D_Kᵀ + 𝟙b_Kᵀ",
                 given={Q_hat.symbol: a_Q @ D_Q.T + e @ b_Q.T, K_hat.symbol: a_K @ D_K.T + e @ b_K.T}),
        ]),
    ]


@lru_cache(maxsize=1)
def _subject() -> tuple[str, QKDictionary]:
    shipped = shipped_dictionaries()
    name = next(n for n in PREFERRED if n in shipped)
    return name, read_dictionary(shipped[name])


def _model(dictionary: QKDictionary):
    return load_model(dictionary.model)[0]


def _data(rng: np.random.Generator, sequences: int = 32):
    name, dictionary = _subject()
    model = _model(dictionary)
    tokens = repeated_segment_tokens(rng, model.n_vocab, model.n_ctx, sequences)
    return dictionary, model, layer_data(model, tokens, dictionary.layer)


def _exact(array: np.ndarray):
    from flint import fmpq, fmpq_mat

    array = np.atleast_2d(array)
    return fmpq_mat(array.shape[0], array.shape[1], [fmpq(*float(v).as_integer_ratio()) for v in array.ravel()])


def _exact_scores(swapped: bool):
    """Mask-ones four-term scores against q̂ k̂ᵀ over ℚ, every head, one sequence of 8 positions."""

    def check(rng: np.random.Generator) -> Mismatch | None:
        dictionary, _, data = _data(rng, sequences=1)
        a_q, a_k = (a[0, :8] for a in dictionary.encode(data.residuals[:1]))
        aq, ak = _exact(a_q), _exact(a_k)
        ones = _exact(np.ones((a_q.shape[0], 1)))
        h, e_ = dictionary.n_heads, dictionary.d_head
        for head in range(h):
            rows = slice(head * e_, (head + 1) * e_)
            dq, dk = _exact(dictionary.D_Q[rows]), _exact(dictionary.D_K[rows])
            bq, bk = _exact(dictionary.b_Q[rows][:, None]), _exact(dictionary.b_K[rows][:, None])
            fmap = dk.transpose() * dq if swapped else dq.transpose() * dk
            four = aq * fmap * ak.transpose() + ones * (bq.transpose() * dk * ak.transpose()) \
                + (aq * dq.transpose() * bk) * ones.transpose() + ones * (bq.transpose() * bk) * ones.transpose()
            q_hat = aq * dq.transpose() + ones * bq.transpose()
            k_hat = ak * dk.transpose() + ones * bk.transpose()
            exact = q_hat * k_hat.transpose()
            for i in range(exact.nrows()):
                for j in range(exact.ncols()):
                    if four[i, j] != exact[i, j]:
                        return Mismatch(float(four[i, j].p) / float(four[i, j].q), float(exact[i, j].p) / float(exact[i, j].q),
                                        note=f"{_subject()[0]}, head {head}: four-term score vs q̂ k̂ᵀ",
                                        entry=(head, i, j), field="Q")
        return None

    return check


def _kl_gap(mask_name: str):
    def trial(rng: np.random.Generator) -> Mismatch | None:
        dictionary, _, data = _data(rng)
        masked = dictionary.masked_pattern(data.residuals, getattr(dictionary, mask_name))
        kl_masked = float(pattern_kl(data.patterns, masked))
        kl_transcoder = float(pattern_kl(data.patterns, dictionary.transcoder_pattern(data.residuals)))
        if kl_masked - kl_transcoder > KL_BOUND:
            return Mismatch(f"KL {mask_name} {kl_masked:.4f}", f"≤ KL transcoders {kl_transcoder:.4f} + {KL_BOUND}",
                            note=_subject()[0], field="float64")
        return None

    return trial


def _induction_pair(rng: np.random.Generator) -> Mismatch | None:
    dictionary, model, data = _data(rng)
    heads = head_weights(model)
    found = [e.head for e in induction_evidence(heads, previous=previous_token_evidence(heads)) if e.is_candidate]
    ours = [h for (layer, h) in found if layer == dictionary.layer]
    if not ours:
        return Mismatch("no induction head", f"an induction head in layer {dictionary.layer}", note=_subject()[0])
    a_q, a_k = dictionary.encode(data.residuals)
    readings_q, readings_k = read_features(a_q, data.tokens), read_features(a_k, data.tokens)
    pairs = [p for p in feature_pairs(dictionary, data.residuals, data.patterns) if p.q is not None and p.head in ours]
    top = pairs[0]
    label = mechanism(readings_q[top.q], readings_k[top.k])
    if label != "induction":
        q, k = readings_q[top.q], readings_k[top.k]
        return Mismatch(f"Q{top.q} reads {q.kind} {q.values}, K{top.k} reads {k.kind} {k.values}",
                        "current token X × previous token X", note=f"{_subject()[0]} head {top.head}")
    return None


def check(ctx: Context) -> list[Check]:
    name = _subject()[0]
    return [
        ctx.instances(f"{name}: a_Q (M ⊙ 𝟙) a_Kᵀ + 𝟙b_Qᵀ D_K a_Kᵀ + a_Q D_Qᵀ b_K 𝟙ᵀ + b_Qᵀ b_K = q̂ k̂ᵀ over ℚ",
                      _exact_scores(swapped=False), trials=1),
        ctx.instances(f"{name}: KL(A ‖ masked) ≤ KL(A ‖ transcoders) + {KL_BOUND}", _kl_gap("mask"),
                      method="numeric", trials=2),
        ctx.instances(f"{name}: the top surviving pair of the induction head is current token X × previous token X",
                      _induction_pair, method="numeric", trials=2),
    ]


def refute(ctx: Context) -> list[Check]:
    name = _subject()[0]
    return [
        ctx.instances(f"{name}: the mask trained on shuffled positions: KL ≤ KL(transcoders) + {KL_BOUND}",
                      _kl_gap("mask_shuffled"), method="numeric", trials=2),
        ctx.instances(f"{name}: swapped decoders: a_Q (D_Kᵀ D_Q) a_Kᵀ + … = q̂ k̂ᵀ over ℚ", _exact_scores(swapped=True), trials=1),
    ]


CLAIM = Claim(
    "C19b",
    "A trained QK dictionary",
    "mask 𝟙 reproduces q̂ k̂ᵀ exactly; the L0.5-pruned mask keeps the pattern KL within 0.01; "
    "the induction head's top pair is current token X × previous token X",
    r"a_Q (M \odot \mathbb{1}) a_K^\top + \mathbb{1} b_Q^\top D_K a_K^\top + \dots = \hat q \hat k^\top,\quad"
    r"\mathrm{KL}_{\text{mask}} \le \mathrm{KL}_{\text{transcoders}} + 0.01",
    derive=derive,
    check=check,
    refute=refute,
)
