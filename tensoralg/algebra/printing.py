"""Printing expressions as Unicode, LaTeX and JSON.

Precedence, loosest first: ``+``, ``⊗``, the matrix product (juxtaposition),
``ᵀ``. So ``Id ⊗ W_U W_E + A^{0,0} ⊗ W_U W_OV^{0,0} W_E`` reads as in CLAIMS.md.

>>> from tensoralg.algebra.expr import atom, Tensor, Identity, Scaled
>>> from tensoralg.algebra.symbols import standard_symbol as s
>>> e = Tensor((atom(s("A", 1, 0)), atom(s("W_OV", 1, 0)).T)) + Scaled(-2, Tensor((Identity("n_ctx"), atom(s("W_OV", 0, 0)))))
>>> to_unicode(e)
'A^{1,0} ⊗ W_OV^{1,0}ᵀ - 2 (Id ⊗ W_OV^{0,0})'
>>> print(to_latex(e))
A^{1,0} \\otimes {W_{OV}^{1,0}}^{\\top} - 2 \\left(\\mathrm{Id} \\otimes W_{OV}^{0,0}\\right)
>>> to_json(atom(s("W_OV", 1, 0)))["terms"]
[{'coefficient': '1', 'factors': [[{'symbol': 'W_OV', 'layer': 1, 'head': 0, 'transpose': False}]]}]
"""

from __future__ import annotations

import copy
import re
from fractions import Fraction
from typing import Any, Callable, Protocol

from .index_sets import index_name, is_bound, is_variable, variables
from .normal_form import NormalForm
from .scalars import Cycle
from .symbols import ONES, Letter, Symbol


class Expr(Protocol):
    """What printing needs of an expression node of :mod:`tensoralg.algebra.expr`."""

    @property
    def normal_form(self) -> NormalForm: ...

# Printers dispatch on the kind of a node (its class name), the way sympy's printers have a
# ``_print_<Node>`` method per node type. The expression module imports this one (for its
# messages and ``str``), so this module never imports it back: the core reads bottom-up.

# Binding strength of each node kind when printed; higher binds tighter.
_SUM, _TENSOR, _SCALED, _APPLY, _PRODUCT, _ATOM = range(6)


def _kind(expr: Expr) -> str:
    return type(expr).__name__


def _strength(expr: Expr) -> int:
    kind = _kind(expr)
    if kind == "Tensor":
        return _TENSOR if len(expr.factors) > 1 else _strength(expr.factors[0])  # type: ignore[attr-defined]
    return {"Sum": _SUM, "IndexedSum": _TENSOR, "Scaled": _SCALED, "Apply": _APPLY, "Bilinear": _APPLY,
            "Product": _PRODUCT}.get(kind, _ATOM)


def _is_simple(expr: Expr) -> bool:
    """An atom or an identity: printed without parentheses under ᵀ and ⁻¹."""
    return _kind(expr) in ("Atom", "Identity")


class _Style:
    """The spelling of each construct in one output language."""

    def __init__(
        self,
        symbol: Callable[[Symbol, frozenset], str],
        transpose: Callable[[str, bool], str],
        inverse: Callable[[str, bool, bool], str],
        fraction: Callable[[Fraction], str],
        identity: str,
        tensor: str,
        dot: str,
        compose: str,
        paren: tuple[str, str],
        trace: str = "tr",
    ):
        self.symbol, self.transpose, self.inverse, self.fraction = symbol, transpose, inverse, fraction
        self.identity, self.tensor, self.dot, self.compose, self.paren = identity, tensor, dot, compose, paren
        self.trace = trace
        self.explicit_identity = False
        self.bound: frozenset = frozenset()  # variables bound by an enclosing Σ

    def binding(self, variables) -> "_Style":
        """This style inside a Σ that binds ``variables``."""
        twin = copy.copy(self)
        twin.bound = self.bound | frozenset(variables)
        return twin

    def with_explicit_identity(self) -> "_Style":
        """This style, but Id printed with its space (Id_{p}) where context cannot tell it."""
        if self.explicit_identity:
            return self
        twin = copy.copy(self)
        twin.explicit_identity = True
        return twin

    def wrap(self, text: str) -> str:
        return f"{self.paren[0]}{text}{self.paren[1]}"


