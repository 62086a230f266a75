"""Typed polynomials of the free algebra with transpose, and relations between them.

A relation L = R between two expressions of one shape p × q is stored as the typed
polynomial L − R: a map from words (products of letters X, Xᵀ, X⁻¹, X⁻ᵀ) to nonzero
rationals. Words are paths: a letter maps its column space to its row space, a word
exists only when consecutive shapes compose, and the empty word is Id of one space,
so rectangular matrices need no special care (the "quiver" typing of operator_gb).

Words are compared by the degree-lexicographic order (shorter first, then letter by
letter: symbols in their sort order, a plain letter before its transpose, before its
inverse), an admissible order: u < v implies a·u·b < a·v·b. The leading word of a
polynomial is its largest; a relation is oriented as leading word → the rest.

    transpose_poly     (Σ cᵢ wᵢ)ᵀ = Σ cᵢ wᵢᵀ — relations are closed under it (r = 0 ⇒ rᵀ = 0)
    leading            the largest word and its coefficient

>>> from tensoralg.algebra.symbols import declared_symbol, Letter
>>> P = Letter(declared_symbol("P", "d", "d"), False)
>>> f = Poly("d", "d", {(P, P): Fraction(1), (P,): Fraction(-1)})
>>> print(f)
P P - P
>>> leading(f)[0] == (P, P)
True
>>> print(transpose_poly(f))
Pᵀ Pᵀ - Pᵀ
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping

from ..errors import ShapeError
from .normal_form import NormalForm, transpose_word
from .printing import to_unicode
from .symbols import Letter

Word = tuple[Letter, ...]


def letter_key(letter: Letter) -> tuple:
    """The order of letters: by symbol, then plain < transposed, then plain < inverse."""
    return (letter.symbol, letter.transposed, letter.inverse)


def word_key(word: Word) -> tuple:
    """The degree-lexicographic key of a word (compare keys to compare words)."""
    return (len(word), tuple(letter_key(l) for l in word))




def vertices(word: Word, space: str) -> tuple[str, ...]:
    """The spaces a word passes through, left to right: rows of each letter, then the last columns.

    The empty word passes through its one space.
    """
    if not word:
        return (space,)
    return tuple(l.rows for l in word) + (word[-1].cols,)


@dataclass(frozen=True, eq=False)
class Poly:
    """Σ c_w·w, every word w of shape rows × cols (the empty word is Id, so rows = cols then)."""

    rows: str
    cols: str
    terms: Mapping[Word, Fraction] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Poly):
            return NotImplemented
        return (self.rows, self.cols) == (other.rows, other.cols) and dict(self.terms) == dict(other.terms)

    def __hash__(self) -> int:
        return hash((self.rows, self.cols, frozenset(self.terms.items())))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def __str__(self) -> str:
        from .expr import Atom, Identity, Inverse, Product, Scaled, Sum, Transpose, Zero

        def letter(l: Letter):
            node = Transpose(Atom(l.symbol)) if l.transposed else Atom(l.symbol)
            return Inverse(node) if l.inverse else node

        terms = []
        for w in sorted(self.terms, key=word_key, reverse=True):
            body = Identity(self.rows) if not w else letter(w[0]) if len(w) == 1 else Product(tuple(map(letter, w)))
            c = self.terms[w]
            terms.append(body if c == 1 else Scaled(c, body))
        tree = Zero(((self.rows, self.cols),)) if not terms else terms[0] if len(terms) == 1 else Sum(tuple(terms))
        return to_unicode(tree)




def from_normal_form(nf: NormalForm) -> Poly:
    """The polynomial of a one-factor normal form (a plain matrix expression)."""
    if len(nf.shape) != 1:
        raise ShapeError(f"a relation is between plain matrices; got {len(nf.shape)} tensor factors")
    (rows, cols), = nf.shape
    return Poly(rows, cols, {key[0]: Fraction(c) for key, c in nf.terms.items()})


def leading(f: Poly) -> tuple[Word, Fraction]:
    """The largest word of f in the deg-lex order, and its coefficient."""
    word = max(f.terms, key=word_key)
    return word, f.terms[word]


def transpose_poly(f: Poly) -> Poly:
    """fᵀ: every word reversed with its letters transposed."""
    return Poly(f.cols, f.rows, {transpose_word(w): c for w, c in f.terms.items()})






