"""Hypothesis strategies shared by the tests and the proofs.

Dimensions are drawn too, so a failing example shrinks to the smallest matrices.

>>> from hypothesis import find
>>> e = find(expressions(("p", "q")), lambda e: isinstance(e, Product))
>>> e.shape
(('p', 'q'),)
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping

import numpy as np
from hypothesis import strategies as st

from .expr import Atom, Expr, Identity, Product, Scaled, Shape, Sum, Tensor, Transpose
from .symbols import Symbol

#: The spaces generic expressions are drawn over.
SPACES = ("p", "q", "r")
_NAMES = ("A", "B", "C")


def symbols(rows: str, cols: str) -> st.SearchStrategy[Symbol]:
    """A generic symbol of shape rows × cols, named after it (``Apq`` is p × q) so that a
    name determines the shape; names repeat so expressions share atoms."""
    return st.sampled_from(_NAMES).map(lambda name: Symbol(f"{name}{rows}{cols}", (), rows, cols))


def coefficients() -> st.SearchStrategy[Fraction]:
    """Small nonzero rationals such as -2, 1/3."""
    return st.builds(
        Fraction, st.integers(-3, 3).filter(bool), st.integers(1, 3)
    )


@st.composite
def _matrix_expr(draw: st.DrawFn, rows: str, cols: str, depth: int) -> Expr:
    choices = ["atom"] + (["identity"] if rows == cols else [])
    if depth > 0:
        choices += ["product", "sum", "transpose", "scaled"]
    kind = draw(st.sampled_from(choices))
    if kind == "atom":
        return Atom(draw(symbols(rows, cols)))
    if kind == "identity":
        return Identity(rows)
    if kind == "transpose":
        return Transpose(draw(_matrix_expr(cols, rows, depth - 1)))
    if kind == "scaled":
        return Scaled(draw(coefficients()), draw(_matrix_expr(rows, cols, depth - 1)))
    if kind == "sum":
        return Sum((draw(_matrix_expr(rows, cols, depth - 1)), draw(_matrix_expr(rows, cols, depth - 1))))
    middle = draw(st.sampled_from(SPACES))
    return Product((draw(_matrix_expr(rows, middle, depth - 1)), draw(_matrix_expr(middle, cols, depth - 1))))


@st.composite
def _shaped_expr(draw: st.DrawFn, shape: Shape, depth: int) -> Expr:
    if len(shape) == 1:
        return draw(_matrix_expr(shape[0][0], shape[0][1], depth))
    kinds = ["tensor"] + (["product", "sum", "transpose", "scaled"] if depth > 0 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "tensor":
        return Tensor(tuple(draw(_matrix_expr(r, c, depth)) for r, c in shape))
    if kind == "transpose":
        return Transpose(draw(_shaped_expr(tuple((c, r) for r, c in shape), depth - 1)))
    if kind == "scaled":
        return Scaled(draw(coefficients()), draw(_shaped_expr(shape, depth - 1)))
    if kind == "sum":
        return Sum((draw(_shaped_expr(shape, depth - 1)), draw(_shaped_expr(shape, depth - 1))))
    middle = tuple(draw(st.sampled_from(SPACES)) for _ in shape)
    left = tuple((r, m) for (r, _), m in zip(shape, middle))
    right = tuple((m, c) for (_, c), m in zip(shape, middle))
    return Product((draw(_shaped_expr(left, depth - 1)), draw(_shaped_expr(right, depth - 1))))


def expressions(*factor_shapes: tuple[str, str], depth: int = 3) -> st.SearchStrategy[Expr]:
    """Well-shaped expressions of the given shape (one (rows, cols) pair per tensor factor).

    ``expressions(("p", "q"))`` draws p × q matrices; ``expressions(("p", "p"), ("q", "r"))``
    draws two-factor terms such as A⊗B + (C⊗Id)(A⊗B).
    """
    return _shaped_expr(tuple(factor_shapes), depth)


def dimensions(spaces: tuple[str, ...] = SPACES, max_size: int = 4) -> st.SearchStrategy[dict[str, int]]:
    """A size for each space, 1…max_size."""
    return st.fixed_dictionaries({s: st.integers(1, max_size) for s in spaces})


def random_values(
    symbols_: frozenset[Symbol] | set[Symbol], dims: Mapping[str, int], rng: np.random.Generator
) -> dict[Symbol, np.ndarray]:
    """Gaussian values of the right shape for each symbol."""
    return {s: rng.normal(size=(dims[s.rows], dims[s.cols])) for s in sorted(symbols_)}


def seeds() -> st.SearchStrategy[int]:
    """Seeds for numpy generators (drawn, so they are reported and shrink)."""
    return st.integers(0, 2**32 - 1)
