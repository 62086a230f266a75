r"""Prose with inline math (step reasons, check titles), spelled for LaTeX, Markdown and HTML.

The catalog's texts mix words and formulas typed in the Unicode notation of CLAIMS.md:
``mixed product (Id⊗W_U)(A⊗W_OV)(Id⊗W_E) = A⊗W_U W_OV W_E``. :func:`segments` splits such a
text into prose and math runs: a whitespace-separated chunk is math when it carries a math
character (``_ ^ ⊗ ᵀ Σ = ( [ |`` …) or is a lone letter other than "a"; neighbouring math
chunks form one run. Each output language then typesets the runs and escapes the prose:

* :func:`latex` — ``$W_{OV}^{1,0}$``, ``\sum_{h}``, ``d_{\mathrm{model}}``; prose escaped for text mode.
* :func:`markdown` — the same math between ``$…$`` (GitHub renders it), with ``|`` spelled
  ``\vert`` so that a table cell never splits; prose escaped (``\|``, ``\*``, ``\_``).
* :func:`html` — escaped text with ``<sub>``/``<sup>`` for indices, math in ``<i>``.

>>> print(latex("rank W_OV^{0,1} ≤ d_head over ℚ"))
rank $W_{OV}^{0,1} \le d_{\mathrm{head}}$ over $\mathbb{Q}$
>>> print(markdown("(1+|H1|)² terms"))
$(1+\vert H1\vert )^{2}$ terms
>>> print(html("W_OV^{1,0} & <b>"))
<i>W<sub>OV</sub><sup>1,0</sup></i> &amp; <i>&lt;b&gt;</i>
"""

from __future__ import annotations

import re
from html import escape

from .printing import ACCENTS as _ACCENTS

#: Characters that make a chunk of text math.
_MATH_CHARS = set("αβγδηθκμνξπρστχψω{}_^⊗ᵀΣΠλ=()[]|‖·∘⊙∈∪≤≥≠→⇒⁻¹²⁰ⁿᵐ⁵⁶₀₁₂ₖₙᵢⱼ𝟙ℚℝℤ×⟨⟩+−<>*/√∞∀εφ±\u0302′")

#: Greek letters beyond those with their own spelling (λ, ε, φ), by LaTeX name.
_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "η": "eta", "θ": "theta", "κ": "kappa", "μ": "mu",
          "ν": "nu", "ξ": "xi", "π": "pi", "ρ": "rho", "σ": "sigma", "τ": "tau", "χ": "chi", "ψ": "psi", "ω": "omega"}

#: Unicode in math, spelled in LaTeX math mode.
_LATEX_MATH = {
    "⊗": r"\otimes ", "ᵀ": r"^{\top}", "⁻¹": r"^{-1}", "⁻ᵀ": r"^{-\top}", "·": r"\cdot ", "Σ": r"\sum", "Π": r"\prod",
    "λ": r"\lambda ", "∈": r"\in ", "∪": r"\cup ", "≤": r"\le ", "≥": r"\ge ", "≠": r"\ne ", "→": r"\to ",
    "⇒": r"\Rightarrow ", "‖": r"\|", "|": r"\vert ", "∘": r"\circ ", "⊙": r"\odot ", "𝟙": r"\mathbf{1}",
    "ℚ": r"\mathbb{Q}", "ℝ": r"\mathbb{R}", "ℤ": r"\mathbb{Z}", "×": r"\times ", "−": "-", "…": r"\dots\allowbreak ",
    "⟨": r"\langle ", "⟩": r"\rangle ", "²": "^{2}", "⁰": "^{0}", "¹": "^{1}", "ⁿ": "^{n}", "ᵐ": "^{m}", "⁵": "^{5}",
    "⁶": "^{6}", "₀": "_{0}", "₁": "_{1}", "₂": "_{2}", "ₖ": "_{k}", "ₙ": "_{n}", "ᵢ": "_{i}", "ⱼ": "_{j}",
    "q̂": r"\hat{q}", "k̂": r"\hat{k}", "√": r"\surd ", "∞": r"\infty ", "∀": r"\forall ", "ε": r"\varepsilon ",
    "φ": r"\varphi ", "±": r"\pm ", **{g: f"\\{name} " for g, name in _GREEK.items()}, "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$", "~": r"\sim ", "\\": r"\backslash ",
    "<": "<", ">": ">", "′": "'",
}
_LATEX_MATH_RE = re.compile("|".join(re.escape(k) for k in sorted(_LATEX_MATH, key=len, reverse=True)))
#: An index: _{…} or ^{…} (one level of braces), or _word / ^word.
_INDEX_RE = re.compile(r"([_^])(?:\{([^{}]*)\}|([A-Za-z0-9]+'*))")
_WORD_RE = re.compile(r"[A-Za-z]{2,}")
_GROUP = r"((?:[^{}]|\{[^{}]*\})*)"
_DOUBLE_SCRIPT_RE = re.compile(r"([_^])\{" + _GROUP + r"\}\1\{" + _GROUP + r"\}")
_SUPERSCRIPTS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8", "⁹": "9",
                 "ⁿ": "n", "ᵐ": "m", "⁻": "-", "ᵀ": r"\top "}
