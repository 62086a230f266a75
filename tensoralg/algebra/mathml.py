"""Printing expressions as presentation MathML, for HTML pages that typeset math without JavaScript.

A sibling of the Unicode and LaTeX printers (:mod:`tensoralg.algebra.printing`), written as
one method per node type (``_print_Atom``, ``_print_Product``, …) in the manner of sympy's
printers, with the same precedence (loosest first: ``+``, ``⊗``, the product, ``ᵀ``), so
``A^{1,0} ⊗ W_U W_OV^{1,0}`` reads the same in all three. Every piece of text placed in the
markup is escaped, so a symbol or space name can never open a tag.

>>> from tensoralg.algebra.expr import atom, kron
>>> from tensoralg.algebra.symbols import standard_symbol as s
>>> print(to_mathml(kron(atom(s("A", 1, 0)), atom(s("W_OV", 1, 0)).T), display="inline"))
<math xmlns="http://www.w3.org/1998/Math/MathML"><mrow><msup><mi>A</mi><mrow><mn>1</mn><mo separator="true">,</mo><mn>0</mn></mrow></msup><mo>⊗</mo><msup><msubsup><mi>W</mi><mi>OV</mi><mrow><mn>1</mn><mo separator="true">,</mo><mn>0</mn></mrow></msubsup><mo>⊤</mo></msup></mrow></math>
"""

from __future__ import annotations

from fractions import Fraction
from html import escape

from typing import Any

from .index_sets import index_name
from .printing import _ATOM, _PRODUCT, _SCALED, _TENSOR, Expr, _indices, _is_simple, _kind, _strength, to_unicode
from .symbols import Symbol

NAMESPACE = "http://www.w3.org/1998/Math/MathML"


def mi(text: str, *, normal: bool = False) -> str:
    """An identifier; multi-letter names render upright, as MathML does by default."""
    variant = ' mathvariant="normal"' if normal else ""
    return f"<mi{variant}>{escape(text)}</mi>"


def mo(text: str, **attributes: str) -> str:
    """An operator."""
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attributes.items())
    return f"<mo{extra}>{escape(text)}</mo>"


def mn(number: int | str) -> str:
    return f"<mn>{escape(str(number))}</mn>"


def mrow(*children: str) -> str:
    return "<mrow>" + "".join(children) + "</mrow>"


def variable(name: str) -> str:
    """A head variable: ``h`` as it is, ``h1`` as h with subscript 1."""
    return mi(name) if len(name) == 1 else f"<msub>{mi(name[0])}{mn(name[1:]) if name[1:].isdigit() else mi(name[1:])}</msub>"


def symbol(name: str, upper: str = "") -> str:
    """``W_OV`` with the superscript markup ``upper``: W, subscript OV, then the superscript."""
    head, _, rest = name.partition("_")
    base = mi(head)
    if rest and upper:
        return f"<msubsup>{base}{mi(rest)}{upper}</msubsup>"
    if rest:
        return f"<msub>{base}{mi(rest)}</msub>"
    return f"<msup>{base}{upper}</msup>" if upper else base


def fenced(body: str) -> str:
    """``(body)`` with stretchy parentheses."""
    return mrow(mo("("), body, mo(")"))


def math(body: str, display: str = "block") -> str:
    """Wrap MathML content in ``<math>``; ``display`` is "block" or "inline"."""
    if display not in ("block", "inline"):
        raise ValueError(f"display must be 'block' or 'inline'; got {display!r}")
    mode = ' display="block"' if display == "block" else ""
    return f'<math xmlns="{NAMESPACE}"{mode}>{body}</math>'


