"""C8 — Zero layers: the model is a bigram table.

Without attention layers the residual stream is the embedding and the logits read
it out, so the model is the single term

    T = (Id⊗W_U)(Id⊗W_E) = Id⊗W_U W_E,      logits = T·t = t (W_U W_E)ᵀ.

Its positional factor is Id: no position is mixed with another, and row i of the
logits is column t_i of the n_vocab × n_vocab table B = W_U W_E — a function of
token i alone (a bigram table; with a positional embedding, of token i and position
i: the twin term Id⊗W_U W_pos adds column i of W_U W_pos). B factors through the
residual stream, so rank B ≤ d_model.

Checked: the derivation in the algebra; the path expansion of an architecture with
no layers (tensoralg.paths.expansion) is this one term; random zero-layer models give
exactly the bigram-table logits, unchanged when the other positions' tokens are
resampled; the rank bound exactly over ℚ and GF(2⁶¹ − 1) with n_vocab > d_model.
NEGATIVE: "logits at position i depend on a token j ≠ i" and rank(W_U W_E) ≤ d_model − 1
(on generic weights the bound is attained) are refuted.

>>> CLAIM.id
'C8'
"""

from __future__ import annotations

import numpy as np

from tensoralg.algebra.architecture import Architecture
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step, default_model, random_tokens
from tensoralg.paths.expansion import POSITION, TOKEN, iter_logit_terms, unexpanded_logits
from tensoralg.algebra.expr import Apply, Identity, Tensor, atom, sum_of
from tensoralg.models.model import forward
from tensoralg.proofs._shared import rank_bounded
from tensoralg.algebra.symbols import standard_symbol

W_E, W_U, W_pos, t = (atom(standard_symbol(n)) for n in ("W_E", "W_U", "W_pos", "t"))
Id = Identity("n_ctx")
ZERO_LAYERS = Architecture((), positional=True)


def derive() -> list[Derivation]:
    return [
        Derivation("embed, then unembed", [
            Step(Apply(Tensor((Id, W_U)), Apply(Tensor((Id, W_E)), t))),
            Step(t @ W_E.T @ W_U.T, "(Id⊗W)·X = X Wᵀ, twice"),
            Step(t @ (W_U @ W_E).T, "(W_U W_E)ᵀ = W_Eᵀ W_Uᵀ"),
            Step(Apply(Tensor((Id, W_U @ W_E)), t), "(Id⊗B)·t = t Bᵀ"),
        ]),
        Derivation("the operator is one term", [
            Step(Tensor((Id, W_U)) @ Tensor((Id, W_E))),
            Step(Tensor((Id @ Id, W_U @ W_E)), "mixed product (A⊗B)(C⊗D) = AC⊗BD"),
            Step(Tensor((Id, W_U @ W_E)), "Id Id = Id"),
        ]),
        Derivation("the positional twin", [
            Step(Apply(Tensor((Id, W_U)), Apply(Tensor((Id, W_pos)), Id))),
            Step(Apply(Tensor((Id, W_U @ W_pos)), Id), "mixed product"),
            Step((W_U @ W_pos).T, "(Id⊗M)·Id = Mᵀ: row i is column i of W_U W_pos"),
        ]),
    ]


def _terms(source: str) -> list:
    return [term.expr for term in iter_logit_terms(ZERO_LAYERS) if term.source == source]


def _bigram_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=())
    tokens = random_tokens(rng, model)
    table = model.W_U @ model.W_E  # n_vocab × n_vocab, read straight off the weights
    return forward(model, tokens).logits, table[:, tokens].T


def _positional_bigram_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(), positional=True)
    tokens = random_tokens(rng, model)
    n = tokens.size
    expected = (model.W_U @ model.W_E)[:, tokens].T + (model.W_U @ model.W_pos[:, :n]).T
    return forward(model, tokens).logits, expected


