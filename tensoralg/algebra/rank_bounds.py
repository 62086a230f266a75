"""Upper bounds on rank read off an expression's form (CLAIMS C5, C26).

A bound is a polynomial in the sizes of the spaces with non-negative integer
coefficients, a map from monomials (sorted tuples of space names) to coefficients; a
space named by a number (``1``, ``3``) is that constant. An expression has several
bounds at once (its rank is at most each of them):

    symbol / Id       rank X ≤ rows and rank X ≤ cols, rank Id_n = n
    product           rank(XY) ≤ min(rank X, rank Y): every bound of every factor
    sum               rank(X + Y) ≤ rank X + rank Y: sums of one bound per term
    tensor product    rank(X⊗Y) = rank X · rank Y: products of one bound per factor
    Xᵀ, X⁻¹, cX       the bounds of X (cX with c = 0 has rank 0)
    common factor     Σᵢ Pᵢ S = (Σᵢ Pᵢ) S: when every term of a sum (also over heads of unknown
                      number) ends, or starts, with the same letters, the spaces of those letters

so rank(W_U W_O W_V W_E) ≤ d_head, and rank(W_OV^{0,0} + W_OV^{0,1}) ≤ 2 d_head and
≤ d_model. W_OV and W_QK should be unfolded first (the caller does). A bound p proves
rank ≤ k for all sizes when every monomial of p divides monomials of k whose
coefficients cover its own (sizes are ≥ 1): :func:`at_most`.

>>> from tensoralg.algebra.expr import atom
>>> from tensoralg.algebra.symbols import standard_symbol as s
>>> e = atom(s("W_U")) @ atom(s("W_O", 0, 0)) @ atom(s("W_V", 0, 0)) @ atom(s("W_E"))
>>> at_most(rank_bounds(e), parse_size("d_head"))
True
>>> two = atom(s("W_O", 0, 0)) @ atom(s("W_V", 0, 0)) + atom(s("W_O", 0, 1)) @ atom(s("W_V", 0, 1))
>>> at_most(rank_bounds(two), parse_size("d_head")), at_most(rank_bounds(two), parse_size("2 d_head"))
(False, True)
"""

from __future__ import annotations

import re
from itertools import islice, product as cartesian

from ..errors import FormulaSyntaxError
from .expr import (
    Atom,
    Expr,
    Identity,
    Inverse,
    Product,
    Scaled,
    Sum,
    Tensor,
    Transpose,
    Zero,
    canonical_tree,
)
from .index_sets import is_variable
from .symbols import Letter, space_size

Poly = dict[tuple[str, ...], int]

#: The most alternative bounds kept for one node (sums and tensor products multiply them).
MAX_BOUNDS = 64


#: The nodes whose bounds the rules read off; anything else is bounded by its shape alone.
_READ_OFF = (Atom, Identity, Zero, Scaled, Transpose, Inverse, Product, Sum, Tensor)


def _space(space: str) -> Poly:
    size = space_size(space)
    return {(): size} if size is not None else {(space,): 1}


def _add(a: Poly, b: Poly) -> Poly:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, 0) + c
    return out