class MathMLPrinter:
    """Presentation MathML of an expression tree, one ``_print_<Node>`` method per node type.

    Inside Σ_{h∈H_l} the bound head variable prints alone (A^{h}), as the Unicode and LaTeX printers do.
    """

    def __init__(self) -> None:
        self._bound: frozenset = frozenset()

    def doprint(self, expr: Expr) -> str:
        method = getattr(self, f"_print_{_kind(expr)}", None)
        return self._print_default(expr) if method is None else method(expr)

    def _print_default(self, expr: Expr) -> str:
        """A node kind without its own method: its Unicode spelling as text (still escaped, still readable)."""
        return f"<mtext>{escape(to_unicode(expr))}</mtext>"

    def _sub(self, child: Expr, minimum: int) -> str:
        text = self.doprint(child)
        return fenced(text) if _strength(child) < minimum else text

    def _base(self, inner: Expr) -> str:
        """The base of a superscript ᵀ or ⁻¹: bare for an atom or Id, else in parentheses."""
        return self.doprint(inner) if _is_simple(inner) else fenced(self.doprint(inner))

    def _print_Symbol(self, s: Symbol) -> str:
        # The Unicode printer's index spelling ("1,0", or a head variable's name such as h1), as numbers and names.
        if not s.indices:
            return symbol(s.name)
        parts = [mn(i) if i.isdigit() else variable(i) for i in _indices(s, False, self._bound).split(",")]
        joined = mo(",", separator="true").join(parts)
        return symbol(s.name, joined if len(parts) == 1 else mrow(joined))

    def _print_Trace(self, expr: Any) -> str:
        return mrow(mi("tr", normal=True), fenced(self.doprint(expr.expr)))

    def _print_IndexedSum(self, expr: Any) -> str:
        binders = mo(",", separator="true").join(
            mrow(variable(index_name(v)), mo("∈"), f"<msub>{mi('H')}{mn(layer + 1)}</msub>") for v, layer in expr.bindings
        )
        outer = self._bound
        self._bound = outer | {v for v, _ in expr.bindings}
        try:
            body = self._sub(expr.expr, _TENSOR)
        finally:
            self._bound = outer
        return mrow(f"<munder>{mo('∑')}{mrow(binders)}</munder>", body)

    def _print_Atom(self, expr: Any) -> str:
        return self._print_Symbol(expr.symbol)

    def _print_Identity(self, expr: Any) -> str:
        return mi("Id", normal=True)

    def _print_Zero(self, expr: Any) -> str:
        return mn(0)

    def _print_Transpose(self, expr: Any) -> str:
        return f"<msup>{self._base(expr.expr)}{mo('⊤')}</msup>"

    def _print_Inverse(self, expr: Any) -> str:
        inner = expr.expr
        if _kind(inner) == "Transpose" and _kind(inner.expr) == "Atom":
            return f"<msup>{self.doprint(inner.expr)}{mrow(mo('−'), mo('⊤'))}</msup>"
        return f"<msup>{self._base(inner)}{mrow(mo('−'), mn(1))}</msup>"

    def _scaled(self, c: Fraction, inner: Any) -> str:
        body = self._sub(inner, _PRODUCT)
        if c == -1:
            return mrow(mo("−"), body)
        number = mn(abs(c.numerator)) if c.denominator == 1 else f"<mfrac>{mn(abs(c.numerator))}{mn(c.denominator)}</mfrac>"
        return mrow(mo("−") if c < 0 else "", number, mo("\u2062"), body)

    def _print_Scaled(self, expr: Any) -> str:
        return self._scaled(expr.coefficient, expr.expr)

    def _print_Product(self, expr: Any) -> str:
        return mrow(*(self._sub(f, _PRODUCT) for f in expr.factors))

    def _print_Tensor(self, expr: Any) -> str:
        return mrow(mo("⊗").join(self._sub(f, _SCALED) for f in expr.factors))

    def _print_Sum(self, expr: Any) -> str:
        parts = [self._sub(expr.terms[0], _TENSOR)]
        for t in expr.terms[1:]:
            if _kind(t) == "Scaled" and t.coefficient < 0:
                negated = self._sub(t.expr, _TENSOR) if t.coefficient == -1 else self._scaled(-t.coefficient, t.expr)
                parts += [mo("−"), negated]
            else:
                parts += [mo("+"), self._sub(t, _TENSOR)]
        return mrow(*parts)

    def _print_Apply(self, expr: Any) -> str:
        return mrow(self._sub(expr.operator, _ATOM), mo("·"), self._sub(expr.state, _ATOM))

    def _print_Bilinear(self, expr: Any) -> str:
        pair = mrow(self.doprint(expr.query), mo(",", separator="true"), self.doprint(expr.key))
        return mrow(self._sub(expr.form, _ATOM), mo("∘"), fenced(pair))


def to_mathml(expr: Expr, display: str = "block") -> str:
    """The expression as a ``<math>`` element (``display`` "block" or "inline")."""
    return math(MathMLPrinter().doprint(expr), display)
