"""Scalars: traces as cyclic words, and words that are 1 × 1 (CLAIMS C25).

A scalar is a 1 × 1 expression (the space ``1``). Its normal-form word is a product of
*segments*, each itself a scalar, and scalars commute and equal their own transpose:

    cycle          tr(X₁X₂…Xₙ) = tr(X₂…XₙX₁) = tr(Xₙᵀ…X₁ᵀ): a trace is a :class:`Cycle`
                   letter holding the least rotation of its word or of the word transposed
    trace_tensor   tr(A⊗B) = tr(A) tr(B), so a trace of a tensor term is a product of cycles
    open_cycle     a cyclic word passing through the space 1 is a chain: tr(x yᵀ) = yᵀx
    scalar_word    segments (cycles, and chains such as xᵀ W y from 1 to 1) are sorted, and a
                   chain is replaced by the lesser of itself and its transpose yᵀ Wᵀ x

tr(Id) on a space of known size n (a number in a declaration such as ``P: 3 x 3``) is n;
on a named space it stays the cycle of the empty word, the size of that space. The
Frobenius norm is ‖E‖_F² = tr(EᵀE), so it needs no rule of its own.

>>> from tensoralg.algebra.symbols import Letter, declared_symbol
>>> X, Y, Z = (Letter(declared_symbol(n, "p", "p"), False) for n in "XYZ")
>>> canonical_cycle((Y, Z, X), "p") == canonical_cycle((X, Y, Z), "p")
True
>>> canonical_cycle((X, Z, Y), "p") == canonical_cycle((X, Y, Z), "p")
False
>>> canonical_cycle((X.transpose(), Y.transpose()), "p") == canonical_cycle((Y, X), "p")
True
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from .symbols import Symbol

#: The space of scalars: a 1 × 1 expression.
SCALAR = "1"

#: The name cycles sort under among letters (never a user's symbol: "tr" cannot be declared).
TRACE = Symbol("tr", (), SCALAR, SCALAR)

Word = tuple


class Cycle(NamedTuple):
    """tr(w) for a word w up to rotation and transpose-reversal, a 1 × 1 letter of a scalar word.

    ``space`` is kept only for the empty word: tr(Id) is the size of that space.
    """

    symbol: Symbol
    word: Word
    space: str

    @property
    def rows(self) -> str:
        return SCALAR

    @property
    def cols(self) -> str:
        return SCALAR

    @property
    def transposed(self) -> bool:
        return False

    @property
    def inverse(self) -> bool:
        return False

    def transpose(self) -> "Cycle":
        """tr(X)ᵀ = tr(X): a scalar is its own transpose."""
        return self

    def invert(self) -> None:
        """No letter: 1/tr(X) is not a polynomial, so a trace never cancels against a neighbour
        (the normal form refuses to invert a term with a trace)."""
        return None

    def words(self) -> tuple[Word, ...]:
        return (self.word,)

    def map_words(self, change: Callable[[Word], Word]) -> "Cycle":
        """The cycle of change(word), canonical again (renaming may change the least rotation)."""
        (letter,) = canonical_cycle(change(self.word), self.space) or (self,)
        return letter

    @property
    def degree(self) -> int:
        """The number of symbol occurrences inside the trace."""
        return sum(getattr(l, "degree", 1) for l in self.word)


def _transpose(word: Word) -> Word:
    return tuple(letter.transpose() for letter in reversed(word))


def _cyclic_reduce(word: Word) -> Word:
    """X … X⁻¹ cancel across the ends of a cyclic word."""
    while len(word) >= 2 and word[0] == word[-1].invert():
        word = word[1:-1]
    return word


def canonical_cycle(word: Word, space: str) -> Word:
    """The scalar word of tr(word): one :class:`Cycle`, or a chain when the word passes through 1.

    ``space`` is the space the word maps (it is square); the result is a scalar word.
    """
    word = _cyclic_reduce(tuple(word))
    if not word:
        return (Cycle(TRACE, (), space),)
    for k, letter in enumerate(word):
        if letter.rows == SCALAR:
            return scalar_word(word[k:] + word[:k])
    flipped = _transpose(word)
    best = min(min(word[k:] + word[:k], flipped[k:] + flipped[:k]) for k in range(len(word)))
    return (Cycle(TRACE, best, ""),)


def scalar_word(word: Word) -> Word:
    """The canonical form of a 1 × 1 word: its scalar segments, each the lesser of itself and
    its transpose, sorted (scalars commute)."""
    if len(word) <= 1:
        return word
    segments: list[Word] = []
    start = 0
    for k in range(1, len(word) + 1):
        if k == len(word) or word[k].rows == SCALAR:
            segment = word[start:k]
            if not isinstance(segment[0], Cycle):
                segment = min(segment, _transpose(segment))
            segments.append(segment)
            start = k
    segments.sort()
    return tuple(letter for segment in segments for letter in segment)


def letter_degree(letter) -> int:
    """Symbol occurrences in one letter of a word: 1, or the length of a trace's word."""
    return letter.degree if isinstance(letter, Cycle) else 1


def key_degree(key) -> int:
    """Symbol occurrences in one term (traces counted by their words)."""
    return sum(letter_degree(l) for word in key for l in word)
