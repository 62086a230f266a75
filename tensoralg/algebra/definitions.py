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

from .expr import Atom, Expr, Product, Transpose, children, rebuild
from .symbols import Symbol, standard_symbol


def _like(symbol: Symbol, name: str) -> Atom:
    """The standard symbol ``name`` with ``symbol``'s indices (index variables included)."""
    concrete = standard_symbol(name, *(max(i, 0) for i in symbol.indices))
    return Atom(concrete._replace(indices=symbol.indices))


def _ov(symbol: Symbol) -> Expr:
    return Product((_like(symbol, "W_O"), _like(symbol, "W_V")))


def _qk(symbol: Symbol) -> Expr:
    return Product((Transpose(_like(symbol, "W_Q")), _like(symbol, "W_K")))


#: The defined standard symbols and their unfoldings.
DEFINITIONS: MappingProxyType[str, Callable[[Symbol], Expr]] = MappingProxyType({"W_OV": _ov, "W_QK": _qk})


def substitute(expr: Expr, replace: Callable[[Symbol], Expr | None]) -> Expr:
    """``expr`` with every atom s replaced by ``replace(s)`` (kept where that is None).

    The replacement must have the shape of the symbol it replaces. The walk keeps its own
    stack, so trees of any depth are fine; unchanged subtrees are reused as they are.
    """
    done: dict[int, Expr] = {}
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in done:
            continue
        if isinstance(node, Atom):
            new = replace(node.symbol)
            done[id(node)] = node if new is None else new
        elif ready:
            done[id(node)] = rebuild(node, tuple(done[id(c)] for c in children(node)))
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children(node))
    return done[id(expr)]


def _is_standard(symbol: Symbol) -> bool:
    return symbol.shape == standard_symbol(symbol.name, *(max(i, 0) for i in symbol.indices)).shape


def expand_definitions(expr: Expr) -> Expr:
    """``expr`` with W_OV and W_QK unfolded into W_O W_V and W_Qᵀ W_K."""
    return substitute(
        expr,
        lambda s: DEFINITIONS[s.name](s) if s.name in DEFINITIONS and _is_standard(s) else None,
    )
