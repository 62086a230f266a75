"""Expression trees of the tensor-product algebra.

Nodes are frozen dataclasses whose constructor arguments are their whole state;
they check shapes when built, so ``W_E W_E`` never exists. A shape is a tuple of
(rows, cols) pairs, one per tensor factor: a plain matrix has one factor, a term
A⊗W acting on residual states has two (positions ⊗ residual), and a bilinear score
term A_q⊗A_k⊗M has three.

Equality is mathematical: two expressions are equal exactly when their normal
forms are (see :mod:`tensoralg.algebra.normal_form`), and their hashes are those of the
normal forms. Definitions such as W_OV := W_O W_V are not unfolded by equality;
:func:`tensoralg.algebra.definitions.expand_definitions` does that on demand.

>>> from tensoralg.algebra.symbols import standard_symbol as s
>>> A, B = atom(s("A", 0, 0)), atom(s("A", 0, 1))
>>> W, V = atom(s("W_OV", 0, 0)), atom(s("W_OV", 0, 1))
>>> kron(A, W) @ kron(B, V) == kron(A @ B, W @ V)
True
>>> kron(A, W) @ kron(B, V) == kron(B @ A, W @ V)
False
>>> atom(s("W_E")) @ atom(s("W_E"))
Traceback (most recent call last):
...
tensoralg.errors.ShapeError: cannot multiply W_E (d_model × n_vocab) by W_E (d_model × n_vocab): columns n_vocab ≠ rows d_model
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator

from ..errors import ShapeError, TensoralgError
from .index_sets import is_bound, is_variable, named_index, rename, variables
from .normal_form import (
    NormalForm,
    Shape,
    Word,
    action_terms,
    bilinear_terms,
    bind_terms,
    MAX_TERMS,
    check_term_count,
    invert_terms,
    mixed_product,
    scale_terms,
    sum_terms,
    tensor_terms,
    trace_terms,
    transpose_terms,
)
from .printing import to_latex, to_unicode
from .scalars import SCALAR, Cycle
from .symbols import Letter, Symbol
CoefficientLike = int | Fraction | str


def format_shape(shape: Shape) -> str:
    """``d_model × d_model`` for a matrix, ``n_ctx × n_ctx ⊗ d_model × d_model`` for a tensor term."""
    return " ⊗ ".join(f"{r} × {c}" for r, c in shape)


def _describe(expr: "Expr") -> str:
    text = to_unicode(expr)
    if len(text) > 60:
        text = text[:57] + "…"
    return f"{text} ({format_shape(expr.shape)})"


class Expr:
    """Base class of expression nodes: operators, shape, mathematical equality."""

    __slots__ = ()

    @property
    def shape(self) -> Shape:
        raise NotImplementedError

    @property
    def arity(self) -> int:
        """The number of tensor factors (1 for a plain matrix)."""
        return len(self.shape)

    @cached_property
    def normal_form(self) -> NormalForm:
        return normal_form(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expr):
            return NotImplemented
        return self is other or self.normal_form == other.normal_form

    def __hash__(self) -> int:
        return hash(self.normal_form)

    def __matmul__(self, other: "Expr") -> "Expr":
        return Product((self, other))

    def __add__(self, other: "Expr") -> "Expr":
        return Sum((self, other))

    def __sub__(self, other: "Expr") -> "Expr":
        return Sum((self, Scaled(Fraction(-1), other)))

    def __neg__(self) -> "Expr":
        return Scaled(Fraction(-1), self)

    def __rmul__(self, coefficient: CoefficientLike) -> "Expr":
        return Scaled(as_coefficient(coefficient), self)

    @property
    def T(self) -> "Expr":
        return Transpose(self)

    def __str__(self) -> str:
        return to_unicode(self)

    def __repr__(self) -> str:
        """The node kind, the Unicode text (shortened past 80 characters) and the shape.

        >>> from tensoralg.algebra.symbols import standard_symbol as s
        >>> atom(s("W_U")) @ atom(s("W_E"))
        <Product W_U W_E : n_vocab × n_vocab>
        """
        try:
            text = to_unicode(self)
        except TypeError:  # a node the printer does not know: its kind and shape still say what it is
            return f"<{type(self).__name__} : {format_shape(self.shape)}>"
        text = text if len(text) <= 80 else text[:79] + "…"
        return f"<{type(self).__name__} {text} : {format_shape(self.shape)}>"

    def _repr_latex_(self) -> str:
        """Typeset math in Jupyter: ``$\\displaystyle …$`` around :func:`~tensoralg.algebra.printing.to_latex`."""
        return f"$\\displaystyle {to_latex(self)}$"


def as_coefficient(value: CoefficientLike) -> Fraction:
    """An exact rational coefficient from an int, a Fraction or a string like '-3/2'."""
    if isinstance(value, bool) or not isinstance(value, (int, Fraction, str)):
        raise TypeError(f"coefficients are exact rationals (int, Fraction or str); got {value!r}")
    try:
        return Fraction(value)
    except (ValueError, ZeroDivisionError) as exc:
        raise ShapeError(f"not a rational coefficient: {value!r}") from exc


@dataclass(frozen=True, eq=False, repr=False)
class Atom(Expr):
    """A matrix symbol, e.g. W_OV^{1,0} (d_model × d_model)."""

    symbol: Symbol

    @property
    def shape(self) -> Shape:
        return ((self.symbol.rows, self.symbol.cols),)


@dataclass(frozen=True, eq=False, repr=False)
class Identity(Expr):
    """The identity of one space, Id (space × space)."""

    space: str

    @property
    def shape(self) -> Shape:
        return ((self.space, self.space),)


@dataclass(frozen=True, eq=False, repr=False)
class Zero(Expr):
    """The zero matrix (or zero tensor term) of a given shape."""

    zero_shape: Shape

    @property
    def shape(self) -> Shape:
        return self.zero_shape


@dataclass(frozen=True, eq=False, repr=False)
class Scaled(Expr):
    """c·X for an exact rational c."""

    coefficient: Fraction
    expr: Expr

    def __post_init__(self) -> None:
        object.__setattr__(self, "coefficient", as_coefficient(self.coefficient))

    @property
    def shape(self) -> Shape:
        return self.expr.shape


@dataclass(frozen=True, eq=False, repr=False)
class Transpose(Expr):
    """Xᵀ; for tensor terms (A⊗B)ᵀ = Aᵀ⊗Bᵀ factor by factor."""

    expr: Expr

    @property
    def shape(self) -> Shape:
        return tuple((c, r) for r, c in self.expr.shape)


@dataclass(frozen=True, eq=False, repr=False)
class Inverse(Expr):
    """X⁻¹ for X a single term: c·w₁⊗…⊗w_k ↦ c⁻¹·w₁⁻¹⊗…⊗w_k⁻¹, with (XY)⁻¹ = Y⁻¹X⁻¹.

    Sums have no inverse in the algebra; the normal form refuses them.
    """

    expr: Expr

    def __post_init__(self) -> None:
        for rows, cols in self.expr.shape:
            if rows != cols:
                raise ShapeError(f"cannot invert {_describe(self.expr)}: it is not square ({rows} ≠ {cols})")

    @property
    def shape(self) -> Shape:
        return self.expr.shape


@dataclass(frozen=True, eq=False, repr=False)
class Product(Expr):
    """The matrix product X₁X₂…Xₙ (factor by factor for tensor terms)."""

    factors: tuple[Expr, ...]

    def __post_init__(self) -> None:
        factors = tuple(self.factors)
        object.__setattr__(self, "factors", factors)
        if not factors:
            raise ShapeError("a product needs at least one factor")
        for left, right in zip(factors, factors[1:]):
            _check_product(left, right)

    @property
    def shape(self) -> Shape:
        first, last = self.factors[0].shape, self.factors[-1].shape
        return tuple((a[0], b[1]) for a, b in zip(first, last))


def _check_product(left: Expr, right: Expr) -> None:
    ls, rs = left.shape, right.shape
    if len(ls) != len(rs):
        raise ShapeError(
            f"cannot multiply {_describe(left)} by {_describe(right)}: "
            f"{len(ls)} tensor factor(s) against {len(rs)}"
        )
    for position, ((_, lc), (rr, _)) in enumerate(zip(ls, rs)):
        if lc != rr:
            where = "" if len(ls) == 1 else f" in tensor factor {position + 1}"
            raise ShapeError(
                f"cannot multiply {_describe(left)} by {_describe(right)}: "
                f"columns {lc} ≠ rows {rr}{where}"
            )


@dataclass(frozen=True, eq=False, repr=False)
class Sum(Expr):
    """X₁ + X₂ + … + Xₙ, all of one shape."""

    terms: tuple[Expr, ...]

    def __post_init__(self) -> None:
        terms = tuple(self.terms)
        object.__setattr__(self, "terms", terms)
        if not terms:
            raise ShapeError("a sum needs at least one term (use Zero for an empty sum)")
        first = terms[0]
        for other in terms[1:]:
            if other.shape != first.shape:
                raise ShapeError(f"cannot add {_describe(first)} and {_describe(other)}: shapes differ")

    @property
    def shape(self) -> Shape:
        return self.terms[0].shape


@dataclass(frozen=True, eq=False, repr=False)
class Tensor(Expr):
    """The tensor (Kronecker) product X₁⊗X₂⊗…; its shape lists each factor's shape."""

    factors: tuple[Expr, ...]

    def __post_init__(self) -> None:
        factors = tuple(self.factors)
        object.__setattr__(self, "factors", factors)
        if len(factors) < 1:
            raise ShapeError("a tensor product needs at least one factor")

    @property
    def shape(self) -> Shape:
        return tuple(pair for f in self.factors for pair in f.shape)


