"""The syntax tree of a formula and the recursive-descent parser that builds it from tokens.

One parser method per precedence level of :mod:`tensoralg.formula.parsing`, loosest first:
identity (=), sum, tensor product, product, unary minus and Σ, action and bilinear form,
postfix transpose, inverse and power, primary. Nodes remember their column for error messages;
what a name means and what shape a node has is left to :mod:`tensoralg.formula.elaboration`.

Depth: runs of signs (``- - A``) and of postfix operators (``Aᵀᵀᵀ``, ``A⁻¹⁻¹``) are read in a
loop and folded ((Xᵀ)ᵀ = X; X⁻¹⁻¹ keeps one pair, so that the inverse of a sum is still
refused), so they never nest. Only brackets, Σ and function calls nest; a formula nested
deeper than :data:`MAX_NESTING` levels is refused with a clear error, and
:func:`nesting_room` gives the stack room the tree walks need below that limit.
"""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

from ..errors import FormulaSyntaxError
from .lexer import Token, syntax_error, tokenize


@dataclass(frozen=True, eq=False)
class Node:
    """A node of the syntax tree; ``col`` (0-based) is where it starts, for error messages."""

    col: int


@dataclass(frozen=True, eq=False)
class Num(Node):
    value: Fraction


@dataclass(frozen=True, eq=False)
class Sym(Node):
    name: str
    indices: tuple[int | str, ...] | None  # None: no indices written; str: a bound variable


@dataclass(frozen=True, eq=False)
class Id(Node):
    space: str | None


@dataclass(frozen=True, eq=False)
class Ones(Node):
    """𝟙, the column of ones; its space is inferred like Id's unless written (𝟙_{d_model})."""

    space: str | None


# The parser never builds Zero or Scale: elaboration does, when it folds numbers (0, 2 A).
@dataclass(frozen=True, eq=False)
class Zero(Node):
    pass


@dataclass(frozen=True, eq=False)
class Unary(Node):
    kind: str  # "neg", "T", "inv", "invT"
    x: Node


@dataclass(frozen=True, eq=False)
class Nary(Node):
    kind: str  # "mul", "tensor", "add"
    items: tuple[Node, ...]
    signs: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class Scale(Node):
    coefficient: Fraction
    x: Node


@dataclass(frozen=True, eq=False)
class Dot(Node):
    left: Node
    right: Node


@dataclass(frozen=True, eq=False)
class Bilin(Node):
    form: Node
    query: Node
    key: Node


@dataclass(frozen=True, eq=False)
class Sigma(Node):
    groups: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]  # (variables, layers)
    body: Node


@dataclass(frozen=True, eq=False)
class Prod(Node):
    """Π_{l=1}^{L} body (l ascending, left to right) or Π_{l=L..1} body (descending): ``first``
    and ``last`` are layer numbers (1-based, H1 is layer index 0) or a name for the number of layers."""

    variable: str
    first: int | str
    last: int | str
    body: Node


@dataclass(frozen=True, eq=False)
class Power(Node):
    x: Node
    exponent: int  # M^2, M^{3}; M^{-2} = (M⁻¹)²


@dataclass(frozen=True, eq=False)
class Trace(Node):
    x: Node


_STARTS = {"NUM", "NAME", "(", "{", "SIGMA", "PROD", "FRAC", "NORM"}

#: The deepest nesting of brackets, Σ and calls a formula may have (people write a few levels;
#: machine-made formulas of hundreds of levels are fine).
MAX_NESTING = 1000

#: The highest layer a sum over heads may name (H1 … H1000); the verifier works on every layer up
#: to the highest one named, so a larger number would only make it run out of time or memory.
MAX_LAYER_NUMBER = 1000

#: Python frames the parser and the tree walks use per level of nesting, at most.
_FRAMES_PER_LEVEL = 24


