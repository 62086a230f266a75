"""Numeric and exact evaluation of expressions.

One tree walk serves every number system: it looks up the symbols' values and the
spaces' sizes, and leaves the arithmetic to a :class:`Backend`. :class:`NumpyBackend`
computes with numpy arrays: float64 for numeric checks, or object arrays of
``fractions.Fraction`` for exact ones; :class:`tensoralg.algebra.exact.Field` computes with
python-flint matrices over ℚ and GF(p). Tensor terms evaluate densely (A⊗B ↦ the
Kronecker product); :func:`act` applies a two-factor term to a residual state by
(A⊗W)·X = A X Wᵀ without forming the Kronecker product.

>>> import numpy as np
>>> from tensoralg.algebra.expr import atom, Tensor
>>> from tensoralg.algebra.symbols import declared_symbol
>>> A, W, X = (declared_symbol(n, "p", "p") for n in "AWX")
>>> W = declared_symbol("W", "d", "d"); X = declared_symbol("X", "p", "d")
>>> rng = np.random.default_rng(0)
>>> values = {A: rng.normal(size=(3, 3)), W: rng.normal(size=(2, 2)), X: rng.normal(size=(3, 2))}
>>> op = Tensor((atom(A), atom(W)))
>>> dense = evaluate(op, values) @ values[X].reshape(-1)
>>> bool(np.allclose(dense.reshape(3, 2), act(op, values[X], values)))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import reduce
from typing import Generic, Iterable, Mapping, Protocol, TypeVar

import numpy as np

from ..errors import ShapeError, SymbolError
from .expr import (
    Apply,
    Atom,
    Bilinear,
    Expr,
    Identity,
    IndexedSum,
    Inverse,
    Product,
    Scaled,
    Sum,
    Tensor,
    Trace,
    Transpose,
    Zero,
    canonical_tree,
)
from .printing import to_unicode
from .symbols import Symbol, space_size

Values = Mapping[Symbol, np.ndarray]
M = TypeVar("M")


class Backend(Protocol[M]):
    """The matrix arithmetic of one number system; ``M`` is its matrix type.

    The walk itself looks up values and sizes, so a backend only builds and combines matrices.
    """

    def identity(self, n: int) -> M: ...

    def zeros(self, rows: int, cols: int) -> M: ...

    def scale(self, m: M, c: Fraction) -> M: ...

    def matmul(self, a: M, b: M) -> M: ...

    def add(self, a: M, b: M) -> M: ...

    def kron(self, a: M, b: M) -> M: ...

    def transpose(self, m: M) -> M: ...

    def trace(self, m: M) -> M:
        """tr(m) as a 1 × 1 matrix."""

    def inverse(self, m: M, name: str) -> M:
        """m⁻¹; raises a TensoralgError naming ``name`` (the inverted expression) when m is singular."""


def dimensions(values: Values, dims: Mapping[str, int] | None = None) -> dict[str, int]:
    """Sizes of the spaces, read off the values' shapes; raises if two disagree."""
    sizes: dict[str, int] = dict(dims or {})
    for symbol, value in values.items():
        if np.ndim(value) != 2:
            raise ShapeError(f"the value of {to_unicode(Atom(symbol))} must be a matrix; got shape {np.shape(value)}")
        for space, n in zip(symbol.shape, np.shape(value)):
            if sizes.setdefault(space, n) != n:
                raise ShapeError(
                    f"{to_unicode(Atom(symbol))} has shape {np.shape(value)} but {space} = {sizes[space]} elsewhere"
                )
    return sizes


