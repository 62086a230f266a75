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

from ..algebra.expr import Atom, Expr, Identity, Product, Scaled, Shape, Sum, Tensor, Transpose
from ..algebra.symbols import Symbol

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


# --- proofs catalog (C13, C15, C16, C17): real matrices and attention patterns -------------


def real_matrices(
    max_size: int = 4, *, rows: int | None = None, cols: int | None = None, bound: float = 3.0
) -> st.SearchStrategy[np.ndarray]:
    """Float matrices with entries in [−bound, bound]; sizes drawn from 1…max_size unless fixed.

    >>> from hypothesis import find
    >>> find(real_matrices(rows=2, cols=3), lambda m: True).shape
    (2, 3)
    """
    from hypothesis.extra.numpy import arrays

    sizes = st.tuples(
        st.just(rows) if rows is not None else st.integers(1, max_size),
        st.just(cols) if cols is not None else st.integers(1, max_size),
    )
    entries = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    return sizes.flatmap(lambda shape: arrays(np.float64, shape, elements=entries))


def causal_patterns(n: int) -> st.SearchStrategy[np.ndarray]:
    """n × n causal row-stochastic patterns softmax*(S) for drawn scores S in [−4, 4].

    >>> from hypothesis import find
    >>> A = find(causal_patterns(3), lambda a: True)
    >>> bool(np.allclose(A.sum(axis=1), 1) and np.all(np.triu(A, 1) == 0))
    True
    """
    from ..models.model import causal_softmax

    return real_matrices(rows=n, cols=n, bound=4.0).map(causal_softmax)


# --- path expansion: architectures (tensoralg.algebra.architecture, tensoralg.paths.expansion) ----------


@st.composite
def architectures(
    draw: st.DrawFn,
    max_layers: int = 4,
    max_heads: int = 4,
    positional: bool | None = None,
    mlp: bool | None = False,
):
    """Architectures of 1…max_layers layers with 0…max_heads heads each.

    ``positional`` and ``mlp`` are drawn when None (MLP flags per layer), else fixed;
    the default has no MLPs.

    >>> from hypothesis import find
    >>> find(architectures(), lambda a: a.n_layers == 2 and sum(a.heads) >= 3)
    Architecture(heads=(0, 3), positional=False, mlp=(False, False))
    """
    from ..algebra.architecture import Architecture

    heads = draw(st.lists(st.integers(0, max_heads), min_size=1, max_size=max_layers))
    has_positional = draw(st.booleans()) if positional is None else positional
    if mlp is None:
        flags = tuple(draw(st.lists(st.booleans(), min_size=len(heads), max_size=len(heads))))
    else:
        flags = (mlp,) * len(heads)
    return Architecture(tuple(heads), positional=has_positional, mlp=flags)


# --- circuits: factored matrices and random models (tensoralg.models.factored, circuits, composition) ----


@st.composite
def factor_pairs(draw: st.DrawFn, square: bool = False, max_dim: int = 6, max_batch: int = 3):
    """Gaussian factors A (batch × m × k) and B (batch × k × n) of drawn shapes (n = m if ``square``).

    k is drawn on both sides of m so both the BA and the AB route of the small side are used.

    >>> from hypothesis import find
    >>> A, B = find(factor_pairs(square=True), lambda p: p[0].shape[-1] > p[0].shape[-2])
    >>> A.shape, B.shape
    ((1, 1, 2), (1, 2, 1))
    """
    batch, m, k = draw(st.integers(1, max_batch)), draw(st.integers(1, max_dim)), draw(st.integers(1, max_dim))
    n = m if square else draw(st.integers(1, max_dim))
    rng = np.random.default_rng(draw(seeds()))
    return rng.normal(size=(batch, m, k)), rng.normal(size=(batch, k, n))


@st.composite
def small_models(draw: st.DrawFn, max_layers: int = 3, max_heads: int = 3, positional: bool = True, **options):
    """Random attention-only models (tensoralg.models.model.random_model) with drawn heads and dimensions;
    ``options`` go to random_model (e.g. mlp, layer_norm, layer_norm_weights, biases).

    >>> from hypothesis import find
    >>> find(small_models(), lambda m: len(m.layers) == 2).heads
    (1, 1)
    """
    from ..models.model import random_model

    heads = tuple(draw(st.lists(st.integers(1, max_heads), min_size=1, max_size=max_layers)))
    d_model, d_head = draw(st.integers(2, 8)), draw(st.integers(1, 4))
    n_vocab, n_ctx = draw(st.integers(2, 12)), draw(st.integers(2, 8))
    rng = np.random.default_rng(draw(seeds()))
    return random_model(rng, heads, d_model=d_model, d_head=d_head, n_vocab=n_vocab, n_ctx=n_ctx, positional=positional, **options)


@st.composite
def head_sum_formulas(draw: st.DrawFn, max_layers: int = 3) -> str:
    """A formula of products and sums over the heads of layers of unknown size (CLAIMS C27),
    such as ``(Id⊗W_U)(Id + Σ_{h∈H2} A^h⊗W_OV^h)(Σ_{g∈H1} A^g⊗W_OV^g W_E)``, with concrete heads
    and free head indices (A^{0,f}) mixed in.

    >>> from hypothesis import find
    >>> "Σ" in find(head_sum_formulas(), lambda text: "Σ" in text)
    True
    """
    factors = []
    for _ in range(draw(st.integers(1, 3))):
        layer = draw(st.integers(1, max_layers))
        var = draw(st.sampled_from(["h", "g", "h1", "hq"]))
        kind = draw(st.sampled_from(["sum", "sum-plus-id", "concrete", "union", "free"]))
        if kind == "free":  # a head index no sum binds: one head f of that layer, whichever it is
            factors.append(f"(A^{{{layer - 1},f}}⊗W_OV^{{{layer - 1},f}})")
        elif kind == "concrete":
            head = draw(st.integers(0, 2))
            factors.append(f"(A^{{{layer - 1},{head}}}⊗W_OV^{{{layer - 1},{head}}})")
        else:
            layers = f"H{layer}" + (f"∪H{layer % max_layers + 1}" if kind == "union" else "")
            body = f"Σ_{{{var}∈{layers}}} A^{var}⊗W_OV^{var}"
            factors.append(f"(Id + {body})" if kind == "sum-plus-id" else f"({body})")
    return "(Id⊗W_U)" + "".join(factors) + "(Id⊗W_E)"


def trace_expressions(depth: int = 2) -> st.SearchStrategy[Expr]:
    """tr(X) of a drawn square matrix or two-factor term: a scalar (1 × 1) expression.

    >>> from hypothesis import find
    >>> find(trace_expressions(), lambda e: True).shape
    (('1', '1'),)
    """
    from ..algebra.expr import Trace

    square = st.sampled_from([(("p", "p"),), (("p", "p"), ("q", "q"))])
    return square.flatmap(lambda shape: _shaped_expr(shape, depth)).map(Trace)
