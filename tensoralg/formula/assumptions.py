"""Assumptions as people type them: relations between words and properties of symbols.

    A^{1,0} 𝟙 = 𝟙            a relation L = R (one '=' or '=='), any two expressions of one shape
    P P = P,  Pᵀ = P,  P 𝟙 = 0,  Rᵀ R = Id,  S = Sᵀ
    causal A,  nonnegative A,  stochastic A,  pattern A      a property of a symbol

Indices written as names are variables: ``A^{l,h} 𝟙 = 𝟙`` and ``pattern A^{l,h}`` stand for
every instance whose symbols occur in the statement being checked (``A^h``, ``A[l,h]``
likewise). Declarations come from the context, as for formulas; a vector is declared
``b: d_model x 1``, and 𝟙 (``\\mathbf{1}``) takes its space from its neighbours.

>>> from tensoralg.algebra.symbols import standard_symbol as s
>>> parsed = parse_assumptions(["A^{l,h} 𝟙 = 𝟙", "pattern A^{l,h}"], None, [s("A", 1, 0), s("A", 0, 0)])
>>> [r.text for r in parsed.relations]
['A^{0,0} 𝟙 = 𝟙', 'A^{1,0} 𝟙 = 𝟙']
>>> sorted((str(k.indices), sorted(v)) for k, v in parsed.properties.items())
[('(0, 0)', ['causal', 'nonnegative', 'stochastic']), ('(1, 0)', ['causal', 'nonnegative', 'stochastic'])]
>>> parse_assumptions(["P P = Q"], None, [])
Traceback (most recent call last):
...
tensoralg.errors.SymbolError: in the assumption 'P P = Q': unknown symbol P; declare it, e.g. --let "P: d_model x d_model" (column 1)
  P P = Q
  ^
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import product as cartesian
from typing import Iterable, Mapping, Sequence

from ..algebra.certificate import Relation
from ..algebra.expr import Atom
from ..algebra.properties import KEYWORDS, check_property_shape, property_names
from ..algebra.symbols import Symbol
from ..errors import FormulaSyntaxError, TensoralgError
from .lexer import tokenize
from .parsing import Context, parse, parse_equation

_PROPERTY = re.compile(r"^\s*(" + "|".join(KEYWORDS) + r")\s+(.+)$", re.S)


@dataclass(frozen=True)
class Assumptions:
    """Relations (L = R) and the properties assumed of each symbol, with their texts."""

    relations: tuple[Relation, ...] = ()
    properties: Mapping[Symbol, frozenset[str]] = field(default_factory=dict)
    texts: tuple[str, ...] = ()


def property_statement(text: str) -> tuple[str, str] | None:
    """(keyword, expression text) when ``text`` reads "causal X", "pattern X", …; else None.

    >>> property_statement("pattern (A^{1,0} A^{0,0})")
    ('pattern', '(A^{1,0} A^{0,0})')
    >>> property_statement("A = B") is None
    True
    """
    m = _PROPERTY.match(text)
    return (m.group(1), m.group(2).strip()) if m else None


def _index_groups(text: str) -> list[tuple[str, int, int, list[str | int]]]:
    """(symbol name, start, end, items) for every index group whose items include a variable."""
    tokens = tokenize(text)
    found = []
    k = 0
    while k < len(tokens) - 1:
        tok = tokens[k]
        if tok.kind != "NAME":
            k += 1
            continue
        nxt = tokens[k + 1]
        if nxt.kind == "^" and k + 2 < len(tokens) and tokens[k + 2].kind in ("{", "NAME"):
            if tokens[k + 2].kind == "NAME":
                item = tokens[k + 2]
                if item.text not in ("T",):
                    found.append((tok.text, item.col, item.col + len(item.text), [item.text]))
                k += 3
                continue
            close, opener = "}", k + 2
        elif nxt.kind == "[":
            close, opener = "]", k + 1
        else:
            k += 1
            continue
        j, items, ok = opener + 1, [], True
        while j < len(tokens) and tokens[j].kind != close:
            t = tokens[j]
            if t.kind == "NUM" and "." not in t.text:
                items.append(int(t.text))
            elif t.kind == "NAME" and t.text != "T":
                items.append(t.text)
            elif t.kind != ",":
                ok = False
                break
            j += 1
        if ok and j < len(tokens) and any(isinstance(i, str) for i in items):
            found.append((tok.text, tokens[opener + 1].col, tokens[j].col, items))
        k = j + 1
    return found


def _instances(text: str, symbols: Sequence[Symbol]) -> list[str]:
    """The texts of the instances of a schema: every binding of its index variables to the
    indices of matching symbols in ``symbols`` (a text without variables is its own instance)."""
    groups = _index_groups(text)
    if not groups:
        return [text]
    values: dict[str, set[int]] = {}
    for name, _, _, items in groups:
        for variable in {i for i in items if isinstance(i, str)}:
            values.setdefault(variable, set())
        for symbol in symbols:
            if symbol.name != name or len(symbol.indices) != len(items):
                continue
            if any(v < 0 for v in symbol.indices):
                continue  # a head written as a variable (A^h, Σ_{h∈H1}): no instance names it
            if all(isinstance(i, str) or i == v for i, v in zip(items, symbol.indices)):
                for i, v in zip(items, symbol.indices):
                    if isinstance(i, str):
                        values[i].add(v)
    names = sorted(values)
    out = []
    for choice in cartesian(*(sorted(values[n]) for n in names)):
        binding = dict(zip(names, choice))
        pieces, last = [], 0
        for _, start, end, items in groups:
            pieces += [text[last:start], ",".join(str(binding[i]) if isinstance(i, str) else str(i) for i in items)]
            last = end
        out.append("".join(pieces) + text[last:])
    return out


def parse_assumptions(
    texts: Iterable[str], context: Context | None, symbols: Iterable[Symbol]
) -> Assumptions:
    """The relations and properties of ``texts``, schemas instantiated for ``symbols``.

    Errors quote the assumption; a property is assumed of one symbol, a relation is
    between two plain matrices of one shape.
    """
    present = sorted(set(symbols))
    relations: list[Relation] = []
    properties: dict[Symbol, frozenset[str]] = {}
    texts = tuple(texts)
    for raw in texts:
        text = raw.strip()
        if not text:
            raise FormulaSyntaxError("an empty assumption")
        for instance in _instances(text, present):
            try:
                statement = property_statement(instance)
                if statement is not None:
                    keyword, body = statement
                    expr = parse(body, context)
                    if not isinstance(expr, Atom):
                        raise TensoralgError(f"{keyword} is assumed of one symbol, e.g. '{keyword} A^{{0,0}}'; got {body!r}")
                    symbol = expr.symbol
                    check_property_shape(keyword, symbol.rows, symbol.cols, body)
                    properties[symbol] = properties.get(symbol, frozenset()) | property_names(keyword)
                    continue
                if not any(t.kind == "EQ" for t in tokenize(instance)):
                    raise FormulaSyntaxError(
                        "an assumption is a relation 'L = R' or a property '" + "', '".join(f"{k} X" for k in KEYWORDS)
                        + "'")
                lhs, rhs = parse_equation(instance, context)
                if len(lhs.shape) != 1:
                    raise TensoralgError("a relation is between plain matrices, not tensor terms")
                relations.append(Relation(lhs, rhs, " ".join(instance.split())))
            except TensoralgError as exc:
                raise type(exc)(f"in the assumption {instance!r}: {exc}") from exc
    return Assumptions(tuple(relations), properties, texts)
