"""C12 — L attention-only layers: one term per path, counted by elementary symmetric polynomials.

With the patterns held fixed, an L-layer attention-only model is the product

    T = (Id⊗W_U) Π_{l=L..1} (Id + Σ_{h∈H_l} A^h⊗W_OV^h) (Id⊗W_E)

(the latest layer leftmost). Letting the layers act on the embedding one at a time, each
factor keeps every term and adds, per head, that term read by the head, by the mixed
product (A⊗W)(B⊗V) = AB⊗WV. So T is a sum over paths, choices of at most one head per
layer, l₁ < … < l_k:

    A^{h_k}⋯A^{h₁} ⊗ W_U W_OV^{h_k}⋯W_OV^{h₁} W_E,

Π_l (1 + |H_l|) terms, of which e_k(|H_1|, …, |H_L|) = Σ_{l₁<…<l_k} |H_{l₁}|⋯|H_{l_k}| (the
elementary symmetric polynomial) have order k. With a positional embedding the stream
starts at t W_Eᵀ + W_posᵀ = (Id⊗W_E)·t + (Id⊗W_pos)·Id, so every term has a twin with W_pos
in place of W_E, acting on Id.

Checked: the derivation for heads (2, 1, 2) layer by layer; for several architectures, the
unexpanded product equals the sum of tensoralg.paths.expansion's terms (PROVED), and for drawn
ones its normal form has exactly Π_l(1+|H_l|) distinct terms, each with coefficient 1, which
are the generated ones; counts by order and source against brute-force e_k (hypothesis);
positional twins; on random models (also 3-layer and positional ones) the product evaluated
with the model's softmax patterns, and the sum of the generated terms' values, are the logits.
NEGATIVE: the count formulas 1 + Σ_l |H_l| and C(Σ_l |H_l|, k), and the product with the
layers in reverse order, are refuted.

>>> CLAIM.id
'C12'
"""

from __future__ import annotations

from itertools import combinations
from math import comb, prod

import numpy as np

from tensoralg.algebra.architecture import Architecture
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step
from tensoralg.algebra.definitions import substitute
from tensoralg.algebra.evaluate import evaluate
from tensoralg.paths.expansion import POSITION, TOKEN, TermValues, iter_logit_terms, unexpanded_logits
from tensoralg.algebra.expr import Apply, Expr, Identity, Product, Sum, Tensor, atom, sum_of
from tensoralg.proofs._shared import draw_model, draw_run
from tensoralg.verify.strategies import architectures
from tensoralg.algebra.symbols import standard_symbol
from tensoralg.paths.term_counts import elementary_symmetric, logit_counts, total

W_E, W_U, W_pos, t = (atom(standard_symbol(n)) for n in ("W_E", "W_U", "W_pos", "t"))
Id, Id_d = Identity("n_ctx"), Identity("d_model")
UNEMBED = Tensor((Id, W_U))
#: The derivation's architecture, and those whose expansion is proved symbolically.
DERIVED = Architecture((2, 1, 2))
PROVED = (Architecture((1,)), Architecture((2, 1, 2)), Architecture((1, 1, 1, 1)), Architecture((3, 0, 2)))
TWINS = Architecture((1, 2, 1), positional=True)


def _A(l: int, h: int) -> Expr:
    return atom(standard_symbol("A", l, h))


def _W(l: int, h: int) -> Expr:
    return atom(standard_symbol("W_OV", l, h))


def layer_factor(heads: tuple[int, ...], l: int) -> Expr:
    """Id + Σ_{h∈H_l} A^{l,h}⊗W_OV^{l,h}."""
    return Sum((Tensor((Id, Id_d)), *(Tensor((_A(l, h), _W(l, h))) for h in range(heads[l]))))


def product(heads: tuple[int, ...], source: Expr = W_E, reverse: bool = False) -> Expr:
    """(Id⊗W_U) Π_{l=L..1}(…)(Id⊗S), as CLAIMS.md writes it; ``reverse`` puts layer 1 leftmost."""
    order = range(len(heads)) if reverse else reversed(range(len(heads)))
    return Product((UNEMBED, *(layer_factor(heads, l) for l in order), Tensor((Id, source))))


def _chain(factors: list[Expr], space: str) -> Expr:
    return factors[0] if len(factors) == 1 else Product(tuple(factors)) if factors else Identity(space)


def _term(patterns: list[Expr], writers: list[Expr]) -> Expr:
    return Tensor((_chain(patterns, "n_ctx"), _chain(writers, "d_model")))