def _mul(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = tuple(sorted(ma + mb))
            out[m] = out.get(m, 0) + ca * cb
    return out


def _unique(bounds) -> list[Poly]:
    seen, out = set(), []
    for p in bounds:
        key = frozenset(p.items())
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out[:MAX_BOUNDS]


def rank_bounds(expr: Expr) -> list[Poly]:
    """Every bound the rules give for rank(expr) (see the module docstring), and the number of
    rows and of columns of the whole (a sum over heads of unknown number has only those)."""
    rows: Poly = {(): 1}
    cols: Poly = {(): 1}
    for r, c in expr.shape:
        rows, cols = _mul(rows, _space(r)), _mul(cols, _space(c))
    return _unique([*_form_bounds(expr), rows, cols])


def _form_bounds(expr: Expr) -> list[Poly]:
    match expr:
        case Atom(symbol=symbol):
            return _unique([_space(symbol.rows), _space(symbol.cols)])
        case Identity(space=space):
            return [_space(space)]
        case Zero():
            return [{}]
        case Scaled(coefficient=c, expr=inner):
            return [{}] if c == 0 else rank_bounds(inner)
        case Transpose(expr=inner) | Inverse(expr=inner):
            return rank_bounds(inner)
        case Product(factors=factors):
            return _unique(p for f in factors for p in rank_bounds(f))
        case Sum(terms=terms):
            combos = islice(cartesian(*(rank_bounds(t) for t in terms)), MAX_BOUNDS)
            out = []
            for combo in combos:
                total: Poly = {}
                for p in combo:
                    total = _add(total, p)
                out.append(total)
            return _unique([*out, *_common_factor_bounds(expr)])
        case Tensor(factors=factors):
            combos = islice(cartesian(*(rank_bounds(f) for f in factors)), MAX_BOUNDS)
            out = []
            for combo in combos:
                total = {(): 1}
                for p in combo:
                    total = _mul(total, p)
                out.append(total)
            return _unique(out)
    if expr.normal_form.variables:
        return _common_factor_bounds(expr)
    tree = canonical_tree(expr.normal_form)
    if not isinstance(tree, _READ_OFF):
        # a node the rules do not read (a trace, a 1 × 1 scalar): only its shape bounds it
        return []
    return rank_bounds(tree)


def _common_factor_bounds(expr: Expr) -> list[Poly]:
    """Bounds from letters every term of ``expr``'s normal form starts or ends with, in each tensor
    factor: Σᵢ Pᵢ S Qᵢ … has rank ≤ rank S when S is a common prefix or suffix (a letter whose index
    is a bound variable differs from term to term, so it is never common)."""
    nf = expr.normal_form
    if not nf.terms:
        return [{}]  # the sum is 0: rank 0
    keys = list(nf.terms)
    per_factor: list[list[Poly]] = []
    for f, (rows, cols) in enumerate(expr.shape):
        words = [key[f] for key in keys]
        common: list[Letter] = []
        for ends in (lambda w, k: w[k], lambda w, k: w[-1 - k]):
            k = 0
            while all(len(w) > k for w in words) and _fixed(ends(words[0], k)) and all(ends(w, k) == ends(words[0], k) for w in words):
                common.append(ends(words[0], k))
                k += 1
        spaces = {rows, cols} | {space for letter in common for space in (letter.rows, letter.cols)}
        per_factor.append(_unique(_space(space) for space in sorted(spaces)))
    out = []
    for combo in islice(cartesian(*per_factor), MAX_BOUNDS):
        total: Poly = {(): 1}
        for p in combo:
            total = _mul(total, p)
        out.append(total)
    return _unique(out)


def _fixed(letter) -> bool:
    """A letter of one fixed symbol (no index variable), not a trace."""
    return isinstance(letter, Letter) and not any(is_variable(i) for i in getattr(letter.symbol, "indices", ()))


def at_most(bounds: list[Poly], k: Poly) -> bool:
    """True when one of ``bounds`` is ≤ k for all sizes ≥ 1 (each monomial covered by multiples
    of itself in k; constants by anything). The negative terms of k move to the left: p ≤ k⁺ − k⁻
    is p + k⁻ ≤ k⁺.

    >>> at_most([parse_size("d_head")], parse_size("d_head - 1")), at_most([parse_size("d_head")], parse_size("2 d_head - 1"))
    (False, True)
    """
    positive = {m: c for m, c in k.items() if c > 0}
    negative = {m: -c for m, c in k.items() if c < 0}
    return any(_covered(_add(p, negative), positive) for p in bounds)


def _divides(m: tuple[str, ...], n: tuple[str, ...]) -> bool:
    rest = list(n)
    for space in m:
        if space not in rest:
            return False
        rest.remove(space)
    return True


def _covered(p: Poly, k: Poly) -> bool:
    budget = dict(k)
    for m, c in sorted(p.items(), key=lambda mc: -len(mc[0])):
        for n in sorted(budget, key=len):
            if c <= 0:
                break
            if budget[n] > 0 and _divides(m, n):
                used = min(c, budget[n])
                budget[n] -= used
                c -= used
        if c > 0:
            return False
    return True


def evaluate_size(p: Poly, dims: dict[str, int]) -> int:
    """The value of a size polynomial at the given sizes."""
    total = 0
    for m, c in p.items():
        value = c
        for space in m:
            value *= dims[space]
        total += value
    return total


_TERM = re.compile(r"\s*([0-9]+|[A-Za-z_][A-Za-z0-9_{}]*)\s*")


def parse_size(text: str) -> Poly:
    """A size such as ``d_head``, ``2 d_head``, ``d_head + d_head``, ``3``, ``n_{ctx} d_head``,
    ``d_head - 1`` (terms added or subtracted).

    >>> parse_size("2 d_head + d_model") == {("d_head",): 2, ("d_model",): 1}
    True
    >>> parse_size("d_head − 1") == {("d_head",): 1, (): -1}
    True
    """
    cleaned = re.sub(r"\\(cdot|times|,|;|!|quad)|[·×*]", " ", text)
    cleaned = re.sub(r"\\(mathrm|text|operatorname)\{([^}]*)\}", r"\2", cleaned)
    cleaned = cleaned.replace("−", "-")
    total: Poly = {}
    pieces = re.split(r"([+-])", cleaned)
    signed = [(1, pieces[0])] + [(1 if sign == "+" else -1, piece) for sign, piece in zip(pieces[1::2], pieces[2::2])]
    for sign, piece in signed:
        if not piece.strip():
            raise FormulaSyntaxError(f"expected a size such as d_head or 2 d_head after ≤; got {text.strip()!r}")
        term: Poly = {(): 1}
        pos = 0
        while pos < len(piece):
            m = _TERM.match(piece, pos)
            if m is None or m.end() == pos:
                raise FormulaSyntaxError(
                    f"expected a size such as d_head, 2 d_head or d_head + d_head after ≤; got {text.strip()!r}"
                )
            token = m.group(1).replace("{", "").replace("}", "")
            term = _mul(term, {(): int(token)} if token.isdigit() else {(token,): 1})
            pos = m.end()
        total = _add(total, {mono: sign * c for mono, c in term.items()})
    return {m: c for m, c in total.items() if c}


def size_text(p: Poly) -> str:
    """A size polynomial as text: ``2 d_head + d_model``."""
    if not p:
        return "0"
    text = ""
    for m, c in sorted(p.items(), key=lambda mc: (not mc[0], len(mc[0]), mc[0])):
        names = " ".join(m)
        part = names if abs(c) == 1 and names else f"{abs(c)} {names}".strip()
        text += (f" {'-' if c < 0 else '+'} " if text else ("-" if c < 0 else "")) + part
    return text
