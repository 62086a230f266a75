"""The formula language: identities typed by a person, in Unicode, ASCII or LaTeX.

Precedence, loosest first (as :mod:`tensoralg.printing` writes them):

    ==  =               an identity, or a chain e₀ = e₁ = e₂
    +  -                sums
    ⊗  (x)  \\otimes     tensor product
    juxtaposition @ *   matrix product; a number scales (2 A, (1/2) A, \\frac{1}{2} A, A/2)
    ·  .  \\cdot         action (A⊗W)·X = A X Wᵀ when the left side is a tensor term, else product
    ∘  \\circ            bilinear form F ∘ (P, Q) (the core's Bilinear)
    ᵀ ^T ^{\\top} '      transpose;  ⁻¹ ^{-1} inv(X) inverse;  ⁻ᵀ ^{-T} ^{-\\top} inverse transpose

Symbols are the standard ones of CLAIMS.md (W_E, W_pos, W_U, W_Q, W_K, W_V, W_O, W_OV,
W_QK, A, t, W_in, W_out) or declared with shapes ("M: d_model x d_model", which
also shadows a standard name). Indices are 0-based (layer, head): ``W_OV^{1,0}``,
``W_OV[1,0]``, ``W_{OV}^{1,0}``. Sums over heads bind a variable to (layer, head):
``Σ_{h∈H1}``, ``sum_{h in H1}``, ``\\sum_{h \\in H_1}``, ``Σ_{h1∈H1, h2∈H2}``,
``Σ_{h∈H1∪H2}`` (``cup`` or ``|`` in ASCII); H1 is layer index 0, so A^h for
h ∈ H1 is A^{0,h}. They need the heads per layer (``heads=(2, 2)``). The body of
Σ extends to the next + or - of the enclosing sum. ``Id`` takes its space from
the context (a position factor of a tensor term is n_ctx), or is given as
``Id_{d_model}``/``Id[d_model]``; ``0`` is the zero of the other side's shape.
Other spellings: ``apply(P, X)`` for P·X, ``bilinear(F, P, Q)`` for F ∘ (P, Q).
``(x)`` always means ⊗, so a symbol named x is never written in parentheses alone.

>>> ctx = Context.build(["M: d_model x d_model"], heads=(2,))
>>> print(parse("Σ_{h∈H1} A^h ⊗ W_OV^h M", ctx))
A^{0,0} ⊗ W_OV^{0,0} M + A^{0,1} ⊗ W_OV^{0,1} M
>>> lhs, rhs = parse_equation(r"\\mathrm{Id} \\otimes W_{U} W_{E} == (Id (x) W_U)(Id ⊗ W_E)", ctx)
>>> lhs == rhs, lhs.shape
(True, (('n_ctx', 'n_ctx'), ('n_vocab', 'n_vocab')))
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
from fractions import Fraction
from itertools import product as cartesian
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from .errors import ArchitectureError, FormulaSyntaxError, ShapeError, SymbolError, TensoralgError
from .expr import (
    Apply,
    Atom,
    Bilinear,
    Expr,
    Identity,
    Inverse,
    Product,
    Scaled,
    Shape,
    Sum,
    Tensor,
    Transpose,
    Zero,
)
from .symbols import N_CTX, STANDARD_SHAPES, Symbol, declared_symbol, standard_symbol

# ---------------------------------------------------------------------------
# Context: declared symbols and the architecture


@dataclass(frozen=True)
class Context:
    """What a formula may refer to: declared symbols (name → (rows, cols)) and heads per layer."""

    declarations: Mapping[str, tuple[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    heads: tuple[int, ...] | None = None

    @staticmethod
    def build(declarations: Iterable[str] = (), heads: Sequence[int] | None = None) -> "Context":
        """A context from declarations such as "M, N: d_model x d_model" and heads such as (2, 2)."""
        table: dict[str, tuple[str, str]] = {}
        for text in declarations:
            table.update(parse_declaration(text))
        if heads is not None:
            heads = tuple(heads)
            if any(not isinstance(h, int) or isinstance(h, bool) or h < 0 for h in heads):
                raise ArchitectureError(f"heads per layer must be non-negative integers; got {heads}")
        return Context(MappingProxyType(table), heads)


_DECLARATION = re.compile(
    r"^\s*(?P<names>[A-Za-z][A-Za-z0-9_]*(\s*,\s*[A-Za-z][A-Za-z0-9_]*)*)\s*:\s*"
    r"(?P<rows>[A-Za-z_][A-Za-z0-9_]*)\s*(?:x|×|\*|\\times)\s*(?P<cols>[A-Za-z_][A-Za-z0-9_]*)\s*$"
)


def parse_declaration(text: str) -> dict[str, tuple[str, str]]:
    """``"M, N: d_model x d_model"`` → {"M": ("d_model", "d_model"), "N": …}.

    >>> parse_declaration("P: d_model × d_head")
    {'P': ('d_model', 'd_head')}
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


