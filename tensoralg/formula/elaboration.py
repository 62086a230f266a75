"""Elaboration: from a formula's syntax tree to the core's expressions.

Four steps, each a group of methods of the elaborator: bind the head variables of Σ and
fold numbers (``2 A``, ``A/2``, ``0``); count the tensor factors of every node; infer the
spaces of Id and 0 by unification (a position factor left open is n_ctx); build the
expressions, where the core checks shapes and its errors get the formula's caret.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import product as cartesian
from typing import Mapping

from . import syntax
from ..algebra.architecture import Architecture
from ..errors import ArchitectureError, ShapeError, SymbolError, TensoralgError
from ..algebra.expr import (
    Apply,
    Atom,
    Bilinear,
    Expr,
    Identity,
    IndexedSum,
    Inverse,
    Product,
    Scaled,
    Shape,
    Sum,
    Tensor,
    Trace,
    Transpose,
    Zero,
)
from ..algebra.index_sets import is_variable, named_index
from ..algebra.printing import to_unicode
from ..algebra.scalars import SCALAR
from ..algebra.symbols import N_CTX, STANDARD_SHAPES, UNIT, Symbol, declared_symbol, ones_symbol, standard_symbol
from .lexer import caret


#: The most factors a product over layers Π_{l=1}^{L} writes out.
MAX_PRODUCT_LAYERS = 64


@dataclass(frozen=True, eq=False)
class _Bound(syntax.Node):
    """Σ over heads of unknown number, after its variables are bound: (variable, layer) pairs."""

    bindings: tuple[tuple[int, int], ...]
    body: syntax.Node


def did_you_mean(name: str, declarations: Mapping[str, tuple[str, str]]) -> str:
    """A hint for a near-miss of a known name (id → Id, w_ov → W_OV), or ''.

    >>> did_you_mean("w_ov", {}), did_you_mean("I", {}), did_you_mean("zzz", {})
    ('; did you mean W_OV?', '; did you mean Id?', '')
    """
    if name in ("id", "I", "ID", "Identity", "identity", "1"):
        return "; did you mean Id?"
    folded = name.replace("_", "").replace("{", "").replace("}", "").lower()
    for known in (*STANDARD_SHAPES, *declarations):
        if known.replace("_", "").lower() == folded:
            return f"; did you mean {known}?"
    return ""


class _Elaborator:
    """Turns a syntax tree into expressions, inferring Id's space by unification."""

    def __init__(
        self, text: str, declarations: Mapping[str, tuple[str, str]], heads: tuple[int, ...] | None, index_shift: int = 0
    ):
        self.text, self.declarations, self.heads, self.index_shift = text, declarations, heads, index_shift
        self.parent: list[int] = []
        self.bound: dict[int, str] = {}
        self.types: dict[int, list[tuple[int, int]]] = {}
        self.arity: dict[int, int] = {}
        self.apply: set[int] = set()
        self.nodes: list[syntax.Node] = []
        self.numbers: dict[int, Fraction] = {}  # id of the Id standing for a written number → the number

    # -- errors with a caret
    def fail(self, cls: type[TensoralgError], col: int, message: str) -> TensoralgError:
        return cls(f"{message} (column {col + 1})\n{caret(self.text, col)}")

    # -- step 1: bind Σ variables, resolve symbols, fold scalars
    def instantiate(self, node: syntax.Node, env: Mapping[str, tuple[int, int]]) -> syntax.Node | Fraction:
        go = lambda n: self.instantiate(n, env)  # noqa: E731
        match node:
            case syntax.Num(value=v):
                return v
            case syntax.Sym():
                return syntax.Sym(node.col, node.name, self.indices(node, env))
            case syntax.Id() | syntax.Zero() | syntax.Ones():
                return node
            case syntax.Unary(kind="neg", x=x):
                inner = go(x)
                return -inner if isinstance(inner, Fraction) else syntax.Scale(node.col, Fraction(-1), inner)
            case syntax.Unary(kind=kind, x=x):
                inner = self.matrix(go(x), x.col)
                return syntax.Unary(node.col, kind, inner)
            case syntax.Nary(kind="mul", items=items):
                coefficient, factors = Fraction(1), []
                for item in items:
                    value = go(item)
                    if isinstance(value, Fraction):
                        coefficient *= value
                    else:
                        factors.append(value)
                if not factors:
                    return coefficient
                body = factors[0] if len(factors) == 1 else syntax.Nary(node.col, "mul", tuple(factors))
                return body if coefficient == 1 else syntax.Scale(node.col, coefficient, body)
            case syntax.Nary(kind="tensor", items=items):
                return syntax.Nary(node.col, "tensor", tuple(self.matrix(go(i), i.col) for i in items))
            case syntax.Nary(kind="add", items=items, signs=signs):
                values = [go(i) for i in items]
                if all(isinstance(v, Fraction) for v in values):
                    return sum((s * v for s, v in zip(signs, values)), Fraction(0))
                terms = tuple(
                    self.matrix(v, i.col) if s == 1 else syntax.Scale(i.col, Fraction(-1), self.matrix(v, i.col))
                    for s, v, i in zip(signs, values, items)
                )
                return syntax.Nary(node.col, "add", terms)
            case syntax.Dot(left=l, right=r):
                left, right = go(l), go(r)
                if isinstance(left, Fraction) or isinstance(right, Fraction):
                    if isinstance(left, Fraction) and isinstance(right, Fraction):
                        return left * right
                    c, m = (left, right) if isinstance(left, Fraction) else (right, left)
                    return syntax.Scale(node.col, c, m)
                return syntax.Dot(node.col, left, right)
            case syntax.Bilin(form=f, query=q, key=k):
                return syntax.Bilin(node.col, *(self.matrix(go(n), n.col) for n in (f, q, k)))
            case syntax.Prod():
                return self.expand_prod(node, env)
            case syntax.Sigma(groups=groups, body=body):
                groups = self.layer_groups(node, groups, env)
                if self.heads is None:
                    return self.bind_sigma(node, groups, body, env)
                return self.expand_sigma(node, groups, body, env)
            case syntax.Power(x=x, exponent=n):
                inner = go(x)
                if isinstance(inner, Fraction):
                    if inner == 0 and n < 0:
                        raise self.fail(ShapeError, node.col, "0 has no inverse")
                    return inner**n
                return syntax.Power(node.col, inner, n)
            case syntax.Trace(x=x):
                return syntax.Trace(node.col, self.matrix(go(x), x.col))
        raise TypeError(node)

    def matrix(self, value: syntax.Node | Fraction, col: int) -> syntax.Node:
        """A matrix where one is needed: 0 is the zero matrix; another number c is c·Id_1 where the
        context is a scalar (1 × 1: ``tr(Id_{3}) == 3``) and an error anywhere else."""
        if not isinstance(value, Fraction):
            return value
        if value == 0:
            return syntax.Zero(col)
        unit = syntax.Id(col, None)
        self.numbers[id(unit)] = value
        return syntax.Scale(col, value, unit)

    def number_error(self, value: Fraction, col: int) -> TensoralgError:
        return self.fail(ShapeError, col, f"the number {value} is not a matrix here; write {value} Id for a multiple of Id")

    def expand_prod(self, node: syntax.Prod, env) -> syntax.Node:
        """Π over layers: one factor per layer, in the written order (Π_{l=L..1} puts the last
        layer on the left, as the residual stream composes; Π_{l=1}^{L} the first)."""
        def layer(bound: int | str) -> int:
            if isinstance(bound, int):
                return bound
            if self.heads is None:
                raise self.fail(
                    ArchitectureError, node.col,
                    f"Π up to {bound} needs the number of layers: give the heads per layer (--heads 2,2)",
                )
            return len(self.heads)

        first, last = layer(node.first), layer(node.last)
        if abs(last - first) >= MAX_PRODUCT_LAYERS:
            raise self.fail(ArchitectureError, node.col, f"Π over more than {MAX_PRODUCT_LAYERS} layers is refused")
        step = 1 if last >= first else -1
        factors = []
        for l in range(first, last + step, step):
            inner = {**env, f"#layer:{node.variable}": (l,)}
            factors.append(self.matrix(self.instantiate(node.body, inner), node.body.col))
        return factors[0] if len(factors) == 1 else syntax.Nary(node.col, "mul", tuple(factors))

    def layer_groups(self, node: syntax.Sigma, groups, env):
        """The Σ's layer sets with H_l resolved by the Π that binds l (H1 is layer index 0)."""
        resolved = []
        for names, layers in groups:
            out = []
            for layer in layers:
                if isinstance(layer, str):
                    if f"#layer:{layer}" not in env:
                        raise self.fail(SymbolError, node.col, f"H_{layer}: {layer} is not bound by a product Π_{{{layer}=1}}^{{L}}")
                    layer = env[f"#layer:{layer}"][0] - 1
                if layer not in out:
                    out.append(layer)  # a union of sets: H1∪H1 is H1, each head counted once
            if -1 in out:
                out = [-1]  # H (every layer) contains every H_l
            resolved.append((names, tuple(out)))
        return resolved

    def bind_sigma(self, node: syntax.Sigma, groups, body: syntax.Node, env) -> syntax.Node:
        """Σ without heads per layer: a formal sum over each layer's set of heads (CLAIMS C27);
        a union H1∪H2 splits into one sum per layer."""
        choices = []
        for names, layers in groups:
            if -1 in layers:
                raise self.fail(
                    ArchitectureError, node.col,
                    "Σ_{h∈H} ranges over every layer, so it needs the heads per layer (--heads 2,2); write Σ_{h∈H1∪H2} instead",
                )
            for name in names:
                if name in env or any(name == n for n, _ in choices):
                    raise self.fail(SymbolError, node.col, f"{name} is bound twice; give the inner sum another variable")
                choices.append((name, layers))
        terms = []
        for picked in cartesian(*(layers for _, layers in choices)):
            inner_env = dict(env)
            bindings = []
            for (name, _), layer in zip(choices, picked):
                inner_env[name] = (layer, named_index(name))
                bindings.append((named_index(name), layer))
            inner = self.matrix(self.instantiate(body, inner_env), body.col)
            terms.append(_Bound(node.col, tuple(bindings), inner))
        return terms[0] if len(terms) == 1 else syntax.Nary(node.col, "add", tuple(terms))

    def expand_sigma(self, node: syntax.Sigma, groups, body: syntax.Node, env) -> syntax.Node:
        heads = self.heads
        ranges = []
        for names, layers in groups:
            members = []
            for layer in layers:
                for l in (range(len(heads)) if layer == -1 else (layer,)):
                    if l >= len(heads):
                        raise self.fail(
                            ArchitectureError, node.col,
                            f"H{l + 1} is not a layer: the architecture has {len(heads)} layer(s) (heads {','.join(map(str, heads))})",
                        )
                    members += [(l, h) for h in range(heads[l])]
            ranges += [(name, members) for name in names]
        terms = []
        for choice in cartesian(*(members for _, members in ranges)):
            inner_env = {**env, **{name: lh for (name, _), lh in zip(ranges, choice)}}
            terms.append(self.matrix(self.instantiate(body, inner_env), body.col))
        if not terms:
            return syntax.Zero(node.col)
        return terms[0] if len(terms) == 1 else syntax.Nary(node.col, "add", tuple(terms))

    def indices(self, node: syntax.Sym, env: Mapping[str, tuple[int, int]]) -> tuple[int, ...] | None:
        if node.indices is None:
            return None
        out: list[int] = []
        for item in node.indices:
            if isinstance(item, int):
                if item + self.index_shift < 0:
                    raise self.fail(SymbolError, node.col, f"the index {item} of {node.name} cannot be lowered by one")
                out.append(item + self.index_shift)
            elif item in env:
                if len(node.indices) > 1:
                    raise self.fail(
                        SymbolError, node.col,
                        f"{item} is bound by a sum over heads and names a layer and a head already: write "
                        f"{node.name}^{item} (not {node.name}^{{{','.join(map(str, node.indices))}}})",
                    )
                out.extend(env[item])
            else:  # a free index: A^h is the pattern of one head h, whichever it is
                out.append(named_index(item))
        return tuple(out)  # more than two indices is refused where the symbol is built

    def symbol(self, node: syntax.Sym) -> Symbol:
        indices = node.indices or ()
        concrete = tuple(max(i, 0) for i in indices)  # index variables are checked as head 0
        try:
            if node.name in self.declarations:
                rows, cols = self.declarations[node.name]
                return declared_symbol(node.name, rows, cols, *concrete)._replace(indices=tuple(indices))
            if node.name in STANDARD_SHAPES:
                symbol = standard_symbol(node.name, *concrete)._replace(indices=tuple(indices))
                self.check_head(node, symbol)
                return symbol
        except TensoralgError as exc:
            if isinstance(exc, ArchitectureError):
                raise
            raise self.fail(SymbolError, node.col, str(exc)) from exc
        hint = did_you_mean(node.name, self.declarations) or f'; declare it, e.g. --let "{node.name}: d_model x d_model"'
        raise self.fail(SymbolError, node.col, f"unknown symbol {node.name}{hint}")

    def check_head(self, node: syntax.Sym, symbol: Symbol) -> None:
        if self.heads is None or len(symbol.indices) != 2 or any(map(is_variable, symbol.indices)):
            return
        try:
            Architecture(tuple(self.heads)).check_head(*symbol.indices)
        except ArchitectureError as exc:
            raise self.fail(ArchitectureError, node.col, f"{to_unicode(Atom(symbol))} does not exist: {exc}") from exc

    # -- step 2: arities (number of tensor factors)
    def own_arity(self, node: syntax.Node) -> int | None:
        match node:
            case syntax.Sym() | syntax.Ones():
                return 1
            case syntax.Id() | syntax.Zero():
                return None
            case syntax.Scale(x=x) | syntax.Unary(x=x) | syntax.Power(x=x) | _Bound(body=x):
                return self.own_arity(x)
            case syntax.Trace():
                return 1
            case syntax.Nary(kind="tensor", items=items):
                return sum(self.own_arity(i) or 1 for i in items)
            case syntax.Nary(items=items):
                return next((a for a in map(self.own_arity, items) if a is not None), None)
            case syntax.Dot(left=l, right=r):
                la = self.own_arity(l)
                if self.acts(la, r):
                    return 1
                return la if la is not None else self.own_arity(r)
            case syntax.Bilin():
                return 3
        raise TypeError(node)

    def acts(self, left_arity: int | None, right: syntax.Node) -> bool:
        """P·X is the action of a two- or three-factor term on a residual state X (one factor);
        between two operators · is the product, as the notes write (Id⊗W_U)·(Id + …)·(Id⊗W_E)."""
        return left_arity in (2, 3) and self.own_arity(right) == 1

    def assign_arity(self, node: syntax.Node, k: int) -> None:
        self.arity[id(node)] = k
        match node:
            case syntax.Scale(x=x) | syntax.Unary(x=x) | syntax.Power(x=x) | _Bound(body=x):
                self.assign_arity(x, k)
            case syntax.Trace(x=x):
                self.assign_arity(x, self.own_arity(x) or 1)
            case syntax.Nary(kind="tensor", items=items):
                for i in items:
                    self.assign_arity(i, self.own_arity(i) or 1)
            case syntax.Nary(items=items):
                for i in items:
                    self.assign_arity(i, k)
            case syntax.Dot(left=l, right=r):
                la = self.own_arity(l)
                if self.acts(la, r):
                    self.apply.add(id(node))
                    self.assign_arity(l, la)
                    self.assign_arity(r, 1)
                else:
                    self.assign_arity(l, k)
                    self.assign_arity(r, k)
            case syntax.Bilin(form=f, query=q, key=kk):
                self.assign_arity(f, 3 if self.own_arity(f) == 3 else 1)
                self.assign_arity(q, 2)
                self.assign_arity(kk, 2)

    # -- step 3: spaces by unification (conflicts are left for the core to report)
    def var(self, space: str | None = None) -> int:
        self.parent.append(len(self.parent))
        v = len(self.parent) - 1
        if space is not None:
            self.bound[v] = space
        return v

    def find(self, v: int) -> int:
        while self.parent[v] != v:
            self.parent[v] = self.parent[self.parent[v]]
            v = self.parent[v]
        return v

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        sa, sb = self.bound.get(ra), self.bound.get(rb)
        if sa is not None and sb is not None and sa != sb:
            return
        self.parent[rb] = ra
        if sa is None and sb is not None:
            self.bound[ra] = sb

    def value(self, v: int) -> str | None:
        return self.bound.get(self.find(v))

    def unify(self, a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
        for (ar, ac), (br, bc) in zip(a, b):
            self.union(ar, br)
            self.union(ac, bc)

    def type(self, node: syntax.Node) -> list[tuple[int, int]]:
        t = self._type(node)
        self.types[id(node)] = t
        self.nodes.append(node)
        return t

    def _type(self, node: syntax.Node) -> list[tuple[int, int]]:
        k = self.arity[id(node)]
        match node:
            case syntax.Sym():
                symbol = self.symbol(node)
                return [(self.var(symbol.rows), self.var(symbol.cols))]
            case syntax.Ones(space=space):
                return [(self.var(space), self.var(UNIT))]
            case syntax.Id(space=space):
                if space is not None and k != 1:
                    raise self.fail(ShapeError, node.col, f"Id_{{{space}}} is one factor, but {k} tensor factors are needed here")
                return [(v, v) for v in (self.var(space) for _ in range(k))]
            case syntax.Zero():
                return [(self.var(), self.var()) for _ in range(k)]
            case syntax.Scale(x=x) | _Bound(body=x):
                return self.type(x)
            case syntax.Power(x=x):
                t = self.type(x)
                for r, c in t:
                    self.union(r, c)
                return t
            case syntax.Trace(x=x):
                for r, c in self.type(x):
                    self.union(r, c)
                return [(self.var(SCALAR), self.var(SCALAR))]
            case syntax.Unary(kind="T", x=x):
                return [(c, r) for r, c in self.type(x)]
            case syntax.Unary(kind="invT", x=x):
                t = self.type(x)
                for r, c in t:
                    self.union(r, c)
                return [(c, r) for r, c in t]
            case syntax.Unary(kind="inv", x=x):
                t = self.type(x)
                for r, c in t:
                    self.union(r, c)
                return t
            case syntax.Nary(kind="tensor", items=items):
                return [slot for i in items for slot in self.type(i)]
            case syntax.Nary(kind="add", items=items):
                types = [self.type(i) for i in items]
                for t in types[1:]:
                    self.unify(types[0], t)
                return types[0]
            case syntax.Nary(kind="mul", items=items):
                return self.chain_types([self.type(i) for i in items])
            case syntax.Dot(left=l, right=r) if id(node) in self.apply:
                op, ((xr, xc),) = self.type(l), self.type(r)
                if len(op) == 2:
                    self.union(op[0][1], xr)
                    self.union(op[1][1], xc)
                else:
                    self.union(op[0][1], xr)
                    self.union(op[1][1], xr)
                    self.union(op[2][0], xc)
                    self.union(op[2][1], xc)
                return [(op[0][0], op[1][0])]
            case syntax.Dot(left=l, right=r):
                return self.chain_types([self.type(l), self.type(r)])
            case syntax.Bilin(form=f, query=q, key=kk):
                ft, qt, kt = self.type(f), self.type(q), self.type(kk)
                for part, t, want, what in ((f, ft, (1, 3), "the form"), (q, qt, (2,), "the query map"),
                                            (kk, kt, (2,), "the key map")):
                    if len(t) not in want:
                        raise self.fail(
                            ShapeError, part.col,
                            f"a bilinear form F ∘ (P, Q) needs a matrix or three-factor form F and two-factor maps "
                            f"P, Q such as Id ⊗ W_E; {what} has {len(t)} tensor factor(s)",
                        )
                (apr, apc), (wpr, wpc) = qt
                (br, bc), (vr, vc) = kt
                if len(ft) == 3:
                    (fqr, fqc), (fkr, fkc), (mr, mc) = ft
                    self.union(fqc, apr)
                    self.union(fkc, br)
                else:
                    (mr, mc), = ft
                    fqr, fkr = apr, br
                self.union(mr, wpr)
                self.union(mc, vr)
                return [(fqr, apc), (fkr, bc), (wpc, vc)]
        raise TypeError(node)

    def chain_types(self, types: list[list[tuple[int, int]]]) -> list[tuple[int, int]]:
        for left, right in zip(types, types[1:]):
            for (_, lc), (rr, _) in zip(left, right):
                self.union(lc, rr)
        return [(a[0], b[1]) for a, b in zip(types[0], types[-1])]

    def default_positions(self) -> None:
        """Unresolved position factors (all but the last factor of a 2- or 3-factor term) are n_ctx."""
        for node in self.nodes:
            t = self.types[id(node)]
            if len(t) in (2, 3):
                for r, c in t[:-1]:
                    for v in (r, c):
                        if self.value(v) is None:
                            self.bound[self.find(v)] = N_CTX

    # -- step 4: build expressions, locating the core's shape errors
    def build(self, node: syntax.Node) -> Expr:
        try:
            return self._build(node)
        except ShapeError as exc:
            if "(column " in str(exc):
                raise
            raise self.fail(ShapeError, self.blame(node), str(exc) + self.precedence_hint(node)) from exc

    def precedence_hint(self, node: syntax.Node) -> str:
        """Why a sum's terms may have different numbers of tensor factors: ⊗ binds more loosely."""
        if not (isinstance(node, syntax.Nary) and node.kind == "add"):
            return ""
        factors = {self.own_arity(i) for i in node.items} - {None}
        if len(factors) < 2 and not (len(factors) == 1 and self.arity.get(id(node)) not in factors):
            return ""
        return (
            "; the terms have different numbers of tensor factors: ⊗ binds more loosely than products and ·, "
            "so Id ⊗ W_U·(Id + …) reads as Id ⊗ (W_U·(Id + …)); bracket each tensor product, (Id ⊗ W_U)·(Id + …)"
        )

    def blame(self, node: syntax.Node) -> int:
        """The column of the operand that does not fit."""
        if isinstance(node, syntax.Nary) and node.kind in ("mul", "add"):
            built = [self.build(i) for i in node.items]
            for k in range(1, len(built)):
                try:
                    (Product if node.kind == "mul" else Sum)((built[k - 1], built[k]))
                except ShapeError:
                    return node.items[k].col
        return node.col

    def spaces(self, node: syntax.Node, what: str) -> list[str]:
        spaces = [self.value(r) for r, _ in self.types[id(node)]]
        for s in spaces:
            if s is None:
                raise self.fail(
                    ShapeError, node.col,
                    f"cannot infer the space of {what}: give it as {what}_{{d_model}} (or {what}[d_model]), or name a shape on the other side",
                )
        return spaces

    def _build(self, node: syntax.Node) -> Expr:
        match node:
            case syntax.Sym():
                return Atom(self.symbol(node))
            case syntax.Ones():
                space = self.spaces(node, "𝟙")[0]
                if space == UNIT:
                    raise self.fail(ShapeError, node.col, "𝟙 is a column of ones: it needs a space of vectors, not 1")
                return Atom(ones_symbol(space))
            case syntax.Id() if id(node) in self.numbers:
                if [(self.value(r), self.value(c)) for r, c in self.types[id(node)]] != [(SCALAR, SCALAR)]:
                    raise self.number_error(self.numbers[id(node)], node.col)
                return Identity(SCALAR)
            case syntax.Id():
                spaces = self.spaces(node, "Id")
                return Identity(spaces[0]) if len(spaces) == 1 else Tensor(tuple(Identity(s) for s in spaces))
            case syntax.Zero():
                t = self.types[id(node)]
                shape = tuple((self.value(r), self.value(c)) for r, c in t)
                if any(s is None for pair in shape for s in pair):
                    raise self.fail(ShapeError, node.col, "cannot infer the shape of 0 from the other side")
                return Zero(shape)
            case syntax.Scale(coefficient=c, x=x):
                return Scaled(c, self.build(x))
            case _Bound(bindings=bindings, body=x):
                return IndexedSum(bindings, self.build(x))
            case syntax.Trace(x=x):
                return Trace(self.build(x))
            case syntax.Power(x=x, exponent=n):
                return self.power(node, self.build(x), n)
            case syntax.Unary(kind="T", x=x):
                return Transpose(self.build(x))
            case syntax.Unary(kind="inv", x=x):
                inv = Inverse(self.build(x))
                inv.normal_form  # a sum has no inverse: report it here, with a caret
                return inv
            case syntax.Unary(kind="invT", x=x):
                inv = Inverse(Transpose(self.build(x)))
                inv.normal_form
                return inv
            case syntax.Nary(kind="tensor", items=items):
                return Tensor(tuple(self.build(i) for i in items))
            case syntax.Nary(kind="add", items=items):
                return Sum(tuple(self.build(i) for i in items))
            case syntax.Nary(kind="mul", items=items):
                return Product(tuple(self.build(i) for i in items))
            case syntax.Dot(left=l, right=r) if id(node) in self.apply:
                return Apply(self.build(l), self.build(r))
            case syntax.Dot(left=l, right=r):
                return Product((self.build(l), self.build(r)))
            case syntax.Bilin(form=f, query=q, key=k):
                return Bilinear(self.build(f), self.build(q), self.build(k))
        raise TypeError(node)

    def power(self, node: syntax.Power, base: Expr, n: int) -> Expr:
        """Mⁿ = M M ⋯ M (n factors), M⁰ = Id, M⁻ⁿ = (M⁻¹)ⁿ; M must be square."""
        for rows, cols in base.shape:
            if rows != cols:
                if isinstance(node.x, syntax.Sym) and node.x.name in STANDARD_SHAPES:
                    raise self.fail(
                        SymbolError, node.col,
                        f"{node.x.name} is not indexed by layer or head, and not square ({rows} × {cols}), "
                        f"so {node.x.name}^{n} is neither an index nor a power",
                    )
                raise self.fail(
                    ShapeError, node.col, f"cannot raise {to_unicode(base)} ({rows} × {cols}) to a power: it is not square"
                )
        if n == 0:
            spaces = [rows for rows, _ in base.shape]
            return Identity(spaces[0]) if len(spaces) == 1 else Tensor(tuple(Identity(s) for s in spaces))
        factor = base if n > 0 else Inverse(base)
        if n < 0:
            factor.normal_form  # a sum has no inverse: report it here, with a caret
        return factor if abs(n) == 1 else Product((factor,) * abs(n))

    def run(self, sides: list[syntax.Node], shape: Shape | None) -> list[Expr]:
        nodes = [self.matrix(self.instantiate(s, {}), s.col) for s in sides]
        k = next((a for a in map(self.own_arity, nodes) if a is not None), None)
        k = k if k is not None else (len(shape) if shape else 1)
        for n in nodes:
            self.assign_arity(n, k)
        types = [self.type(n) for n in nodes]
        for t in types[1:]:
            self.unify(types[0], t)
        if shape is not None:
            self.unify(types[0], [(self.var(r), self.var(c)) for r, c in shape])
        self.default_positions()
        return [self.build(n) for n in nodes]


def elaborate(
    text: str,
    declarations: Mapping[str, tuple[str, str]],
    heads: tuple[int, ...] | None,
    shape: Shape | None,
    index_shift: int = 0,
) -> list[Expr]:
    """The expressions of the chain ``text`` (e₀ = e₁ = …), sharing Id's inferred spaces;
    ``index_shift`` is added to every written index (-1 reads 1-based indices)."""
    sides = syntax.Parser(text).chain()
    return _Elaborator(text, declarations, heads, index_shift).run(sides, shape)
