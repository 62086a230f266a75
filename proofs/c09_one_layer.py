"""C9 — One attention-only layer: a bigram table plus one skip-trigram table per head.

With one layer of heads H the residual stream is X = t W_Eᵀ + Σ_h (A^h⊗W_OV^h)·(t W_Eᵀ),
so the logits are T·t with

    T = (Id⊗W_U)(Id + Σ_h A^h⊗W_OV^h)(Id⊗W_E) = Id⊗W_U W_E + Σ_h A^h⊗W_U W_OV^h W_E

(distribute, then the mixed product), and each head's pattern comes from the tokens alone:

    A^h = softmax*(s · t W_Eᵀ W_QK^h W_E tᵀ),   i.e. A^h[i, j] from entry (t_i, t_j) of W_Eᵀ W_QK^h W_E.

The QK circuit W_Eᵀ W_QK^h W_E and the OV circuit W_U W_OV^h W_E are n_vocab × n_vocab
matrices read straight off the weights: a one-layer model is these tables and nothing else.

Checked: the derivation in the algebra; the unexpanded product of tensoralg.paths.expansion and
its generated terms, term by term; random 3-head models, whose softmax patterns are the
QK tables indexed by the tokens and whose logits are the bigram table plus the OV tables
(from tensoralg.models.circuits) mixed by those patterns, also when the formula T·t itself is
evaluated numerically. NEGATIVE: the OV term with the pattern transposed (Aᵀ⊗…), in the
algebra and on real softmax patterns, and the scores with queries and keys swapped
(W_QKᵀ) are refuted.

>>> CLAIM.id
'C9'
"""

from __future__ import annotations

import numpy as np

from tensoralg.algebra.architecture import Architecture
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step, default_model, random_tokens
from tensoralg.models.circuits import head_weights, ov_circuits, qk_circuits
from tensoralg.algebra.evaluate import evaluate
from tensoralg.paths.expansion import iter_logit_terms, unexpanded_logits, unexpanded_scores
from tensoralg.algebra.expr import Apply, Expr, Identity, Product, Sum, Tensor, atom
from tensoralg.models.model import causal_softmax, forward
from tensoralg.models.model_symbols import symbol_values
from tensoralg.algebra.symbols import standard_symbol

HEADS = 3
ARCH = Architecture((HEADS,))
W_E, W_U, t = (atom(standard_symbol(n)) for n in ("W_E", "W_U", "t"))
A = [atom(standard_symbol("A", 0, h)) for h in range(HEADS)]
W_OV = [atom(standard_symbol("W_OV", 0, h)) for h in range(HEADS)]
W_QK = [atom(standard_symbol("W_QK", 0, h)) for h in range(HEADS)]
Id, Id_d = Identity("n_ctx"), Identity("d_model")
EMBED, UNEMBED = Tensor((Id, W_E)), Tensor((Id, W_U))

#: (Id⊗W_U)(Id + Σ_h A^h⊗W_OV^h)(Id⊗W_E), as CLAIMS.md writes it.
PRODUCT = Product((UNEMBED, Sum((Tensor((Id, Id_d)), *(Tensor((a, w)) for a, w in zip(A, W_OV)))), EMBED))


def closed_form(pattern=lambda a: a) -> Expr:
    """Id⊗W_U W_E + Σ_h pattern(A^h)⊗W_U W_OV^h W_E."""
    return Sum((Tensor((Id, W_U @ W_E)), *(Tensor((pattern(a), W_U @ w @ W_E)) for a, w in zip(A, W_OV))))


def derive() -> list[Derivation]:
    heads_acting = Sum((UNEMBED @ EMBED, *(UNEMBED @ Tensor((a, w)) @ EMBED for a, w in zip(A, W_OV))))
    X = Apply(EMBED, t)
    return [
        Derivation("multiply out one layer", [
            Step(PRODUCT),
            Step(heads_acting, "distribute over Id + Σ_h"),
            Step(closed_form(), "mixed product (Id⊗W_U)(A⊗W_OV)(Id⊗W_E) = A⊗W_U W_OV W_E"),
        ]),
        Derivation("the logits on tokens t", [
            Step(Apply(closed_form(), t)),
            Step(Sum((t @ (W_U @ W_E).T, *(a @ t @ (W_U @ w @ W_E).T for a, w in zip(A, W_OV)))),
                 "(A⊗M)·t = A t Mᵀ: row i mixes the columns M[:, t_j] with weights A[i, j]"),
        ]),
        Derivation("the scores read the QK circuit off the weights", [
            Step(X @ W_QK[0] @ X.T),
            Step(t @ W_E.T @ W_QK[0] @ W_E @ t.T, "(Id⊗W_E)·t = t W_Eᵀ"),
            Step(Apply(Tensor((Id, Id, W_E.T @ W_QK[0] @ W_E)), t), "(Id⊗Id⊗M)·t = t M tᵀ"),
            Step(Apply(unexpanded_scores(ARCH, 0, 0), t), "W_QK read through the embedding on both sides"),
        ]),
    ]


