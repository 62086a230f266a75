"""C14 — The QK side: a layer-2 head's scores expand into (1 + |H1|)² three-factor terms.

A head h of the second layer scores S = X W_QK^h Xᵀ, where X = P·t is the residual stream
it reads, P = (Id + Σ_{h'∈H1} A^{h'}⊗W_OV^{h'})(Id⊗W_E). The scores are the form W_QK^h
read through P on both sides, F∘(P, P), and since (Id⊗Id⊗M)∘(A_p⊗W_p, B⊗V) = A_p⊗B⊗W_pᵀ M V
is bilinear, multiplying out both sides gives

    Id⊗Id⊗(W_Eᵀ W_QK^h W_E)                                                  direct
    + Σ_{hq∈H1} A^{hq}⊗Id⊗(W_Eᵀ W_OV^{hq}ᵀ W_QK^h W_E)                        Q-composition
    + Σ_{hk∈H1} Id⊗A^{hk}⊗(W_Eᵀ W_QK^h W_OV^{hk} W_E)                         K-composition
    + Σ_{hq,hk∈H1} A^{hq}⊗A^{hk}⊗(W_Eᵀ W_OV^{hq}ᵀ W_QK^h W_OV^{hk} W_E)        Q&K-composition

acting on tokens by (A_q⊗A_k⊗M)·t = A_q t M tᵀ A_kᵀ. The query side's head appears
transposed, left of W_QK, with its pattern in the first factor; the key side's to the right,
in the second. In layer l each side is a path into layer l, so there are
(Π_{l'<l}(1+|H_l'|))² terms.

Checked, for heads 2,2 (layer 1, head 0; 0-based): the closed form, written out, equals the
unexpanded form (PROVED), which is tensoralg.paths.expansion's; the generated terms are these,
term by term and family by family; for heads 2,1,2 (layer 2, 36 terms) the sum of the
generated terms equals the unexpanded form; counts against (Π_{l'<l}(1+|H_l'|))² for drawn
architectures; on random models the closed form, evaluated with the layer-1 softmax patterns,
is the head's raw scores, its causal softmax the head's pattern, the generated terms'
values (all sources, positional models too) sum to the scores, and each term's value is that
of its expression (the sum alone is symmetric in query and key).
NEGATIVE: the Q- and K-composition factors swapped (W_OV^{hk}ᵀ on the query side of W_QK
under a key-side pattern), and the Q-composition factor without its transpose, are refuted
in the algebra; the swapped form also on real patterns.

>>> CLAIM.id
'C14'
"""

from __future__ import annotations

from math import prod

import numpy as np

from tensoralg.algebra.architecture import Architecture
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step
from tensoralg.algebra.evaluate import evaluate
from tensoralg.paths.expansion import TOKEN, TermValues, iter_score_terms, unexpanded_scores
from tensoralg.algebra.expr import Apply, Bilinear, Expr, Identity, Product, Sum, Tensor, atom, sum_of
from tensoralg.models.model import causal_softmax
from tensoralg.formula.parsing import parse
from tensoralg.proofs._shared import C14_CLOSED, C14_FORM, draw_model, draw_run
from tensoralg.algebra.symbols import standard_symbol
from tensoralg.paths.term_counts import score_counts, total

H1 = 2
ARCH = Architecture((H1, 2))
W_E, t = atom(standard_symbol("W_E")), atom(standard_symbol("t"))
W_QK = atom(standard_symbol("W_QK", 1, 0))
A = [atom(standard_symbol("A", 0, h)) for h in range(H1)]
W_OV = [atom(standard_symbol("W_OV", 0, h)) for h in range(H1)]
Id, Id_d = Identity("n_ctx"), Identity("d_model")

#: P = (Id + Σ_{h'∈H1} A^{h'}⊗W_OV^{h'})(Id⊗W_E): the stream layer 2 reads, as a map of t.
READ = Product((Sum((Tensor((Id, Id_d)), *(Tensor((a, w)) for a, w in zip(A, W_OV)))), Tensor((Id, W_E))))
READ_EXPANDED = Sum((Tensor((Id, W_E)), *(Tensor((a, w @ W_E)) for a, w in zip(A, W_OV))))


