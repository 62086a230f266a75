"""Instances that satisfy assumptions, for refutations that respect them.

Each symbol is drawn from the family of :mod:`tensoralg.algebra.constrained` that fits what
is assumed of it — read off its properties and its single-symbol relations (X𝟙 = s𝟙,
𝟙ᵀX = s𝟙ᵀ, X² = X, Xᵀ = X, XᵀX = Id, X Xᵀ = Id, up to a scalar) — and every relation and
property is then checked exactly over ℚ on what was drawn: a draw that fails any is not
used (and counted, with the reason), so an instance handed out satisfies every assumption.
Sizes are tried per space, smallest total first (the space 1 of vectors is always 1).

>>> from tensoralg.algebra.symbols import standard_symbol
>>> from tensoralg.algebra.properties import PATTERN
>>> A = standard_symbol("A", 0, 0)
>>> search = Search((A,), (), {A: PATTERN}, kinds_of((), {A: PATTERN}), seed=0, trials=1)
>>> dims, seed, values = next(iter(search.instances(["n_ctx"])))
>>> dims, values[A]
({'n_ctx': 1, '1': 1}, [1])
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from itertools import product as cartesian
from typing import Mapping, Sequence

import numpy as np

from ..algebra.certificate import Relation
from ..algebra.constrained import CannotSample, Kind, draw, to_flint
from ..algebra.definitions import expand_definitions
from ..algebra.evaluate import evaluate_with
from ..algebra.exact import RATIONALS, SingularValueError, matrix_text
from ..algebra.expr import Atom, Expr, Inverse, atom, symbols_in
from ..algebra.printing import to_unicode
from ..algebra.properties import CAUSAL, NONNEGATIVE, STOCHASTIC
from ..algebra.relations import Poly, from_normal_form, transpose_poly
from ..algebra.symbols import ONES, UNIT, Letter, Symbol, ones_symbol
from .verification import Counterexample

#: Largest size tried for each space when refuting, by number of spaces.
SIZE_CAP = {1: 6, 2: 5, 3: 4}
#: At most this many size vectors are tried (smallest total size first).
SIZE_VECTORS = 60


def kinds_of(relations: Sequence[Relation], properties: Mapping[Symbol, frozenset[str]]) -> dict[Symbol, Kind]:
    """The sampling family of each symbol, read off its properties and single-symbol relations."""
    kinds: dict[Symbol, Kind] = {}
    for symbol, props in properties.items():
        kinds[symbol] = Kind(causal=CAUSAL in props, nonnegative=NONNEGATIVE in props,
                             row_sum=Fraction(1) if STOCHASTIC in props else None)
    for relation in relations:
        p = from_normal_form(expand_definitions(relation.lhs - relation.rhs).normal_form)
        for q in (p, transpose_poly(p)):
            found = recognise(q)
            if found is not None:
                symbol, change = found
                kinds[symbol] = replace(kinds.get(symbol, Kind()), **change)
                break
    return kinds


def recognise(p: Poly) -> tuple[Symbol, dict] | None:
    """X𝟙 = s𝟙, 𝟙ᵀX = s𝟙ᵀ, X² = X, Xᵀ = X, XᵀX = Id, X Xᵀ = Id (up to a scalar) → (X, Kind fields)."""
    symbols = {l.symbol for w in p.terms for l in w if l.symbol.name != ONES}
    if len(symbols) != 1 or not p.terms:
        return None
    (X,) = symbols
    x, xt = Letter(X, False), Letter(X, True)
    shape = {w: c for w, c in p.terms.items()}
    one = lambda space: Letter(ones_symbol(space), False) if space != UNIT else None  # noqa: E731  (no 𝟙 of size 1)
    lead = max(shape, key=len)
    c = shape[lead]
    rest = {w: -d / c for w, d in shape.items() if w != lead}
    if lead == (x, one(X.cols)) and set(rest) <= {(one(X.rows),)}:
        return X, {"row_sum": rest.get((one(X.rows),), Fraction(0))}
    if lead == (xt, one(X.rows)) and set(rest) <= {(one(X.cols),)}:
        return X, {"col_sum": rest.get((one(X.cols),), Fraction(0))}
    if lead == (x, x) and rest == {(x,): 1}:
        return X, {"idempotent": True}
    if set(shape) == {(x,), (xt,)} and shape[(x,)] == -shape[(xt,)]:
        return X, {"symmetric": True}
    if lead == (xt, x) and rest == {(): 1}:
        return X, {"isometry": "columns"}
    if lead == (x, xt) and rest == {(): 1}:
        return X, {"isometry": "rows"}
    return None

def _size_vectors(spaces: Sequence[str]) -> list[dict[str, int]]:
    cap = SIZE_CAP.get(len(spaces), 3)
    vectors = sorted(cartesian(range(1, cap + 1), repeat=len(spaces)), key=lambda v: (sum(v), max(v, default=0), v))
    return [dict(zip(spaces, v), **{UNIT: 1}) for v in vectors[:SIZE_VECTORS]]


def property_defect(value, prop: str) -> tuple[tuple[int, ...], str, str] | None:
    rows, cols = value.nrows(), value.ncols()
    for i in range(rows):
        if prop == STOCHASTIC:
            total = sum((value[i, j] for j in range(cols)), 0)
            if total != 1:
                return (i,), f"row sum {total}", "1"
        for j in range(cols):
            if prop == CAUSAL and j > i and value[i, j] != 0:
                return (i, j), str(value[i, j]), "0 (causal)"
            if prop in (NONNEGATIVE, STOCHASTIC) and value[i, j] < 0:
                return (i, j), str(value[i, j]), "≥ 0"
    return None


def definitions_of(relations: Sequence[Relation], kinds: Mapping[Symbol, Kind]) -> dict[Symbol, tuple[Expr, str]]:
    """Symbols that a relation defines from others, in an order that computes them: X = E (X not
    in E), and Y = X⁻¹ from X Y = Id or Y X = Id (X square). Symbols with a family of their own
    (a property or a recognised relation) keep it."""
    found: dict[Symbol, tuple[Expr, str]] = {}
    for r in relations:
        for side, other in ((r.lhs, r.rhs), (r.rhs, r.lhs)):
            if isinstance(side, Atom) and side.symbol not in found and side.symbol not in kinds \
                    and side.symbol not in symbols_in(other):
                found[side.symbol] = (other, r.text)
                break
        else:
            nf = (r.lhs - r.rhs).normal_form
            words = {key[0]: c for key, c in nf.terms.items()}
            if len(words) == 2 and words.get(()) == -words.get(next((w for w in words if len(w) == 2), ()), 0):
                x, y = next(w for w in words if len(w) == 2)
                if not (x.transposed or y.transposed or x.inverse or y.inverse) and x.rows == x.cols == y.rows:
                    target, source = (y.symbol, x.symbol) if y.symbol not in kinds else (x.symbol, y.symbol)
                    if target not in kinds and target not in found and target != source:
                        found[target] = (Inverse(atom(source)), r.text)
    order: dict[Symbol, tuple[Expr, str]] = {}
    pending = dict(found)
    while pending:
        ready = [s for s, (e, _) in pending.items() if not (symbols_in(e) & (set(pending) - {s}))]
        if not ready:
            break  # a cycle: those symbols are drawn, and checked like any other
        for s in sorted(ready):
            order[s] = pending.pop(s)
    return order


@dataclass
class Search:
    """Draws instances satisfying the assumptions and evaluates exactly over ℚ."""

    symbols: tuple[Symbol, ...]
    relations: tuple[Relation, ...]
    properties: Mapping[Symbol, frozenset[str]]
    kinds: Mapping[Symbol, Kind]
    seed: int
    trials: int
    defined: Mapping[Symbol, tuple[Expr, str]] = field(default_factory=dict)
    tried: int = 0
    unusable: dict[str, int] = field(default_factory=dict)

    def instances(self, spaces: Sequence[str]):
        for n, dims in enumerate(_size_vectors(spaces)):
            for t in range(self.trials):
                seed = self.seed * 100003 + n * 31 + t
                values = self.draw(dims, seed)
                if values is not None:
                    self.tried += 1
                    yield dims, seed, values

    def draw(self, dims: Mapping[str, int], seed: int):
        rng = np.random.default_rng(seed)
        ones = Kind(ones=True)
        values = {}
        try:
            for s in self.symbols:
                if s not in self.defined:
                    rows = draw(ones if s.name == ONES else self.kinds.get(s, Kind()), dims[s.rows], dims[s.cols], rng)
                    values[s] = to_flint(rows, dims[s.rows], dims[s.cols])
            for s, (expr, _) in self.defined.items():
                values[s] = evaluate_with(expand_definitions(expr), values, dims, RATIONALS)
            for r in self.relations:
                if evaluate_with(expand_definitions(r.lhs), values, dims, RATIONALS) != evaluate_with(
                        expand_definitions(r.rhs), values, dims, RATIONALS):
                    raise CannotSample(f"the drawn instance does not satisfy {r.text}")
            for s, props in self.properties.items():
                for p in props:
                    if s in values and property_defect(values[s], p) is not None:
                        raise CannotSample(f"the drawn {s.name} is not {p}")
        except (CannotSample, SingularValueError) as exc:
            self.unusable[str(exc)] = self.unusable.get(str(exc), 0) + 1
            return None
        return values

    def families(self) -> tuple[str, ...]:
        return tuple(f"{to_unicode(atom(s))}: "
                     + (f"computed from {self.defined[s][1]}" if s in self.defined else self.kinds.get(s, Kind()).describe())
                     for s in self.symbols if s.name != ONES)

    def listing(self, values) -> tuple:
        if sum(v.nrows() * v.ncols() for v in values.values()) > 80:
            return ()
        return tuple((to_unicode(atom(s)), matrix_text(v, RATIONALS)) for s, v in sorted(values.items()))


def counterexample(search: Search, dims, seed, values, entry, left: str, right: str) -> Counterexample:
    note = ("every assumption holds exactly on this instance; drawn over ℚ from: " + "; ".join(search.families()))
    return Counterexample({k: v for k, v in sorted(dims.items()) if k != UNIT}, seed, RATIONALS.name, entry,
                          left, right, note, search.listing(values))


def not_refuted(search: Search) -> str:
    text = f"{search.tried} instance(s) satisfying the assumptions agree"
    if search.unusable:
        reasons = "; ".join(f"{why} ({n}×)" for why, n in sorted(search.unusable.items())[:3])
        text += f" ({sum(search.unusable.values())} draw(s) unusable: {reasons})"
    return text + "; no error bound is claimed for these constrained families"
