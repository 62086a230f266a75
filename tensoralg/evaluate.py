"""Numeric and exact evaluation of expressions.

Values are numpy arrays: float64 for numeric checks, or object arrays of
``fractions.Fraction`` for exact ones (numpy's matmul and kron work on both).
Tensor terms evaluate densely with ``np.kron``; :func:`act` applies a two-factor
term to a residual state by (A⊗W)·X = A X Wᵀ without forming the Kronecker product.

>>> import numpy as np
>>> from tensoralg.expr import atom, Tensor
>>> from tensoralg.symbols import declared_symbol
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

from fractions import Fraction
from functools import reduce
from typing import Mapping

import numpy as np

from .errors import ShapeError, SymbolError
from .expr import Apply, Atom, Bilinear, Expr, Identity, Inverse, Product, Scaled, Sum, Tensor, Transpose, Zero
from .printing import to_unicode
from .symbols import Symbol

Values = Mapping[Symbol, np.ndarray]


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


def _dtype(values: Values) -> type | np.dtype:
    return object if any(np.asarray(v).dtype == object for v in values.values()) else np.float64


def evaluate(expr: Expr, values: Values, dims: Mapping[str, int] | None = None) -> np.ndarray:
    """The dense matrix of ``expr``; tensor terms become Kronecker products (A⊗B ↦ np.kron(A, B))."""
    sizes = dimensions(values, dims)
    dtype = _dtype(values)

    def size(space: str) -> int:
        if space not in sizes:
            raise ShapeError(f"no size given for the space {space} (in {to_unicode(expr)})")
        return sizes[space]

    def zeros(shape) -> np.ndarray:
        rows = int(np.prod([size(r) for r, _ in shape]))
        cols = int(np.prod([size(c) for _, c in shape]))
        return np.zeros((rows, cols), dtype=dtype)

    def go(node: Expr) -> np.ndarray:
        match node:
            case Atom(symbol=symbol):
                if symbol not in values:
                    raise SymbolError(f"no value given for {to_unicode(node)}")
                return np.asarray(values[symbol])
            case Identity(space=space):
                return np.eye(size(space), dtype=dtype) if dtype is not object else _object_eye(size(space))
            case Zero():
                return zeros(node.shape)
            case Scaled(coefficient=c, expr=inner):
                v = go(inner)
                return v * (c if v.dtype == object else float(c))
            case Transpose(expr=inner):
                # (A⊗B)ᵀ = Aᵀ⊗Bᵀ is also the plain transpose of the Kronecker product.
                return go(inner).T
            case Inverse(expr=inner):
                return matrix_inverse(go(inner), to_unicode(inner))
            case Product(factors=fs):
                return reduce(np.matmul, (go(f) for f in fs))
            case Tensor(factors=fs):
                return reduce(np.kron, (go(f) for f in fs))
            case Sum(terms=ts):
                return reduce(np.add, (go(t) for t in ts))
            case Apply(operator=op, state=st):
                return act(op, go(st), values, sizes)
            case Bilinear():
                return go(node.normal_form.to_expr())
        raise TypeError(f"not an expression node: {node!r}")

    return go(expr)


def matrix_inverse(value: np.ndarray, name: str) -> np.ndarray:
    """M⁻¹, exactly for object arrays of Fractions (via python-flint), in float64 otherwise."""
    if value.dtype == object:
        import flint

        n = value.shape[0]
        entries = [flint.fmpq(Fraction(x).numerator, Fraction(x).denominator) for x in value.flat]
        try:
            inv = flint.fmpq_mat(n, n, entries).inv()
        except ZeroDivisionError as exc:
            raise ShapeError(f"the value of {name} is singular, so {name}⁻¹ does not exist") from exc
        return np.array(
            [[Fraction(int(inv[i, j].p), int(inv[i, j].q)) for j in range(n)] for i in range(n)], dtype=object
        )
    try:
        return np.linalg.inv(value)
    except np.linalg.LinAlgError as exc:
        raise ShapeError(f"the value of {name} is singular, so {name}⁻¹ does not exist") from exc


def _object_eye(n: int) -> np.ndarray:
    eye = np.zeros((n, n), dtype=object)
    eye[...] = 0
    np.fill_diagonal(eye, 1)
    return eye


def act(operator: Expr, state: np.ndarray, values: Values, dims: Mapping[str, int] | None = None) -> np.ndarray:
    """(A⊗W)·X = A X Wᵀ for two-factor terms, (A_q⊗A_k⊗M)·X = A_q X M Xᵀ A_kᵀ for three.

    Products of operators act right to left, so a product of L sums of H terms costs
    L·H small matrix products instead of (H+1)^L.
    """
    arity = len(operator.shape)
    if arity not in (2, 3):
        raise ShapeError(f"only two- and three-factor terms act on states; {to_unicode(operator)} has {arity}")

    def go(node: Expr, x: np.ndarray) -> np.ndarray:
        match node:
            case Tensor(factors=fs) if len(fs) == arity:
                mats = [evaluate(f, values, dims) for f in fs]
                if arity == 2:
                    return mats[0] @ x @ mats[1].T
                return mats[0] @ x @ mats[2] @ x.T @ mats[1].T
            case Sum(terms=ts):
                return reduce(np.add, (go(t, x) for t in ts))
            case Scaled(coefficient=c, expr=inner):
                v = go(inner, x)
                return v * (c if v.dtype == object else float(c))
            case Product(factors=fs) if arity == 2:
                for f in reversed(fs):
                    x = go(f, x)
                return x
            case Zero(zero_shape=shape):
                sizes = dimensions(values, dims)
                return np.zeros((sizes[shape[0][0]], sizes[shape[1][0]]), dtype=x.dtype)
        # Anything else (transposes, identities, products of three-factor terms) acts
        # through its canonical tree, which is a sum of scaled tensor products.
        return go(node.normal_form.to_expr(), x)

    return go(operator, state)