def closed_terms(swap: bool = False, drop_transpose: bool = False) -> dict[tuple, Expr]:
    """The closed form's terms keyed by (query head, key head) (None: direct side).

    ``swap`` exchanges the Q- and K-composition residual factors; ``drop_transpose`` writes
    W_OV^{hq} instead of W_OV^{hq}ᵀ on the query side (the negative controls).
    """
    def query(hq: int) -> Expr:
        return W_OV[hq] if drop_transpose else W_OV[hq].T

    terms: dict[tuple, Expr] = {(None, None): Tensor((Id, Id, W_E.T @ W_QK @ W_E))}
    for h in range(H1):
        q_factor, k_factor = W_E.T @ query(h) @ W_QK @ W_E, W_E.T @ W_QK @ W_OV[h] @ W_E
        if swap:
            q_factor, k_factor = W_E.T @ W_QK @ W_OV[h] @ W_E, W_E.T @ W_OV[h].T @ W_QK @ W_E
        terms[h, None] = Tensor((A[h], Id, q_factor))
        terms[None, h] = Tensor((Id, A[h], k_factor))
    for hq in range(H1):
        for hk in range(H1):
            terms[hq, hk] = Tensor((A[hq], A[hk], W_E.T @ query(hq) @ W_QK @ W_OV[hk] @ W_E))
    return terms


def closed_form(**negative: bool) -> Expr:
    return Sum(tuple(closed_terms(**negative).values()))


def derive() -> list[Derivation]:
    X = Apply(READ, t)
    return [
        Derivation("the scores read the residual stream on both sides", [
            Step(X @ W_QK @ X.T),
            Step(Apply(Bilinear(W_QK, READ, READ), t), "F·(P·t, P·t) = (F∘(P, P))·t"),
        ]),
        Derivation("multiply out the query side and the key side", [
            Step(Bilinear(W_QK, READ, READ)),
            Step(Bilinear(W_QK, READ_EXPANDED, READ_EXPANDED), "P = Id⊗W_E + Σ_h A^h⊗W_OV^h W_E (mixed product)"),
            Step(closed_form(), "bilinear in each side: (Id⊗Id⊗M)∘(A_p⊗W_p, B⊗V) = A_p⊗B⊗W_pᵀ M V"),
        ]),
        Derivation("for every number of heads in layer 1: Σ_{h∈H1} a formal sum (C27)", [
            Step(parse(C14_FORM)),
            Step(parse(C14_CLOSED), "bilinear in each side, each side a sum over H1 with its own index"),
        ]),
    ]


def _key(side) -> int | None:
    return side.heads[0][1] if side.heads else None


def _terms_match() -> Mismatch | None:
    expected = closed_terms()
    families = {(False, False): "direct", (True, False): "Q-composition", (False, True): "K-composition",
                (True, True): "Q&K-composition"}
    generated = list(iter_score_terms(ARCH, 1, 0))
    if len(generated) != len(expected):
        return Mismatch(f"{len(generated)} terms", f"(1 + |H1|)² = {len(expected)}", field="Z")
    for term in generated:
        key = (_key(term.query), _key(term.key))
        family = families[key[0] is not None, key[1] is not None]
        if expected.get(key) != term.expr or term.family != family:
            return Mismatch(f"{term.expr} ({term.family})", f"{expected.get(key)} ({family})", note=f"term {key}")
    return None


def _counts(rng: np.random.Generator) -> Mismatch | None:
    heads = tuple(int(h) for h in rng.integers(0, 4, size=int(rng.integers(2, 5))))
    layer = int(rng.integers(1, len(heads)))
    arch = Architecture(heads[:layer] + (max(1, heads[layer]),) + heads[layer + 1:])  # the head must exist
    generated = sum(1 for _ in iter_score_terms(arch, layer, 0))
    formula = prod(1 + h for h in heads[:layer]) ** 2
    if not generated == formula == total(score_counts(arch, layer)):
        return Mismatch(f"{generated} generated, {total(score_counts(arch, layer))} counted",
                        f"(Π_{{l'<l}}(1+|H_l'|))² = {formula}", field="Z", note=f"heads {arch.heads}, layer {layer}")
    return None


def _formula_sides(**negative: bool):
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        _, _, run, values = draw_run(rng, ARCH.heads)
        return run.scores[1][0], evaluate(Apply(closed_form(**negative), t), values)

    return sides


def _pattern_sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, _, run, values = draw_run(rng, ARCH.heads)
    scores = evaluate(Apply(closed_form(), t), values)
    return run.patterns[1][0], causal_softmax(model.score_scale * scores)


MODELS = (((2, 2), 1, False), ((2, 1, 2), 2, False), ((1, 2), 1, True), ((1, 1, 2), 2, True))