_ACCENTED_RE = re.compile("[A-Za-z][" + "".join(_ACCENTS) + "]")
_SPELL_RE = re.compile(
    _ACCENTED_RE.pattern + "|[" + "".join(_SUPERSCRIPTS) + "]+|" + _WORD_RE.pattern + "|" + _LATEX_MATH_RE.pattern + r"|[_^{}]|[^\x00-\x7f]"
)


PROSE, MATH, CODE = "prose", "math", "code"
#: A dotted Python name (``numpy.random``, ``tensoralg.models.circuits``): code, not math.
_CODE_RE = re.compile(r"[A-Za-z_]\w*\.[A-Za-z_]\w*")
#: A snake_case name of words (``center_unembed``, ``fold_ln``): code; ``d_model``, ``n_ctx`` (a one-letter head) stay math.
_SNAKE_RE = re.compile(r"[a-z]{2,}(?:_[a-z0-9]{2,})+")


def _kind(chunk: str) -> str | None:
    """MATH, CODE or PROSE for a chunk without spaces; None to follow the previous chunk (numbers)."""
    core = chunk.rstrip(",;:.")
    bare = re.sub(r"[()\[\]]", "", core)
    if bare.isdigit() or core == "-":  # a number, or a minus sign between terms, goes with its neighbours
        return None
    if _CODE_RE.search(core) or _SNAKE_RE.fullmatch(bare):
        return CODE
    if core == "Id":
        return MATH
    if len(bare) >= 2 and bare.isascii() and bare.isalpha() and bare.islower():  # "(mixed", "product)", "head(s)"
        return PROSE
    if len(bare) >= 3 and bare.isascii() and bare.isalpha() and not bare.isupper():  # "(LayerNorm", "MLPs)"
        return PROSE
    if any(c in _MATH_CHARS for c in core):
        return MATH
    return MATH if len(core) == 1 and core.isalpha() and core != "a" else PROSE


def segments(text: str) -> list[tuple[str, str]]:
    """``(kind, text)`` runs covering ``text``, kind MATH, CODE or PROSE; a trailing ``, ; : .``
    ends a math or code run unless a bracket is still open in it (which also keeps a code run going).

    >>> segments("then W_OV, twice: F·(P·t, P·t)")
    [('prose', 'then '), ('math', 'W_OV'), ('prose', ', twice: '), ('math', 'F·(P·t, P·t)')]
    >>> segments("rerun: numpy.random.default_rng(7, x)")
    [('prose', 'rerun: '), ('code', 'numpy.random.default_rng(7, x)')]
    """
    out: list[tuple[str, str]] = []
    depth = 0
    for piece in re.split(r"(\s+)", text):
        if not piece:
            continue
        previous = out[-1][0] if out else PROSE
        if piece.isspace():
            _append(out, previous, piece)
            continue
        kind = CODE if previous == CODE and depth > 0 else _kind(piece)
        kind = previous if kind is None else kind
        if kind == PROSE:
            _append(out, kind, piece)
            continue
        depth = (depth if previous == kind else 0) + sum(map(piece.count, "([{")) - sum(map(piece.count, ")]}"))
        core = piece if depth > 0 else piece.rstrip(",;:.")
        _append(out, kind, core)
        if core != piece:
            _append(out, PROSE, piece[len(core):])
    # Spaces that ended a math or code run belong to the prose after it.
    fixed: list[tuple[str, str]] = []
    for kind, part in out:
        if kind != PROSE and part != part.rstrip():
            _append(fixed, kind, part.rstrip())
            _append(fixed, PROSE, part[len(part.rstrip()):])
        else:
            _append(fixed, kind, part)
    return fixed


