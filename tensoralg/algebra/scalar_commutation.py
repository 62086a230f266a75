"""Scalar commutation: 1 × 1 sub-words anywhere in a word commute and equal their transposes.

The space ``1`` (the columns of a vector) has size 1, so a word from 1 to 1 such as bᵀc or
xᵀ W_QK y is a number: s t = t s and sᵀ = s. A word meets the space 1 at some vertices;
cut there, it reads head · s₁ s₂ ⋯ s_k · tail with each sᵢ a *prime* scalar (a walk from 1
back to 1 that does not meet 1 in between). The laws move the sᵢ past each other and
transpose each one, and nothing else, so

    canonical(w) = head · (the sᵢ, each replaced by the smaller of sᵢ and sᵢᵀ, sorted) · tail

is a normal form: two words are equal for all matrices with a space of size 1 when their
canonical words agree (words that never meet 1 twice are their own canonical word). The
plain normal form (:mod:`tensoralg.algebra.scalars`) canonicalizes words that are 1 × 1 as a
whole; reasoning under assumptions also needs the scalars met in the middle of a word.

>>> from tensoralg.algebra.symbols import declared_symbol, Letter
>>> b, c = (Letter(declared_symbol(n, "d", "1"), False) for n in "bc")
>>> canonical_word((c.transpose(), b), "1") == canonical_word((b.transpose(), c), "1")  # cᵀb = bᵀc
True
>>> canonical_word((b, c.transpose()), "d") == (b, c.transpose())                         # b cᵀ ≠ c bᵀ
True
"""

from __future__ import annotations

from fractions import Fraction

from .normal_form import NormalForm, collect_like_terms, transpose_word
from .symbols import UNIT, Letter

Word = tuple[Letter, ...]


def _key(word: Word) -> tuple:
    return (len(word), tuple((l.symbol, l.transposed, l.inverse) for l in word))


def _vertices(word: Word, space: str) -> list[str]:
    return [space] if not word else [l.rows for l in word] + [word[-1].cols]


def canonical_word(word: Word, space: str) -> Word:
    """The canonical word of ``word`` (whose rows are ``space``) under the laws of scalars."""
    visits = [i for i, s in enumerate(_vertices(word, space)) if s == UNIT]
    if len(visits) < 2:
        return word
    primes = [word[a:b] for a, b in zip(visits, visits[1:])]
    primes = sorted((min(p, transpose_word(p), key=_key) for p in primes), key=_key)
    middle: Word = tuple(l for p in primes for l in p)
    return word[: visits[0]] + middle + word[visits[-1] :]


def scalar_normal_form(nf: NormalForm) -> NormalForm:
    """Every word of every term replaced by its canonical word, like terms collected."""
    return collect_like_terms(
        nf.shape,
        ((tuple(canonical_word(w, rows) for w, (rows, _) in zip(key, nf.shape)), Fraction(c))
         for key, c in nf.terms.items()),
    )


def meets_unit(nf: NormalForm) -> bool:
    """Whether some word passes through the space 1 at least twice (so the laws may apply)."""
    return any(sum(s == UNIT for s in _vertices(w, rows)) >= 2
               for key in nf.terms for w, (rows, _) in zip(key, nf.shape))