def _generated_sum(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    heads, layer, positional = MODELS[int(rng.integers(len(MODELS)))]
    model, tokens = draw_model(rng, heads, positional)
    numbers = TermValues(model, tokens)
    h = int(rng.integers(heads[layer]))
    parts = np.stack([numbers.scores(term) for term in iter_score_terms(Architecture.from_model(model), layer, h)])
    return numbers.run.scores[layer][h], parts.sum(axis=0), float(np.abs(parts).max())


def _each_term(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per generated term: TermValues.scores against its expression A_q ⊗ A_k ⊗ M evaluated
    factor by factor, A_q X_q M X_kᵀ A_kᵀ (X = t for a token source, Id for a position one).

    The sum over all (query, key) pairs is symmetric in the two sides, so only term-by-term
    values catch a term computed with its query and key exchanged.
    """
    heads, layer, positional = MODELS[int(rng.integers(len(MODELS)))]
    model, tokens, _, values = draw_run(rng, heads, positional)
    numbers = TermValues(model, tokens)
    h = int(rng.integers(heads[layer]))
    t_value = values[standard_symbol("t")]
    sizes = {"n_ctx": tokens.size}

    def read(path) -> np.ndarray:
        return t_value if path.source == TOKEN else np.eye(tokens.size)

    fast, by_expr = [], []
    for term in iter_score_terms(Architecture.from_model(model), layer, h):
        a_q, a_k, m = (evaluate(f, values, sizes) for f in term.expr.factors)
        by_expr.append(a_q @ read(term.query) @ m @ read(term.key).T @ a_k.T)
        fast.append(numbers.scores(term))
    return np.stack(fast), np.stack(by_expr)


def check(ctx: Context) -> list[Check]:
    deep = Architecture((2, 1, 2))
    deep_terms = [term.expr for term in iter_score_terms(deep, 2, 1)]
    return [
        ctx.identity("W_QK^{1,0}∘(P, P) = direct + Σ Q-comp + Σ K-comp + Σ Q&K-comp, (1+|H1|)² terms",
                     Bilinear(W_QK, READ, READ), closed_form(), report=f"|H1| = {H1}: {len(closed_terms())} terms"),
        ctx.identity("tensoralg.paths.expansion's unexpanded scores are that form", unexpanded_scores(ARCH, 1, 0),
                     Bilinear(W_QK, READ, READ)),
        ctx.fact("its generated terms are the closed form's, term by term, with their families", _terms_match),
        ctx.identity(f"heads 2,1,2, head 2.1: the {len(deep_terms)} generated score terms sum to the unexpanded form",
                     sum_of(deep_terms, deep_terms[0].shape), unexpanded_scores(deep, 2, 1)),
        ctx.instances("a layer-l head has (Π_{l'<l}(1+|H_l'|))² score terms (drawn architectures)", _counts, trials=6),
        ctx.numeric("the closed form on t, with the layer-1 softmax patterns, = the head's raw scores", _formula_sides()),
        ctx.numeric("softmax*(s · those scores) = the head's pattern", _pattern_sides),
        ctx.numeric("the generated terms' values (TermValues, all sources) sum to the scores", _generated_sum),
        ctx.numeric("each generated term's value (TermValues) = A_q X_q M X_kᵀ A_kᵀ of its expression", _each_term),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.identity("Q- and K-composition factors swapped (W_Eᵀ W_OV^{hk}ᵀ W_QK W_E under Id⊗A^{hk})",
                     Bilinear(W_QK, READ, READ), closed_form(swap=True)),
        ctx.identity("Q-composition without the transpose (W_Eᵀ W_OV^{hq} W_QK W_E)",
                     Bilinear(W_QK, READ, READ), closed_form(drop_transpose=True)),
        ctx.numeric("factors swapped, with the layer-1 softmax patterns: the form on t = the raw scores",
                    _formula_sides(swap=True)),
    ]


CLAIM = Claim(
    "C14",
    "The QK expansion",
    "layer-2 scores = direct + Q-, K- and Q&K-composition terms, (1+|H1|)²; in layer l (Π_{l'<l}(1+|H_l'|))²",
    r"S^h = \mathrm{Id}\otimes\mathrm{Id}\otimes W_E^\top W_{QK}^h W_E"
    r" + \sum_{h_q\in H_1} A^{h_q}\otimes\mathrm{Id}\otimes W_E^\top W_{OV}^{h_q\top} W_{QK}^h W_E"
    r" + \sum_{h_k\in H_1} \mathrm{Id}\otimes A^{h_k}\otimes W_E^\top W_{QK}^h W_{OV}^{h_k} W_E"
    r" + \sum_{h_q,h_k\in H_1} A^{h_q}\otimes A^{h_k}\otimes W_E^\top W_{OV}^{h_q\top} W_{QK}^h W_{OV}^{h_k} W_E",
    derive=derive,
    check=check,
    refute=refute,
)
