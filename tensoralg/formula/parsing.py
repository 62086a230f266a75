"""The formula language: identities typed by a person, in Unicode, ASCII or LaTeX.

Precedence, loosest first (as :mod:`tensoralg.algebra.printing` writes them):

    ==  =               an identity, or a chain e₀ = e₁ = e₂ (rank(E) <= k: :mod:`tensoralg.verify.statements`)
    +  -                sums; Σ_{h∈H1} body (the body runs to the next + or -)
    ⊗  (x)  \\otimes     tensor product
    juxtaposition @ *   matrix product; a number scales (2 A, (1/2) A, \\frac{1}{2} A, A/2)
    ·  .  \\cdot         the product between operators; the action (A⊗W)·X = A X Wᵀ when the
                        left side is a tensor term and the right a residual state
    ∘  \\circ            bilinear form F ∘ (P, Q) (the core's Bilinear)
    Π_{l=1}^{L} X       one factor X per layer, in the written order (Π_{l=L..1}: last layer first)
    ᵀ ^T ^{\\top} '      transpose;  ⁻¹ ^{-1} inv(X) inverse;  ⁻ᵀ ^{-T} inverse transpose;
                        M^2, M^{3}, M^{-2} powers of a square M (runs of ᵀ and ⁻¹ fold, never nest)
    tr(X) ‖X‖_F^2       a trace, a squared Frobenius norm tr(XᵀX): scalars (1 × 1)

Symbols are the standard ones of CLAIMS.md (W_E, W_pos, W_U, W_Q, W_K, W_V, W_O, W_OV,
W_QK, A, t, W_in, W_out) or declared with shapes ("M: d_model x d_model", "x: d_model x 1",
"P: 3 x 3"; a declaration also shadows a standard name); a near-miss (id, I, w_ov) gets a
"did you mean". Indices are 0-based (layer, head): ``W_OV^{1,0}``, ``W_OV[1,0]``,
``W_{OV}^{1,0}``; a number after ^ is a power except on a head-indexed standard symbol
without indices (``A^2`` is head 2). Sums over heads bind a variable to (layer, head):
``Σ_{h∈H1}``, ``sum_{h in H1}``, ``\\sum_{h \\in H_1}``, ``Σ_{h1∈H1, h2∈H2}``,
``Σ_{h∈H1∪H2}`` (``cup`` or ``|`` in ASCII, or ``\\cup H_1 H_2``); H1 is layer index 0, so
A^h for h ∈ H1 is A^{0,h}. With the heads per layer (``heads=(2, 2)``) a sum is enumerated;
without them it is a formal sum over a set of heads of unknown size
(:mod:`tensoralg.algebra.index_sets`), and a head index no sum binds (``A^h``) is free.
``Id`` takes its space from the context (a position factor of a tensor term is n_ctx), or
is given as ``Id_{d_model}``/``Id[d_model]``; ``0`` is the zero of the other side's shape.
Other spellings: ``apply(P, X)`` for P·X, ``bilinear(F, P, Q)`` for F ∘ (P, Q).
``(x)`` always means ⊗, so a symbol named x is never written in parentheses alone.

>>> ctx = Context.build(["M: d_model x d_model"], heads=(2,))
>>> print(parse("Σ_{h∈H1} A^h ⊗ W_OV^h M", ctx))
A^{0,0} ⊗ W_OV^{0,0} M + A^{0,1} ⊗ W_OV^{0,1} M
>>> lhs, rhs = parse_equation(r"\\mathrm{Id} \\otimes W_{U} W_{E} == (Id (x) W_U)(Id ⊗ W_E)", ctx)
>>> lhs == rhs, lhs.shape
(True, (('n_ctx', 'n_ctx'), ('n_vocab', 'n_vocab')))
>>> from tensoralg.algebra.expr import canonical
>>> pair = parse("(Σ_{h∈H2} A^h)(Σ_{h∈H1} A^h)")  # no heads: sums over heads of unknown number
>>> print(pair, "=", canonical(pair))
(Σ_{h∈H2} A^{h}) (Σ_{h∈H1} A^{h}) = Σ_{h1∈H1, h2∈H2} A^{h2} A^{h1}
>>> parse("W_U + W_E", ctx)
Traceback (most recent call last):
...
tensoralg.errors.ShapeError: cannot add W_U (n_vocab × d_model) and W_E (d_model × n_vocab): shapes differ (column 7)
  W_U + W_E
        ^
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from ..algebra.architecture import Architecture
from ..errors import FormulaSyntaxError, SymbolError
from ..algebra.expr import Expr, Shape
from .elaboration import elaborate
from .lexer import Token, caret, syntax_error, tokenize
from .syntax import nesting_depth, nesting_room

__all__ = ["Context", "Token", "parse", "parse_chain", "parse_declaration", "parse_equation", "split_chain", "tokenize"]


@dataclass(frozen=True)
class Context:
    """What a formula may refer to: declared symbols (name → (rows, cols)) and heads per layer."""

    declarations: Mapping[str, tuple[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    heads: tuple[int, ...] | None = None
    index_shift: int = 0  # added to every written layer/head index (-1 reads 1-based indices)

    @staticmethod
    def build(
        declarations: Iterable[str] = (), heads: Sequence[int] | None = None, index_shift: int = 0
    ) -> "Context":
        """A context from declarations such as "M, N: d_model x d_model" and heads such as (2, 2)."""
        table: dict[str, tuple[str, str]] = {}
        for text in declarations:
            table.update(parse_declaration(text))
        if heads is not None:
            heads = Architecture(tuple(heads)).heads
        return Context(MappingProxyType(table), heads, index_shift)


_DECLARATION = re.compile(
    r"^\s*(?P<names>[A-Za-z][A-Za-z0-9_]*(\s*,\s*[A-Za-z][A-Za-z0-9_]*)*)\s*:\s*"
    r"(?P<rows>[A-Za-z_][A-Za-z0-9_]*|[1-9][0-9]*)\s*(?:x|×|\*|\\times)\s*"
    r"(?P<cols>[A-Za-z_][A-Za-z0-9_]*|[1-9][0-9]*)\s*$"
)


def parse_declaration(text: str) -> dict[str, tuple[str, str]]:
    """``"M, N: d_model x d_model"`` → {"M": ("d_model", "d_model"), "N": …}.

    >>> parse_declaration("P: d_model × d_head")
    {'P': ('d_model', 'd_head')}
    >>> parse_declaration("x, y: d_model x 1")  # sizes may be numbers: vectors, 3 × 3 matrices
    {'x': ('d_model', '1'), 'y': ('d_model', '1')}
    >>> parse_declaration("M d_model")
    Traceback (most recent call last):
    ...
    tensoralg.errors.FormulaSyntaxError: a declaration reads "NAME: ROWS x COLS" (e.g. "M: d_model x d_model"); got 'M d_model'
    """
    m = _DECLARATION.match(text)
    if not m:
        raise FormulaSyntaxError(
            f'a declaration reads "NAME: ROWS x COLS" (e.g. "M: d_model x d_model"); got {text!r}'
        )
    names = [n.strip() for n in m["names"].split(",")]
    for name in names:
        if name == "Id":
            raise SymbolError("Id is the identity and cannot be declared")
    return {name: (m["rows"], m["cols"]) for name in names}


def _elaborate(text: str, context: Context | None, shape: Shape | None) -> list[Expr]:
    context = context or Context()
    with nesting_room(nesting_depth(tokenize(text))):
        return elaborate(text, context.declarations, context.heads, shape, context.index_shift)


def parse(text: str, context: Context | None = None, *, shape: Shape | None = None) -> Expr:
    """One expression; ``shape`` (if given) fixes the spaces of Id and 0 that nothing else does."""
    exprs = _elaborate(text, context, shape)
    if len(exprs) != 1:
        raise FormulaSyntaxError(f"expected one expression, got an identity with {len(exprs)} sides\n{caret(text, 0)}")
    return exprs[0]


def parse_equation(text: str, context: Context | None = None) -> tuple[Expr, Expr]:
    """The two sides of "LHS == RHS" (or "LHS = RHS").

    >>> lhs, rhs = parse_equation("(W_U W_E)ᵀ == W_Eᵀ W_Uᵀ")
    >>> print(lhs, "|", rhs)
    (W_U W_E)ᵀ | W_Eᵀ W_Uᵀ
    """
    exprs = _elaborate(text, context, None)
    if len(exprs) != 2:
        col = len(text) if len(exprs) == 1 else next(t.col for t in tokenize(text) if t.kind == "EQ")
        what = "'==' between the two sides" if len(exprs) == 1 else "exactly one '==' (use a derivation file for chains)"
        raise syntax_error(text, col, f"expected {what}")
    return exprs[0], exprs[1]


def parse_chain(text: str, context: Context | None = None) -> list[Expr]:
    """The expressions of a chain e₀ = e₁ = … (one or more), sharing Id's inferred spaces."""
    return _elaborate(text, context, None)


def split_chain(text: str) -> list[tuple[int, str]]:
    """The pieces of "e₀ = e₁ = …" as (column, text), split at top-level '=' signs.

    >>> split_chain("A = B == C")
    [(0, 'A '), (3, ' B '), (8, ' C')]
    """
    pieces, start = [], 0
    for tok in tokenize(text):
        if tok.kind == "EQ":
            pieces.append((start, text[start : tok.col]))
            start = tok.col + len(tok.text)
    pieces.append((start, text[start:]))
    return pieces
