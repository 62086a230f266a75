"""The syntax tree of a formula and the recursive-descent parser that builds it from tokens.

One parser method per precedence level of :mod:`tensoralg.formula.parsing`, loosest first:
identity (=), sum, tensor product, product, unary minus and Σ, action and bilinear form,
postfix transpose and inverse, primary. Nodes remember their column for error messages;
what a name means and what shape a node has is left to :mod:`tensoralg.formula.elaboration`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

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


_STARTS = {"NUM", "NAME", "(", "{", "SIGMA", "FRAC"}


class Parser:
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
            elif self.tok.kind in _STARTS:
                items.append(self.unary())
            else:
                break
        return items[0] if len(items) == 1 else Nary(col, "mul", tuple(items))

    def unary(self) -> Node:
        tok = self.tok
        if tok.kind == "-":
            self.next()
            inner = self.unary()
            if isinstance(inner, Num):
                return Num(tok.col, -inner.value)
            return Unary(tok.col, "neg", inner)
        if tok.kind == "+":
            self.next()
            return self.unary()
        if tok.kind == "SIGMA":
            return self.sigma()
        return self.action()

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
        while True:
            tok = self.tok
            if tok.kind == "POST_T":
                node = Unary(tok.col, "T", node)
            elif tok.kind == "POST_INV":
                node = Unary(tok.col, "inv", node)
            elif tok.kind == "POST_INVT":
                node = Unary(tok.col, "invT", node)
            elif tok.kind == "^":
                self.next()
                node = self.superscript(node, tok)
                continue
            else:
                return node
            self.next()

    def superscript(self, node: Node, caret: Token) -> Node:
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
            if not isinstance(node, Sym) or node.indices is not None:
                raise syntax_error(self.text, caret.col, "indices (^{layer,head}) only follow a symbol's name")
            node = Sym(node.col, node.name, tuple(items))
        for op in ops:
            node = Unary(caret.col, op, node)
        return node

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "NUM":
            self.next()
            return Num(tok.col, Fraction(tok.text))
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
            if not isinstance(parts[1], Num) or parts[1].value == 0:
                raise syntax_error(self.text, tok.col, "expected a nonzero number as the denominator of \\frac")
            return Nary(tok.col, "mul", (parts[0], Num(tok.col, 1 / parts[1].value)))
        if tok.kind == "NAME":
            self.next()
            return self.named(tok)
        raise self.fail("a symbol, a number, '(' or Σ")

    def named(self, tok: Token) -> Node:
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
                raise syntax_error(self.text, tok.col, f"{name}(…) takes {want} argument(s); got {len(args)}")
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
        return Sigma(sig.col, tuple(groups), self.tensor())

    def layer_set(self) -> tuple[int, ...]:
        tok = self.expect("NAME", "a layer's heads such as H1")
        m = re.fullmatch(r"H_?(\d+)", tok.text)
        if tok.text == "H":
            return (-1,)
        if not m:
            raise self.fail("a layer's heads such as H1 (H1 is layer index 0)", tok)
        number = int(m.group(1))
        if number < 1:
            raise syntax_error(self.text, tok.col, "layers are numbered H1, H2, … (H1 is layer index 0)")
        return (number - 1,)
