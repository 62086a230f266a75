"""C11 — Two attention-only layers: direct, single-head and virtual-head terms.

With heads H1 in the first layer and H2 in the second, and the patterns held fixed,

    T = (Id⊗W_U)(Id + Σ_{h2∈H2} A^{h2}⊗W_OV^{h2})(Id + Σ_{h1∈H1} A^{h1}⊗W_OV^{h1})(Id⊗W_E)
      = Id⊗W_U W_E                                             direct path (bigrams)
      + Σ_{h∈H1∪H2} A^h⊗W_U W_OV^h W_E                          single heads (skip-trigrams)
      + Σ_{h1∈H1, h2∈H2} (A^{h2}A^{h1})⊗(W_U W_OV^{h2}W_OV^{h1} W_E)   virtual heads (V-composition)

by distributing and the mixed product (A⊗W)(B⊗V) = AB⊗WV: 1 + |H1| + |H2| + |H1||H2| terms.
The later layer comes first in both products, the pattern A^{h2}A^{h1} and the OV circuit
W_OV^{h2}W_OV^{h1}: the second head reads what the first wrote.

Checked, for |H1| = 2, |H2| = 3 (layers 0 and 1, heads 0-based as A^{l,h}): the closed form
above, written out term by term, equals the unexpanded product (PROVED); tensoralg.paths.expansion's
unexpanded product and generated terms are these, term by term and family by family; the
counts are 1 + |H1| + |H2| + |H1||H2| = e₀ + e₁ + e₂ for drawn head counts; on random models
the closed form T·t, evaluated with the model's own softmax patterns, is the model's logits,
and each generated term's value (TermValues) is the closed form's term's.
NEGATIVE: the virtual term with the OV product in the wrong order (W_OV^{h1}W_OV^{h2}) and with
the pattern product reversed (A^{h1}A^{h2}) are refuted, in the algebra and on real patterns.

>>> CLAIM.id
'C11'
"""

from __future__ import annotations

import numpy as np

from tensoralg.algebra.architecture import Architecture
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step
from tensoralg.algebra.evaluate import evaluate
from tensoralg.paths.expansion import TermValues, iter_logit_terms, unexpanded_logits
from tensoralg.algebra.expr import Apply, Expr, Identity, Product, Sum, Tensor, atom
from tensoralg.models.model_symbols import symbol_values
from tensoralg.proofs._shared import C11_CLOSED, C11_PRODUCT, draw_model, draw_run
from tensoralg.formula.parsing import parse
from tensoralg.algebra.symbols import standard_symbol
from tensoralg.paths.term_counts import elementary_symmetric, logit_counts, total

H1, H2 = 2, 3
ARCH = Architecture((H1, H2))
W_E, W_U, t = (atom(standard_symbol(n)) for n in ("W_E", "W_U", "t"))
A = {(l, h): atom(standard_symbol("A", l, h)) for l, n in enumerate(ARCH.heads) for h in range(n)}
W_OV = {(l, h): atom(standard_symbol("W_OV", l, h)) for l, n in enumerate(ARCH.heads) for h in range(n)}
LAYER1, LAYER2 = [(0, h) for h in range(H1)], [(1, h) for h in range(H2)]
Id, Id_d = Identity("n_ctx"), Identity("d_model")
EMBED, UNEMBED = Tensor((Id, W_E)), Tensor((Id, W_U))


def _layer(heads) -> Expr:
    return Sum((Tensor((Id, Id_d)), *(Tensor((A[h], W_OV[h])) for h in heads)))


#: (Id⊗W_U)(Id + Σ_{H2})(Id + Σ_{H1})(Id⊗W_E): layer 2 (index 1) acts last.
PRODUCT = Product((UNEMBED, _layer(LAYER2), _layer(LAYER1), EMBED))


def virtual(h1, h2, *, swap_ov: bool = False, swap_patterns: bool = False) -> Expr:
    """(A^{h2}A^{h1})⊗(W_U W_OV^{h2}W_OV^{h1} W_E), or a negative control's misordering."""
    pattern = A[h1] @ A[h2] if swap_patterns else A[h2] @ A[h1]
    ov = W_OV[h1] @ W_OV[h2] if swap_ov else W_OV[h2] @ W_OV[h1]
    return Tensor((pattern, W_U @ ov @ W_E))


def closed_terms(**misorder: bool) -> dict[tuple, Expr]:
    """The closed form's terms, keyed by their path (the heads they pass, earlier layer first)."""
    terms: dict[tuple, Expr] = {(): Tensor((Id, W_U @ W_E))}
    terms |= {(h,): Tensor((A[h], W_U @ W_OV[h] @ W_E)) for h in LAYER1 + LAYER2}
    terms |= {(h1, h2): virtual(h1, h2, **misorder) for h1 in LAYER1 for h2 in LAYER2}
    return terms


def closed_form(**misorder: bool) -> Expr:
    return Sum(tuple(closed_terms(**misorder).values()))


