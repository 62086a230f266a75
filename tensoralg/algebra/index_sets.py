"""Symbolic index sets: Σ_{h∈H_l} over the heads of a layer whose number is unknown (CLAIMS C27).

A sum over heads written without ``--heads`` is a formal sum with a bound index. Index
variables live inside symbol indices as negative integers, so words, keys and normal
forms need no new structure:

    -1, -2, …                bound variables of one term, numbered canonically
    ≤ -NAMED                 a named variable (h, h1, hq …) not yet bound: free where it occurs

A term of a normal form whose words mention bound variables stands for the sum over
every assignment of heads: the key A^{1,h₂}A^{0,h₁} ⊗ W_U W_OV^{1,h₂} W_OV^{0,h₁} W_E is
Σ_{h₁∈H1, h₂∈H2} (A^{h₂}A^{h₁}) ⊗ (W_U W_OV^{h₂} W_OV^{h₁} W_E). The rules:

    distribute     (Σ_{h∈H} x_h)(Σ_{g∈G} y_g) = Σ_{h∈H, g∈G} x_h y_g: the right term's bound
                   variables are renumbered after the left's before the words are joined
    union          Σ_{h∈H1∪H2} x_h = Σ_{h∈H1} x_h + Σ_{h∈H2} x_h (done by the parser)
    rename         terms equal up to renaming bound variables are one term: variables are
                   numbered by (layer, first occurrence in the term), :func:`canonical_key`

Two normal forms that agree are equal for every number of heads in every layer. Where
they differ, giving each layer the heads the formula names plus as many as a term has
variables over it turns the difference into a nonzero concrete one (every variable gets
a head of its own, so each term gives a monomial no other term gives): :func:`layers_needed`,
:func:`assignments` and :func:`tensoralg.verify.statements.head_counts`.

>>> from tensoralg.algebra.symbols import Symbol
>>> h = named_index("h")
>>> index_name(h), is_bound(h), is_bound(-1)
('h', False, True)
>>> A = lambda layer, i: Symbol("A", (layer, i), "n_ctx", "n_ctx")
>>> from tensoralg.algebra.symbols import Letter
>>> key = ((Letter(A(1, -2), False), Letter(A(0, -1), False)),)
>>> [l.symbol.indices for l in canonical_key(key)[0]]
[(1, -2), (0, -1)]
"""

from __future__ import annotations

from itertools import permutations, product as cartesian
from math import factorial
from typing import Callable, Iterable, Iterator, Mapping

from ..errors import ArchitectureError, SymbolError
from .symbols import Letter, Symbol

#: Named (not yet bound) variables are encoded at or below -NAMED.
NAMED = 1 << 20


def named_index(name: str) -> int:
    """The index that stands for the variable ``name`` (letters, digits) until a Σ binds it.

    >>> index_name(named_index("hq"))
    'hq'
    """
    return -(NAMED + int.from_bytes(name.encode("ascii"), "big"))


def is_variable(index: int) -> bool:
    """True for bound and named variables."""
    return index < 0


def is_bound(index: int) -> bool:
    """True for a bound variable (-1, -2, …)."""
    return -NAMED < index < 0