@dataclass(frozen=True, eq=False, repr=False)
class Apply(Expr):
    """The action of a tensor term on a state.

    Two factors: (A⊗W)·X = A X Wᵀ (X has a row per position).
    Three factors: (A_q⊗A_k⊗M)·X = A_q X M Xᵀ A_kᵀ, a score matrix.
    """

    operator: Expr
    state: Expr

    def __post_init__(self) -> None:
        op, st = self.operator.shape, self.state.shape
        if len(st) != 1 or len(op) not in (2, 3):
            raise ShapeError(
                f"cannot apply {_describe(self.operator)} to {_describe(self.state)}: "
                "a two- or three-factor term acts on a plain matrix"
            )
        (xr, xc), = st
        if len(op) == 2:
            (_, pc), (_, wc) = op
            ok, need = (pc == xr and wc == xc), f"{pc} × {wc}"
        else:
            (_, qc), (_, kc), (mr, mc) = op
            ok, need = (qc == xr == kc and mr == xc == mc), f"{qc} × {mr}"
        if not ok:
            raise ShapeError(
                f"cannot apply {_describe(self.operator)} to {_describe(self.state)}: "
                f"the state must be {need}"
            )

    @property
    def shape(self) -> Shape:
        # A X Wᵀ and A_q X M Xᵀ A_kᵀ alike: rows of the first factor by rows of the second.
        op = self.operator.shape
        return ((op[0][0], op[1][0]),)