@contextmanager
def nesting_room(levels: int) -> Iterator[None]:
    """Room on Python's call stack for walking a tree ``levels`` deep (restored afterwards).

    Recursive descent and the elaborator's walks take a bounded number of frames per level;
    Python 3.11 runs Python-to-Python calls without growing the C stack, so raising the
    interpreter's limit for the duration of one parse is safe.
    """
    need = 1000 + _FRAMES_PER_LEVEL * min(levels, MAX_NESTING + 1)
    old = sys.getrecursionlimit()
    if need > old:
        sys.setrecursionlimit(need)
    try:
        yield
    finally:
        if need > old:
            sys.setrecursionlimit(old)


def nesting_depth(tokens: list[Token]) -> int:
    """The deepest bracket nesting of a token list (the parser's recursion depth is about this)."""
    deepest = level = 0
    for tok in tokens:
        if tok.kind in ("(", "{", "[", "SIGMA", "PROD", "FRAC", "NORM"):
            level += 1
            deepest = max(deepest, level)
        elif tok.kind in (")", "}", "]"):
            level = max(0, level - 1)
    return deepest


class Parser:
    """Recursive descent over the token list; each method parses one precedence level."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0
        self.in_norm = 0  # inside ‖…‖ a ‖ closes (it never opens a product's next factor)

    def enter(self, tok: Token) -> None:
        """One level deeper (a bracket, Σ, a call); refuse beyond MAX_NESTING."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise syntax_error(
                self.text, tok.col,
                f"the formula nests deeper than {MAX_NESTING} levels of brackets, sums and calls",
            )

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
        return syntax_error(self.text, tok.col, f"expected {expected}, found {found}")

    def expect(self, kind: str, expected: str | None = None) -> Token:
        if self.tok.kind != kind:
            raise self.fail(expected or repr(kind))
        return self.next()

    def chain(self) -> list[Node]:
        sides = [self.sum()]
        while self.tok.kind == "EQ":
            self.next()
            sides.append(self.sum())
        if self.tok.kind in (",", "DOT") and self.tokens[self.pos + 1].kind == "EOF":
            self.next()  # the punctuation that ends a displayed formula: $$T = …,$$
        if self.tok.kind == "LE":
            raise syntax_error(self.text, self.tok.col, "≤ compares a rank with a size: write rank(E) <= d_head")
        if self.tok.kind != "EOF":
            raise self.fail("an operator (+, -, ⊗, a product, =) or the end of the formula")
        return sides

    def sum(self) -> Node:
        col = self.tok.col
        items, signs = [self.tensor()], [1]
        while self.tok.kind in ("+", "-"):
            signs.append(1 if self.next().kind == "+" else -1)
            items.append(self.tensor())
        return items[0] if len(items) == 1 else Nary(col, "add", tuple(items), tuple(signs))

    def tensor(self) -> Node:
        col = self.tok.col
        items = [self.product()]
        while self.tok.kind == "TENSOR":
            self.next()
            items.append(self.product())
        return items[0] if len(items) == 1 else Nary(col, "tensor", tuple(items))

    def product(self) -> Node:
        col = self.tok.col
        items = [self.unary()]
        while True:
            if self.tok.kind == "TIMES":
                self.next()
                items.append(self.unary())
            elif self.tok.kind == "/":
                slash = self.next()
                divisor = self.unary()
                if not isinstance(divisor, Num) or divisor.value == 0:
                    raise syntax_error(self.text, slash.col + 1, "expected a nonzero number after /")
                items.append(Num(slash.col, 1 / divisor.value))
            elif self.tok.kind in _STARTS and not (self.tok.kind == "NORM" and self.in_norm):
                items.append(self.unary())
            else:
                break
        return items[0] if len(items) == 1 else Nary(col, "mul", tuple(items))

    def unary(self) -> Node:
        first, negative = self.tok, False
        while self.tok.kind in ("-", "+"):  # a run of signs is read in a loop, not by recursion
            negative ^= self.next().kind == "-"
        kind = self.tok.kind
        inner = self.sigma() if kind == "SIGMA" else self.product_over_layers() if kind == "PROD" else self.action()
        if not negative:
            return inner
        if isinstance(inner, Num):
            return Num(first.col, -inner.value)
        return Unary(first.col, "neg", inner)

    def action(self) -> Node:
        left = self.postfix()
        while self.tok.kind in ("DOT", "CIRC"):
            op = self.next()
            if op.kind == "DOT":
                left = Dot(op.col, left, self.postfix())
            else:
                self.expect("(", "'(' opening the pair (query map, key map) after ∘")
                query = self.sum()
                self.expect(",", "',' between the query and key maps")
                key = self.sum()
                self.expect(")", "')' closing the pair of maps")
                left = Bilin(op.col, left, query, key)
        return left

    def postfix(self) -> Node:
        node = self.primary()
        col, transposes, inverses = None, 0, 0
        while True:
            tok = self.tok
            if tok.kind in ("POST_T", "POST_INV", "POST_INVT"):
                self.next()
                ops = {"POST_T": ["T"], "POST_INV": ["inv"], "POST_INVT": ["inv", "T"]}[tok.kind]
            elif tok.kind == "^":
                self.next()
                node, ops = self.superscript(self.fold(node, col, transposes, inverses), tok)
                if not ops:
                    col, transposes, inverses = None, 0, 0
                    continue
            else:
                return self.fold(node, col, transposes, inverses)
            col = tok.col if col is None else col
            transposes += sum(op in ("T", "invT") for op in ops)
            inverses += sum(op in ("inv", "invT") for op in ops)

    @staticmethod
    def fold(node: Node, col: int | None, transposes: int, inverses: int) -> Node:
        """A run of postfix ᵀ and ⁻¹ as at most three nodes: ᵀ and ⁻¹ commute, (Xᵀ)ᵀ = X, and
        X⁻¹⁻¹ keeps one pair of inverses so that X must still be invertible."""
        if col is None:
            return node
        if transposes % 2:
            node = Unary(col, "T", node)
        for _ in range(2 - inverses % 2 if inverses else 0):
            node = Unary(col, "inv", node)
        return node

    def superscript(self, node: Node, caret: Token) -> tuple[Node, list[str]]:
        """After ^: T/\\top (transpose), -1, -T (inverse), a power (M^2, M^{-2}) or indices of a
        symbol (W_OV^{1,0}, A^h). Returns the node and the postfix operators still to apply.

        A number is a power unless it follows a symbol that takes a head index and has none
        yet (A^2 is head 2): M^2, W_E^2, (M N)^2 and W_OV^{0,0}^2 are powers.
        """
        if self.tok.kind in ("NUM", "-") or (self.tok.kind == "{" and self.tokens[self.pos + 1].kind in ("NUM", "-")):
            power = self.power(node, caret)
            if power is not None:
                return power, []
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
                name = tok.text
                if not braced and len(name) > 1 and name[1].isupper():
                    # LaTeX reads ^hW_V as ^{h} W_V: an unbraced superscript is one letter
                    self.pos -= 1
                    self.tokens[self.pos] = Token("NAME", name[1:], tok.col + 1)
                    name = name[0]
                if braced and len(name) > 1 and name.endswith("T") and name[0].islower():
                    ops.append("T")  # ^{hT}: head h, transposed (as W_Q^{hT} in the notes)
                    name = name[:-1]
                items.append(name.replace("_", ""))
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
            if not isinstance(node, Sym) or node.indices is not None:
                raise syntax_error(self.text, caret.col, "indices (^{layer,head}) only follow a symbol's name")
            node = Sym(node.col, node.name, tuple(items))
        return node, ops

    def power(self, node: Node, caret: Token) -> Node | None:
        """M^2, M^{3}, M^{-2}: a power, unless the number is a head index (see superscript)."""
        from ..algebra.symbols import STANDARD_SHAPES

        if isinstance(node, Sym) and node.indices is None and STANDARD_SHAPES.get(node.name, (0, 0, False))[2]:
            return None
        start = self.pos
        braced = self.tok.kind == "{"
        if braced:
            self.next()
        sign = 1
        if self.tok.kind == "-":
            self.next()
            sign = -1
        tok = self.tok
        if tok.kind != "NUM" or "." in tok.text:
            self.pos = start
            return None
        self.next()
        if braced:
            if self.tok.kind != "}":
                self.pos = start
                return None
            self.next()
        exponent = sign * int(tok.text)
        if exponent == -1:
            return Unary(caret.col, "inv", node)
        if abs(exponent) > 64:
            raise syntax_error(self.text, tok.col, f"the power {exponent} is above the largest allowed, 64")
        return Power(caret.col, node, exponent)

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "NUM":
            self.next()
            return Num(tok.col, Fraction(tok.text))
        if tok.kind in ("(", "{"):
            self.next()
            self.enter(tok)
            inner = self.sum()
            closer = ")" if tok.kind == "(" else "}"
            self.expect(closer, f"'{closer}' closing column {tok.col + 1}")
            self.depth -= 1
            return inner
        if tok.kind == "NORM":
            return self.norm()
        if tok.kind == "FRAC":
            self.next()
            self.enter(tok)
            parts = []
            for _ in range(2):
                self.expect("{", "'{' of \\frac{…}{…}")
                parts.append(self.sum())
                self.expect("}", "'}' of \\frac{…}{…}")
            if not isinstance(parts[1], Num) or parts[1].value == 0:
                raise syntax_error(self.text, tok.col, "expected a nonzero number as the denominator of \\frac")
            self.depth -= 1
            return Nary(tok.col, "mul", (parts[0], Num(tok.col, 1 / parts[1].value)))
        if tok.kind == "NAME":
            self.next()
            return self.named(tok)
        raise self.fail("a symbol, a number, '(' or Σ")

    def norm(self) -> Node:
        """‖E‖_F^2 (also \\|E\\|_F^2, \\lVert E \\rVert_F^{2}) is tr(EᵀE); without the square it is
        not a polynomial in the entries, so it is refused."""
        opener = self.next()
        self.enter(opener)
        self.in_norm += 1
        inner = self.sum()
        self.expect("NORM", f"‖ closing the norm opened at column {opener.col + 1}")
        self.in_norm -= 1
        self.depth -= 1
        if self.tok.kind == "_":
            self.next()
        subscript = self.expect("NAME", "_F after ‖…‖ (the Frobenius norm)")
        if subscript.text not in ("F", "Fro"):
            raise syntax_error(self.text, subscript.col, "only the Frobenius norm ‖…‖_F is known")
        squared = self.tok.kind == "^" and self.tokens[self.pos + 1].text in ("2", "²", "{")
        if squared:
            caret_tok = self.next()
            braced = self.tok.kind == "{"
            if braced:
                self.next()
            two = self.next()
            if braced:
                self.expect("}", "'}' closing the exponent")
            if two.text != "2":
                raise syntax_error(self.text, caret_tok.col, "a Frobenius norm is used squared: ‖E‖_F^2")
        else:
            raise syntax_error(
                self.text, subscript.col,
                "‖E‖_F is a square root, not a polynomial in the entries; state identities of ‖E‖_F^2 = tr(EᵀE)",
            )
        return Trace(opener.col, Nary(opener.col, "mul", (Unary(opener.col, "T", inner), inner)))

    def named(self, tok: Token) -> Node:
        name = tok.text
        if name in ("inv", "apply", "bilinear", "tr", "Tr", "trace") and self.tok.kind == "(":
            self.enter(self.next())
            args = [self.sum()]
            while self.tok.kind == ",":
                self.next()
                args.append(self.sum())
            self.expect(")", "')' closing the arguments")
            self.depth -= 1
            want = {"inv": 1, "apply": 2, "bilinear": 3}.get(name, 1)
            if len(args) != want:
                raise syntax_error(self.text, tok.col, f"{name}(…) takes {want} argument(s); got {len(args)}")
            if name in ("tr", "Tr", "trace"):
                return Trace(tok.col, args[0])
            if name == "inv":
                return Unary(tok.col, "inv", args[0])
            if name == "apply":
                return Dot(tok.col, args[0], args[1])
            return Bilin(tok.col, *args)
        if name == "𝟙" or name.startswith("𝟙_"):
            space = name[2:] or None
            if self.tok.kind == "[":
                self.next()
                space = self.expect("NAME", "a space name such as n_ctx").text
                self.expect("]", "']'")
            return Ones(tok.col, space)
        if name == "Id" or name.startswith("Id_"):
            space = name[3:] or None
            if self.tok.kind == "[":
                self.next()
                space = self.expect("NAME", "a space name such as d_model").text
                self.expect("]", "']'")
            return Id(tok.col, space)
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
            return Sym(tok.col, name, tuple(items))
        return Sym(tok.col, name, None)

    def sigma(self) -> Node:
        """Σ_{h∈H1}, Σ_{h1∈H1, h2∈H2}, Σ_{h∈H1∪H2}, sum[h in H1] — then the body."""
        sig = self.next()
        self.enter(sig)
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
            if self.tok.kind == "UNION":  # ∪ H1 H2, the union written before its sets
                self.next()
                layers = [self.layer_set(), self.layer_set()]
                while self.tok.kind == "NAME" and re.fullmatch(r"H_?\d+", self.tok.text):
                    layers.append(self.layer_set())
            else:
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
        body = self.tensor()
        self.depth -= 1
        return Sigma(sig.col, tuple(groups), body)

    def product_over_layers(self) -> Node:
        """Π_{l=1}^{L} X_l, \\prod_{l=1}^{3} X_l, Π_{l=L..1} X_l: one factor X_l per layer, in the
        written order; the body is one factor, e.g. (Id + Σ_{h∈H_l} A^h⊗W_OV^h)."""
        pi = self.next()
        self.enter(pi)
        if self.tok.kind != "_":
            raise self.fail("_{l=1}^{L} or _{l=L..1} after Π")
        self.next()
        self.expect("{", "'{' after Π_")
        variable = self.expect("NAME", "a layer variable such as l").text.replace("_", "")
        self.expect("EQ", "'=' after the layer variable")
        first = self.bound()
        if self.tok.kind == "DOT":
            self.next()
            self.expect("DOT", "'..' between the first and the last layer (l=L..1)")
            last = self.bound()
            self.expect("}", "'}' closing the range of Π")
        else:
            self.expect("}", "'}' closing the start of Π, then ^{L}")
            self.expect("^", "^{L} (the last layer) after Π_{l=1}")
            braced = self.tok.kind == "{"
            if braced:
                self.next()
            last = self.bound()
            if braced:
                self.expect("}", "'}' closing the last layer of Π")
        body = self.postfix()
        self.depth -= 1
        return Prod(pi.col, variable, first, last, body)

    def bound(self) -> int | str:
        tok = self.next()
        if tok.kind == "NUM" and tok.text.isdigit() and int(tok.text) >= 1:
            return int(tok.text)
        if tok.kind == "NAME":
            return tok.text
        raise self.fail("a layer number (1, 2, …) or L", tok)

    def layer_set(self) -> tuple[int | str, ...]:
        tok = self.expect("NAME", "a layer's heads such as H1")
        m = re.fullmatch(r"H_?(\d+)", tok.text)
        if tok.text == "H":
            return (-1,)
        variable = re.fullmatch(r"H_?([a-z][a-z0-9]*)", tok.text)
        if variable:  # H_l: the layer a Π binds
            return (variable.group(1),)
        if not m:
            raise self.fail("a layer's heads such as H1 (H1 is layer index 0)", tok)
        number = int(m.group(1))
        if number < 1:
            raise syntax_error(self.text, tok.col, "layers are numbered H1, H2, … (H1 is layer index 0)")
        if number > MAX_LAYER_NUMBER:
            raise syntax_error(self.text, tok.col, f"H{number} is past the last layer a sum may name, H{MAX_LAYER_NUMBER}")
        return (number - 1,)
