"""Exact evaluation of expressions over the rationals ℚ and the prime field GF(p).

A random instance assigns every symbol a matrix of the sizes ``dims`` gives its
spaces; :func:`evaluate_exact` then computes an expression's value exactly with
python-flint (``fmpq_mat`` over ℚ, ``nmod_mat`` over GF(p), p = 2⁶¹ − 1), running
the tree walk of :mod:`tensoralg.algebra.evaluate` with a :class:`Field` as its arithmetic:

    Atom ↦ its value      Id ↦ the identity       A⊗B ↦ Kronecker product
    Xᵀ ↦ transpose        X⁻¹ ↦ inverse           (A⊗W)·X ↦ A X Wᵀ
    (A_q⊗A_k⊗M)·X ↦ A_q X M Xᵀ A_kᵀ              F∘(P, Q) ↦ its normal form's value

Defined symbols (W_OV, W_QK) are unfolded before evaluation, so an instance only
draws the primitive weights and W_OV always equals W_O W_V. Over GF(p) a nonzero
polynomial of degree D vanishes at a uniformly random point with probability at
most D/p (Schwartz–Zippel), which is what makes one evaluation convincing, provided
reduction mod p loses no coefficient (:func:`faithful_prime_field` picks such a prime); over ℚ
the entries are small integers, so a counterexample can be read by a person.

>>> from tensoralg.algebra.expr import atom
>>> from tensoralg.algebra.symbols import declared_symbol
>>> X, Y = atom(declared_symbol("X", "p", "p")), atom(declared_symbol("Y", "p", "p"))
>>> dims = {"p": 2}
>>> values = random_instance([X.symbol, Y.symbol], dims, seed=1, field=RATIONALS)
>>> xy, yx = evaluate_exact(X @ Y, values, dims, RATIONALS), evaluate_exact(Y @ X, values, dims, RATIONALS)
>>> first_difference(xy, yx, (("p", "p"),), dims, RATIONALS)
((0, 0), '0', '-4')
>>> gf = random_instance([X.symbol, Y.symbol], dims, seed=1, field=PRIME_FIELD)
>>> evaluate_exact(X @ Y - (Y.T @ X.T).T, gf, dims, PRIME_FIELD).entries()
[0, 0, 0, 0]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping

import flint
import numpy as np

from .definitions import expand_definitions
from ..errors import ShapeError, TensoralgError
from .evaluate import evaluate_with
from .expr import Expr, Inverse, Shape, children, symbols_in
from .symbols import Symbol, space_size

#: The Mersenne prime 2⁶¹ − 1, the modulus of the prime field.
P61 = 2**61 - 1

Matrix = Any  # flint.fmpq_mat or flint.nmod_mat


class SingularValueError(TensoralgError):
    """An inverse of a matrix that is singular on this instance (retry with another one)."""


@dataclass(frozen=True)
class Field:
    """An exact field: ℚ (modulus None) or GF(p), and the backend of the shared tree walk
    (:class:`tensoralg.algebra.evaluate.Backend`) on its flint matrices.

    ``entry_bound`` is the range −b…b of the integer entries a random ℚ instance draws.

    >>> RATIONALS.scale(RATIONALS.kron(RATIONALS.identity(2), RATIONALS.matrix(1, 1, [3])), Fraction(1, 2))
    [3/2,   0]
    [  0, 3/2]
    """

    name: str
    modulus: int | None
    entry_bound: int = 3

    def matrix(self, rows: int, cols: int, entries: Iterable[Any] | None = None) -> Matrix:
        if self.modulus is None:
            return flint.fmpq_mat(rows, cols) if entries is None else flint.fmpq_mat(rows, cols, list(entries))
        if entries is None:
            return flint.nmod_mat(rows, cols, self.modulus)
        return flint.nmod_mat(rows, cols, [int(x) for x in entries], self.modulus)

    def scalar(self, c: Fraction) -> Any:
        """c as a field element (over GF(p): numerator · denominator⁻¹ mod p)."""
        if self.modulus is None:
            return flint.fmpq(c.numerator, c.denominator)
        if c.denominator % self.modulus == 0:
            raise TensoralgError(f"the coefficient {c} has no value in {self.name}")
        return flint.nmod(c.numerator, self.modulus) / c.denominator

    def value(self, x: Any) -> str:
        """An entry as text: a reduced fraction over ℚ, the residue 0…p−1 over GF(p)."""
        return str(x) if self.modulus is None else str(int(x))

    # The arithmetic of tensoralg.algebra.evaluate.Backend, so that the shared tree walk runs in this field.

    def identity(self, n: int) -> Matrix:
        return self.matrix(n, n, (1 if i == j else 0 for i in range(n) for j in range(n)))

    def zeros(self, rows: int, cols: int) -> Matrix:
        return self.matrix(rows, cols)

    def scale(self, m: Matrix, c: Fraction) -> Matrix:
        return m * self.scalar(c)

    def matmul(self, a: Matrix, b: Matrix) -> Matrix:
        return a * b

    def add(self, a: Matrix, b: Matrix) -> Matrix:
        return a + b

    def kron(self, a: Matrix, b: Matrix) -> Matrix:
        return kron(a, b, self)

    def transpose(self, m: Matrix) -> Matrix:
        return m.transpose()

    def trace(self, m: Matrix) -> Matrix:
        total = self.scalar(Fraction(0))
        for i in range(min(m.nrows(), m.ncols())):
            total += m[i, i]
        return self.matrix(1, 1, [total])

    def inverse(self, m: Matrix, name: str) -> Matrix:
        """M⁻¹, or SingularValueError naming the expression when M is singular."""
        try:
            return m.inv()
        except ZeroDivisionError as exc:
            raise SingularValueError(f"{name} is singular on this instance") from exc


RATIONALS = Field("Q", None)
PRIME_FIELD = Field("GF(2^61-1)", P61)
FIELDS = {f.name: f for f in (RATIONALS, PRIME_FIELD)}
_GF = re.compile(r"^GF\((\d+)\)$")


def prime_field(p: int) -> Field:
    """GF(p) for an odd prime p < 2⁶³ (flint's word-sized moduli); GF(2⁶¹ − 1) is :data:`PRIME_FIELD`.

    >>> prime_field(2**61 - 1) is PRIME_FIELD, prime_field(1000003).name
    (True, 'GF(1000003)')
    """
    if p == P61:
        return PRIME_FIELD
    if not (2 < p < 2**63 and flint.fmpz(p).is_prime()):
        raise TensoralgError(f"GF({p}) is not a field computed here: the modulus must be an odd prime below 2^63")
    return Field(f"GF({p})", p)


def field_named(name: str) -> Field:
    """The field "Q", "GF(2^61-1)" or "GF(p)" for another prime p (as a counterexample names it)."""
    if name in FIELDS:
        return FIELDS[name]
    match = _GF.match(name)
    if match is None:
        raise TensoralgError(f"unknown field {name!r}; the exact fields are Q, GF(2^61-1) and GF(p) for a prime p")
    return prime_field(int(match.group(1)))


def faithful_prime_field(coefficients: Iterable[Fraction | int]) -> Field:
    """GF(p) for the largest prime p ≤ 2⁶¹ − 1 that divides no numerator and no denominator of
    ``coefficients``.

    Reduction mod such a p gives every coefficient a value and keeps every nonzero one
    nonzero, so a polynomial with these coefficients that is nonzero over ℚ stays nonzero
    over GF(p) (a coefficient that is a multiple of 2⁶¹ − 1 would vanish, and its inverse
    would have no value). Only primes dividing some coefficient are skipped: at most
    Σ log₂|n| / 60 of them over the numerators and denominators n.

    >>> faithful_prime_field([Fraction(3, 4), 7]) is PRIME_FIELD
    True
    >>> faithful_prime_field([P61 * 5, Fraction(1, P61)]).modulus
    2305843009213693921
    """
    # Only integers ≥ 2⁶⁰ can have a prime factor this large; usually there are none.
    large = {abs(n) for c in coefficients for n in (Fraction(c).numerator, Fraction(c).denominator) if abs(n) >= 2**60}
    p = P61
    while any(n % p == 0 for n in large):
        p -= 2
        while not flint.fmpz(p).is_prime():
            p -= 2
    return prime_field(p)


def kron(a: Matrix, b: Matrix, field: Field) -> Matrix:
    """The Kronecker product A⊗B: entry ((i₁,i₂),(j₁,j₂)) = A[i₁,j₁]·B[i₂,j₂]."""
    ra, ca, rb, cb = a.nrows(), a.ncols(), b.nrows(), b.ncols()
    ea, eb = a.entries(), b.entries()
    if field.modulus is not None:
        p = field.modulus
        ea, eb = [int(x) for x in ea], [int(x) for x in eb]
        mul = lambda x, y: x * y % p  # noqa: E731
    else:
        mul = lambda x, y: x * y  # noqa: E731
    out = [
        mul(ea[i1 * ca + j1], eb[i2 * cb + j2])
        for i1 in range(ra)
        for i2 in range(rb)
        for j1 in range(ca)
        for j2 in range(cb)
    ]
    return field.matrix(ra * rb, ca * cb, out)


def invertible_symbols(expr: Expr) -> frozenset[Symbol]:
    """The symbols that occur under an inverse (their values must be invertible)."""
    found: set[Symbol] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Inverse):
            found |= symbols_in(node.expr)
        else:
            stack.extend(children(node))
    return frozenset(found)


def random_instance(
    symbols: Iterable[Symbol],
    dims: Mapping[str, int],
    seed: int,
    field: Field,
    invertible: Iterable[Symbol] = (),
) -> dict[Symbol, Matrix]:
    """A value for each symbol, drawn from ``numpy.random.default_rng(seed)`` in sorted order.

    Entries are uniform on 0…p−1 over GF(p) and on −b…b over ℚ (b = field.entry_bound);
    a symbol in ``invertible`` is redrawn until its value is invertible.
    """
    rng = np.random.default_rng(seed)
    must_invert = frozenset(invertible)
    values: dict[Symbol, Matrix] = {}
    for symbol in sorted(set(symbols)):
        for space in symbol.shape:
            if space not in dims and space_size(space) is None:
                raise ShapeError(f"no size given for the space {space} (of {symbol.name})")
        rows, cols = (dims.get(space, space_size(space)) for space in symbol.shape)
        for _ in range(1000):
            if field.modulus is None:
                raw = rng.integers(-field.entry_bound, field.entry_bound + 1, size=rows * cols)
            else:
                raw = rng.integers(0, field.modulus, size=rows * cols, dtype=np.int64)
            value = field.matrix(rows, cols, (int(x) for x in raw))
            if symbol not in must_invert or value.det() != 0:
                break
        else:
            raise SingularValueError(f"could not draw an invertible value for {symbol.name}")
        values[symbol] = value
    return values


def evaluate_exact(expr: Expr, values: Mapping[Symbol, Matrix], dims: Mapping[str, int], field: Field) -> Matrix:
    """The exact value of ``expr`` (definitions unfolded) on the instance ``values``.

    This is :func:`tensoralg.algebra.evaluate.evaluate_with` with ``field`` as the backend: tensor
    terms are dense Kronecker products; actions (A⊗W)·X = A X Wᵀ are applied without forming them.
    """
    return evaluate_with(expand_definitions(expr), values, dims, field)


def factor_entry(row: int, col: int, shape: Shape, dims: Mapping[str, int]) -> tuple[int, ...]:
    """The dense entry (row, col) of a tensor term as (i₁, j₁, i₂, j₂, …), one pair per factor.

    Kronecker order: row = (…(i₁·n₂ + i₂)·n₃ + i₃…).
    """
    rows, cols = [], []
    for r, c in reversed(shape):
        row, i = divmod(row, dims[r])
        col, j = divmod(col, dims[c])
        rows.append(i)
        cols.append(j)
    return tuple(x for pair in zip(reversed(rows), reversed(cols)) for x in pair)


def first_difference(
    lhs: Matrix, rhs: Matrix, shape: Shape, dims: Mapping[str, int], field: Field
) -> tuple[tuple[int, ...], str, str] | None:
    """The first entry (in row-major order) where two values differ, with both values; None if equal."""
    left, right = lhs.entries(), rhs.entries()
    cols = lhs.ncols()
    for k, (a, b) in enumerate(zip(left, right)):
        if a != b:
            row, col = divmod(k, cols)
            return factor_entry(row, col, shape, dims), field.value(a), field.value(b)
    return None


def matrix_text(value: Matrix, field: Field) -> tuple[tuple[str, ...], ...]:
    """The rows of a matrix as text (for printing a counterexample's instance)."""
    cols = value.ncols()
    flat = [field.value(x) for x in value.entries()]
    return tuple(tuple(flat[i : i + cols]) for i in range(0, len(flat), cols))