def index_name(index: int) -> str:
    """The name of a named variable, or h1, h2, … for bound variable -1, -2, …"""
    if is_bound(index):
        return f"h{-index}"
    code = -index - NAMED
    return code.to_bytes((code.bit_length() + 7) // 8, "big").decode("ascii")


def map_symbols(key: tuple, change: Callable[[Symbol], Symbol]) -> tuple:
    """``key`` (a tuple of words) with every symbol s replaced by change(s), traces included."""
    return tuple(tuple(_map_letter(letter, change) for letter in word) for word in key)


def _map_letter(letter, change):
    if isinstance(letter, Letter):
        new = change(letter.symbol)
        return letter if new is letter.symbol else Letter(new, letter.transposed, letter.inverse)
    return letter.map_words(lambda word: map_symbols((word,), change)[0])


def _letters(key: tuple) -> Iterator[Letter]:
    for word in key:
        for letter in word:
            if isinstance(letter, Letter):
                yield letter
            else:
                yield from _letters(letter.words())


def variables(key: tuple) -> dict[int, int | None]:
    """The variables of ``key`` in order of first occurrence, each with its layer (None: no layer)."""
    found: dict[int, int | None] = {}
    for letter in _letters(key):
        indices = letter.symbol.indices
        for position, index in enumerate(indices):
            if index < 0 and index not in found:
                found[index] = indices[0] if position == 1 else None
    return found


def bound_count(key: tuple) -> int:
    """How many bound variables ``key`` has."""
    return sum(1 for v in variables(key) if is_bound(v))


def rename(key: tuple, mapping: Mapping[int, int]) -> tuple:
    """``key`` with variable indices renamed by ``mapping`` (others kept)."""
    if not mapping:
        return key

    def change(symbol: Symbol) -> Symbol:
        if not any(i in mapping for i in symbol.indices):
            return symbol
        return symbol._replace(indices=tuple(mapping.get(i, i) for i in symbol.indices))

    return map_symbols(key, change)


def shift(key: tuple, offset: int) -> tuple:
    """``key`` with bound variable -k renamed -(k + offset), to make two terms' variables disjoint."""
    if not offset:
        return key
    return rename(key, {v: v - offset for v in variables(key) if is_bound(v)})


def canonical_key(key: tuple) -> tuple:
    """``key`` with its bound variables numbered -1, -2, … by (layer, first occurrence).

    Terms that differ only in the names of their bound variables get one key.
    """
    found = [(layer if layer is not None else -1, position, v)
             for position, (v, layer) in enumerate(variables(key).items()) if is_bound(v)]
    if not found:
        return key
    order = sorted(found)
    mapping = {v: -(k + 1) for k, (_, _, v) in enumerate(order)}
    out = key if all(v == new for v, new in mapping.items()) else rename(key, mapping)
    return _least_renaming(out)


#: The most renamings tried for a term with traces (the product of each layer's count factorial).
MAX_RENAMINGS = 720


def _least_renaming(key: tuple) -> tuple:
    """A trace's least rotation depends on the names of its variables, so numbering them by first
    occurrence does not give terms equal up to renaming one key; then the least key over every
    renaming within each layer (renaming dummies of one layer is always allowed) does."""
    if all(isinstance(letter, Letter) for word in key for letter in word):
        return key
    groups: dict[int, list[int]] = {}
    for v, layer in variables(key).items():
        if is_bound(v):
            groups.setdefault(-1 if layer is None else layer, []).append(v)
    sizes = [len(vs) for vs in groups.values()]
    total = 1
    for n in sizes:
        total *= factorial(n)
    if total == 1 or total > MAX_RENAMINGS:
        return key
    candidates = []
    for perms in cartesian(*(permutations(vs) for vs in groups.values())):
        mapping = {v: w for vs, p in zip(groups.values(), perms) for v, w in zip(vs, p) if v != w}
        candidates.append(rename(key, mapping))
    return min(candidates, key=repr)


def bind(key: tuple, bindings: Mapping[int, int], describe: Callable[[], str]) -> tuple:
    """Bind named variables (``bindings``: named index → layer) in one term, then canonicalise.

    A bound variable the term does not use would multiply it by |H_l|, which is not a
    polynomial in the symbols: that is refused, naming the sum.
    """
    present = variables(key)
    missing = [v for v in bindings if v not in present]
    if missing:
        names = ", ".join(index_name(v) for v in missing)
        raise SymbolError(
            f"the term {describe()} of a sum over {names} does not use {names}: summing it multiplies it by "
            "the number of heads, which a formula cannot state without --heads"
        )
    start = bound_count(key)
    mapping = {v: -(start + k + 1) for k, v in enumerate(bindings)}
    return canonical_key(rename(key, mapping))


def layers_needed(keys: Iterable[tuple]) -> tuple[dict[int, int], dict[int, int]]:
    """Per layer: the most bound variables one term has over it (heads enough for every
    variable to get its own), and one more than the largest concrete head index named.

    >>> A = lambda layer, i: Letter(Symbol("A", (layer, i), "n_ctx", "n_ctx"), False)
    >>> [sorted(d.items()) for d in layers_needed([((A(0, -1), A(0, -2), A(1, 3)),)])]
    [[(0, 2)], [(1, 4)]]
    """
    spread: dict[int, int] = {}
    named: dict[int, int] = {}
    for key in keys:
        counts: dict[int, int] = {}
        for letter in _letters(key):
            indices = letter.symbol.indices
            if len(indices) == 2 and not is_variable(indices[0]) and indices[1] >= 0:
                named[indices[0]] = max(named.get(indices[0], 0), indices[1] + 1)
        for v, layer in variables(key).items():
            if is_bound(v) and layer is not None:
                counts[layer] = counts.get(layer, 0) + 1
        for layer, n in counts.items():
            spread[layer] = max(spread.get(layer, 0), n)
    return spread, named


def assignments(key: tuple, heads: tuple[int, ...], free: Mapping[int, int]) -> Iterator[tuple]:
    """The concrete keys of one term when layer l has heads[l] heads; named variables take
    the heads ``free`` gives them."""
    bound = [(v, layer) for v, layer in variables(key).items() if is_bound(v)]
    for v, layer in bound:
        if layer is None or layer >= len(heads):
            raise ArchitectureError(f"a sum ranges over H{(layer or 0) + 1}, but only {len(heads)} layer(s) are given")
    ranges = [range(heads[layer]) for _, layer in bound]
    for choice in cartesian(*ranges):
        mapping = dict(free)
        mapping.update({v: h for (v, _), h in zip(bound, choice)})
        yield rename(key, mapping)
