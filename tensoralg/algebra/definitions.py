"""Definitions that unfold on demand, and substitution of symbols.

    W_OV^h := W_O^h W_V^h        (d_model × d_model)
    W_QK^h := W_Q^hᵀ W_K^h       (d_model × d_model)

Equality of expressions never unfolds definitions; :func:`expand_definitions`
does, so that an identity that holds only by the definitions can be proved.

>>> from tensoralg.algebra.expr import atom
>>> from tensoralg.algebra.symbols import standard_symbol as s
>>> print(expand_definitions(atom(s("W_QK", 1, 0)) @ atom(s("W_OV", 0, 2))))
W_Q^{1,0}ᵀ W_K^{1,0} W_O^{0,2} W_V^{0,2}
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable

from .expr import Apply, Atom, Bilinear, Expr, Inverse, Product, Scaled, Sum, Tensor, Transpose
from .symbols import Symbol, standard_symbol


def _ov(symbol: Symbol) -> Expr:
    return Product((Atom(standard_symbol("W_O", *symbol.indices)), Atom(standard_symbol("W_V", *symbol.indices))))


def _qk(symbol: Symbol) -> Expr:
    return Product(
        (Transpose(Atom(standard_symbol("W_Q", *symbol.indices))), Atom(standard_symbol("W_K", *symbol.indices)))
    )


#: The defined standard symbols and their unfoldings.
DEFINITIONS: MappingProxyType[str, Callable[[Symbol], Expr]] = MappingProxyType({"W_OV": _ov, "W_QK": _qk})


def substitute(expr: Expr, replace: Callable[[Symbol], Expr | None]) -> Expr:
    """``expr`` with every atom s replaced by ``replace(s)`` (kept where that is None).

    The replacement must have the shape of the symbol it replaces.
    """
    def go(node: Expr) -> Expr:
        match node:
            case Atom(symbol=symbol):
                new = replace(symbol)
                return node if new is None else new
            case Scaled(coefficient=c, expr=inner):
                return Scaled(c, go(inner))
            case Transpose(expr=inner):
                return Transpose(go(inner))
            case Inverse(expr=inner):
                return Inverse(go(inner))
            case Product(factors=fs):
                return Product(tuple(map(go, fs)))
            case Tensor(factors=fs):
                return Tensor(tuple(map(go, fs)))
            case Sum(terms=ts):
                return Sum(tuple(map(go, ts)))
            case Apply(operator=op, state=st):
                return Apply(go(op), go(st))
            case Bilinear(form=f, query=q, key=k):
                return Bilinear(go(f), go(q), go(k))
        return node

    return go(expr)


def _is_standard(symbol: Symbol) -> bool:
    return symbol.shape == standard_symbol(symbol.name, *symbol.indices).shape


def expand_definitions(expr: Expr) -> Expr:
    """``expr`` with W_OV and W_QK unfolded into W_O W_V and W_Qᵀ W_K."""
    return substitute(
        expr,
        lambda s: DEFINITIONS[s.name](s) if s.name in DEFINITIONS and _is_standard(s) else None,
    )