@dataclass(frozen=True, eq=False, repr=False)
class Bilinear(Expr):
    """A score form read through two residual maps (CLAIMS C14).

    For a form F = A_q⊗A_k⊗M and maps P = A_p⊗W_p (queries), Q = B⊗V (keys):
    F∘(P, Q) = (A_q A_p)⊗(A_k B)⊗(W_pᵀ M V), so that F·(P·t, Q·t) = (F∘(P,Q))·t
    when the same tokens t feed both sides. A plain matrix M as form means Id⊗Id⊗M.
    """

    form: Expr
    query: Expr
    key: Expr

    def __post_init__(self) -> None:
        f, q, k = self.form.shape, self.query.shape, self.key.shape
        if len(f) not in (1, 3) or len(q) != 2 or len(k) != 2:
            raise ShapeError(
                f"a bilinear form needs a matrix or three-factor form and two two-factor maps; got "
                f"{_describe(self.form)}, {_describe(self.query)}, {_describe(self.key)}"
            )
        (qr, _), (wr, _) = q
        (kr, _), (vr, _) = k
        if len(f) == 1:
            (mr, mc), = f
            pos_ok = True
        else:
            (_, qc), (_, kc), (mr, mc) = f
            pos_ok = qc == qr and kc == kr
        if not (pos_ok and mr == wr and mc == vr):
            raise ShapeError(
                f"cannot read the form {_describe(self.form)} through {_describe(self.query)} "
                f"and {_describe(self.key)}: shapes do not chain"
            )

    @property
    def shape(self) -> Shape:
        f, q, k = self.form.shape, self.query.shape, self.key.shape
        q_rows = q[0][0] if len(f) == 1 else f[0][0]
        k_rows = k[0][0] if len(f) == 1 else f[1][0]
        return ((q_rows, q[0][1]), (k_rows, k[0][1]), (q[1][1], k[1][1]))


