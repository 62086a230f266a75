"""The path expansion of an attention-only architecture as one formula with sums over heads.

For heads H_1, …, H_L per layer (CLAIMS C12), the logits are

    T = (Id⊗W_U) Π_{l=L..1} (Id + Σ_{h∈H_l} A^h⊗W_OV^h) (Id⊗W_E)
      = Σ over sets of layers l_1 < … < l_k of Σ_{h_1∈H_{l_1}, …, h_k∈H_{l_k}}
            A^{h_k}⋯A^{h_1} ⊗ W_U W_OV^{h_k}⋯W_OV^{h_1} W_E,

one sum per set of layers (2^L of them), each with Π|H_l| terms. :func:`expansion_formula`
writes that formula for a concrete architecture, in MathML (for HTML pages, and what
Jupyter shows) and in LaTeX; layers are numbered from 1 in the formula as in the paper
(H1 is layer index 0, as in the formula language).

>>> f = expansion_formula((2, 2))
>>> f.terms
9
>>> print(f.latex())
T = \\mathrm{Id} \\otimes W_{U} W_{E} + \\sum_{h_{1} \\in H_{1}} A^{h_{1}} \\otimes W_{U} W_{OV}^{h_{1}} W_{E} + \\sum_{h_{2} \\in H_{2}} A^{h_{2}} \\otimes W_{U} W_{OV}^{h_{2}} W_{E} + \\sum_{h_{1} \\in H_{1}, h_{2} \\in H_{2}} A^{h_{2}} A^{h_{1}} \\otimes W_{U} W_{OV}^{h_{2}} W_{OV}^{h_{1}} W_{E}
"""

from __future__ import annotations

import math as _math
from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

from ..algebra.mathml import math, mi, mn, mo, mrow
from ..errors import ArchitectureError

#: Beyond this many layers the 2^L sums are summarised as one sum over orders.
MAX_LISTED_LAYERS = 4


def _h(layer: int) -> str:
    return f"<msub>{mi('h')}{mn(layer)}</msub>"


def _sym_mathml(base: str, sub: str | None, upper: str | None) -> str:
    b = mi(base)
    s = mi(sub) if sub else None
    if s and upper:
        return f"<msubsup>{b}{s}{upper}</msubsup>"
    if s:
        return f"<msub>{b}{s}</msub>"
    return f"<msup>{b}{upper}</msup>" if upper else b


@dataclass(frozen=True)
class ExpansionFormula:
    """The expansion of an architecture with heads ``heads`` per layer (see the module docstring)."""

    heads: tuple[int, ...]

    def __post_init__(self) -> None:
        if any(h < 0 for h in self.heads):
            raise ArchitectureError(f"heads per layer must be ≥ 0; got {list(self.heads)}")

    @property
    def terms(self) -> int:
        """Π_l (1 + |H_l|), the number of path terms."""
        return _math.prod(1 + h for h in self.heads)

    def _layer_sets(self) -> list[tuple[int, ...]]:
        layers = [l for l, h in enumerate(self.heads, start=1) if h > 0]
        return [s for k in range(len(layers) + 1) for s in combinations(layers, k)]

    def mathml(self, display: str = "block") -> str:
        """The formula as a ``<math>`` element."""
        parts = [mi("T"), mo("=")]
        if len(self.heads) > MAX_LISTED_LAYERS:
            l_1, l_k = "<msub>" + mi("l") + mn(1) + "</msub>", "<msub>" + mi("l") + mi("k") + "</msub>"
            h_k, h_1 = "<msub>" + mi("h") + mi("k") + "</msub>", _h(1)
            layers = mrow(l_1, mo("<"), mo("⋯"), mo("<"), l_k)
            heads = mrow("<msub>" + mi("h") + mi("i") + "</msub>", mo("∈"), "<msub>" + mi("H") + "<msub>" + mi("l") + mi("i") + "</msub></msub>")
            parts += [
                "<munder>" + mo("∑") + layers + "</munder>", "<munder>" + mo("∑") + heads + "</munder>",
                _sym_mathml("A", None, h_k), mo("⋯"), _sym_mathml("A", None, h_1), mo("⊗"), _sym_mathml("W", "U", None),
                _sym_mathml("W", "OV", h_k), mo("⋯"), _sym_mathml("W", "OV", h_1), _sym_mathml("W", "E", None),
            ]
            return math(mrow(*parts), display)
        for n, layers in enumerate(self._layer_sets()):
            if n:
                parts.append(mo("+"))
            if not layers:
                parts += [mi("Id", normal=True), mo("⊗"), _sym_mathml("W", "U", None), _sym_mathml("W", "E", None)]
                continue
            index = mo(",", separator="true").join(mrow(_h(l), mo("∈"), f"<msub>{mi('H')}{mn(l)}</msub>") for l in layers)
            parts.append(f"<munder>{mo('∑')}{mrow(index)}</munder>")
            parts += [_sym_mathml("A", None, _h(l)) for l in reversed(layers)]
            parts += [mo("⊗"), _sym_mathml("W", "U", None)]
            parts += [_sym_mathml("W", "OV", _h(l)) for l in reversed(layers)]
            parts.append(_sym_mathml("W", "E", None))
        return math(mrow(*parts), display)

    def latex(self) -> str:
        """The formula in LaTeX."""
        if len(self.heads) > MAX_LISTED_LAYERS:
            return (r"T = \sum_{l_1 < \dots < l_k} \sum_{h_i \in H_{l_i}} A^{h_k} \cdots A^{h_1} \otimes "
                    r"W_{U} W_{OV}^{h_k} \cdots W_{OV}^{h_1} W_{E}")
        terms = []
        for layers in self._layer_sets():
            if not layers:
                terms.append(r"\mathrm{Id} \otimes W_{U} W_{E}")
                continue
            index = ", ".join(f"h_{{{l}}} \\in H_{{{l}}}" for l in layers)
            pattern = " ".join(f"A^{{h_{{{l}}}}}" for l in reversed(layers))
            ovs = " ".join(f"W_{{OV}}^{{h_{{{l}}}}}" for l in reversed(layers))
            terms.append(f"\\sum_{{{index}}} {pattern} \\otimes W_{{U}} {ovs} W_{{E}}")
        return "T = " + " + ".join(terms)

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"


def expansion_formula(heads: Sequence[int]) -> ExpansionFormula:
    """The path expansion of an attention-only model with ``heads[l]`` heads in layer l (0-based)."""
    return ExpansionFormula(tuple(int(h) for h in heads))
