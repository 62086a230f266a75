"""Matrix symbols: named atoms that know the spaces they map between.

A symbol such as W_OV^{1,0} is a matrix of a fixed shape, given by the names of
its row and column spaces (``d_model × d_model``). The standard spaces are

    n_ctx    positions          d_model  residual stream
    d_head   one head           n_vocab  vocabulary
    d_mlp    MLP neurons

and users may declare symbols over any other space names. Indices are () for a
plain symbol, (h,) for a head of an unnamed layer and (l, h) for head h of
layer l (0-based). Symbols are tuples, so they hash, compare and sort fast:

>>> W_OV = standard_symbol("W_OV", 1, 0)
>>> W_OV
Symbol(name='W_OV', indices=(1, 0), rows='d_model', cols='d_model')
>>> (W_OV.layer, W_OV.head)
(1, 0)
>>> standard_symbol("W_E").shape
('d_model', 'n_vocab')
"""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

from ..errors import SymbolError

N_CTX = "n_ctx"
D_MODEL = "d_model"
D_HEAD = "d_head"
N_VOCAB = "n_vocab"
D_MLP = "d_mlp"

STANDARD_SPACES = (N_CTX, D_MODEL, D_HEAD, N_VOCAB, D_MLP)

#: The space of size 1: a vector of a space d is a d × 1 matrix.
UNIT = "1"
#: The name of the column of ones 𝟙 (one symbol per space it lives in).
ONES = "𝟙"


#: Symbols that belong to a layer rather than a head: their single index is the layer.
LAYER_SYMBOLS = frozenset({"W_in", "W_out", "MLP"})


class Symbol(NamedTuple):
    """A named matrix of shape rows × cols, with 0, 1 (head) or 2 (layer, head) indices."""

    name: str
    indices: tuple[int, ...]
    rows: str
    cols: str

    @property
    def shape(self) -> tuple[str, str]:
        return (self.rows, self.cols)

    @property
    def layer(self) -> int | None:
        """The layer index: the first of two indices, or the one index of a per-layer symbol
        (W_in^{l}, W_out^{l}, MLP^{l}); None otherwise."""
        if len(self.indices) == 2 or (self.indices and self.name in LAYER_SYMBOLS):
            return self.indices[0]
        return None

    @property
    def head(self) -> int | None:
        """The head index (the last index), or None for an unindexed or per-layer symbol.

        >>> Symbol("W_OV", (2,), "d_model", "d_model").head, Symbol("W_in", (2,), "d_mlp", "d_model").layer
        (2, 2)
        """
        if not self.indices or (len(self.indices) == 1 and self.name in LAYER_SYMBOLS):
            return None
        return self.indices[-1]


class Letter(NamedTuple):
    """One factor of a word: a symbol, its transpose, its inverse or its inverse transpose.

    Words live in the free algebra with transpose and inverse: (Xᵀ)ᵀ = X,
    (X⁻¹)ᵀ = (Xᵀ)⁻¹, and X X⁻¹ = X⁻¹ X = Id cancel when adjacent (free reduction).
    """

    symbol: Symbol
    transposed: bool
    inverse: bool = False

    @property
    def rows(self) -> str:
        return self.symbol.cols if self.transposed else self.symbol.rows

    @property
    def cols(self) -> str:
        return self.symbol.rows if self.transposed else self.symbol.cols

    def transpose(self) -> "Letter":
        return Letter(self.symbol, not self.transposed, self.inverse)

    def invert(self) -> "Letter":
        return Letter(self.symbol, self.transposed, not self.inverse)