def _resample_others(rng: np.random.Generator, model, tokens: np.ndarray, i: int) -> np.ndarray:
    """``tokens`` with every position but i redrawn so that each of them changes."""
    shift = rng.integers(1, model.n_vocab, size=tokens.size)
    other = (tokens + shift) % model.n_vocab
    other[i] = tokens[i]
    return other


def _row_reads_own_token(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model = default_model(rng, heads=(), positional=True)
    tokens = random_tokens(rng, model)
    i = int(rng.integers(tokens.size))
    other = _resample_others(rng, model, tokens, i)
    return forward(model, tokens).logits[i], forward(model, other).logits[i]


def _rank_dims(rng: np.random.Generator) -> dict[str, int]:
    """d_model in 1…4 and n_vocab > d_model, so that d_model is the bound that binds."""
    d_model = int(rng.integers(1, 5))
    return {"d_model": d_model, "n_vocab": d_model + int(rng.integers(1, 4))}


def _depends_on_other_token(rng: np.random.Generator) -> Mismatch | None:
    model = default_model(rng, heads=())
    tokens = random_tokens(rng, model)
    i = int(rng.integers(tokens.size))
    other = _resample_others(rng, model, tokens, i)
    before, after = forward(model, tokens).logits[i], forward(model, other).logits[i]
    if np.array_equal(before, after):
        return Mismatch(f"logits[{i}] unchanged", f"logits[{i}] changed", entry=(i,), field="float64",
                        dims={"n_ctx": tokens.size, "n_vocab": model.n_vocab},
                        note=f"tokens {tokens.tolist()} → {other.tolist()}: only position {i} kept")
    return None


def check(ctx: Context) -> list[Check]:
    token_terms, position_terms = _terms(TOKEN), _terms(POSITION)
    return [
        ctx.identity("(Id⊗W_U)(Id⊗W_E) = Id⊗W_U W_E", Tensor((Id, W_U)) @ Tensor((Id, W_E)), Tensor((Id, W_U @ W_E))),
        ctx.identity("the path expansion with no layers is the one term Id⊗W_U W_E",
                     sum_of(token_terms, token_terms[0].shape), Tensor((Id, W_U @ W_E)),
                     report=f"{len(token_terms)} token term, {len(position_terms)} positional twin"),
        ctx.identity("its positional twin is Id⊗W_U W_pos", sum_of(position_terms, position_terms[0].shape),
                     unexpanded_logits(ZERO_LAYERS, POSITION)),
        ctx.numeric("a zero-layer model's logits at i are column t_i of W_U W_E", _bigram_logits),
        ctx.numeric("with W_pos, logits at i are (W_U W_E)[:, t_i] + (W_U W_pos)[:, i]", _positional_bigram_logits),
        ctx.numeric("logits at i are unchanged when every other position's token changes", _row_reads_own_token),
        ctx.instances("rank W_U W_E ≤ d_model over ℚ and GF(2⁶¹−1), n_vocab > d_model",
                      rank_bounded(W_U @ W_E, ("d_model",), _rank_dims)),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.instances("logits at position i depend on the token at some j ≠ i", _depends_on_other_token,
                      method="numeric"),
        ctx.instances("rank W_U W_E ≤ d_model − 1 (on generic weights)",
                      rank_bounded(W_U @ W_E, ("d_model",), _rank_dims, slack=1)),
    ]


CLAIM = Claim(
    "C8",
    "Zero layers: a bigram table",
    "T = Id⊗W_U W_E: logits at i depend only on token i (a bigram table); rank W_U W_E ≤ d_model",
    r"T = (\mathrm{Id}\otimes W_U)(\mathrm{Id}\otimes W_E) = \mathrm{Id}\otimes W_U W_E,\quad"
    r" T\cdot t = t\,(W_U W_E)^\top,\quad \operatorname{rank} W_U W_E \le d_{\mathrm{model}}",
    derive=derive,
    check=check,
    refute=refute,
)
