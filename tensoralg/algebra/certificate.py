"""Certificates of identities modulo relations, and their independent checker.

A certificate for L = R modulo relations ℓᵢ = rᵢ is a list of terms (c, u, i, t, v):

    L − R = Σ c · u · (ℓᵢ − rᵢ)^{t} · v          (t: the relation or its transpose)

with u, v words whose shapes compose with the relation's. :func:`check_certificate`
re-verifies one by expanding both sides in the plain free-algebra normal form of
:mod:`tensoralg.algebra.normal_form` (definitions such as W_OV = W_O W_V unfolded on
both sides); it shares no code with the completion that found the certificate, so a
bug there cannot make a wrong certificate pass. A term may also use X X⁻¹ = Id, which
the normal form already knows (such terms expand to 0), or the law of scalars: two words
equal as products of 1 × 1 words (the checker compares their canonical words itself). For a tensor term, a
certificate term acts in one tensor factor (``slot``) and carries the other factors'
words (``context``).

>>> from tensoralg.algebra.expr import atom
>>> from tensoralg.algebra.symbols import declared_symbol, Letter
>>> A, B = (declared_symbol(n, "n", "n") for n in "AB")
>>> one = declared_symbol("u", "n", "k")
>>> a, b, u = atom(A), atom(B), atom(one)
>>> relations = (Relation(a @ u, u, "A u = u"), Relation(b @ u, u, "B u = u"))
>>> cert = Certificate(relations, (Term(1, (), 0, False, ()), Term(1, (Letter(A, False),), 1, False, ())))
>>> check_certificate(a @ b @ u, u, cert).ok             # A B u − u = (A u − u) + A (B u − u)
True
>>> check_certificate(b @ a @ u, u, cert).ok
False
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

from ..errors import TensoralgError
from .definitions import expand_definitions
from .expr import Expr, Identity, Product, Scaled, Tensor, Transpose, canonical_tree, format_shape, word_tree
from .normal_form import NormalForm, collect_like_terms
from .printing import to_unicode
from .scalar_commutation import canonical_word
from .symbols import Letter

Word = tuple[Letter, ...]
#: Relation indices of the laws every certificate may use: X X⁻¹ = Id, and 1 × 1 words commute
#: and equal their transposes (the space 1 has size 1; see :mod:`tensoralg.algebra.scalars`).
INVERSE_LAW, SCALAR_LAW = -1, -2


@dataclass(frozen=True)
class Relation:
    """An assumed relation lhs = rhs between two expressions of one shape, with its text."""

    lhs: Expr
    rhs: Expr
    text: str = ""

    def __post_init__(self) -> None:
        if self.lhs.shape != self.rhs.shape:
            raise TensoralgError(f"the sides of the relation {self.text or to_unicode(self.lhs)} have different shapes: "
                                 f"{format_shape(self.lhs.shape)} and {format_shape(self.rhs.shape)}")

    def difference(self, transposed: bool = False) -> Expr:
        """ℓ − r, or (ℓ − r)ᵀ."""
        d = self.lhs - self.rhs
        return Transpose(d) if transposed else d


@dataclass(frozen=True)
class Term:
    """c · u · (relation ``relation``, transposed if ``transposed``) · v, in tensor factor ``slot``.

    ``relation`` indexes the certificate's relations; INVERSE_LAW (-1) means u = Id for the
    word u = X X⁻¹ in ``cancel`` (it expands to 0 in the normal form); SCALAR_LAW (-2) means
    w = w' for the words in ``equal``, equal as products of 1 × 1 words.
    """

    coefficient: Fraction | int
    left: Word
    relation: int
    transposed: bool
    right: Word
    slot: int = 0
    context: tuple[tuple[Word, str], ...] = ()  # (word, its row space) per tensor factor
    cancel: Word = ()
    equal: tuple[Word, Word, str] = ()  # relation -2: the words w, w' (rows in the space) equal as scalars

    def to_json(self, relations: Sequence[Relation]) -> dict[str, Any]:
        return {
            "coefficient": str(Fraction(self.coefficient)),
            "left": _word_text(self.left),
            "relation": self.relation,
            "relation_text": relations[self.relation].text if self.relation >= 0
            else "X X⁻¹ = Id: " + _word_text(self.cancel) if self.relation == INVERSE_LAW
            else f"1 × 1 words commute and equal their transposes: {_word_text(self.equal[0])} = "
                 f"{_word_text(self.equal[1])}",
            "transposed": self.transposed,
            "right": _word_text(self.right),
            **({"slot": self.slot, "context": [_word_text(w) or "Id" for w, _ in self.context]} if self.context else {}),
            **({"equal": [_word_text(self.equal[0]), _word_text(self.equal[1])]} if self.equal else {}),
        }


@dataclass(frozen=True)
class Certificate:
    """L − R = Σ terms, over the given relations."""

    relations: tuple[Relation, ...]
    terms: tuple[Term, ...]

    def __len__(self) -> int:
        return len(self.terms)

    def to_json(self) -> dict[str, Any]:
        return {
            "relations": [r.text or f"{to_unicode(r.lhs)} = {to_unicode(r.rhs)}" for r in self.relations],
            "terms": [t.to_json(self.relations) for t in self.terms],
        }

    def describe(self) -> str:
        """L − R = Σ c·u·(ℓ − r)·v as one line of text."""
        parts = []
        for t in self.terms:
            if t.relation == SCALAR_LAW:
                body = f"scalar({_word_text(t.equal[0]) or 'Id'} - {_word_text(t.equal[1]) or 'Id'})"
            elif t.relation < 0:
                body = f"({_word_text(t.cancel)} - Id)"
            else:
                r = self.relations[t.relation]
                body = f"({to_unicode(r.lhs)} - {to_unicode(r.rhs)})" + ("ᵀ" if t.transposed else "")
            c = Fraction(t.coefficient)
            factor = "" if c == 1 else "-" if c == -1 else f"{c} "
            inner = " ".join(x for x in (_word_text(t.left), body, _word_text(t.right)) if x)
            if t.context:
                inner = " ⊗ ".join((inner if inner == body else f"({inner})") if k == t.slot else (_word_text(w) or "Id")
                                   for k, (w, _) in enumerate(t.context))
            parts.append(factor + inner)
        return " + ".join(parts).replace("+ -", "- ") or "0"


@dataclass(frozen=True)
class CertificateCheck:
    """The checker's answer: ``ok``, and what it compared."""

    ok: bool
    detail: str