def _indices(symbol: Symbol, latex: bool = False, bound: frozenset = frozenset()) -> str:
    """``1,0``; a head given by a variable that an enclosing Σ binds prints as the variable alone
    (A^{h}): the sum names its layer. A free variable keeps its layer (A^{1,h})."""
    indices = symbol.indices
    if len(indices) == 2 and indices[1] in bound and not is_variable(indices[0]):
        indices = indices[1:]
    names = [index_name(i) if is_variable(i) else str(i) for i in indices]
    if latex:
        names = [n[0] + "_{" + n[1:] + "}" if is_variable(i) and len(n) > 1 else n for i, n in zip(indices, names)]
    return ",".join(names)


def _unicode_symbol(symbol: Symbol, bound: frozenset = frozenset()) -> str:
    return symbol.name + (f"^{{{_indices(symbol, False, bound)}}}" if symbol.indices else "")


#: Combining accents a symbol name may carry (Q̂, x̃, x̄, ẋ) and their LaTeX commands.
ACCENTS = {"\u0302": "hat", "\u0303": "tilde", "\u0304": "bar", "\u0307": "dot"}
_ACCENTED = re.compile("(.)([" + "".join(ACCENTS) + "])")


def accents_latex(text: str) -> str:
    """``Q̂`` → ``\\hat{Q}``: combining accents as LaTeX accent commands.

    >>> print(accents_latex("Q\u0302_K"))
    \\hat{Q}_K
    """
    return _ACCENTED.sub(lambda m: f"\\{ACCENTS[m.group(2)]}{{{m.group(1)}}}", text)


def _latex_symbol(symbol: Symbol, bound: frozenset = frozenset()) -> str:
    if symbol.name == ONES:
        return "\\mathbf{1}"
    head, _, rest = accents_latex(symbol.name).partition("_")
    base = f"{head}_{{{rest}}}" if rest else head
    return base + (f"^{{{_indices(symbol, True, bound)}}}" if symbol.indices else "")


def _binders(bindings: Any, latex: bool) -> str:
    """``h1∈H1, h2∈H2`` (or its LaTeX) for the bindings of a sum over heads."""
    parts = []
    for variable, layer in bindings:
        name = index_name(variable)
        if latex:
            name = name[0] + ("_{" + name[1:] + "}" if len(name) > 1 else "")
            parts.append(f"{name} \\in H_{{{layer + 1}}}")
        else:
            parts.append(f"{name}∈H{layer + 1}")
    return ", ".join(parts)


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
    trace="\\operatorname{tr}",
)


