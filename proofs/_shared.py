"""Helpers shared by several proof modules (skipped by discovery: the name starts with ``_``).

* :func:`sym`: the atom of a standard symbol, ``sym("W_OV", 0, 1)`` = W_OV^{0,1}.
* :func:`invertible`: a generic, well-conditioned n × n matrix, for changes of basis.
* :func:`rank_bounded`: a trial of rank E ≤ min_s dims[s] − slack, exactly over ℚ and GF(2⁶¹ − 1).
* :func:`draw_model`, :func:`draw_run`: a catalog default model, tokens for it, and its
  forward pass with the symbol values (A^{l,h} the run's own softmax patterns).

>>> sym("W_OV", 0, 1).shape
(('d_model', 'd_model'),)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from tensoralg.verify.catalog import Mismatch, default_model, random_tokens
from tensoralg.algebra.definitions import expand_definitions
from tensoralg.algebra.exact import PRIME_FIELD, RATIONALS, evaluate_exact, random_instance
from tensoralg.algebra.expr import Atom, Expr, atom, symbols_in
from tensoralg.models.model import ForwardPass, Model, forward
from tensoralg.models.model_symbols import symbol_values
from tensoralg.algebra.symbols import Symbol, standard_symbol


def sym(name: str, *indices: int) -> Atom:
    """The atom of ``standard_symbol(name, *indices)`` (shapes of CLAIMS.md)."""
    return atom(standard_symbol(name, *indices))


def invertible(rng: np.random.Generator, n: int) -> np.ndarray:
    """G ± n·Id, G an n × n standard Gaussian matrix, the sign drawn.

    Gaussian matrices are invertible with probability 1; the shift by n·Id keeps them well
    conditioned, so float comparisons test the algebra, not round-off, and the drawn sign
    keeps the determinant's sign from being always positive.

    >>> bool(abs(np.linalg.det(invertible(np.random.default_rng(0), 3))) > 1)
    True
    """
    return rng.normal(size=(n, n)) + n * np.eye(n) * rng.choice([-1, 1])


def rank_bounded(
    expr: Expr,
    spaces: Sequence[str],
    draw_dims: Callable[[np.random.Generator], Mapping[str, int]],
    slack: int = 0,
) -> Callable[[np.random.Generator], Mismatch | None]:
    """A trial: rank ``expr`` ≤ min_{s ∈ spaces} dims[s] − slack over ℚ and GF(2⁶¹ − 1).

    Each trial draws the sizes with ``draw_dims(rng)``, then random integer weights
    (tensoralg.algebra.exact.random_instance, definitions unfolded) from a drawn seed, and computes
    the rank exactly in both fields; a Mismatch names the rank, the bound, sizes and seed.

    >>> dims = lambda rng: {"d_head": 2, "d_model": 4}
    >>> rank_bounded(sym("W_OV", 0, 0), ["d_head"], dims)(np.random.default_rng(0)) is None
    True
    >>> miss = rank_bounded(sym("W_OV", 0, 0), ["d_head"], dims, slack=1)(np.random.default_rng(0))
    >>> miss.lhs, miss.rhs, miss.field
    ('rank 2', 'bound 1', 'Q')
    """
    symbols: list[Symbol] = sorted(symbols_in(expand_definitions(expr)))
    names = ", ".join(str(atom(s)) for s in symbols)

    def trial(rng: np.random.Generator) -> Mismatch | None:
        dims = dict(draw_dims(rng))
        bound = min(dims[s] for s in spaces) - slack
        seed = int(rng.integers(2**31))
        for field in (RATIONALS, PRIME_FIELD):
            values = random_instance(symbols, dims, seed, field)
            rank = evaluate_exact(expr, values, dims, field).rank()
            if rank > bound:
                return Mismatch(f"rank {rank}", f"bound {bound}", dims=dims, field=field.name,
                                note=f"weights: tensoralg.algebra.exact.random_instance([{names}], dims, seed={seed}, "
                                f"field={field.name!r})")
        return None

    return trial


def draw_model(rng: np.random.Generator, heads: Sequence[int], positional: bool = False) -> tuple[Model, np.ndarray]:
    """A catalog default model with ``heads`` per layer, and a full context of random tokens for it.

    >>> model, tokens = draw_model(np.random.default_rng(0), (2, 1))
    >>> [layer.n_heads for layer in model.layers], tokens.shape
    ([2, 1], (6,))
    """
    model = default_model(rng, heads=heads, positional=positional)
    return model, random_tokens(rng, model)


def draw_run(
    rng: np.random.Generator, heads: Sequence[int], positional: bool = False
) -> tuple[Model, np.ndarray, ForwardPass, dict[Symbol, np.ndarray]]:
    """:func:`draw_model`, its forward pass, and the symbol values with A^{l,h} its softmax patterns.

    >>> model, tokens, run, values = draw_run(np.random.default_rng(0), (1,))
    >>> bool(np.array_equal(values[standard_symbol("A", 0, 0)], run.patterns[0][0]))
    True
    """
    model, tokens = draw_model(rng, heads, positional)
    run = forward(model, tokens)
    return model, tokens, run, symbol_values(model, tokens, run.patterns)


#: C11's sides and C14's, as the paper writes them (layer 2 is index 1; W_QK^{1,0} is one of its heads).
C11_PRODUCT = "(Id⊗W_U)(Id + Σ_{h∈H2} A^h⊗W_OV^h)(Id + Σ_{h∈H1} A^h⊗W_OV^h)(Id⊗W_E)"
C11_LAYER_1 = "(Id⊗W_U)(Id + Σ_{h∈H2} A^h⊗W_OV^h)(Id⊗W_E + Σ_{h∈H1} A^h⊗W_OV^h W_E)"
C11_CLOSED = (
    "Id⊗W_U W_E + Σ_{h∈H1∪H2} A^h⊗(W_U W_OV^h W_E) "
    "+ Σ_{h1∈H1, h2∈H2} (A^{h2}A^{h1}) ⊗ (W_U W_OV^{h2} W_OV^{h1} W_E)"
)
_READ = "(Id⊗W_E + Σ_{h∈H1} A^h⊗W_OV^h W_E)"
C14_FORM = f"W_QK^{{1,0}} ∘ ({_READ}, {_READ})"
C14_CLOSED = (
    "Id⊗Id⊗(W_Eᵀ W_QK^{1,0} W_E) + Σ_{hq∈H1} A^{hq}⊗Id⊗(W_Eᵀ W_OV^{hq}ᵀ W_QK^{1,0} W_E) "
    "+ Σ_{hk∈H1} Id⊗A^{hk}⊗(W_Eᵀ W_QK^{1,0} W_OV^{hk} W_E) "
    "+ Σ_{hq,hk∈H1} A^{hq}⊗A^{hk}⊗(W_Eᵀ W_OV^{hq}ᵀ W_QK^{1,0} W_OV^{hk} W_E)"
)