def _terms_match() -> Mismatch | None:
    expected = {(): Tensor((Id, W_U @ W_E))} | {((0, h),): Tensor((A[h], W_U @ W_OV[h] @ W_E)) for h in range(HEADS)}
    generated = list(iter_logit_terms(ARCH))
    if len(generated) != len(expected):
        return Mismatch(f"{len(generated)} terms", f"{len(expected)} terms", field="Z")
    for term in generated:
        if expected.get(term.heads) != term.expr:
            return Mismatch(str(term.expr), str(expected.get(term.heads)), note=f"the term of path {term.heads}")
    return None


def _model(rng: np.random.Generator):
    model = default_model(rng, heads=(HEADS,))
    return model, random_tokens(rng, model)


def _token_patterns(model, tokens: np.ndarray) -> np.ndarray:
    """softmax*(s · QK[t_i, t_j]) from the n_vocab × n_vocab QK tables alone."""
    qk = qk_circuits(head_weights(model)).dense()
    return causal_softmax(model.score_scale * qk[:, tokens][:, :, tokens])


def _patterns_from_qk_tables(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, tokens = _model(rng)
    return forward(model, tokens).patterns[0], _token_patterns(model, tokens)


def _logits_from_tables(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, tokens = _model(rng)
    bigram = model.W_U @ model.W_E
    ov = ov_circuits(head_weights(model)).dense()  # heads × n_vocab × n_vocab
    patterns = _token_patterns(model, tokens)
    skip = np.einsum("hij,hvj->iv", patterns, ov[:, :, tokens])
    return forward(model, tokens).logits, bigram[:, tokens].T + skip


def _formula_sides(pattern):
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        model, tokens = _model(rng)
        values = symbol_values(model, tokens, (_token_patterns(model, tokens),))
        return forward(model, tokens).logits, evaluate(Apply(closed_form(pattern), t), values)

    return sides


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("(Id⊗W_U)(Id + Σ_h A^h⊗W_OV^h)(Id⊗W_E) = Id⊗W_U W_E + Σ_h A^h⊗W_U W_OV^h W_E",
                     PRODUCT, closed_form()),
        ctx.identity("tensoralg.paths.expansion's unexpanded product is that product", unexpanded_logits(ARCH), PRODUCT),
        ctx.fact("its generated terms are the closed form's, term by term", _terms_match),
        ctx.numeric("each head's softmax pattern is softmax*(s·(W_Eᵀ W_QK^h W_E)[t_i, t_j])", _patterns_from_qk_tables),
        ctx.numeric("logits = (W_U W_E)[:, t_i] + Σ_h Σ_j A^h[i,j] (W_U W_OV^h W_E)[:, t_j] (circuits of tensoralg.models.circuits)",
                    _logits_from_tables),
        ctx.numeric("T·t evaluated numerically with those patterns = the model's logits", _formula_sides(lambda a: a)),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.identity("T = Id⊗W_U W_E + Σ_h A^hᵀ⊗W_U W_OV^h W_E (pattern transposed)", PRODUCT, closed_form(lambda a: a.T)),
        ctx.numeric("with the real softmax patterns transposed, T·t = the model's logits", _formula_sides(lambda a: a.T)),
        ctx.identity("scores t W_Eᵀ W_QK W_E tᵀ = t W_Eᵀ W_QKᵀ W_E tᵀ (queries and keys swapped)",
                     Apply(Tensor((Id, Id, W_E.T @ W_QK[0] @ W_E)), t), Apply(Tensor((Id, Id, W_E.T @ W_QK[0].T @ W_E)), t)),
    ]


CLAIM = Claim(
    "C9",
    "One attention-only layer",
    "T = Id⊗W_U W_E + Σ_h A^h⊗W_U W_OV^h W_E with A^h = softmax*(t W_Eᵀ W_QK^h W_E tᵀ): n_vocab × n_vocab circuits",
    r"T = \mathrm{Id}\otimes W_U W_E + \sum_{h\in H} A^h\otimes W_U W_{OV}^h W_E,\quad"
    r" A^h = \operatorname{softmax}^*\!\big(t\,W_E^\top W_{QK}^h W_E\,t^\top\big)",
    derive=derive,
    check=check,
    refute=refute,
)
