"""Properties of matrices closed under products, tracked by type rather than by rewriting.

    causal        square, zero above the diagonal (A[i,j] = 0 for j > i)
    nonnegative   every entry ≥ 0
    stochastic    nonnegative with every row summing to 1 (A𝟙 = 𝟙): row-stochastic
    pattern       all three — an attention pattern (CLAIMS.md: every A^{l,h} is one)

Each is closed under products, and Id has all three, so a word (a product of letters)
has every property that all its letters have. For a combination Σ c_w·w of words that
all have a property: causal matrices form a subspace (any c_w); nonnegative ones a cone
(c_w ≥ 0); stochastic ones a convex set (c_w ≥ 0, Σ c_w = 1). A transposed letter keeps
only nonnegativity; an inverse keeps none. :func:`prove_property` applies these rules to
an expression's normal form: a proof, or None (not a refutation — see the sampler).

>>> from tensoralg.algebra.expr import atom
>>> from tensoralg.algebra.symbols import standard_symbol as s
>>> A, B = atom(s("A", 1, 0)), atom(s("A", 0, 0))
>>> assumed = {A.symbol: PATTERN, B.symbol: PATTERN}
>>> print(prove_property("pattern", A @ B, assumed))
each of the 1 word(s) is a product of causal, nonnegative, stochastic factors; coefficients 1 are ≥ 0 and sum to 1
>>> prove_property("stochastic", A + B, assumed) is None
True
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping

from ..errors import TensoralgError
from .expr import Expr
from .symbols import Letter, Symbol

CAUSAL, NONNEGATIVE, STOCHASTIC = "causal", "nonnegative", "stochastic"
PROPERTIES = (CAUSAL, NONNEGATIVE, STOCHASTIC)
PATTERN = frozenset(PROPERTIES)
#: The words of property statements and the properties each asserts.
KEYWORDS: Mapping[str, frozenset[str]] = {
    CAUSAL: frozenset({CAUSAL}),
    NONNEGATIVE: frozenset({NONNEGATIVE}),
    STOCHASTIC: frozenset({NONNEGATIVE, STOCHASTIC}),
    "pattern": PATTERN,
}


def property_names(keyword: str) -> frozenset[str]:
    """The properties a keyword asserts: ``stochastic`` includes nonnegative, ``pattern`` all three."""
    if keyword not in KEYWORDS:
        raise TensoralgError(f"unknown property {keyword!r}; the properties are {', '.join(KEYWORDS)}")
    return KEYWORDS[keyword]


def check_property_shape(keyword: str, rows: str, cols: str, what: str) -> None:
    """Causal needs a square matrix; a stochastic one needs its rows to sum over a space."""
    if CAUSAL in property_names(keyword) and rows != cols:
        raise TensoralgError(f"'{keyword}' needs a square matrix (a causal one is), and {what} is {rows} × {cols}")


def _letter_properties(letter: Letter, assumed: Mapping[Symbol, frozenset[str]]) -> frozenset[str]:
    if letter.inverse:
        return frozenset()
    props = assumed.get(letter.symbol, frozenset())
    return props & {NONNEGATIVE} if letter.transposed else props


def prove_property(keyword: str, expr: Expr, assumed: Mapping[Symbol, frozenset[str]]) -> str | None:
    """Why ``expr`` has the properties of ``keyword`` given the symbols' ``assumed`` ones, or None."""
    wanted = property_names(keyword)
    nf = expr.normal_form
    if len(nf.shape) != 1:
        raise TensoralgError(f"{keyword} is a property of a plain matrix; got {len(nf.shape)} tensor factors")
    (rows, cols), = nf.shape
    check_property_shape(keyword, rows, cols, "the expression")
    words = [key[0] for key in nf.terms]
    have = set(PROPERTIES)
    for word in words:
        props = set(PROPERTIES)
        for letter in word:
            props &= _letter_properties(letter, assumed)
        have &= props
    coefficients = [Fraction(c) for c in nf.terms.values()]
    if any(c < 0 for c in coefficients):
        have -= {NONNEGATIVE, STOCHASTIC}
    if sum(coefficients) != 1:
        have.discard(STOCHASTIC)
    if not wanted <= have:
        return None
    listed = ", ".join(p for p in PROPERTIES if p in wanted)
    why = f"each of the {len(words)} word(s) is a product of {listed} factors"
    if wanted & {NONNEGATIVE, STOCHASTIC}:
        shown = ", ".join(str(c) for c in coefficients[:6]) + (", …" if len(coefficients) > 6 else "")
        why += f"; coefficients {shown} are ≥ 0" + (" and sum to 1" if STOCHASTIC in wanted else "")
    return why
