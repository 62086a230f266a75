"""The lexer of the formula language: Unicode, ASCII and LaTeX spellings to one stream of tokens.

A token's kind names what it means, not how it was typed: ⊗, ``(x)`` and ``\\otimes``
are all TENSOR; ``W_{OV}`` and ``W_OV`` are the one NAME "W_OV". Errors quote the
formula with a caret under the column at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import FormulaSyntaxError

_UNICODE = {
    "+": "+", "-": "-", "−": "-", "⊗": "TENSOR", "@": "TIMES", "*": "TIMES", "×": "TIMES",
    "·": "DOT", "⋅": "DOT", "∙": "DOT", "∘": "CIRC", "Σ": "SIGMA", "∑": "SIGMA", "Π": "PROD", "∏": "PROD", "∈": "IN",
    "∪": "UNION", "|": "UNION", "ᵀ": "POST_T", "'": "POST_T", "′": "POST_T", "⊤": "TOP",
    "(": "(", ")": ")", "[": "[", "]": "]", "{": "{", "}": "}", "^": "^", ",": ",", "/": "/",
    "_": "_", "‖": "NORM", "≤": "LE", "⩽": "LE",
}
_LATEX = {
    "otimes": "TENSOR", "cdot": "DOT", "circ": "CIRC", "sum": "SIGMA", "Sigma": "SIGMA", "prod": "PROD", "Pi": "PROD", "in": "IN",
    "cup": "UNION", "top": "TOP", "intercal": "TOP", "times": "TIMES", "frac": "FRAC", "tfrac": "FRAC",
    "dfrac": "FRAC", "|": "NORM", "Vert": "NORM", "lVert": "NORM", "rVert": "NORM", "le": "LE", "leq": "LE",
    "leqslant": "LE",
}
_LATEX_SPACE = {",", ";", ":", "!", " ", "quad", "qquad", "left", "right", "big", "Big", "bigg", "Bigg",
                "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "Biggl", "Biggr", "displaystyle",
                "\\", "nonumber", "notag", "cr"}
#: LaTeX environments whose \begin{…} and \end{…} are layout only (align, aligned, equation …).
_LATEX_ENVIRONMENTS = re.compile(r"\\(begin|end)\{(align|aligned|equation|gather|gathered|split|multline)\*?\}")
_LATEX_NAME = {"mathrm", "operatorname", "text", "mathit", "mathbf", "rm", "mathsf"}
_LATEX_ONES = {"mathbf", "mathbb", "boldsymbol", "bm"}  # \mathbf{1}: the column of ones 𝟙
_NAME_HEAD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_NAME_TAIL = re.compile(r"[A-Za-z0-9]+")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class Token:
    """One token: what it means (``kind``), the text typed, and its 0-based column."""

    kind: str  # NAME NUM EQ EOF or a punctuation kind of _UNICODE/_LATEX
    text: str
    col: int


def syntax_error(text: str, col: int, message: str) -> FormulaSyntaxError:
    """The error for ``message`` at ``col`` (0-based), quoting ``text`` with a caret under it."""
    return FormulaSyntaxError(f"{message} (column {col + 1})\n{caret(text, col)}")


def caret(text: str, col: int) -> str:
    """``text`` on one line with a ``^`` under column ``col`` (0-based), both indented by two spaces."""
    line = text.replace("\t", " ").replace("\n", " ")
    return f"  {line}\n  {' ' * col}^"


def tokenize(text: str) -> list[Token]:
    """The tokens of a formula; FormulaSyntaxError at the first character that fits none."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace() or ch in "~&":  # & is LaTeX's alignment mark (T &= …)
            i += 1
        elif ch in "²³":
            tokens += [Token("^", ch, i), Token("NUM", "2" if ch == "²" else "3", i)]
            i += 1
        elif text.startswith("<=", i):
            tokens.append(Token("LE", "<=", i))
            i += 2
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
                raise syntax_error(text, i + 1, "expected ¹ or ᵀ after ⁻")
            tokens.append(Token("POST_INV" if nxt == "¹" else "POST_INVT", text[i : i + 2], i))
            i += 2
        elif "0" <= ch <= "9":
            m = _NUMBER.match(text, i)
            tokens.append(Token("NUM", m.group(), i))
            i = m.end()
        elif text.startswith("..", i):  # a range, as in Π_{l=L..1}
            tokens += [Token("DOT", ".", i), Token("DOT", ".", i + 1)]
            i += 2
        elif ch == "." and not _NUMBER.match(text, i + 1):
            tokens.append(Token("DOT", ".", i))
            i += 1
        elif ch == "𝟙":  # the column of ones, a NAME like Id (𝟙_{d_model} names its space)
            i = _lex_name(text, i + 1, ch, i, tokens)
        elif ch.isascii() and ch.isalpha():
            head = _NAME_HEAD.match(text, i)
            i = _lex_name(text, head.end(), head.group(), i, tokens)
        elif ch == "\\":
            i = _lex_command(text, i, tokens)
        elif ch in _UNICODE:
            tokens.append(Token(_UNICODE[ch], ch, i))
            i += 1
        else:
            raise syntax_error(text, i, f"unexpected character {ch!r}")
    tokens.append(Token("EOF", "", n))
    return tokens


def _lex_name(text: str, j: int, head: str, start: int, tokens: list[Token]) -> int:
    """A name (``head`` ends at j) with subscripts: W_OV, W_{OV}, n_{ctx}, d_{\\mathrm{head}} → "W_OV", "n_ctx",
    "d_head"; sum_ starts Σ."""
    if head in ("sum", "prod") and text[j : j + 1] in ("_", "["):
        tokens.append(Token("SIGMA" if head == "sum" else "PROD", head, start))
        return j
    name = head
    while text[j : j + 1] == "_":
        if text[j + 1 : j + 2] == "{":
            close = _matching_brace(text, j + 1)
            inner = re.sub(r"\\(?:mathrm|text|textrm|mathit|operatorname|rm)\b\s*", "", text[j + 2 : close])
            inner = inner.replace("{", "").replace("}", "")  # W_{\mathrm{OV}}, d_{\text{head}}: as printed
            if not re.fullmatch(r"[A-Za-z0-9_]+", inner):
                raise syntax_error(text, j + 2, "expected letters, digits or _ in the subscript")
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
    raise syntax_error(text, open_at, "this { is never closed")


def _lex_command(text: str, i: int, tokens: list[Token]) -> int:
    environment = _LATEX_ENVIRONMENTS.match(text, i)
    if environment is not None:
        return environment.end()
    m = re.compile(r"\\([A-Za-z]+|.)").match(text, i)
    if m is None:
        raise syntax_error(text, i, "expected a LaTeX command after \\")
    command, j = m.group(1), m.end()
    if command in _LATEX_ONES and text[j : j + 1] == "{" and text[j + 1 : _matching_brace(text, j)].strip() == "1":
        return _lex_name(text, _matching_brace(text, j) + 1, "𝟙", i, tokens)
    if command in _LATEX_NAME:
        if text[j : j + 1] != "{":
            raise syntax_error(text, j, f"expected {{ after \\{command}")
        close = _matching_brace(text, j)
        inner = text[j + 1 : close].strip()
        if not _NAME_HEAD.fullmatch(inner):
            raise syntax_error(text, j + 1, f"expected a name inside \\{command}{{…}}")
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
    raise syntax_error(text, i, f"unknown LaTeX command \\{command}")