def _render(expr: Expr, style: _Style) -> str:
    def sub(child: Expr, minimum: int) -> str:
        text = _render(child, style)
        return style.wrap(text) if _strength(child) < minimum else text

    def scaled(c: Fraction, inner: Expr) -> str:
        if c == -1:
            return "-" + sub(inner, _PRODUCT)
        return f"{style.fraction(c)} {sub(inner, _PRODUCT)}"

    e: Any = expr
    kind = _kind(expr)
    if kind == "Atom":
        return style.symbol(e.symbol, style.bound)
    if kind == "Identity":
        if not style.explicit_identity:
            return style.identity
        head, _, rest = e.space.partition("_")  # LaTeX: Id_{d_{\mathrm{model}}}, which reads back as Id_{d_model}
        space = f"{head}_{{\\mathrm{{{rest}}}}}" if rest and style.identity != "Id" else e.space
        return f"{style.identity}_{{{space}}}"
    if kind == "Zero":
        return "0"
    if kind == "Transpose":
        return style.transpose(_render(e.expr, style), _is_simple(e.expr))
    if kind == "Inverse":
        inner = e.expr
        if _kind(inner) == "Transpose" and _kind(inner.expr) == "Atom":
            return style.inverse(_render(inner.expr, style), True, True)
        return style.inverse(_render(inner, style), _is_simple(inner), False)
    if kind == "Scaled":
        return scaled(e.coefficient, e.expr)
    if kind == "Product":
        return " ".join(sub(f, _PRODUCT) for f in e.factors)
    if kind == "Tensor":
        return style.tensor.join(sub(f, _SCALED) for f in e.factors)
    if kind == "Sum":
        terms = e.terms
        parts = [sub(terms[0], _TENSOR)]
        for t in terms[1:]:
            if _kind(t) == "Scaled" and t.coefficient < 0:
                negated = sub(t.expr, _TENSOR) if t.coefficient == -1 else scaled(-t.coefficient, t.expr)
                parts.append(" - " + negated)
            else:
                parts.append(" + " + sub(t, _TENSOR))
        return "".join(parts)
    if kind == "Apply":
        return f"{sub(e.operator, _ATOM)}{style.dot}{sub(e.state, _ATOM)}"
    if kind == "Bilinear":
        inner_text = f"{_render(e.query, style)}, {_render(e.key, style)}"
        return f"{sub(e.form, _ATOM)}{style.compose}{style.wrap(inner_text)}"
    if kind == "Trace":  # inside tr(…) no neighbour fixes the space of an Id, so each names it
        return f"{style.trace}{style.wrap(_render(e.expr, style.with_explicit_identity()))}"
    if kind == "IndexedSum":
        latex = style.trace == LATEX.trace
        sigma = "\\sum" if latex else "Σ"
        inner_style = style.binding(v for v, _ in e.bindings)
        body = _render(e.expr, inner_style)
        body = style.wrap(body) if _strength(e.expr) < _TENSOR else body
        return f"{sigma}_{{{_binders(e.bindings, latex)}}} {body}"
    raise TypeError(f"not an expression node: {expr!r}")


def to_unicode(expr: Expr, *, explicit_identity: bool = False) -> str:
    """The expression in Unicode, as typed in CLAIMS.md (``A^{1,0} ⊗ W_U W_OV^{1,0} W_E``);
    ``explicit_identity`` writes every Id with its space (``Id_{d_model}``)."""
    return _render(expr, UNICODE.with_explicit_identity() if explicit_identity else UNICODE)


def to_latex(expr: Expr, *, explicit_identity: bool = False) -> str:
    """The expression in LaTeX (``A^{1,0} \\otimes W_{U} W_{OV}^{1,0} W_{E}``)."""
    return _render(expr, LATEX.with_explicit_identity() if explicit_identity else LATEX)


def letter_json(letter: Letter) -> dict[str, Any]:
    """One factor as ``{"symbol", "layer", "head", "transpose"}`` (null where not indexed).

    An inverse factor carries ``"inverse": true`` as well (absent otherwise).
    """
    if isinstance(letter, Cycle):
        return {"trace": [letter_json(l) for l in letter.word], "space": letter.space or letter.word[0].rows}
    s = letter.symbol
    head = index_name(s.head) if s.head is not None and is_variable(s.head) else s.head
    data = {"symbol": s.name, "layer": s.layer, "head": head, "transpose": letter.transposed}
    if letter.inverse:
        data["inverse"] = True
    return data


def to_json(expr: Expr) -> dict[str, Any]:
    """The normal form as JSON: the shape and the terms in canonical order.

    Each term is ``{"coefficient": "p/q", "factors": [[factor, ...], ...]}`` with one
    list per tensor factor, its factors in matrix-multiplication order (the empty
    list is the identity). A term summed over heads of unknown number carries
    ``"sum_over": [{"variable": "h1", "layer": 0}, …]`` and its factors name the variable as
    their head; a trace is a factor ``{"trace": [factor, …], "space": …}``.
    """
    nf = expr.normal_form
    terms = []
    for key, c in nf.sorted_terms:
        term: dict[str, Any] = {"coefficient": str(c), "factors": [[letter_json(l) for l in word] for word in key]}
        bound = sorted((v, l) for v, l in variables(key).items() if is_bound(v))[::-1] if nf.variables else []
        if bound:
            term["sum_over"] = [{"variable": index_name(v), "layer": layer} for v, layer in bound]
        terms.append(term)
    return {"shape": [list(pair) for pair in nf.shape], "terms": terms}