@dataclass(frozen=True, eq=False, repr=False)
class Trace(Expr):
    """tr(X), a scalar (1 × 1); for a tensor term tr(A⊗B) = tr(A) tr(B), so every factor is square."""

    expr: Expr

    def __post_init__(self) -> None:
        for rows, cols in self.expr.shape:
            if rows != cols:
                raise ShapeError(f"cannot take the trace of {_describe(self.expr)}: it is not square ({rows} ≠ {cols})")

    @property
    def shape(self) -> Shape:
        return ((SCALAR, SCALAR),)


@dataclass(frozen=True, eq=False, repr=False)
class IndexedSum(Expr):
    """Σ_{h₁∈H_{l₁}, …} X over sets of heads of unknown size (CLAIMS C27).

    ``bindings`` pairs each variable (a named index of :mod:`tensoralg.algebra.index_sets`,
    as it occurs in the symbols of ``expr``) with the layer it ranges over (0-based: H1 is 0).
    """

    bindings: tuple[tuple[int, int], ...]
    expr: Expr

    def __post_init__(self) -> None:
        object.__setattr__(self, "bindings", tuple(self.bindings))
        for variable, layer in self.bindings:
            if not is_variable(variable) or is_bound(variable) or layer < 0:
                raise ShapeError(f"a sum binds named variables over layers ≥ 0; got {variable}, {layer}")

    @property
    def shape(self) -> Shape:
        return self.expr.shape


# Normal forms of trees, and trees of normal forms.


