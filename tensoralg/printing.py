"""Printing expressions as Unicode, LaTeX and JSON.

Precedence, loosest first: ``+``, ``⊗``, the matrix product (juxtaposition),
``ᵀ``. So ``Id ⊗ W_U W_E + A^{0,0} ⊗ W_U W_OV^{0,0} W_E`` reads as in CLAIMS.md.

>>> from tensoralg.expr import atom, Tensor, Identity, Scaled
>>> from tensoralg.symbols import standard_symbol as s
>>> e = Tensor((atom(s("A", 1, 0)), atom(s("W_OV", 1, 0)).T)) + Scaled(-2, Tensor((Identity("n_ctx"), atom(s("W_OV", 0, 0)))))
>>> to_unicode(e)
'A^{1,0} ⊗ W_OV^{1,0}ᵀ - 2 (Id ⊗ W_OV^{0,0})'
>>> print(to_latex(e))
A^{1,0} \\otimes {W_{OV}^{1,0}}^{\\top} - 2 \\left(\\mathrm{Id} \\otimes W_{OV}^{0,0}\\right)
>>> to_json(atom(s("W_OV", 1, 0)))["terms"]
[{'coefficient': '1', 'factors': [[{'symbol': 'W_OV', 'layer': 1, 'head': 0, 'transpose': False}]]}]
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable

from .errors import TensoralgError
from .expr import (
    Apply,
    Atom,
    Bilinear,
    Expr,
    Identity,
    Inverse,
    Product,
    Scaled,
    Sum,
    Tensor,
    Transpose,
    Zero,
)
from .symbols import Letter, Symbol

# Binding strength of each node kind when printed; higher binds tighter.
_SUM, _TENSOR, _SCALED, _APPLY, _PRODUCT, _ATOM = range(6)


def _strength(expr: Expr) -> int:
    match expr:
        case Sum():
            return _SUM
        case Tensor(factors=f) if len(f) > 1:
            return _TENSOR
        case Tensor(factors=(inner,)):
            return _strength(inner)
        case Scaled():
            return _SCALED
        case Apply() | Bilinear():
            return _APPLY
        case Product():
            return _PRODUCT
        case _:
            return _ATOM


class _Style:
    """The spelling of each construct in one output language."""

    def __init__(
        self,
        symbol: Callable[[Symbol], str],
        transpose: Callable[[str, bool], str],
        inverse: Callable[[str, bool, bool], str],
        fraction: Callable[[Fraction], str],
        identity: str,
        tensor: str,
        dot: str,
        compose: str,
        paren: tuple[str, str],
    ):
        self.symbol, self.transpose, self.inverse, self.fraction = symbol, transpose, inverse, fraction
        self.identity, self.tensor, self.dot, self.compose, self.paren = identity, tensor, dot, compose, paren

    def wrap(self, text: str) -> str:
        return f"{self.paren[0]}{text}{self.paren[1]}"


def _indices(symbol: Symbol) -> str:
    return ",".join(map(str, symbol.indices))


def _unicode_symbol(symbol: Symbol) -> str:
    return symbol.name + (f"^{{{_indices(symbol)}}}" if symbol.indices else "")


def _latex_symbol(symbol: Symbol) -> str:
    head, _, rest = symbol.name.partition("_")
    base = f"{head}_{{{rest}}}" if rest else head
    return base + (f"^{{{_indices(symbol)}}}" if symbol.indices else "")


def _unicode_fraction(c: Fraction) -> str:
    return str(c.numerator) if c.denominator == 1 else f"({c})"


def _latex_fraction(c: Fraction) -> str:
    return str(c.numerator) if c.denominator == 1 else f"\\frac{{{c.numerator}}}{{{c.denominator}}}"


UNICODE = _Style(
    symbol=_unicode_symbol,
    transpose=lambda text, simple: text + "ᵀ" if simple else f"({text})ᵀ",
    inverse=lambda text, simple, t: text + ("⁻ᵀ" if t else "⁻¹") if simple else f"({text})⁻¹",
    fraction=_unicode_fraction,
    identity="Id",
    tensor=" ⊗ ",
    dot="·",
    compose=" ∘ ",
    paren=("(", ")"),
)

LATEX = _Style(
    symbol=_latex_symbol,
    transpose=lambda text, simple: f"{{{text}}}^{{\\top}}" if simple else f"\\left({text}\\right)^{{\\top}}",
    inverse=lambda text, simple, t: (f"{{{text}}}^{{-\\top}}" if t else f"{{{text}}}^{{-1}}")
    if simple
    else f"\\left({text}\\right)^{{-1}}",
    fraction=_latex_fraction,
    identity="\\mathrm{Id}",
    tensor=" \\otimes ",
    dot=" \\cdot ",
    compose=" \\circ ",
    paren=("\\left(", "\\right)"),
)


def _render(expr: Expr, style: _Style) -> str:
    def sub(child: Expr, minimum: int) -> str:
        text = _render(child, style)
        return style.wrap(text) if _strength(child) < minimum else text

    match expr:
        case Atom(symbol=symbol):
            return style.symbol(symbol)
        case Identity():
            return style.identity
        case Zero():
            return "0"
        case Transpose(expr=inner):
            simple = isinstance(inner, (Atom, Identity))
            return style.transpose(_render(inner, style), simple)
        case Inverse(expr=Transpose(expr=Atom() as inner)):
            return style.inverse(_render(inner, style), True, True)
        case Inverse(expr=inner):
            simple = isinstance(inner, (Atom, Identity))
            return style.inverse(_render(inner, style), simple, False)
        case Scaled(coefficient=c, expr=inner):
            if c == -1:
                return "-" + sub(inner, _PRODUCT)
            return f"{style.fraction(c)} {sub(inner, _PRODUCT)}"
        case Product(factors=factors):
            return " ".join(sub(f, _PRODUCT) for f in factors)
        case Tensor(factors=factors):
            return style.tensor.join(sub(f, _SCALED) for f in factors)
        case Sum(terms=terms):
            parts = [sub(terms[0], _TENSOR)]
            for t in terms[1:]:
                if isinstance(t, Scaled) and t.coefficient < 0:
                    negated = t.expr if t.coefficient == -1 else Scaled(-t.coefficient, t.expr)
                    parts.append(" - " + sub(negated, _TENSOR))
                else:
                    parts.append(" + " + sub(t, _TENSOR))
            return "".join(parts)
        case Apply(operator=op, state=st):
            return f"{sub(op, _ATOM)}{style.dot}{sub(st, _ATOM)}"
        case Bilinear(form=f, query=q, key=k):
            inner = f"{_render(q, style)}, {_render(k, style)}"
            return f"{sub(f, _ATOM)}{style.compose}{style.wrap(inner)}"
    raise TypeError(f"not an expression node: {expr!r}")


def to_unicode(expr: Expr) -> str:
    """The expression in Unicode, as typed in CLAIMS.md (``A^{1,0} ⊗ W_U W_OV^{1,0} W_E``)."""
    return _render(expr, UNICODE)


def to_latex(expr: Expr) -> str:
    """The expression in LaTeX (``A^{1,0} \\otimes W_{U} W_{OV}^{1,0} W_{E}``)."""
    return _render(expr, LATEX)


def letter_json(letter: Letter) -> dict[str, Any]:
    """One factor as ``{"symbol", "layer", "head", "transpose"}`` (null where not indexed).

    An inverse factor carries ``"inverse": true`` as well (absent otherwise).
    """
    s = letter.symbol
    data = {"symbol": s.name, "layer": s.layer, "head": s.head, "transpose": letter.transposed}
    if letter.inverse:
        data["inverse"] = True
    return data


def to_json(expr: Expr) -> dict[str, Any]:
    """The normal form as JSON: the shape and the terms in canonical order.

    Each term is ``{"coefficient": "p/q", "factors": [[factor, ...], ...]}`` with one
    list per tensor factor, its factors in matrix-multiplication order (the empty
    list is the identity).
    """
    nf = expr.normal_form
    return {
        "shape": [list(pair) for pair in nf.shape],
        "terms": [
            {"coefficient": str(c), "factors": [[letter_json(l) for l in word] for word in key]}
            for key, c in nf.sorted_terms
        ],
    }


def from_json(data: dict[str, Any], symbols: Callable[[str, tuple[int, ...]], Symbol]) -> Expr:
    """The expression of :func:`to_json`'s output; ``symbols(name, indices)`` resolves names.

    Raises TensoralgError naming the term and factor that is malformed.
    """
    from .expr import sum_of

    try:
        shape = tuple((str(r), str(c)) for r, c in data["shape"])
        terms: list[Expr] = []
        for t_index, term in enumerate(data["terms"]):
            parts: list[Expr] = []
            for (rows, _), word in zip(shape, term["factors"]):
                atoms: list[Expr] = []
                for f in word:
                    indices = tuple(i for i in (f.get("layer"), f.get("head")) if i is not None)
                    a: Expr = Atom(symbols(f["symbol"], indices))
                    a = Transpose(a) if f.get("transpose") else a
                    atoms.append(Inverse(a) if f.get("inverse") else a)
                parts.append(Identity(rows) if not atoms else atoms[0] if len(atoms) == 1 else Product(tuple(atoms)))
            body = parts[0] if len(parts) == 1 else Tensor(tuple(parts))
            terms.append(Scaled(Fraction(term["coefficient"]), body))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, TensoralgError):
            raise
        raise TensoralgError(f"malformed expression JSON: {exc!r}") from exc
    return sum_of(terms, shape)
