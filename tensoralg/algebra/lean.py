"""A PROVED identity with its certificate as Lean 4 / mathlib text.

The theorem quantifies over the sizes of the spaces (natural numbers) and the symbols
(rational matrices ``Matrix (Fin m) (Fin n) ℚ``), takes each relation as a hypothesis,
and proves the identity by a ``calc`` chain that follows the certificate:

    L = (L − R) + R                                   by abel
      = (Σ cᵢ uᵢ (ℓᵢ − rᵢ) vᵢ) + R                    by the free-algebra identity
      = R                                             rewriting each ℓᵢ − rᵢ to 0

The middle step is an identity of the free algebra, closed with mathlib's
``Matrix.mul_sub``, ``Matrix.sub_mul``, ``Matrix.mul_assoc``, ``Matrix.transpose_mul`` … and
``abel``. The sides are printed as their normal forms (sums of products of letters); 𝟙 of a
space n is a variable ``one_n`` with the hypothesis ``one_n = fun _ _ => 1`` (the proof never
needs its entries). The text is meant to be checked
where mathlib is installed; nothing here runs Lean.

>>> from tensoralg.algebra.expr import atom
>>> from tensoralg.algebra.symbols import declared_symbol, Letter
>>> from tensoralg.algebra.certificate import Certificate, Relation, Term
>>> P = atom(declared_symbol("P", "d", "d"))
>>> cert = Certificate((Relation(P @ P, P, "P P = P"),), (Term(1, (), 0, False, ()),))
>>> text = lean_theorem(P @ P, P, cert)
>>> print(text.splitlines()[4])
theorem tensoralg_identity {d : ℕ} (P : Matrix (Fin d) (Fin d) ℚ)
"""

from __future__ import annotations

import re
from fractions import Fraction

from ..errors import TensoralgError
from .certificate import SCALAR_LAW, Certificate, Term
from .definitions import expand_definitions
from .expr import Expr, symbols_in
from .normal_form import NormalForm
from .symbols import ONES, UNIT, Letter, Symbol


def _name(symbol: Symbol) -> str:
    if symbol.name == ONES:
        return f"one_{_ident(symbol.rows)}"
    return _ident(symbol.name + "".join(f"_{i}" for i in symbol.indices))


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _dim(space: str) -> str:
    return "1" if space == UNIT else _ident(space)


def _type(rows: str, cols: str) -> str:
    return f"Matrix (Fin {_dim(rows)}) (Fin {_dim(cols)}) ℚ"


def _letter(letter: Letter) -> str:
    text = _name(letter.symbol)
    if letter.transposed:
        text += "ᵀ"
    if letter.inverse:
        text += "⁻¹"
    return text


def _word(word: tuple, rows: str) -> str:
    if not word:
        return f"(1 : {_type(rows, rows)})"
    return " * ".join(_letter(l) for l in word)


def _scaled(c: Fraction, body: str) -> str:
    if c == 1:
        return body
    return f"({c.numerator}{'' if c.denominator == 1 else f' / {c.denominator}'} : ℚ) • ({body})"


def _poly(nf: NormalForm) -> str:
    (rows, cols), = nf.shape
    if not nf.terms:
        return f"(0 : {_type(rows, cols)})"
    return " + ".join(_scaled(Fraction(c), _word(key[0], rows)) for key, c in nf.sorted_terms)


def _relation_text(cert: Certificate, index: int) -> tuple[str, str]:
    r = cert.relations[index]
    return _poly(expand_definitions(r.lhs).normal_form), _poly(expand_definitions(r.rhs).normal_form)


def _term(cert: Certificate, t: Term, rows: str) -> str:
    if t.relation < 0:
        middle = f"({_word(t.cancel, '')} - 1)"
    else:
        a, b = _relation_text(cert, t.relation)
        middle = f"(({a} - {b})ᵀ)" if t.transposed else f"({a} - {b})"
    parts = [p for p in (_word(t.left, rows) if t.left else "", middle, _word(t.right, "") if t.right else "") if p]
    return _scaled(Fraction(t.coefficient), " * ".join(parts))


def lean_theorem(lhs: Expr, rhs: Expr, certificate: Certificate, name: str = "tensoralg_identity") -> str:
    """Lean 4 / mathlib text of ``lhs = rhs`` under the certificate's relations (see the module doc)."""
    if len(lhs.shape) != 1 or any(t.context for t in certificate.terms):
        raise TensoralgError("the Lean export covers plain matrix identities, not tensor terms")
    if any(l.inverse for t in certificate.terms for w in (t.left, t.right) for l in w):
        raise TensoralgError("the Lean export does not cover inverses yet")
    if any(t.relation == SCALAR_LAW for t in certificate.terms):
        raise TensoralgError("the Lean export does not cover the laws of 1 × 1 words yet")
    exprs = [expand_definitions(lhs), expand_definitions(rhs)] + [
        expand_definitions(x) for r in certificate.relations for x in (r.lhs, r.rhs)]
    symbols = sorted({s for e in exprs for s in symbols_in(e)})
    spaces = sorted(({sp for s in symbols for sp in s.shape} | {sp for e in exprs for pair in e.shape for sp in pair})
                    - {UNIT})
    (rows, _), = lhs.shape
    L, R = _poly(expand_definitions(lhs).normal_form), _poly(expand_definitions(rhs).normal_form)
    binders = " ".join("{" + _dim(s) + " : ℕ}" for s in spaces)
    args = " ".join(f"({_name(s)} : {_type(s.rows, s.cols)})" for s in symbols)
    hyps = [f"(h{_name(s)} : {_name(s)} = fun _ _ => 1)" for s in symbols if s.name == ONES]
    hyps += [f"(h{i} : {a} = {b})" for i in range(len(certificate.relations)) for a, b in [_relation_text(certificate, i)]]
    zero = [f"  have z{i} : {a} - {b} = 0 := sub_eq_zero.mpr h{i}"
            for i in range(len(certificate.relations)) for a, b in [_relation_text(certificate, i)]]
    combination = " + ".join(_term(certificate, t, rows) for t in certificate.terms) or "0"
    lines = [
        "import Mathlib",
        "",
        "open Matrix",
        "",
        f"theorem {name} {binders} {args}".rstrip(),
        *(f"    {h}" for h in hyps),
        f"    : {L} = {R} := by",
        *zero,
        "  calc " + L,
        f"      = ({L} - ({R})) + ({R}) := by abel",
        f"    _ = ({combination}) + ({R}) := by",
        "        simp only [Matrix.mul_sub, Matrix.sub_mul, Matrix.mul_add, Matrix.add_mul, Matrix.mul_assoc,",
        "          Matrix.transpose_mul, Matrix.transpose_sub, Matrix.transpose_add, Matrix.transpose_transpose,",
        "          Matrix.mul_smul, Matrix.smul_mul, Matrix.mul_one, Matrix.one_mul, smul_sub, smul_add]",
        "        abel",
        f"    _ = {R} := by simp [{', '.join(f'z{i}' for i in range(len(certificate.relations)))}]".replace("[]", ""),
    ]
    return "\n".join(lines) + "\n"