def normal_form(expr: Expr) -> NormalForm:
    """The normal form of an expression tree, composed bottom-up from the named rules of
    :mod:`tensoralg.algebra.normal_form` (children's normal forms are cached on them).

    >>> from tensoralg.algebra.symbols import standard_symbol as s
    >>> X, Y = atom(s("W_OV", 0, 0)), atom(s("W_OV", 0, 1))
    >>> print(canonical_tree(normal_form(Transpose(Product((X, Y))))))
    W_OV^{0,1}ᵀ W_OV^{0,0}ᵀ
    >>> len(normal_form(Product((Tensor((Identity("n_ctx"), X)), Identity("n_ctx") @ Identity("n_ctx")))).terms)
    Traceback (most recent call last):
    ...
    tensoralg.errors.ShapeError: cannot multiply Id ⊗ W_OV^{0,0} (n_ctx × n_ctx ⊗ d_model × d_model) by Id Id (n_ctx × n_ctx): 2 tensor factor(s) against 1
    """
    _fill(expr)
    match expr:
        case Atom(symbol=symbol):
            return NormalForm(expr.shape, {((Letter(symbol, False),),): 1}, any(i < 0 for i in symbol.indices))
        case Identity():
            return NormalForm(expr.shape, {((),): 1})
        case Zero():
            return NormalForm(expr.shape, {})
        case Scaled(coefficient=c, expr=inner):
            return scale_terms(c, inner.normal_form)
        case Transpose(expr=inner):
            return transpose_terms(inner.normal_form)
        case Inverse(expr=inner):
            return invert_terms(inner.normal_form, to_unicode(inner))
        case Sum(terms=terms):
            return sum_terms(expr.shape, (t.normal_form for t in terms))
        case Product(factors=factors):
            bound = 1
            for f in factors:
                bound *= len(f.normal_form)
            if bound > MAX_TERMS:
                check_term_count(bound, f"the product {_describe(expr)}")
            result = factors[0].normal_form
            for f in factors[1:]:
                result = mixed_product(result, f.normal_form)
            return result
        case Tensor(factors=factors):
            bound = 1
            for f in factors:
                bound *= len(f.normal_form)
            if bound > MAX_TERMS:
                check_term_count(bound, f"the tensor product {_describe(expr)}")
            result = factors[0].normal_form
            for f in factors[1:]:
                result = tensor_terms(result, f.normal_form)
            return result
        case Apply(operator=op, state=st):
            return action_terms(op.normal_form, st.normal_form)
        case Bilinear(form=f, query=q, key=k):
            return bilinear_terms(f.normal_form, q.normal_form, k.normal_form)
        case Trace(expr=inner):
            return trace_terms(inner.normal_form)
        case IndexedSum(bindings=bindings, expr=inner):
            inner_nf = inner.normal_form
            describe = lambda key: to_unicode(canonical_tree(NormalForm(inner_nf.shape, {key: 1})))  # noqa: E731
            return bind_terms(inner_nf, dict(bindings), describe)
    raise TypeError(f"not an expression node: {expr!r}")


def _fill(expr: Expr) -> None:
    """Compute the normal forms of ``expr``'s descendants bottom-up without recursion, so that
    a tree thousands of levels deep (400 transposes, 3,000 inverses) needs no deep call stack."""
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if ready:
            if node is not expr:
                node.normal_form
            continue
        if node is not expr and "normal_form" in node.__dict__:
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children(node))


def _letter_tree(letter: Letter) -> Expr:
    if isinstance(letter, Cycle):
        return Trace(word_tree(letter.word, letter.space or letter.word[0].rows))
    node: Expr = Atom(letter.symbol)
    if letter.transposed:
        node = Transpose(node)
    return Inverse(node) if letter.inverse else node


def word_tree(word: Word, space: str) -> Expr:
    """The tree of one word of a normal form: Id of ``space`` when empty, else the product of its
    letters (each an atom, possibly transposed or inverted, or a trace)."""
    if not word:
        return Identity(space)
    atoms = [_letter_tree(l) for l in word]
    return atoms[0] if len(atoms) == 1 else Product(tuple(atoms))


def canonical_tree(nf: NormalForm) -> Expr:
    """The canonical tree of a normal form: a sum of scaled tensor products of products of atoms;
    a term with bound variables is an :class:`IndexedSum` over them."""
    terms: list[Expr] = []
    for key, c in nf.sorted_terms:
        parts = [word_tree(w, rows) for w, (rows, _) in zip(key, nf.shape)]
        body = parts[0] if len(parts) == 1 else Tensor(tuple(parts))
        if nf.variables:
            body = _bind_tree(key, body)
        terms.append(body if c == 1 else Scaled(c, body))
    if not terms:
        return Zero(nf.shape)
    return terms[0] if len(terms) == 1 else Sum(tuple(terms))