def _word_text(word: Word) -> str:
    return to_unicode(word_tree(word, "")) if word else ""


def _expand_term(term: Term, relations: Sequence[Relation]) -> NormalForm:
    if term.relation == SCALAR_LAW:
        if len(term.equal) != 3:
            raise TensoralgError("a scalar-law term needs its two words and their space")
        w, w2, space = term.equal
        if canonical_word(w, space) != canonical_word(w2, space):
            raise TensoralgError(f"{_word_text(w)} and {_word_text(w2)} are not equal as products of 1 × 1 words")
        middle = word_tree(w, space) - word_tree(w2, space)
    elif term.relation < 0:
        if not term.cancel:
            raise TensoralgError("an inverse-law term needs its word X X⁻¹")
        middle = word_tree(term.cancel, "") - Identity(term.cancel[0].rows)
    else:
        middle = relations[term.relation].difference(term.transposed)
    (rows, cols), = middle.shape
    body = Product((word_tree(term.left, rows), expand_definitions(middle), word_tree(term.right, cols)))
    if term.context:
        parts = [body if k == term.slot else word_tree(w, space) for k, (w, space) in enumerate(term.context)]
        body = Tensor(tuple(parts))
    return Scaled(Fraction(term.coefficient), body).normal_form


def check_certificate(lhs: Expr, rhs: Expr, certificate: Certificate) -> CertificateCheck:
    """Whether L − R equals the certificate's Σ c·u·(ℓᵢ − rᵢ)·v in the free algebra's normal form."""
    try:
        diff = expand_definitions(lhs).normal_form.difference(expand_definitions(rhs).normal_form)
        pairs = []
        for t in certificate.terms:
            if t.relation >= len(certificate.relations):
                return CertificateCheck(False, f"a term uses relation {t.relation}, but there are only "
                                        f"{len(certificate.relations)}")
            pairs.extend(_expand_term(t, certificate.relations).terms.items())
        total = collect_like_terms(diff.shape, pairs) if pairs else NormalForm(diff.shape, {})
    except TensoralgError as exc:
        return CertificateCheck(False, f"a certificate term does not type-check: {exc}")
    if total.shape != diff.shape:
        return CertificateCheck(False, "the certificate's terms have another shape than L − R")
    gap = total.difference(diff)
    if gap.terms:
        return CertificateCheck(False, f"L − R and the certificate differ by {len(gap)} term(s), e.g. "
                                f"{to_unicode(canonical_tree(collect_like_terms(gap.shape, gap.sorted_terms[:1])))}")
    return CertificateCheck(True, f"L − R = Σ of {len(certificate)} term(s) c·u·(ℓ − r)·v, checked in the free algebra")