def derive() -> list[Derivation]:
    heads = DERIVED.heads
    paths: list[tuple[list[Expr], list[Expr]]] = [([], [W_E])]
    steps = [Step(product(heads))]
    for l in range(len(heads)):
        before = len(paths)
        paths = paths + [([_A(l, h)] + p, [_W(l, h)] + w) for p, w in paths for h in range(heads[l])]
        rest = [layer_factor(heads, k) for k in reversed(range(l + 1, len(heads)))]
        state = Sum(tuple(_term(p, w) for p, w in paths))
        steps.append(Step(Product((UNEMBED, *rest, state)),
                          f"layer {l + 1} keeps each of the {before} terms and adds it read by each of its "
                          f"{heads[l]} head(s): (A⊗W)(B⊗V) = AB⊗WV"))
    steps.append(Step(Sum(tuple(_term(p, [W_U] + w) for p, w in paths)),
                      f"read out by Id⊗W_U: one term per path, Π_l(1+|H_l|) = {len(paths)}"))
    return [Derivation(f"multiply out heads {','.join(map(str, heads))} layer by layer", steps)]


def _generated(arch: Architecture, source: str = TOKEN) -> Expr:
    terms = [term.expr for term in iter_logit_terms(arch) if term.source == source]
    return sum_of(terms, terms[0].shape)


def _drawn_architecture(rng: np.random.Generator, min_heads: int = 0) -> Architecture:
    layers = int(rng.integers(2, 5))
    return Architecture(tuple(int(h) for h in rng.integers(min_heads, 4, size=layers)))


def _normal_form_is_the_paths(rng: np.random.Generator) -> Mismatch | None:
    arch = _drawn_architecture(rng)
    nf = product(arch.heads).normal_form
    generated = [term.expr.normal_form for term in iter_logit_terms(arch)]
    keys = [key for g in generated for key in g.terms]
    expected = prod(1 + h for h in arch.heads)
    if not (len(nf.terms) == len(keys) == len(set(keys)) == expected and set(nf.terms.values()) == {1}
            and set(keys) == set(nf.terms)):
        return Mismatch(f"{len(nf.terms)} normal-form terms, coefficients {sorted(set(nf.terms.values()))}",
                        f"the {len(keys)} generated paths, Π(1+|H_l|) = {expected}", field="Z",
                        note=f"heads {arch.heads}")
    return None


def brute_e(heads: tuple[int, ...], k: int) -> int:
    """e_k = Σ over k-subsets of layers of the product of their head counts."""
    return sum(prod(heads[l] for l in chosen) for chosen in combinations(range(len(heads)), k))


def _counts_hold(arch: Architecture) -> bool:
    by_order: dict[tuple[int, str], int] = {}
    for term in iter_logit_terms(arch):
        by_order[term.order, term.source] = by_order.get((term.order, term.source), 0) + 1
    sources = (TOKEN, POSITION) if arch.positional else (TOKEN,)
    L = arch.n_layers
    ok = all(by_order.get((k, s), 0) == brute_e(arch.heads, k) for k in range(L + 1) for s in sources)
    ok &= sum(by_order.values()) == len(sources) * prod(1 + h for h in arch.heads) == total(logit_counts(arch))
    return ok and elementary_symmetric(arch.heads) == tuple(brute_e(arch.heads, k) for k in range(L + 1))


def _twins(rng: np.random.Generator) -> Mismatch | None:
    arch = Architecture(_drawn_architecture(rng).heads, positional=True)
    terms = list(iter_logit_terms(arch))
    tokens = {term.heads: term.expr for term in terms if term.source == TOKEN}
    positions = {term.heads: term.expr for term in terms if term.source == POSITION}
    if tokens.keys() != positions.keys():
        return Mismatch(f"{len(positions)} positional terms", f"one twin for each of {len(tokens)} token terms",
                        note=f"heads {arch.heads}")
    for heads, expr in positions.items():
        back = substitute(expr, lambda s: W_E if s == W_pos.symbol else None)
        if back != tokens[heads]:
            return Mismatch(str(expr), f"{tokens[heads]} with W_E → W_pos", note=f"heads {arch.heads}, path {heads}")
    return None


MODELS = (((2, 1, 2), False), ((1, 2, 1), True), ((2, 2), True))