def _bind_tree(key: tuple, body: Expr) -> Expr:
    """Σ over the bound variables of one canonical term, renamed to printable named variables:
    h for a lone variable, else h1, h2, … by layer (hq, hk style names are the reader's choice)."""
    bound = sorted(((v, layer) for v, layer in variables(key).items() if is_bound(v)), reverse=True)
    if not bound:
        return body
    names = ["h"] if len(bound) == 1 else [f"h{k + 1}" for k in range(len(bound))]
    mapping = {v: named_index(name) for (v, _), name in zip(bound, names)}
    renamed = canonical_tree(NormalForm(body.shape, {rename(key, mapping): 1}))
    return IndexedSum(tuple((mapping[v], layer if layer is not None else 0) for v, layer in bound), renamed)


def iter_terms(nf: NormalForm) -> Iterator[tuple[Fraction, tuple[Expr, ...]]]:
    """(coefficient, tensor factors as trees) for each term, in canonical order."""
    for key, c in nf.sorted_terms:
        yield c, tuple(word_tree(w, rows) for w, (rows, _) in zip(key, nf.shape))


def from_json(data: dict[str, Any], symbols: Callable[[str, tuple[int, ...]], Symbol]) -> Expr:
    """The expression of :func:`tensoralg.algebra.printing.to_json`'s output; ``symbols(name,
    indices)`` resolves names.

    Raises TensoralgError naming the term and factor that is malformed.
    """
    def factor(f: dict[str, Any]) -> Expr:
        if "trace" in f:
            inner = [factor(g) for g in f["trace"]]
            return Trace(Identity(str(f["space"])) if not inner else inner[0] if len(inner) == 1 else Product(tuple(inner)))
        raw = tuple(i for i in (f.get("layer"), f.get("head")) if i is not None)
        indices = tuple(named_index(i) if isinstance(i, str) else i for i in raw)
        symbol = symbols(f["symbol"], tuple(max(i, 0) for i in indices))._replace(indices=indices)
        a: Expr = Atom(symbol)
        a = Transpose(a) if f.get("transpose") else a
        return Inverse(a) if f.get("inverse") else a

    try:
        shape = tuple((str(r), str(c)) for r, c in data["shape"])
        terms: list[Expr] = []
        for t_index, term in enumerate(data["terms"]):
            parts: list[Expr] = []
            for (rows, _), word in zip(shape, term["factors"]):
                atoms = [factor(f) for f in word]
                parts.append(Identity(rows) if not atoms else atoms[0] if len(atoms) == 1 else Product(tuple(atoms)))
            body: Expr = parts[0] if len(parts) == 1 else Tensor(tuple(parts))
            if term.get("sum_over"):
                body = IndexedSum(tuple((named_index(b["variable"]), int(b["layer"])) for b in term["sum_over"]), body)
            terms.append(Scaled(Fraction(term["coefficient"]), body))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, TensoralgError):
            raise
        raise TensoralgError(f"malformed expression JSON: {exc!r}") from exc
    return sum_of(terms, shape)


# Builders: lowercase functions that build and canonicalize in one step.


def atom(symbol: Symbol) -> Atom:
    """The expression for one symbol."""
    return Atom(symbol)


def identity(*spaces: str) -> Expr:
    """Id on one space, or Id⊗Id⊗… on several (the unit of that tensor algebra).

    >>> identity("n_ctx", "d_model").shape
    (('n_ctx', 'n_ctx'), ('d_model', 'd_model'))
    """
    if len(spaces) == 1:
        return Identity(spaces[0])
    return Tensor(tuple(Identity(s) for s in spaces))


def identity_like(shape: Shape) -> Expr:
    """The identity of the (square) tensor space of ``shape``."""
    for r, c in shape:
        if r != c:
            raise ShapeError(f"there is no identity of shape {format_shape(shape)}: {r} ≠ {c}")
    return identity(*(r for r, _ in shape))


def canonical(expr: Expr) -> Expr:
    """The canonical tree of ``expr``: a sorted sum of scaled tensor products of words."""
    return canonical_tree(expr.normal_form)