@dataclass(frozen=True)
class NumpyBackend:
    """Dense numpy arithmetic in float64, or (``exact``) on object arrays of Fractions.

    >>> NumpyBackend(exact=True).scale(NumpyBackend(exact=True).identity(2), Fraction(1, 3)).tolist()
    [[Fraction(1, 3), Fraction(0, 1)], [Fraction(0, 1), Fraction(1, 3)]]
    """

    exact: bool

    @classmethod
    def for_arrays(cls, arrays: Iterable[np.ndarray]) -> NumpyBackend:
        """Exact as soon as one array holds Python objects (Fractions)."""
        return cls(any(np.asarray(a).dtype == object for a in arrays))

    @property
    def dtype(self) -> type | np.dtype:
        return object if self.exact else np.float64

    def identity(self, n: int) -> np.ndarray:
        return np.eye(n, dtype=self.dtype)

    def zeros(self, rows: int, cols: int) -> np.ndarray:
        return np.zeros((rows, cols), dtype=self.dtype)

    def scale(self, m: np.ndarray, c: Fraction) -> np.ndarray:
        return m * (c if m.dtype == object else float(c))

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a @ b

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    def kron(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.kron(a, b)

    def transpose(self, m: np.ndarray) -> np.ndarray:
        return m.T

    def trace(self, m: np.ndarray) -> np.ndarray:
        return np.array([[m.trace()]], dtype=self.dtype)

    def inverse(self, m: np.ndarray, name: str) -> np.ndarray:
        """M⁻¹, exactly for object arrays of Fractions (via python-flint), in float64 otherwise."""
        try:
            return _fraction_inverse(m) if m.dtype == object else np.linalg.inv(m)
        except (ZeroDivisionError, np.linalg.LinAlgError) as exc:
            raise ShapeError(f"the value of {name} is singular, so {name}⁻¹ does not exist") from exc


def _fraction_inverse(value: np.ndarray) -> np.ndarray:
    # Imported here so that numeric (float64) evaluation does not load python-flint.
    import flint

    n = value.shape[0]
    entries = [flint.fmpq(Fraction(x).numerator, Fraction(x).denominator) for x in value.flat]
    inv = flint.fmpq_mat(n, n, entries).inv()
    return np.array([[Fraction(int(inv[i, j].p), int(inv[i, j].q)) for j in range(n)] for i in range(n)], dtype=object)


def evaluate(expr: Expr, values: Values, dims: Mapping[str, int] | None = None) -> np.ndarray:
    """The dense matrix of ``expr``; tensor terms become Kronecker products (A⊗B ↦ np.kron(A, B))."""
    arrays = {symbol: np.asarray(v) for symbol, v in values.items()}
    return evaluate_with(expr, arrays, dimensions(arrays, dims), NumpyBackend.for_arrays(arrays.values()))


def act(operator: Expr, state: np.ndarray, values: Values, dims: Mapping[str, int] | None = None) -> np.ndarray:
    """(A⊗W)·X = A X Wᵀ for two-factor terms, (A_q⊗A_k⊗M)·X = A_q X M Xᵀ A_kᵀ for three.

    Products of operators act right to left, so a product of L sums of H terms costs
    L·H small matrix products instead of (H+1)^L.
    """
    arrays = {symbol: np.asarray(v) for symbol, v in values.items()}
    backend = NumpyBackend.for_arrays([*arrays.values(), state])
    return act_with(operator, np.asarray(state), arrays, dimensions(arrays, dims), backend)


def evaluate_with(expr: Expr, values: Mapping[Symbol, M], sizes: Mapping[str, int], backend: Backend[M]) -> M:
    """The value of ``expr`` in ``backend``'s arithmetic, given the symbols' values and the spaces' sizes."""
    return _Walk(backend, values, sizes, expr).value(expr)


def act_with(
    operator: Expr, state: M, values: Mapping[Symbol, M], sizes: Mapping[str, int], backend: Backend[M]
) -> M:
    """:func:`act` in ``backend``'s arithmetic: the value of ``operator`` · ``state``."""
    arity = len(operator.shape)
    if arity not in (2, 3):
        raise ShapeError(f"only two- and three-factor terms act on states; {to_unicode(operator)} has {arity}")
    return _Walk(backend, values, sizes, operator).act(operator, state)


@dataclass(frozen=True)
class _Walk(Generic[M]):
    """The recursive evaluation of ``root`` and its parts on one instance."""

    backend: Backend[M]
    values: Mapping[Symbol, M]
    sizes: Mapping[str, int]
    root: Expr

    def size(self, space: str) -> int:
        fixed = space_size(space)
        if fixed is not None:
            return fixed
        if space not in self.sizes:
            raise ShapeError(f"no size given for the space {space} (in {to_unicode(self.root)})")
        return self.sizes[space]

    def value(self, node: Expr) -> M:
        b = self.backend
        match node:
            case Atom(symbol=symbol):
                if symbol not in self.values:
                    raise SymbolError(f"no value given for {to_unicode(node)}")
                return self.values[symbol]
            case Identity(space=space):
                return b.identity(self.size(space))
            case Zero(zero_shape=shape):
                rows = int(np.prod([self.size(r) for r, _ in shape]))
                cols = int(np.prod([self.size(c) for _, c in shape]))
                return b.zeros(rows, cols)
            case Scaled(coefficient=c, expr=inner):
                return b.scale(self.value(inner), c)
            case Transpose(expr=inner):
                # (A⊗B)ᵀ = Aᵀ⊗Bᵀ is also the plain transpose of the Kronecker product.
                return b.transpose(self.value(inner))
            case Inverse(expr=inner):
                return b.inverse(self.value(inner), to_unicode(inner))
            case Product(factors=fs):
                return reduce(b.matmul, (self.value(f) for f in fs))
            case Tensor(factors=fs):
                return reduce(b.kron, (self.value(f) for f in fs))
            case Sum(terms=ts):
                return reduce(b.add, (self.value(t) for t in ts))
            case Apply(operator=op, state=st):
                return self.act(op, self.value(st))
            case Bilinear():
                return self.value(canonical_tree(node.normal_form))
            case Trace(expr=inner):
                return b.trace(self.value(inner))
            case IndexedSum():
                raise ShapeError(
                    f"{to_unicode(node)} sums over an unknown number of heads and has no value; give the heads per layer"
                )
        raise TypeError(f"not an expression node: {node!r}")

    def act(self, node: Expr, x: M) -> M:
        b = self.backend
        arity = len(node.shape)
        match node:
            case Tensor(factors=fs) if len(fs) == arity:
                mats = [self.value(f) for f in fs]
                if arity == 2:
                    return b.matmul(b.matmul(mats[0], x), b.transpose(mats[1]))
                score = b.matmul(b.matmul(b.matmul(mats[0], x), mats[2]), b.transpose(x))
                return b.matmul(score, b.transpose(mats[1]))
            case Sum(terms=ts):
                return reduce(b.add, (self.act(t, x) for t in ts))
            case Scaled(coefficient=c, expr=inner):
                return b.scale(self.act(inner, x), c)
            case Product(factors=fs) if arity == 2:
                for f in reversed(fs):
                    x = self.act(f, x)
                return x
            case Zero(zero_shape=shape):
                # A X Wᵀ and A_q X M Xᵀ A_kᵀ alike: rows of the first factor by rows of the second.
                return b.zeros(self.size(shape[0][0]), self.size(shape[1][0]))
        # Anything else (transposes, inverses, identities, products of three-factor terms)
        # acts through its canonical tree: Zero or a sum of scaled tensor products.
        return self.act(canonical_tree(node.normal_form), x)