def _append(out: list[tuple[str, str]], kind: str, part: str) -> None:
    if out and out[-1][0] == kind:
        out[-1] = (kind, out[-1][1] + part)
    else:
        out.append((kind, part))


def _upright(word: str) -> str:
    """Names of two or more letters with a lowercase one (model, softmax, Id) are upright."""
    return rf"\mathrm{{{word}}}" if any(c.islower() for c in word) else word


def math_latex(text: str) -> str:
    """A math run in LaTeX math mode: indices grouped, names upright, Unicode spelled out.

    >>> print(math_latex("Σ_{h∈H1} A^h⊗W_OV^h"))
    \\sum_{h\\in H1} A^{h}\\otimes W_{OV}^{h}
    """
    depth = 0
    for c in text:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            break
    if depth:  # unbalanced braces are characters, not groups
        text = text.replace("{", "(").replace("}", ")")

    def index(m: re.Match) -> str:
        mark, braced, bare = m.groups()
        if braced is not None:
            return f"{mark}{{{math_latex(braced)}}}"
        return f"{mark}{{{_upright(bare) if len(bare) > 1 and bare.isalpha() and bare.islower() else bare}}}"

    parts = []
    last = 0
    for m in _INDEX_RE.finditer(text):
        parts.append(_spell(text[last:m.start()]))
        parts.append(index(m))
        last = m.end()
    parts.append(_spell(text[last:]))
    out = "".join(parts)
    while True:  # x^{a}^{b} is a double superscript in TeX: one group x^{ab}
        merged = _DOUBLE_SCRIPT_RE.sub(lambda m: f"{m.group(1)}{{{m.group(2)}{m.group(3)}}}", out)
        if merged == out:
            return re.sub(" +", " ", out).strip()
        out = merged


def _spell(plain: str) -> str:
    def one(m: re.Match) -> str:
        token = m.group(0)
        if _ACCENTED_RE.fullmatch(token):  # Q̂ → \hat{Q}
            return f"\\{_ACCENTS[token[1]]}{{{token[0]}}}"
        if token[0] in _SUPERSCRIPTS:
            return "^{" + "".join(_SUPERSCRIPTS[c] for c in token).strip() + "}"
        if _WORD_RE.fullmatch(token):
            return _upright(token)
        if token in _LATEX_MATH:
            return _LATEX_MATH[token]
        if token in "_^{}":  # not an index: a literal character
            return {"_": r"\_", "^": r"\wedge ", "{": r"\{", "}": r"\}"}[token]
        return rf"\texttt{{[U+{ord(token):04X}]}}"

    return _SPELL_RE.sub(one, plain)


_CODE_ESCAPES = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\textasciicircum{}", "$": r"\$",
    "&": r"\&", "%": r"\%", "#": r"\#", "~": r"\textasciitilde{}",
}


def code_latex(text: str) -> str:
    """Code in ``\\texttt``, escaped, breakable after ``.``, ``,`` and ``(``."""
    def one(c: str) -> str:
        if c in ".,(":
            return c + r"\allowbreak{}"
        return _CODE_ESCAPES.get(c, c) if c.isascii() else latex_text(c)

    return r"\texttt{" + "".join(map(one, text)) + "}"


def latex(text: str) -> str:
    """The text for LaTeX text mode, math runs as ``$…$``, code in ``\\texttt``."""
    spell = {MATH: lambda part: f"${math_latex(part)}$", CODE: code_latex, PROSE: latex_text}
    return "".join(spell[kind](part) for kind, part in segments(text))


