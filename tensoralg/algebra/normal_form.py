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

Each rule costs time linear in the size of its output, so the normal form of a
product of sums with N terms in the result is built in O(N) dictionary
operations; sorting happens only when a canonical tree is printed.

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

from ..errors import ShapeError
from .symbols import Letter

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
        return max((sum(map(len, key)) for key in self.terms), default=0)

    def difference(self, other: "NormalForm") -> "NormalForm":
        """self − other, for reporting which terms two sides disagree on."""
        return collect_like_terms(
            self.shape,
            list(self.terms.items()) + [(k, -c) for k, c in other.terms.items()],
        )


def collect_like_terms(shape: Shape, pairs: Iterable[tuple[Key, Coefficient]]) -> NormalForm:
    """Σ cᵢtᵢ with like terms merged and zero coefficients dropped."""
    acc: dict[Key, Coefficient] = {}
    get = acc.get
    for key, c in pairs:
        acc[key] = get(key, 0) + c
    return NormalForm(shape, {k: c for k, c in acc.items() if c != 0})


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
    rterms = list(right.terms.items())
    pairs = (
        (tuple(map(concatenate, lk, rk)), lc * rc)
        for lk, lc in left.terms.items()
        for rk, rc in rterms
    )
    return collect_like_terms(shape, pairs)


def tensor_terms(left: NormalForm, right: NormalForm) -> NormalForm:
    """(Σ cᵢaᵢ)⊗(Σ dⱼbⱼ) = Σ cᵢdⱼ aᵢ⊗bⱼ."""
    rterms = list(right.terms.items())
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
            if letter.rows != letter.cols:
                raise ShapeError(
                    f"cannot invert {describe}: (XY)⁻¹ = Y⁻¹X⁻¹ needs square factors, and "
                    f"{letter.symbol.name} is {letter.rows} × {letter.cols}"
                )
    return NormalForm(nf.shape, {tuple(map(invert_word, key)): 1 / Fraction(c)})


def transpose_terms(nf: NormalForm) -> NormalForm:
    """(A⊗B)ᵀ = Aᵀ⊗Bᵀ, term by term."""
    shape = tuple((c, r) for r, c in nf.shape)
    return NormalForm(shape, {tuple(map(transpose_word, k)): c for k, c in nf.terms.items()})


def scale_terms(coefficient: Fraction, nf: NormalForm) -> NormalForm:
    """c·Σ cᵢtᵢ = Σ (c·cᵢ)tᵢ."""
    if coefficient == 0:
        return NormalForm(nf.shape, {})
    return NormalForm(nf.shape, {k: coefficient * c for k, c in nf.terms.items()})


def sum_terms(shape: Shape, parts: Iterable[NormalForm]) -> NormalForm:
    """The normal form of a sum of normal forms."""
    return collect_like_terms(shape, (item for p in parts for item in p.terms.items()))


def _join(*words: Word) -> Word:
    result: Word = ()
    for word in words:
        result = concatenate(result, word)
    return result


def action_terms(operator: NormalForm, state: NormalForm) -> NormalForm:
    """(A⊗W)·X = A X Wᵀ, and (A_q⊗A_k⊗M)·X = A_q X M Xᵀ A_kᵀ, extended (bi)linearly."""
    states = list(state.terms.items())
    shape = ((operator.shape[0][0], operator.shape[1][0]),)
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


def bilinear_terms(form: NormalForm, query: NormalForm, key: NormalForm) -> NormalForm:
    """(A_q⊗A_k⊗M)∘(A_p⊗W_p, B⊗V) = (A_qA_p)⊗(A_kB)⊗(W_pᵀMV), bilinearly; M alone is Id⊗Id⊗M."""
    if len(form.shape) == 1:
        form = NormalForm(
            ((query.shape[0][0],) * 2, (key.shape[0][0],) * 2) + form.shape,
            {((), ()) + k: c for k, c in form.terms.items()},
        )
    shape = (
        (form.shape[0][0], query.shape[0][1]),
        (form.shape[1][0], key.shape[0][1]),
        (query.shape[1][1], key.shape[1][1]),
    )
    keys = list(key.terms.items())
    pairs = (
        ((concatenate(aq, ap), concatenate(ak, b), _join(transpose_word(wp), m, v)), fc * qc * kc)
        for (aq, ak, m), fc in form.terms.items()
        for (ap, wp), qc in query.terms.items()
        for (b, v), kc in keys
    )
    return collect_like_terms(shape, pairs)
