"""The path expansion of an attention-only architecture as one formula with sums over heads.

For heads H_1, …, H_L per layer (CLAIMS C12), the logits are

    T = (Id⊗W_U) Π_{l=L..1} (Id + Σ_{h∈H_l} A^h⊗W_OV^h) (Id⊗W_E)
      = Σ over sets of layers l_1 < … < l_k of Σ_{h_1∈H_{l_1}, …, h_k∈H_{l_k}}
            A^{h_k}⋯A^{h_1} ⊗ W_U W_OV^{h_k}⋯W_OV^{h_1} W_E,

one sum per set of layers (2^L of them), each with Π|H_l| terms: the Σ-form of
:func:`tensoralg.paths.symbolic.logit_terms`, without the sums over layers that have no head.
:func:`expansion_formula` prints it for a concrete architecture, in MathML (for HTML pages)
and in LaTeX (what Jupyter shows); layers are numbered from 1 in the formula as in the paper
(H1 is layer index 0, as in the formula language). Beyond four layers the 2^L sums are
summarised by one sum over the sets of layers.

>>> f = expansion_formula((2, 2))
>>> f.terms
9
>>> print(f.latex())
T = \\mathrm{Id} \\otimes W_{U} W_{E} + \\sum_{h \\in H_{1}} A^{h} \\otimes W_{U} W_{OV}^{h} W_{E} + \\sum_{h \\in H_{2}} A^{h} \\otimes W_{U} W_{OV}^{h} W_{E} + \\sum_{h_{1} \\in H_{1}, h_{2} \\in H_{2}} A^{h_{2}} A^{h_{1}} \\otimes W_{U} W_{OV}^{h_{2}} W_{OV}^{h_{1}} W_{E}
"""

from __future__ import annotations

import math as _math
from dataclasses import dataclass
from typing import Sequence

from ..algebra.expr import Expr, Sum
from ..algebra.mathml import MathMLPrinter, math, mi, mo, mrow, symbol, variable
from ..algebra.printing import to_latex
from ..errors import ArchitectureError
from ..paths.symbolic import logit_terms

#: Beyond this many layers the 2^L sums are summarised as one sum over orders.
MAX_LISTED_LAYERS = 4


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

    def _expression(self) -> Expr:
        """Σ of the Σ-terms whose sums all run over layers that have heads."""
        terms = [t.expr for t in logit_terms(len(self.heads))
                 if all(self.heads[layer] for _, layer in getattr(t.expr, "bindings", ()))]
        return terms[0] if len(terms) == 1 else Sum(tuple(terms))

    def mathml(self, display: str = "block") -> str:
        """The formula as a ``<math>`` element."""
        parts = [mi("T"), mo("=")]
        if len(self.heads) > MAX_LISTED_LAYERS:
            l_1, l_k, h_1, h_k, h_i = variable("l1"), variable("lk"), variable("h1"), variable("hk"), variable("hi")
            layers = mrow(l_1, mo("<"), mo("⋯"), mo("<"), l_k)
            heads = mrow(h_i, mo("∈"), f"<msub>{mi('H')}{variable('li')}</msub>")
            parts += [
                f"<munder>{mo('∑')}{layers}</munder>", f"<munder>{mo('∑')}{heads}</munder>",
                symbol("A", h_k), mo("⋯"), symbol("A", h_1), mo("⊗"), symbol("W_U"),
                symbol("W_OV", h_k), mo("⋯"), symbol("W_OV", h_1), symbol("W_E"),
            ]
            return math(mrow(*parts), display)
        parts.append(MathMLPrinter().doprint(self._expression()))
        return math(mrow(*parts), display)

    def latex(self) -> str:
        """The formula in LaTeX."""
        if len(self.heads) > MAX_LISTED_LAYERS:
            return (r"T = \sum_{l_1 < \dots < l_k} \sum_{h_i \in H_{l_i}} A^{h_k} \cdots A^{h_1} \otimes "
                    r"W_{U} W_{OV}^{h_k} \cdots W_{OV}^{h_1} W_{E}")
        return "T = " + to_latex(self._expression())

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"


def expansion_formula(heads: Sequence[int]) -> ExpansionFormula:
    """The path expansion of an attention-only model with ``heads[l]`` heads in layer l (0-based)."""
    return ExpansionFormula(tuple(int(h) for h in heads))
