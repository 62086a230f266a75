"""The canonical normal form of the tensor-product algebra.

Every expression is a polynomial with exact rational coefficients over the basis
of tensor products of words, w₁⊗w₂⊗…, where a word is a product of symbols and
transposed symbols (the identity is the empty word). In the free algebra these
words are linearly independent, so two expressions are equal for all matrices of
all sizes exactly when their normal forms have the same coefficients.

The normal form is reached by small named rules, each a pure function on normal
forms, which :func:`tensoralg.algebra.expr.normal_form` composes bottom-up over an
expression tree (this module knows words and coefficients, not trees):

    collect_like_terms    Σ cᵢ tᵢ with equal tᵢ merged, zero coefficients dropped
    mixed_product         (A⊗B)(C⊗D) = AC⊗BD, distributed over both sums; Id is
                          the empty word, so identity elimination is concatenation
    tensor_terms          (Σ aᵢ)⊗(Σ bⱼ) = Σ aᵢ⊗bⱼ (bilinearity)
    transpose_word        (XY)ᵀ = YᵀXᵀ, (Xᵀ)ᵀ = X and (X⁻¹)ᵀ = (Xᵀ)⁻¹
    transpose_terms       (A⊗B)ᵀ = Aᵀ⊗Bᵀ
    concatenate           word product with free reduction X X⁻¹ = X⁻¹ X = Id
    invert_word           (XY)⁻¹ = Y⁻¹X⁻¹; (c·A⊗B)⁻¹ = c⁻¹·A⁻¹⊗B⁻¹ for a single term
    action_terms          (A⊗W)·X = A X Wᵀ and (A_q⊗A_k⊗M)·X = A_q X M Xᵀ A_kᵀ
    bilinear_terms        (A_q⊗A_k⊗M)∘(A_p⊗W_p, B⊗V) = A_qA_p ⊗ A_kB ⊗ W_pᵀMV
    trace_terms           tr(Σ cᵢ wᵢ) = Σ cᵢ tr(wᵢ), tr(A⊗B) = tr(A) tr(B), cyclic words
                          (:mod:`tensoralg.algebra.scalars`)
    bind_terms            Σ_{h∈H_l} over a set of heads of unknown size
                          (:mod:`tensoralg.algebra.index_sets`)

Each rule costs time linear in the size of its output, so the normal form of a
product of sums with N terms in the result is built in O(N) dictionary
operations; sorting happens only when a canonical tree is printed. A rule counts
its output terms before it builds them and refuses more than :data:`MAX_TERMS`
(a product of 24 sums of two terms each has 2²⁴ terms). Terms with index variables
(``variables=True``) and words of scalar (1 × 1) factors take a slower path that
renumbers bound variables and sorts commuting scalars; other normal forms never do.

>>> from tensoralg.algebra.symbols import Letter, standard_symbol as s
>>> X, Y = Letter(s("W_OV", 0, 0), False), Letter(s("W_OV", 0, 1), False)
>>> shape = (("d_model", "d_model"),)
>>> xy = NormalForm(shape, {((X, Y),): 1})
>>> [[(l.symbol.name, l.symbol.indices, l.transposed) for l in word] for (word,), _ in transpose_terms(xy).sorted_terms]
[[('W_OV', (0, 1), True), ('W_OV', (0, 0), True)]]
>>> sum_terms(shape, [xy, scale_terms(Fraction(-1), xy)]).terms
{}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Iterable, Mapping

from ..errors import ShapeError, TermLimitError
from .index_sets import bind, bound_count, canonical_key, shift
from .scalars import SCALAR, Cycle, canonical_cycle, key_degree, scalar_word
from .symbols import Letter, space_size

#: The most terms one rule builds (counted before building): 2²⁰, about a million.
MAX_TERMS = 1 << 20

Shape = tuple[tuple[str, str], ...]
Word = tuple[Letter, ...]
Key = tuple[Word, ...]
Coefficient = int | Fraction


@dataclass(frozen=True, eq=False)
class NormalForm:
    """Σ c·(w₁⊗…⊗w_k): a map from tensor keys of words to nonzero rational coefficients.

    Equality compares shape and coefficients (independent of insertion order);
    :attr:`sorted_terms` gives the canonical order used for printing.
    """

    shape: Shape
    terms: Mapping[Key, Coefficient] = field(repr=False)
    variables: bool = field(default=False, repr=False)  # some key may hold index variables

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NormalForm):
            return NotImplemented
        return self.shape == other.shape and self.terms == other.terms

    @cached_property
    def _hash(self) -> int:
        return hash((self.shape, frozenset(self.terms.items())))

    def __hash__(self) -> int:
        return self._hash

    def __len__(self) -> int:
        return len(self.terms)

    @property
    def sorted_terms(self) -> list[tuple[Key, Fraction]]:
        """The terms in canonical order: by total degree, then lexicographically."""
        items = sorted(self.terms.items(), key=lambda kv: (sum(map(len, kv[0])), kv[0]))
        return [(key, Fraction(c)) for key, c in items]

    @property
    def degree(self) -> int:
        """The largest number of symbol occurrences in one term (0 for constants)."""
        return max((key_degree(key) for key in self.terms), default=0)

    def difference(self, other: "NormalForm") -> "NormalForm":
        """self − other, for reporting which terms two sides disagree on."""
        return collect_like_terms(
            self.shape,
            list(self.terms.items()) + [(k, -c) for k, c in other.terms.items()],
            self.variables or other.variables,
        )


def collect_like_terms(
    shape: Shape, pairs: Iterable[tuple[Key, Coefficient]], variables: bool = False
) -> NormalForm:
    """Σ cᵢtᵢ with like terms merged and zero coefficients dropped."""
    acc: dict[Key, Coefficient] = {}
    get = acc.get
    for key, c in pairs:
        acc[key] = get(key, 0) + c
    return NormalForm(shape, {k: c for k, c in acc.items() if c != 0}, variables)


def check_term_count(count: int, what: str) -> None:
    """Refuse a rule whose output would have more than :data:`MAX_TERMS` terms, before building it."""
    if count > MAX_TERMS:
        raise TermLimitError(
            f"{what} has up to {count:,} terms, more than the limit of {MAX_TERMS:,} terms a normal form "
            "may have; expand fewer sums at once (tensoralg expand --count counts path terms without building them)"
        )


def _scalar_factors(shape: Shape) -> tuple[bool, ...]:
    return tuple(r == c == SCALAR for r, c in shape)


def _tidy(key: Key, scalars: tuple[bool, ...], variables: bool) -> Key:
    """Sort the commuting scalars of 1 × 1 factors and renumber bound variables canonically."""
    if any(scalars):
        key = tuple(scalar_word(w) if s else w for w, s in zip(key, scalars))
    return canonical_key(key) if variables else key


def _disjoint(keys: Iterable[Key]) -> list[Key]:
    """The keys of terms to be multiplied, with their bound variables renumbered apart."""
    out, offset = [], 0
    for key in keys:
        out.append(shift(key, offset))
        offset += bound_count(key)
    return out


def concatenate(left: Word, right: Word) -> Word:
    """The reduced word of a product: X X⁻¹ and X⁻¹ X cancel where the words meet.

    Both words are reduced already, so cancellation can only happen at the junction.
    """
    if not (left and right) or left[-1] != right[0].invert():
        return left + right
    i, j = len(left), 0
    while i > 0 and j < len(right) and left[i - 1] == right[j].invert():
        i, j = i - 1, j + 1
    return left[:i] + right[j:]


def mixed_product(left: NormalForm, right: NormalForm) -> NormalForm:
    """(Σ cᵢ A_i⊗B_i)(Σ dⱼ C_j⊗D_j) = Σ cᵢdⱼ (A_iC_j)⊗(B_iD_j)."""
    shape = tuple((a[0], b[1]) for a, b in zip(left.shape, right.shape))
    check_term_count(len(left.terms) * len(right.terms), "the product")
    rterms = list(right.terms.items())
    variables, scalars = left.variables or right.variables, _scalar_factors(shape)
    if variables or any(scalars):
        def join(lk: Key, rk: Key) -> Key:
            lk, rk = _disjoint((lk, rk)) if variables else (lk, rk)
            return _tidy(tuple(map(concatenate, lk, rk)), scalars, variables)

        slow = ((join(lk, rk), lc * rc) for lk, lc in left.terms.items() for rk, rc in rterms)
        return collect_like_terms(shape, slow, variables)
    pairs = (
        (tuple(map(concatenate, lk, rk)), lc * rc)
        for lk, lc in left.terms.items()
        for rk, rc in rterms
    )
    return collect_like_terms(shape, pairs)


def tensor_terms(left: NormalForm, right: NormalForm) -> NormalForm:
    """(Σ cᵢaᵢ)⊗(Σ dⱼbⱼ) = Σ cᵢdⱼ aᵢ⊗bⱼ."""
    check_term_count(len(left.terms) * len(right.terms), "the tensor product")
    rterms = list(right.terms.items())
    if left.variables or right.variables:
        def join(lk: Key, rk: Key) -> Key:
            lk, rk = _disjoint((lk, rk))
            return canonical_key(lk + rk)

        slow = ((join(lk, rk), lc * rc) for lk, lc in left.terms.items() for rk, rc in rterms)
        return collect_like_terms(left.shape + right.shape, slow, True)
    return collect_like_terms(
        left.shape + right.shape,
        ((lk + rk, lc * rc) for lk, lc in left.terms.items() for rk, rc in rterms),
    )


def transpose_word(word: Word) -> Word:
    """(X₁X₂…Xₙ)ᵀ = Xₙᵀ…X₂ᵀX₁ᵀ, with (Xᵀ)ᵀ = X."""
    return tuple(letter.transpose() for letter in reversed(word))


def invert_word(word: Word) -> Word:
    """(X₁X₂…Xₙ)⁻¹ = Xₙ⁻¹…X₁⁻¹, with (X⁻¹)⁻¹ = X."""
    return tuple(letter.invert() for letter in reversed(word))


def invert_terms(nf: NormalForm, describe: str = "the expression") -> NormalForm:
    """(c·w₁⊗…⊗w_k)⁻¹ = c⁻¹·w₁⁻¹⊗…⊗w_k⁻¹; a sum of several terms has no inverse here."""
    if len(nf.terms) != 1:
        raise ShapeError(
            f"cannot invert {describe}: only a single product of symbols can be inverted, "
            f"and it has {len(nf.terms)} terms"
        )
    (key, c), = nf.terms.items()
    for word in key:
        for letter in word:
            if isinstance(letter, Cycle):
                raise ShapeError(f"cannot invert {describe}: 1/tr(X) is not a polynomial in the symbols")
            if letter.rows != letter.cols:
                raise ShapeError(
                    f"cannot invert {describe}: (XY)⁻¹ = Y⁻¹X⁻¹ needs square factors, and "
                    f"{letter.symbol.name} is {letter.rows} × {letter.cols}"
                )
    inverted = _tidy(tuple(map(invert_word, key)), _scalar_factors(nf.shape), nf.variables)
    return NormalForm(nf.shape, {inverted: 1 / Fraction(c)}, nf.variables)


def transpose_terms(nf: NormalForm) -> NormalForm:
    """(A⊗B)ᵀ = Aᵀ⊗Bᵀ, term by term."""
    shape = tuple((c, r) for r, c in nf.shape)
    scalars = _scalar_factors(shape)
    if nf.variables or any(scalars):
        return collect_like_terms(
            shape, ((_tidy(tuple(map(transpose_word, k)), scalars, nf.variables), c) for k, c in nf.terms.items()),
            nf.variables,
        )
    return NormalForm(shape, {tuple(map(transpose_word, k)): c for k, c in nf.terms.items()})


def scale_terms(coefficient: Fraction, nf: NormalForm) -> NormalForm:
    """c·Σ cᵢtᵢ = Σ (c·cᵢ)tᵢ."""
    if coefficient == 0:
        return NormalForm(nf.shape, {}, nf.variables)
    return NormalForm(nf.shape, {k: coefficient * c for k, c in nf.terms.items()}, nf.variables)


def sum_terms(shape: Shape, parts: Iterable[NormalForm]) -> NormalForm:
    """The normal form of a sum of normal forms."""
    parts = list(parts)
    return collect_like_terms(
        shape, (item for p in parts for item in p.terms.items()), any(p.variables for p in parts)
    )


def trace_terms(nf: NormalForm) -> NormalForm:
    """tr(Σ cᵢ w₁⊗…⊗w_k) = Σ cᵢ tr(w₁)⋯tr(w_k): each trace a cyclic word, tr(Id) the size of its space.

    Every factor must be square (the caller checks). The result is a scalar (1 × 1).
    """
    pairs = []
    for key, c in nf.terms.items():
        word: Word = ()
        for w, (rows, _) in zip(key, nf.shape):
            size = space_size(rows)
            if not w and size is not None:
                c = c * size
            elif rows == SCALAR:
                word += w
            else:
                word += canonical_cycle(w, rows)
        pairs.append((_tidy((word,), (True,), nf.variables), c))
    return collect_like_terms(((SCALAR, SCALAR),), pairs, nf.variables)


def bind_terms(nf: NormalForm, bindings: Mapping[int, int], describe) -> NormalForm:
    """Σ over the named variables of ``bindings`` (variable → layer): each becomes a bound
    variable of every term, numbered canonically (:func:`tensoralg.algebra.index_sets.bind`)."""
    return collect_like_terms(
        nf.shape, ((bind(key, bindings, lambda: describe(key)), c) for key, c in nf.terms.items()), True
    )


def _join(*words: Word) -> Word:
    result: Word = ()
    for word in words:
        result = concatenate(result, word)
    return result


def action_terms(operator: NormalForm, state: NormalForm) -> NormalForm:
    """(A⊗W)·X = A X Wᵀ, and (A_q⊗A_k⊗M)·X = A_q X M Xᵀ A_kᵀ, extended (bi)linearly."""
    states = list(state.terms.items())
    shape = ((operator.shape[0][0], operator.shape[1][0]),)
    factor = len(states) if len(operator.shape) == 2 else len(states) ** 2
    check_term_count(len(operator.terms) * factor, "the action")
    variables = operator.variables or state.variables
    if variables or any(_scalar_factors(shape)):
        return _action_slow(operator, states, shape, variables)
    if len(operator.shape) == 2:
        pairs = (
            ((_join(a, x[0], transpose_word(w)),), oc * xc)
            for (a, w), oc in operator.terms.items()
            for x, xc in states
        )
    else:
        pairs = (
            ((_join(aq, x[0], m, transpose_word(y[0]), transpose_word(ak)),), oc * xc * yc)
            for (aq, ak, m), oc in operator.terms.items()
            for x, xc in states
            for y, yc in states
        )
    return collect_like_terms(shape, pairs)


def _action_slow(operator: NormalForm, states: list, shape: Shape, variables: bool) -> NormalForm:
    scalars = _scalar_factors(shape)
    pairs = []
    for op_key, oc in operator.terms.items():
        if len(operator.shape) == 2:
            for x, xc in states:
                (a, w), (xw,) = _disjoint((op_key, x)) if variables else (op_key, x)
                pairs.append((_tidy((_join(a, xw, transpose_word(w)),), scalars, variables), oc * xc))
            continue
        for x, xc in states:
            for y, yc in states:
                (aq, ak, m), (xw,), (yw,) = _disjoint((op_key, x, y)) if variables else (op_key, x, y)
                word = _join(aq, xw, m, transpose_word(yw), transpose_word(ak))
                pairs.append((_tidy((word,), scalars, variables), oc * xc * yc))
    return collect_like_terms(shape, pairs, variables)


def bilinear_terms(form: NormalForm, query: NormalForm, key: NormalForm) -> NormalForm:
    """(A_q⊗A_k⊗M)∘(A_p⊗W_p, B⊗V) = (A_qA_p)⊗(A_kB)⊗(W_pᵀMV), bilinearly; M alone is Id⊗Id⊗M."""
    if len(form.shape) == 1:
        form = NormalForm(
            ((query.shape[0][0],) * 2, (key.shape[0][0],) * 2) + form.shape,
            {((), ()) + k: c for k, c in form.terms.items()},
            form.variables,
        )
    shape = (
        (form.shape[0][0], query.shape[0][1]),
        (form.shape[1][0], key.shape[0][1]),
        (query.shape[1][1], key.shape[1][1]),
    )
    check_term_count(len(form.terms) * len(query.terms) * len(key.terms), "the bilinear form")
    keys = list(key.terms.items())
    variables = form.variables or query.variables or key.variables
    if variables:
        def join(fk: Key, qk: Key, kk: Key) -> Key:
            (aq, ak, m), (ap, wp), (b, v) = _disjoint((fk, qk, kk))
            return canonical_key((concatenate(aq, ap), concatenate(ak, b), _join(transpose_word(wp), m, v)))

        slow = (
            (join(fk, qk, kk), fc * qc * kc)
            for fk, fc in form.terms.items()
            for qk, qc in query.terms.items()
            for kk, kc in keys
        )
        return collect_like_terms(shape, slow, True)
    pairs = (
        ((concatenate(aq, ap), concatenate(ak, b), _join(transpose_word(wp), m, v)), fc * qc * kc)
        for (aq, ak, m), fc in form.terms.items()
        for (ap, wp), qc in query.terms.items()
        for (b, v), kc in keys
    )
    return collect_like_terms(shape, pairs)


def instantiate_heads(nf: NormalForm, heads: tuple[int, ...], free: Mapping[int, int]) -> NormalForm:
    """The concrete normal form when layer l has heads[l] heads: every bound variable runs over
    its layer's heads, and each named (free) variable takes the head ``free`` gives it."""
    from .index_sets import assignments

    if not nf.variables:
        return nf
    scalars = _scalar_factors(nf.shape)
    pairs = ((_tidy(k, scalars, False), c) for key, c in nf.terms.items() for k in assignments(key, heads, free))
    return collect_like_terms(nf.shape, pairs)