def derive() -> list[Derivation]:
    after_layer1 = Sum((EMBED, *(Tensor((A[h], W_OV[h] @ W_E)) for h in LAYER1)))
    after_layer2 = Sum((
        after_layer1,
        *(Tensor((A[h], W_OV[h] @ W_E)) for h in LAYER2),
        *(Tensor((A[h2] @ A[h1], W_OV[h2] @ W_OV[h1] @ W_E)) for h1 in LAYER1 for h2 in LAYER2),
    ))
    return [
        Derivation("multiply out two layers", [
            Step(PRODUCT),
            Step(Product((UNEMBED, _layer(LAYER2), after_layer1)), "layer 1 acts on the embedding: Id⊗W_E + Σ A⊗W_OV W_E"),
            Step(Product((UNEMBED, after_layer2)), "layer 2 acts on each term: (A⊗W)(B⊗V) = AB⊗WV"),
            Step(closed_form(), "read out by Id⊗W_U"),
        ]),
        Derivation("a virtual head is a head reading a head", [
            Step(UNEMBED @ Tensor((A[1, 0], W_OV[1, 0])) @ Tensor((A[0, 0], W_OV[0, 0])) @ EMBED),
            Step(Tensor((A[1, 0] @ A[0, 0], W_U @ W_OV[1, 0] @ W_OV[0, 0] @ W_E)), "mixed product, three times"),
        ]),
        Derivation("for every number of heads: Σ_{h∈H1} a formal sum (C27)", [
            Step(parse(C11_PRODUCT)),
            Step(parse(C11_CLOSED), "distribute (Σ_{h∈H2} x_h)(Σ_{h∈H1} y_h) = Σ_{h1∈H1, h2∈H2} x_{h2} y_{h1}"),
        ]),
    ]


def _terms_match() -> Mismatch | None:
    expected = closed_terms()
    generated = list(iter_logit_terms(ARCH))
    if len(generated) != len(expected):
        return Mismatch(f"{len(generated)} terms", f"{len(expected)} terms", field="Z")
    families = {0: "direct", 1: "single-head", 2: "virtual"}
    for term in generated:
        if expected.get(term.heads) != term.expr or term.family != families[term.order]:
            return Mismatch(f"{term.expr} ({term.family})", f"{expected.get(term.heads)} ({families[term.order]})",
                            note=f"the term of path {term.heads}")
    return None


def _counts(rng: np.random.Generator) -> Mismatch | None:
    a, b = (int(n) for n in rng.integers(0, 6, size=2))
    arch = Architecture((a, b))
    orders = [0, 0, 0]
    for term in iter_logit_terms(arch):
        orders[term.order] += 1
    formula = [1, a + b, a * b]
    counted = [sum(c.values()) for _, c in logit_counts(arch)]
    if orders != formula or tuple(formula) != elementary_symmetric((a, b)) or total(logit_counts(arch)) != sum(formula):
        return Mismatch(f"terms by order {orders}, e_k {elementary_symmetric((a, b))}, counts {counted}",
                        f"1, |H1|+|H2|, |H1||H2| = {formula}", dims={"H1": a, "H2": b}, field="Z")
    return None


def _formula_sides(**misorder: bool):
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        _, _, run, values = draw_run(rng, ARCH.heads)
        return run.logits, evaluate(Apply(closed_form(**misorder), t), values)

    return sides


def _generated_term_values(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, tokens = draw_model(rng, ARCH.heads)
    numbers = TermValues(model, tokens)
    values = symbol_values(model, tokens, numbers.run.patterns)
    expected = closed_terms()
    generated = [numbers.logits(term) for term in iter_logit_terms(ARCH)]
    closed = [evaluate(Apply(expected[term.heads], t), values) for term in iter_logit_terms(ARCH)]
    return np.stack(generated), np.stack(closed)


def check(ctx: Context) -> list[Check]:
    return [
        ctx.identity("(Id⊗W_U)(Id + Σ_{H2})(Id + Σ_{H1})(Id⊗W_E) = direct + Σ_{H1, H2} single + Σ_{H1×H2} virtual",
                     PRODUCT, closed_form(), report=f"|H1| = {H1}, |H2| = {H2}: {len(closed_terms())} terms"),
        ctx.identity("tensoralg.paths.expansion's unexpanded product is that product", unexpanded_logits(ARCH), PRODUCT),
        ctx.fact("its generated terms are the closed form's, term by term, with families direct/single-head/virtual", _terms_match),
        ctx.instances("1 + |H1| + |H2| + |H1||H2| terms, e_k(|H1|, |H2|) of order k (|H_l| drawn in 0…5)", _counts,
                      trials=6),
        ctx.numeric("T·t with the model's own softmax patterns = the model's logits", _formula_sides()),
        ctx.numeric("each generated term's value (TermValues) = the closed form's term on the model", _generated_term_values),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.identity("virtual terms with the OV product reversed: (A^{h2}A^{h1})⊗(W_U W_OV^{h1}W_OV^{h2} W_E)",
                     PRODUCT, closed_form(swap_ov=True)),
        ctx.identity("virtual terms with the pattern product reversed: (A^{h1}A^{h2})⊗(W_U W_OV^{h2}W_OV^{h1} W_E)",
                     PRODUCT, closed_form(swap_patterns=True)),
        ctx.numeric("OV product reversed, on real softmax patterns: T·t = logits", _formula_sides(swap_ov=True)),
        ctx.numeric("pattern product reversed, on real softmax patterns: T·t = logits", _formula_sides(swap_patterns=True)),
    ]


CLAIM = Claim(
    "C11",
    "Two attention-only layers",
    "T = Id⊗W_U W_E + Σ_{h∈H1∪H2} A^h⊗W_U W_OV^h W_E + Σ_{h1,h2} A^{h2}A^{h1}⊗W_U W_OV^{h2}W_OV^{h1} W_E",
    r"T = \mathrm{Id}\otimes W_U W_E + \sum_{h\in H_1\cup H_2} A^h\otimes W_U W_{OV}^h W_E"
    r" + \sum_{h_1\in H_1,\,h_2\in H_2} (A^{h_2}A^{h_1})\otimes(W_U W_{OV}^{h_2} W_{OV}^{h_1} W_E)",
    derive=derive,
    check=check,
    refute=refute,
)