#: Shapes of the standard symbols of CLAIMS.md (column-vector convention), and
#: whether they are indexed by head (True) or stand alone (False).
STANDARD_SHAPES: MappingProxyType[str, tuple[str, str, bool]] = MappingProxyType(
    {
        "W_E": (D_MODEL, N_VOCAB, False),
        "W_pos": (D_MODEL, N_CTX, False),
        "W_U": (N_VOCAB, D_MODEL, False),
        "W_Q": (D_HEAD, D_MODEL, True),
        "W_K": (D_HEAD, D_MODEL, True),
        "W_V": (D_HEAD, D_MODEL, True),
        "W_O": (D_MODEL, D_HEAD, True),
        "W_OV": (D_MODEL, D_MODEL, True),
        "W_QK": (D_MODEL, D_MODEL, True),
        "A": (N_CTX, N_CTX, True),
        "t": (N_CTX, N_VOCAB, False),
        "W_in": (D_MLP, D_MODEL, True),
        "W_out": (D_MODEL, D_MLP, True),
    }
)


def _check_indices(name: str, indices: tuple[int, ...], indexed: bool | None) -> None:
    if len(indices) > 2:
        raise SymbolError(f"{name} takes at most two indices (layer, head); got {indices}")
    if any(not isinstance(i, int) or i < 0 for i in indices):
        raise SymbolError(f"indices of {name} must be non-negative integers; got {indices}")
    if indexed is False and indices:
        raise SymbolError(f"{name} is not indexed by layer or head; got {name}^{indices}")


def standard_symbol(name: str, *indices: int | None) -> Symbol:
    """The standard symbol ``name`` of CLAIMS.md with the given indices.

    ``standard_symbol("A", 1, 0)`` is A^{1,0}; ``None`` indices are dropped, so
    ``standard_symbol("W_OV", None, 2)`` is W_OV^{2}.

    >>> standard_symbol("W_O", 0, 3).shape
    ('d_model', 'd_head')
    >>> standard_symbol("W_E", 1)
    Traceback (most recent call last):
    ...
    tensoralg.errors.SymbolError: W_E is not indexed by layer or head; got W_E^(1,)
    """
    if name not in STANDARD_SHAPES:
        known = ", ".join(STANDARD_SHAPES)
        raise SymbolError(f"unknown standard symbol {name!r}; the standard symbols are {known}")
    rows, cols, indexed = STANDARD_SHAPES[name]
    idx = tuple(i for i in indices if i is not None)
    _check_indices(name, idx, indexed)
    return Symbol(name, idx, rows, cols)


def space_size(space: str) -> int | None:
    """The size of a space named by a number (``3`` in ``P: 3 x 3``, ``1`` for scalars), else None.

    >>> space_size("3"), space_size("d_model")
    (3, None)
    """
    return int(space) if space.isdigit() else None


def declared_symbol(name: str, rows: str, cols: str, *indices: int) -> Symbol:
    """A user-declared symbol ``name: rows × cols`` (space names, or sizes such as ``1`` and ``3``).

    >>> declared_symbol("M", "d_model", "d_model")
    Symbol(name='M', indices=(), rows='d_model', cols='d_model')
    >>> declared_symbol("x", "d_model", "1").shape
    ('d_model', '1')
    """
    if not name or not name[0].isalpha():
        raise SymbolError(f"a symbol name must start with a letter; got {name!r}")
    if name == "tr":
        raise SymbolError("tr is the trace and cannot be declared")
    for space in (rows, cols):
        numeric = space.isdigit() and int(space) > 0
        if not space or not (space[0].isalpha() or space[0] == "_" or numeric):
            raise SymbolError(
                f"space names must be identifiers or positive sizes; got {space!r} in {name}: {rows} × {cols}"
            )
    _check_indices(name, tuple(indices), None)
    return Symbol(name, tuple(indices), rows, cols)


def ones_symbol(space: str) -> Symbol:
    """𝟙 of ``space``: the column of ones, a space × 1 matrix.

    >>> ones_symbol("n_ctx")
    Symbol(name='𝟙', indices=(), rows='n_ctx', cols='1')
    """
    if not space or space == UNIT:
        raise SymbolError(f"𝟙 needs the space it lives in; got {space!r}")
    return Symbol(ONES, (), space, UNIT)