# ---------------------------------------------------------------------------
# Lexer

_UNICODE = {
    "+": "+", "-": "-", "−": "-", "⊗": "TENSOR", "@": "TIMES", "*": "TIMES", "×": "TIMES",
    "·": "DOT", "⋅": "DOT", "∙": "DOT", "∘": "CIRC", "Σ": "SIGMA", "∑": "SIGMA", "∈": "IN",
    "∪": "UNION", "|": "UNION", "ᵀ": "POST_T", "'": "POST_T", "′": "POST_T", "⊤": "TOP",
    "(": "(", ")": ")", "[": "[", "]": "]", "{": "{", "}": "}", "^": "^", ",": ",", "/": "/",
    "_": "_",
}
_LATEX = {
    "otimes": "TENSOR", "cdot": "DOT", "circ": "CIRC", "sum": "SIGMA", "Sigma": "SIGMA", "in": "IN",
    "cup": "UNION", "top": "TOP", "intercal": "TOP", "times": "TIMES", "frac": "FRAC", "tfrac": "FRAC",
    "dfrac": "FRAC",
}
_LATEX_SPACE = {",", ";", ":", "!", " ", "quad", "qquad", "left", "right", "big", "Big", "bigg", "Bigg",
                "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "Biggl", "Biggr", "displaystyle"}
_LATEX_NAME = {"mathrm", "operatorname", "text", "mathit", "mathbf", "rm", "mathsf"}
_NAME_HEAD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_NAME_TAIL = re.compile(r"[A-Za-z0-9]+")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class Token:
    kind: str  # NAME NUM EQ EOF or a punctuation kind of _UNICODE/_LATEX
    text: str
    col: int


def _fail(text: str, col: int, message: str) -> FormulaSyntaxError:
    return FormulaSyntaxError(f"{message} (column {col + 1})\n{_caret(text, col)}")


def _caret(text: str, col: int) -> str:
    line = text.replace("\t", " ").replace("\n", " ")
    return f"  {line}\n  {' ' * col}^"


def tokenize(text: str) -> list[Token]:
    """The tokens of a formula; FormulaSyntaxError at the first character that fits none."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace() or ch == "~":
            i += 1
        elif text.startswith("(x)", i):
            tokens.append(Token("TENSOR", "(x)", i))
            i += 3
        elif ch == "=":
            width = 2 if text.startswith("==", i) else 1
            tokens.append(Token("EQ", text[i : i + width], i))
            i += width
        elif ch == "⁻":
            nxt = text[i + 1 : i + 2]
            if nxt not in ("¹", "ᵀ"):
                raise _fail(text, i + 1, "expected ¹ or ᵀ after ⁻")
            tokens.append(Token("POST_INV" if nxt == "¹" else "POST_INVT", text[i : i + 2], i))
            i += 2
        elif "0" <= ch <= "9":
            m = _NUMBER.match(text, i)
            tokens.append(Token("NUM", m.group(), i))
            i = m.end()
        elif ch == "." and not _NUMBER.match(text, i + 1):
            tokens.append(Token("DOT", ".", i))
            i += 1
        elif ch.isascii() and ch.isalpha():
            head = _NAME_HEAD.match(text, i)
            i = _lex_name(text, head.end(), head.group(), i, tokens)
        elif ch == "\\":
            i = _lex_command(text, i, tokens)
        elif ch in _UNICODE:
            tokens.append(Token(_UNICODE[ch], ch, i))
            i += 1
        else:
            raise _fail(text, i, f"unexpected character {ch!r}")
    tokens.append(Token("EOF", "", n))
    return tokens


def _lex_name(text: str, j: int, head: str, start: int, tokens: list[Token]) -> int:
    """A name (``head`` ends at j) with subscripts: W_OV, W_{OV}, n_{ctx} → "W_OV", "n_ctx"; sum_ starts Σ."""
    if head == "sum" and text[j : j + 1] in ("_", "["):
        tokens.append(Token("SIGMA", head, start))
        return j
    name = head
    while text[j : j + 1] == "_":
        if text[j + 1 : j + 2] == "{":
            close = _matching_brace(text, j + 1)
            inner = text[j + 2 : close].replace("{", "").replace("}", "")
            if not re.fullmatch(r"[A-Za-z0-9_]+", inner):
                raise _fail(text, j + 2, "expected letters, digits or _ in the subscript")
            name += "_" + inner
            j = close + 1
        elif (m := _NAME_TAIL.match(text, j + 1)) is not None:
            name += "_" + m.group()
            j = m.end()
        else:
            break
    tokens.append(Token("NAME", name, start))
    return j


def _matching_brace(text: str, open_at: int) -> int:
    depth = 0
    for k in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return k
    raise _fail(text, open_at, "this { is never closed")


def _lex_command(text: str, i: int, tokens: list[Token]) -> int:
    m = re.compile(r"\\([A-Za-z]+|.)").match(text, i)
    if m is None:
        raise _fail(text, i, "expected a LaTeX command after \\")
    command, j = m.group(1), m.end()
    if command in _LATEX_NAME:
        if text[j : j + 1] != "{":
            raise _fail(text, j, f"expected {{ after \\{command}")
        close = _matching_brace(text, j)
        inner = text[j + 1 : close].strip()
        if not _NAME_HEAD.fullmatch(inner):
            raise _fail(text, j + 1, f"expected a name inside \\{command}{{…}}")
        return _lex_name(text, close + 1, inner, i, tokens)
    if command in _LATEX_SPACE:
        if command == "left" and text[j : j + 1] == ".":
            return j + 1
        return j
    if command in _LATEX:
        tokens.append(Token(_LATEX[command], "\\" + command, i))
        return j
    if command in ("{", "}"):
        tokens.append(Token(command, command, i))
        return j
    raise _fail(text, i, f"unknown LaTeX command \\{command}")


# ---------------------------------------------------------------------------
# Syntax tree (internal): nodes remember their column for error messages


@dataclass(frozen=True, eq=False)
class _Node:
    col: int


@dataclass(frozen=True, eq=False)
class _Num(_Node):
    value: Fraction


@dataclass(frozen=True, eq=False)
class _Sym(_Node):
    name: str
    indices: tuple[int | str, ...] | None  # None: no indices written; str: a bound variable


@dataclass(frozen=True, eq=False)
class _Id(_Node):
    space: str | None


@dataclass(frozen=True, eq=False)
class _Zero(_Node):
    pass


@dataclass(frozen=True, eq=False)
class _Unary(_Node):
    kind: str  # "neg", "T", "inv", "invT"
    x: _Node


@dataclass(frozen=True, eq=False)
class _Nary(_Node):
    kind: str  # "mul", "tensor", "add"
    items: tuple[_Node, ...]
    signs: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class _Scale(_Node):
    coefficient: Fraction
    x: _Node


@dataclass(frozen=True, eq=False)
class _Dot(_Node):
    left: _Node
    right: _Node


@dataclass(frozen=True, eq=False)
class _Bilin(_Node):
    form: _Node
    query: _Node
    key: _Node


@dataclass(frozen=True, eq=False)
class _Sigma(_Node):
    groups: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]  # (variables, layers)
    body: _Node


_STARTS = {"NUM", "NAME", "(", "{", "SIGMA", "FRAC"}
_TRANSPOSE_WORDS = {"T", "TOP"}


class _Parser:
    """Recursive descent over the token list; each method parses one precedence level."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def fail(self, expected: str, tok: Token | None = None) -> FormulaSyntaxError:
        tok = tok or self.tok
        found = "the end of the formula" if tok.kind == "EOF" else repr(tok.text)
        return _fail(self.text, tok.col, f"expected {expected}, found {found}")

    def expect(self, kind: str, expected: str | None = None) -> Token:
        if self.tok.kind != kind:
            raise self.fail(expected or repr(kind))
        return self.next()

    def chain(self) -> list[_Node]:
        sides = [self.sum()]
        while self.tok.kind == "EQ":
            self.next()
            sides.append(self.sum())
        if self.tok.kind != "EOF":
            raise self.fail("an operator (+, -, ⊗, a product, =) or the end of the formula")
        return sides

    def sum(self) -> _Node:
        col = self.tok.col
        items, signs = [self.tensor()], [1]
        while self.tok.kind in ("+", "-"):
            signs.append(1 if self.next().kind == "+" else -1)
            items.append(self.tensor())
        return items[0] if len(items) == 1 else _Nary(col, "add", tuple(items), tuple(signs))

    def tensor(self) -> _Node:
        col = self.tok.col
        items = [self.product()]
        while self.tok.kind == "TENSOR":
            self.next()
            items.append(self.product())
        return items[0] if len(items) == 1 else _Nary(col, "tensor", tuple(items))

    def product(self) -> _Node:
        col = self.tok.col
        items = [self.unary()]
        while True:
            if self.tok.kind == "TIMES":
                self.next()
                items.append(self.unary())
            elif self.tok.kind == "/":
                slash = self.next()
                divisor = self.unary()
                if not isinstance(divisor, _Num) or divisor.value == 0:
                    raise _fail(self.text, slash.col + 1, "expected a nonzero number after /")
                items.append(_Num(slash.col, 1 / divisor.value))
            elif self.tok.kind in _STARTS:
                items.append(self.unary())
            else:
                break
        return items[0] if len(items) == 1 else _Nary(col, "mul", tuple(items))

    def unary(self) -> _Node:
        tok = self.tok
        if tok.kind == "-":
            self.next()
            inner = self.unary()
            if isinstance(inner, _Num):
                return _Num(tok.col, -inner.value)
            return _Unary(tok.col, "neg", inner)
        if tok.kind == "+":
            self.next()
            return self.unary()
        if tok.kind == "SIGMA":
            return self.sigma()
        return self.action()

    def action(self) -> _Node:
        left = self.postfix()
        while self.tok.kind in ("DOT", "CIRC"):
            op = self.next()
            if op.kind == "DOT":
                left = _Dot(op.col, left, self.postfix())
            else:
                self.expect("(", "'(' opening the pair (query map, key map) after ∘")
                query = self.sum()
                self.expect(",", "',' between the query and key maps")
                key = self.sum()
                self.expect(")", "')' closing the pair of maps")
                left = _Bilin(op.col, left, query, key)
        return left

    def postfix(self) -> _Node:
        node = self.primary()
        while True:
            tok = self.tok
            if tok.kind == "POST_T":
                node = _Unary(tok.col, "T", node)
            elif tok.kind == "POST_INV":
                node = _Unary(tok.col, "inv", node)
            elif tok.kind == "POST_INVT":
                node = _Unary(tok.col, "invT", node)
            elif tok.kind == "^":
                self.next()
                node = self.superscript(node, tok)
                continue
            else:
                return node
            self.next()

    def superscript(self, node: _Node, caret: Token) -> _Node:
        """After ^: T/\\top (transpose), -1, -T (inverse), or indices of a symbol."""
        braced = self.tok.kind == "{"
        if braced:
            self.next()
        items: list[int | str] = []
        ops: list[str] = []
        while True:
            tok = self.tok
            if tok.kind == "TOP" or (tok.kind == "NAME" and tok.text == "T"):
                self.next()
                ops.append("T")
            elif tok.kind == "-":
                self.next()
                what = self.next()
                if what.kind == "NUM" and what.text == "1":
                    ops.append("inv")
                elif what.kind == "TOP" or (what.kind == "NAME" and what.text == "T"):
                    ops.append("invT")
                else:
                    raise self.fail("1 or T after - in a superscript (^{-1}, ^{-T})", what)
            elif tok.kind == "NUM" and not ops and "." not in tok.text:
                self.next()
                items.append(int(tok.text))
            elif tok.kind == "NAME" and not ops:
                self.next()
                items.append(tok.text.replace("_", ""))
            else:
                raise self.fail("an index, T, \\top, -1 or -T in the superscript")
            if not braced:
                break
            if self.tok.kind == ",":
                self.next()
                continue
            if self.tok.kind == "}":
                self.next()
                break
            if ops or self.tok.kind not in ("TOP", "NAME", "-"):
                raise self.fail("',' or '}' in the superscript")
        if items:
            if not isinstance(node, _Sym) or node.indices is not None:
                raise _fail(self.text, caret.col, "indices (^{layer,head}) only follow a symbol's name")
            node = _Sym(node.col, node.name, tuple(items))
        for op in ops:
            node = _Unary(caret.col, op, node)
        return node

    def primary(self) -> _Node:
        tok = self.tok
        if tok.kind == "NUM":
            self.next()
            return _Num(tok.col, Fraction(tok.text))
        if tok.kind in ("(", "{"):
            self.next()
            inner = self.sum()
            closer = ")" if tok.kind == "(" else "}"
            self.expect(closer, f"'{closer}' closing column {tok.col + 1}")
            return inner
        if tok.kind == "FRAC":
            self.next()
            parts = []
            for _ in range(2):
                self.expect("{", "'{' of \\frac{…}{…}")
                parts.append(self.sum())
                self.expect("}", "'}' of \\frac{…}{…}")
            if not isinstance(parts[1], _Num) or parts[1].value == 0:
                raise _fail(self.text, tok.col, "expected a nonzero number as the denominator of \\frac")
            return _Nary(tok.col, "mul", (parts[0], _Num(tok.col, 1 / parts[1].value)))
        if tok.kind == "NAME":
            self.next()
            return self.named(tok)
        raise self.fail("a symbol, a number, '(' or Σ")

    def named(self, tok: Token) -> _Node:
        name = tok.text
        if name in ("inv", "apply", "bilinear") and self.tok.kind == "(":
            self.next()
            args = [self.sum()]
            while self.tok.kind == ",":
                self.next()
                args.append(self.sum())
            self.expect(")", "')' closing the arguments")
            want = {"inv": 1, "apply": 2, "bilinear": 3}[name]
            if len(args) != want:
                raise _fail(self.text, tok.col, f"{name}(…) takes {want} argument(s); got {len(args)}")
            if name == "inv":
                return _Unary(tok.col, "inv", args[0])
            if name == "apply":
                return _Dot(tok.col, args[0], args[1])
            return _Bilin(tok.col, *args)
        if name == "Id" or name.startswith("Id_"):
            space = name[3:] or None
            if self.tok.kind == "[":
                self.next()
                space = self.expect("NAME", "a space name such as d_model").text
                self.expect("]", "']'")
            return _Id(tok.col, space)
        if self.tok.kind == "[":
            self.next()
            items: list[int | str] = []
            while True:
                item = self.next()
                if item.kind == "NUM" and "." not in item.text:
                    items.append(int(item.text))
                elif item.kind == "NAME":
                    items.append(item.text.replace("_", ""))
                else:
                    raise self.fail("an index (a number or a head variable)", item)
                if self.tok.kind == "]":
                    self.next()
                    break
                self.expect(",", "',' or ']'")
            return _Sym(tok.col, name, tuple(items))
        return _Sym(tok.col, name, None)

    def sigma(self) -> _Node:
        """Σ_{h∈H1}, Σ_{h1∈H1, h2∈H2}, Σ_{h∈H1∪H2}, sum[h in H1] — then the body."""
        sig = self.next()
        if self.tok.kind == "_":
            self.next()
            close = "}"
            self.expect("{", "'{' after Σ_")
        elif self.tok.kind == "[":
            self.next()
            close = "]"
        else:
            raise self.fail("_{h∈H1} or [h in H1] after Σ")
        groups = []
        while True:
            names = [self.expect("NAME", "a head variable such as h").text.replace("_", "")]
            while self.tok.kind == ",":
                self.next()
                names.append(self.expect("NAME", "a head variable").text.replace("_", ""))
            if self.tok.kind == "IN" or (self.tok.kind == "NAME" and self.tok.text == "in"):
                self.next()
            else:
                raise self.fail("∈ (or 'in', \\in) and the heads it ranges over, e.g. h∈H1")
            layers = [self.layer_set()]
            while self.tok.kind == "UNION" or (self.tok.kind == "NAME" and self.tok.text == "cup"):
                self.next()
                layers.append(self.layer_set())
            groups.append((tuple(names), tuple(l for part in layers for l in part)))
            if self.tok.kind == ",":
                self.next()
                continue
            self.expect(close, f"'{close}' closing the range of Σ")
            break
        return _Sigma(sig.col, tuple(groups), self.tensor())

    def layer_set(self) -> tuple[int, ...]:
        tok = self.expect("NAME", "a layer's heads such as H1")
        m = re.fullmatch(r"H_?(\d+)", tok.text)
        if tok.text == "H":
            return (-1,)
        if not m:
            raise self.fail("a layer's heads such as H1 (H1 is layer index 0)", tok)
        number = int(m.group(1))
        if number < 1:
            raise _fail(self.text, tok.col, "layers are numbered H1, H2, … (H1 is layer index 0)")
        return (number - 1,)


# ---------------------------------------------------------------------------
# Elaboration: bind head variables, fold numbers, infer spaces of Id and 0, build


class _Elaborator:
    """Turns a syntax tree into expressions, inferring Id's space by unification."""

    def __init__(self, text: str, context: Context):
        self.text, self.context = text, context
        self.parent: list[int] = []
        self.bound: dict[int, str] = {}
        self.types: dict[int, list[tuple[int, int]]] = {}
        self.arity: dict[int, int] = {}
        self.apply: set[int] = set()
        self.nodes: list[_Node] = []

    # -- errors with a caret
    def fail(self, cls: type[TensoralgError], col: int, message: str) -> TensoralgError:
        return cls(f"{message} (column {col + 1})\n{_caret(self.text, col)}")

    # -- step 1: bind Σ variables, resolve symbols, fold scalars
    def instantiate(self, node: _Node, env: Mapping[str, tuple[int, int]]) -> _Node | Fraction:
        go = lambda n: self.instantiate(n, env)  # noqa: E731
        match node:
            case _Num(value=v):
                return v
            case _Sym():
                return _Sym(node.col, node.name, self.indices(node, env))
            case _Id() | _Zero():
                return node
            case _Unary(kind="neg", x=x):
                inner = go(x)
                return -inner if isinstance(inner, Fraction) else _Scale(node.col, Fraction(-1), inner)
            case _Unary(kind=kind, x=x):
                inner = self.matrix(go(x), x.col)
                return _Unary(node.col, kind, inner)
            case _Nary(kind="mul", items=items):
                coefficient, factors = Fraction(1), []
                for item in items:
                    value = go(item)
                    if isinstance(value, Fraction):
                        coefficient *= value
                    else:
                        factors.append(value)
                if not factors:
                    return coefficient
                body = factors[0] if len(factors) == 1 else _Nary(node.col, "mul", tuple(factors))
                return body if coefficient == 1 else _Scale(node.col, coefficient, body)
            case _Nary(kind="tensor", items=items):
                return _Nary(node.col, "tensor", tuple(self.matrix(go(i), i.col) for i in items))
            case _Nary(kind="add", items=items, signs=signs):
                values = [go(i) for i in items]
                if all(isinstance(v, Fraction) for v in values):
                    return sum((s * v for s, v in zip(signs, values)), Fraction(0))
                terms = tuple(
                    self.matrix(v, i.col) if s == 1 else _Scale(i.col, Fraction(-1), self.matrix(v, i.col))
                    for s, v, i in zip(signs, values, items)
                )
                return _Nary(node.col, "add", terms)
            case _Dot(left=l, right=r):
                left, right = go(l), go(r)
                if isinstance(left, Fraction) or isinstance(right, Fraction):
                    if isinstance(left, Fraction) and isinstance(right, Fraction):
                        return left * right
                    c, m = (left, right) if isinstance(left, Fraction) else (right, left)
                    return _Scale(node.col, c, m)
                return _Dot(node.col, left, right)
            case _Bilin(form=f, query=q, key=k):
                return _Bilin(node.col, *(self.matrix(go(n), n.col) for n in (f, q, k)))
            case _Sigma(groups=groups, body=body):
                return self.expand_sigma(node, groups, body, env)
        raise TypeError(node)

    def matrix(self, value: _Node | Fraction, col: int) -> _Node:
        """A matrix where one is needed: 0 is the zero matrix, other numbers are errors."""
        if not isinstance(value, Fraction):
            return value
        if value == 0:
            return _Zero(col)
        raise self.fail(ShapeError, col, f"the number {value} is not a matrix here; write {value} Id for a multiple of Id")

    def expand_sigma(self, node: _Sigma, groups, body: _Node, env) -> _Node:
        heads = self.context.heads
        if heads is None:
            raise self.fail(ArchitectureError, node.col, "a sum over heads needs the heads per layer (heads=(2, 2) or --heads 2,2)")
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
            return _Zero(node.col)
        return terms[0] if len(terms) == 1 else _Nary(node.col, "add", tuple(terms))

    def indices(self, node: _Sym, env: Mapping[str, tuple[int, int]]) -> tuple[int, ...] | None:
        if node.indices is None:
            return None
        out: list[int] = []
        for item in node.indices:
            if isinstance(item, int):
                out.append(item)
            elif item in env:
                out.extend(env[item])
            else:
                raise self.fail(SymbolError, node.col, f"the index {item} of {node.name} is not bound by a sum such as Σ_{{{item}∈H1}}")
        if len(out) > 2:
            raise self.fail(SymbolError, node.col, f"{node.name} takes at most two indices (layer, head); got {tuple(out)}")
        return tuple(out)

    def symbol(self, node: _Sym) -> Symbol:
        indices = node.indices or ()
        try:
            if node.name in self.context.declarations:
                rows, cols = self.context.declarations[node.name]
                return declared_symbol(node.name, rows, cols, *indices)
            if node.name in STANDARD_SHAPES:
                symbol = standard_symbol(node.name, *indices)
                self.check_head(node, symbol)
                return symbol
        except TensoralgError as exc:
            if isinstance(exc, ArchitectureError):
                raise
            raise self.fail(SymbolError, node.col, str(exc)) from exc
        raise self.fail(
            SymbolError, node.col,
            f'unknown symbol {node.name}; declare it, e.g. --let "{node.name}: d_model x d_model"',
        )

    def check_head(self, node: _Sym, symbol: Symbol) -> None:
        heads = self.context.heads
        if heads is None or len(symbol.indices) != 2:
            return
        layer, head = symbol.indices
        if layer >= len(heads) or head >= heads[layer]:
            raise self.fail(
                ArchitectureError, node.col,
                f"{symbol.name}^{{{layer},{head}}} does not exist: the heads per layer are {','.join(map(str, heads))}",
            )

    # -- step 2: arities (number of tensor factors)
    def own_arity(self, node: _Node) -> int | None:
        match node:
            case _Sym():
                return 1
            case _Id() | _Zero():
                return None
            case _Scale(x=x) | _Unary(x=x):
                return self.own_arity(x)
            case _Nary(kind="tensor", items=items):
                return sum(self.own_arity(i) or 1 for i in items)
            case _Nary(items=items):
                return next((a for a in map(self.own_arity, items) if a is not None), None)
            case _Dot(left=l, right=r):
                la = self.own_arity(l)
                if la in (2, 3):
                    return 1
                return la if la is not None else self.own_arity(r)
            case _Bilin():
                return 3
        raise TypeError(node)

    def assign_arity(self, node: _Node, k: int) -> None:
        self.arity[id(node)] = k
        match node:
            case _Scale(x=x) | _Unary(x=x):
                self.assign_arity(x, k)
            case _Nary(kind="tensor", items=items):
                for i in items:
                    self.assign_arity(i, self.own_arity(i) or 1)
            case _Nary(items=items):
                for i in items:
                    self.assign_arity(i, k)
            case _Dot(left=l, right=r):
                la = self.own_arity(l)
                if la in (2, 3):
                    self.apply.add(id(node))
                    self.assign_arity(l, la)
                    self.assign_arity(r, 1)
                else:
                    self.assign_arity(l, k)
                    self.assign_arity(r, k)
            case _Bilin(form=f, query=q, key=kk):
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

    def type(self, node: _Node) -> list[tuple[int, int]]:
        t = self._type(node)
        self.types[id(node)] = t
        self.nodes.append(node)
        return t

    def _type(self, node: _Node) -> list[tuple[int, int]]:
        k = self.arity[id(node)]
        match node:
            case _Sym():
                symbol = self.symbol(node)
                return [(self.var(symbol.rows), self.var(symbol.cols))]
            case _Id(space=space):
                if space is not None and k != 1:
                    raise self.fail(ShapeError, node.col, f"Id_{{{space}}} is one factor, but {k} tensor factors are needed here")
                return [(v, v) for v in (self.var(space) for _ in range(k))]
            case _Zero():
                return [(self.var(), self.var()) for _ in range(k)]
            case _Scale(x=x):
                return self.type(x)
            case _Unary(kind="T", x=x):
                return [(c, r) for r, c in self.type(x)]
            case _Unary(kind="invT", x=x):
                t = self.type(x)
                for r, c in t:
                    self.union(r, c)
                return [(c, r) for r, c in t]
            case _Unary(kind="inv", x=x):
                t = self.type(x)
                for r, c in t:
                    self.union(r, c)
                return t
            case _Nary(kind="tensor", items=items):
                return [slot for i in items for slot in self.type(i)]
            case _Nary(kind="add", items=items):
                types = [self.type(i) for i in items]
                for t in types[1:]:
                    self.unify(types[0], t)
                return types[0]
            case _Nary(kind="mul", items=items):
                return self.chain_types([self.type(i) for i in items])
            case _Dot(left=l, right=r) if id(node) in self.apply:
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
            case _Dot(left=l, right=r):
                return self.chain_types([self.type(l), self.type(r)])
            case _Bilin(form=f, query=q, key=kk):
                ft, qt, kt = self.type(f), self.type(q), self.type(kk)
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
    def build(self, node: _Node) -> Expr:
        try:
            return self._build(node)
        except ShapeError as exc:
            if "(column " in str(exc):
                raise
            raise self.fail(ShapeError, self.blame(node), str(exc)) from exc

    def blame(self, node: _Node) -> int:
        """The column of the operand that does not fit."""
        if isinstance(node, _Nary) and node.kind in ("mul", "add"):
            built = [self.build(i) for i in node.items]
            for k in range(1, len(built)):
                try:
                    (Product if node.kind == "mul" else Sum)((built[k - 1], built[k]))
                except ShapeError:
                    return node.items[k].col
        return node.col

    def spaces(self, node: _Node, what: str) -> list[str]:
        spaces = [self.value(r) for r, _ in self.types[id(node)]]
        for s in spaces:
            if s is None:
                raise self.fail(
                    ShapeError, node.col,
                    f"cannot infer the space of {what}: give it as Id_{{d_model}} (or Id[d_model]), or name a shape on the other side",
                )
        return spaces

    def _build(self, node: _Node) -> Expr:
        match node:
            case _Sym():
                return Atom(self.symbol(node))
            case _Id():
                spaces = self.spaces(node, "Id")
                return Identity(spaces[0]) if len(spaces) == 1 else Tensor(tuple(Identity(s) for s in spaces))
            case _Zero():
                t = self.types[id(node)]
                shape = tuple((self.value(r), self.value(c)) for r, c in t)
                if any(s is None for pair in shape for s in pair):
                    raise self.fail(ShapeError, node.col, "cannot infer the shape of 0 from the other side")
                return Zero(shape)
            case _Scale(coefficient=c, x=x):
                return Scaled(c, self.build(x))
            case _Unary(kind="T", x=x):
                return Transpose(self.build(x))
            case _Unary(kind="inv", x=x):
                inv = Inverse(self.build(x))
                inv.normal_form  # a sum has no inverse: report it here, with a caret
                return inv
            case _Unary(kind="invT", x=x):
                inv = Inverse(Transpose(self.build(x)))
                inv.normal_form
                return inv
            case _Nary(kind="tensor", items=items):
                return Tensor(tuple(self.build(i) for i in items))
            case _Nary(kind="add", items=items):
                return Sum(tuple(self.build(i) for i in items))
            case _Nary(kind="mul", items=items):
                return Product(tuple(self.build(i) for i in items))
            case _Dot(left=l, right=r) if id(node) in self.apply:
                return Apply(self.build(l), self.build(r))
            case _Dot(left=l, right=r):
                return Product((self.build(l), self.build(r)))
            case _Bilin(form=f, query=q, key=k):
                return Bilinear(self.build(f), self.build(q), self.build(k))
        raise TypeError(node)

    def run(self, sides: list[_Node], shape: Shape | None) -> list[Expr]:
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


def _elaborate(text: str, context: Context | None, shape: Shape | None) -> list[Expr]:
    sides = _Parser(text).chain()
    return _Elaborator(text, context or Context()).run(sides, shape)


def parse(text: str, context: Context | None = None, *, shape: Shape | None = None) -> Expr:
    """One expression; ``shape`` (if given) fixes the spaces of Id and 0 that nothing else does."""
    exprs = _elaborate(text, context, shape)
    if len(exprs) != 1:
        raise FormulaSyntaxError(f"expected one expression, got an identity with {len(exprs)} sides\n{_caret(text, 0)}")
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
        raise _fail(text, col, f"expected {what}")
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