def matmul(*factors: Expr) -> Expr:
    """The canonical form of X₁X₂…Xₙ."""
    return canonical(Product(factors))


def kron(*factors: Expr) -> Expr:
    """The canonical form of X₁⊗X₂⊗…⊗Xₙ.

    >>> from tensoralg.algebra.symbols import standard_symbol as s
    >>> print(kron(identity("n_ctx"), atom(s("W_U")) @ atom(s("W_E"))))
    Id ⊗ W_U W_E
    """
    return canonical(Tensor(factors))


def add(*terms: Expr) -> Expr:
    """The canonical form of X₁ + … + Xₙ."""
    return canonical(Sum(terms))


def inverse(expr: Expr) -> Expr:
    """The canonical form of X⁻¹ (X a single scaled tensor product of words)."""
    return canonical(Inverse(expr))


def transpose(expr: Expr) -> Expr:
    """The canonical form of Xᵀ."""
    return canonical(Transpose(expr))


def scale(coefficient: CoefficientLike, expr: Expr) -> Expr:
    """The canonical form of c·X."""
    return canonical(Scaled(as_coefficient(coefficient), expr))


def sum_of(terms: Iterable[Expr], shape: Shape) -> Expr:
    """Σ terms as a Sum node, or Zero(shape) when there are none."""
    terms = tuple(terms)
    return Sum(terms) if terms else Zero(shape)


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of a node."""
    match expr:
        case Scaled(expr=inner) | Transpose(expr=inner) | Inverse(expr=inner):
            return (inner,)
        case Product(factors=parts) | Tensor(factors=parts) | Sum(terms=parts):
            return parts
        case Apply(operator=op, state=st):
            return (op, st)
        case Bilinear(form=f, query=q, key=k):
            return (f, q, k)
        case Trace(expr=inner) | IndexedSum(expr=inner):
            return (inner,)
    return ()


def rebuild(node: Expr, parts: tuple[Expr, ...]) -> Expr:
    """``node`` with its children replaced by ``parts`` (``node`` itself when nothing changed)."""
    old = children(node)
    if len(old) == len(parts) and all(a is b for a, b in zip(old, parts)):
        return node
    match node:
        case Scaled(coefficient=c):
            return Scaled(c, parts[0])
        case Transpose():
            return Transpose(parts[0])
        case Inverse():
            return Inverse(parts[0])
        case Product():
            return Product(parts)
        case Tensor():
            return Tensor(parts)
        case Sum():
            return Sum(parts)
        case Apply():
            return Apply(*parts)
        case Bilinear():
            return Bilinear(*parts)
        case Trace():
            return Trace(parts[0])
        case IndexedSum(bindings=bindings):
            return IndexedSum(bindings, parts[0])
    raise TypeError(f"not an expression node with children: {node!r}")


def depth(expr: Expr) -> int:
    """The number of nodes on the longest path from ``expr`` to a leaf (counted without recursion)."""
    deepest, stack = 0, [(expr, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in children(node))
    return deepest


def symbols_in(expr: Expr) -> frozenset[Symbol]:
    """Every symbol that occurs in ``expr``.

    >>> from tensoralg.algebra.symbols import standard_symbol as s
    >>> sorted(x.name for x in symbols_in(atom(s("W_U")) @ atom(s("W_E"))))
    ['W_E', 'W_U']
    """
    found: set[Symbol] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Atom):
            found.add(node.symbol)
        stack.extend(children(node))
    return frozenset(found)


def spaces_in(expr: Expr) -> frozenset[str]:
    """Every space name that occurs in ``expr`` (in its symbols, identities and shape)."""
    spaces = {space for pair in expr.shape for space in pair}
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Atom):
            spaces.update(node.symbol.shape)
        elif isinstance(node, Identity):
            spaces.add(node.space)
        stack.extend(children(node))
    return frozenset(spaces)