#: Unicode that appears in descriptions, spelled for LaTeX text mode.
_LATEX_TEXT = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "⊗": r"$\otimes$", "ᵀ": r"$^{\top}$", "⁻¹": r"$^{-1}$",
    "⁻ᵀ": r"$^{-\top}$", "¹": r"$^{1}$", "²": r"$^{2}$", "⁰": r"$^{0}$", "ⁿ": r"$^{n}$", "ᵐ": r"$^{m}$", "⁵": r"$^{5}$",
    "⁶": r"$^{6}$", "≤": r"$\le$", "≥": r"$\ge$", "≠": r"$\ne$", "≈": r"$\approx$", "Σ": r"$\Sigma$", "Π": r"$\Pi$",
    "λ": r"$\lambda$", "∘": r"$\circ$", "·": r"$\cdot$", "‖": r"$\|$", "→": r"$\to$", "⇒": r"$\Rightarrow$",
    "∈": r"$\in$", "⊙": r"$\odot$", "√": r"$\surd$", "×": r"$\times$", "⟨": r"$\langle$", "⟩": r"$\rangle$",
    "φ": r"$\varphi$", "ℚ": r"$\mathbb{Q}$", "ℝ": r"$\mathbb{R}$", "ℤ": r"$\mathbb{Z}$", "−": "-", "…": r"\dots\allowbreak{}",
    "—": "---", "–": "--", **{g: f"$\\{name}$" for g, name in _GREEK.items()}, "∞": r"$\infty$", "∀": r"$\forall$", "ε": r"$\varepsilon$", "𝟙": r"$\mathbf{1}$",
    "₀": r"$_0$", "₁": r"$_1$", "₂": r"$_2$", "ₖ": r"$_k$", "ₙ": r"$_n$", "ᵢ": r"$_i$", "ⱼ": r"$_j$", "±": r"$\pm$",
    "q̂": r"$\hat q$", "k̂": r"$\hat k$", "|": r"$|$", "<": r"$<$", ">": r"$>$",
}
_LATEX_TEXT_RE = re.compile(
    r"\^\{([^{}]*)\}|" + _ACCENTED_RE.pattern + "|" + "|".join(re.escape(k) for k in sorted(_LATEX_TEXT, key=len, reverse=True)) + r"|[^\x00-\x7f]"
)


def _latex_piece(match: re.Match) -> str:
    text = match.group(0)
    index = match.group(1)
    if index is not None:  # an index such as ^{1,0} or ^{n−1}
        index = index.replace("−", "-")
        return f"$^{{{index}}}$" if index.isascii() else "\\textasciicircum{}" + latex_text(f"{{{index}}}")
    if text in _LATEX_TEXT:
        return _LATEX_TEXT[text]
    if _ACCENTED_RE.fullmatch(text):  # x̂ in text → $\hat{x}$
        return f"$\\{_ACCENTS[text[1]]}{{{text[0]}}}$"
    return f"\\texttt{{[U+{ord(text):04X}]}}"


def latex_text(text: str) -> str:
    r"""Plain text (with Unicode math) for LaTeX text mode; indices ^{l,h} become superscripts.

    >>> latex_text("rank W_OV^{0,1} ≤ d_head")
    'rank W\\_OV$^{0,1}$ $\\le$ d\\_head'
    """
    return _LATEX_TEXT_RE.sub(_latex_piece, text)


_MARKDOWN_ESCAPES = str.maketrans({c: "\\" + c for c in "\\|*_`[]<>$#"})


def markdown(text: str) -> str:
    """The text for Markdown (GitHub), math runs as ``$…$``, code in backticks; safe inside a table cell."""
    spell = {
        MATH: lambda part: f"${math_latex(part)}$",
        CODE: lambda part: "`" + part.replace("`", "'").replace("|", "\\|") + "`",
        PROSE: lambda part: part.translate(_MARKDOWN_ESCAPES),
    }
    return "".join(spell[kind](part) for kind, part in segments(text))


def _html_math(text: str) -> str:
    def index(m: re.Match) -> str:
        mark, braced, bare = m.groups()
        tag = "sub" if mark == "_" else "sup"
        return f"<{tag}>{escape(braced if braced is not None else bare)}</{tag}>"

    out, last = [], 0
    for m in _INDEX_RE.finditer(text):
        out += [escape(text[last:m.start()]), index(m)]
        last = m.end()
    out.append(escape(text[last:]))
    return "<i>" + "".join(out) + "</i>"


def html(text: str) -> str:
    """The text as HTML: escaped, indices as ``<sub>``/``<sup>`` in math runs, code in ``<code>``."""
    spell = {MATH: _html_math, CODE: lambda part: f"<code>{escape(part)}</code>", PROSE: escape}
    return "".join(spell[kind](part) for kind, part in segments(text))