def _product_sides(reverse: bool = False):
    def sides(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        heads, positional = MODELS[int(rng.integers(len(MODELS)))]
        _, tokens, run, values = draw_run(rng, heads, positional)
        logits = evaluate(Apply(product(heads, reverse=reverse), t), values)
        if positional:
            logits = logits + evaluate(Apply(product(heads, W_pos, reverse=reverse), Id), values, {"n_ctx": tokens.size})
        return run.logits, logits

    return sides


def _generated_sum(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    heads, positional = MODELS[int(rng.integers(len(MODELS)))]
    model, tokens = draw_model(rng, heads, positional)
    numbers = TermValues(model, tokens)
    parts = np.stack([numbers.logits(term) for term in iter_logit_terms(Architecture.from_model(model))])
    return numbers.run.logits, parts.sum(axis=0), float(np.abs(parts).max())


def _count_formula(formula, text: str):
    def trial(rng: np.random.Generator) -> Mismatch | None:
        arch = _drawn_architecture(rng, min_heads=1)
        counted: dict[int, int] = {}
        for term in iter_logit_terms(arch):
            counted[term.order] = counted.get(term.order, 0) + 1
        claimed = formula(arch.heads)
        if counted != claimed:
            return Mismatch(f"terms by order {dict(sorted(counted.items()))}", f"{text} = {claimed}", field="Z",
                            note=f"heads {arch.heads}")
        return None

    return trial


def _sum_formula(heads: tuple[int, ...]) -> dict[int, int]:
    """The wrong count 1 + Σ_l |H_l| (as if paths never passed two heads)."""
    return {0: 1, 1: sum(heads)}


def _binomial_formula(heads: tuple[int, ...]) -> dict[int, int]:
    """The wrong count C(Σ_l |H_l|, k) (as if a path could pass two heads of one layer)."""
    n = sum(heads)
    return {k: comb(n, k) for k in range(len(heads) + 1) if comb(n, k)}


def check(ctx: Context) -> list[Check]:
    checks = [
        ctx.identity(f"heads {','.join(map(str, arch.heads))}: (Id⊗W_U) Π_l (Id + Σ_h A^h⊗W_OV^h)(Id⊗W_E) = "
                     f"Σ over {prod(1 + h for h in arch.heads)} generated paths", product(arch.heads), _generated(arch))
        for arch in PROVED
    ]
    checks += [
        ctx.identity("tensoralg.paths.expansion's unexpanded product is the one above (heads 2,1,2)",
                     unexpanded_logits(DERIVED), product(DERIVED.heads)),
        ctx.identity("positional twins (heads 1,2,1): (Id⊗W_U) Π_l(…)(Id⊗W_pos) = Σ of the positional paths",
                     product(TWINS.heads, W_pos), _generated(TWINS, POSITION)),
        ctx.instances("the product's normal form has exactly Π_l(1+|H_l|) terms, coefficient 1: the generated paths",
                      _normal_form_is_the_paths, method="symbolic", trials=4),
        ctx.law("terms of order k per source = brute-force e_k(|H_1|,…,|H_L|); all: Π_l(1+|H_l|) (×2 with W_pos)",
                architectures(max_layers=4, max_heads=3, positional=None), _counts_hold, method="exact"),
        ctx.instances("every term has a positional twin: the same path with W_pos for W_E", _twins, method="symbolic"),
        ctx.numeric("the product evaluated with the model's softmax patterns (t for W_E, Id for W_pos) = logits",
                    _product_sides()),
        ctx.numeric("the generated terms' values (TermValues, all sources) sum to the logits", _generated_sum),
    ]
    return checks


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.instances("the expansion has 1 + Σ_l |H_l| terms", _count_formula(_sum_formula, "1 + Σ_l |H_l|")),
        ctx.instances("C(Σ_l |H_l|, k) terms have order k", _count_formula(_binomial_formula, "C(Σ|H_l|, k)")),
        ctx.identity("heads 2,1,2, layers in reverse order: (Id⊗W_U) Π_{l=1..L}(…)(Id⊗W_E) = Σ of the paths",
                     product(DERIVED.heads, reverse=True), _generated(DERIVED)),
        ctx.numeric("layers in reverse order, with the model's softmax patterns: the product = logits",
                    _product_sides(reverse=True)),
    ]


CLAIM = Claim(
    "C12",
    "L attention-only layers",
    "T = (Id⊗W_U) Π_{l=L..1}(Id + Σ_h A^h⊗W_OV^h)(Id⊗W_E): Π_l(1+|H_l|) path terms, e_k(|H_1|,…,|H_L|) of order k",
    r"T = (\mathrm{Id}\otimes W_U)\prod_{l=L}^{1}\Big(\mathrm{Id} + \sum_{h\in H_l} A^h\otimes W_{OV}^h\Big)"
    r"(\mathrm{Id}\otimes W_E),\quad \#\{\text{terms of order }k\} = e_k(|H_1|,\dots,|H_L|)",
    derive=derive,
    check=check,
    refute=refute,
)
