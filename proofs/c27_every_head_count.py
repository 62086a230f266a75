"""C27 — Every head count: C11 and C14 hold for all |H1|, |H2| ≥ 0.

Σ_{h∈H1} without a number of heads is a formal sum over a set of unknown size with a bound
index (:mod:`tensoralg.algebra.index_sets`). Products of sums distribute into sums over
several indices, Σ_{h∈H1∪H2} splits into one sum per layer, and terms that differ only in
the names of their bound indices are one term:

    (Id⊗W_U)(Id + Σ_{h∈H2} A^h⊗W_OV^h)(Id + Σ_{h∈H1} A^h⊗W_OV^h)(Id⊗W_E)
      = Id⊗W_U W_E + Σ_{h∈H1∪H2} A^h⊗W_U W_OV^h W_E
        + Σ_{h1∈H1, h2∈H2} (A^{h2}A^{h1})⊗(W_U W_OV^{h2}W_OV^{h1} W_E)

so the engine's PROVED means: for every number of heads in every layer. A difference of
normal forms survives instantiation at as many heads per layer as its terms have indices
over that layer, so a false variant is refuted at small concrete head counts.

Checked: C11 and C14 as the paper writes them (no --heads) are PROVED; renaming a bound index,
splitting a union and distributing a product of sums are PROVED; the symbolic normal form,
instantiated at drawn head counts, is the enumerated one (--heads) term for term.
NEGATIVE: C11 with the OV product or the pattern product reversed, C14 with query and key
composition swapped, and (Σ_h A^h)² = Σ_h A^hA^h are refuted at concrete head counts.

>>> CLAIM.id
'C27'
"""

from __future__ import annotations

import numpy as np

from tensoralg.algebra.expr import canonical_tree
from tensoralg.algebra.normal_form import instantiate_heads
from tensoralg.formula.parsing import Context as FormulaContext
from tensoralg.formula.parsing import parse
from tensoralg.proofs._shared import C11_CLOSED, C11_LAYER_1, C11_PRODUCT, C14_CLOSED, C14_FORM
from tensoralg.verify.catalog import Check, Claim, Context, Derivation, Mismatch, Step

def derive() -> list[Derivation]:
    return [
        Derivation("C11 for every number of heads", [
            Step(parse(C11_PRODUCT)),
            Step(parse(C11_LAYER_1), "layer 1 acts on the embedding: Σ_{h∈H1} (A^h⊗W_OV^h)(Id⊗W_E)"),
            Step(parse(C11_CLOSED), "distribute: (Σ_{h∈H2} x_h)(Σ_{h∈H1} y_h) = Σ_{h1∈H1, h2∈H2} x_{h2} y_{h1}"),
        ]),
        Derivation("C14 for every number of heads", [
            Step(parse(C14_FORM)),
            Step(parse(C14_CLOSED), "bilinear in each side, each side a sum over H1 with its own index"),
        ]),
    ]


def _instantiation_is_enumeration(rng: np.random.Generator) -> Mismatch | None:
    a, b = (int(n) for n in rng.integers(0, 4, size=2))
    symbolic = parse(C11_CLOSED).normal_form
    concrete = canonical_tree(instantiate_heads(symbolic, (a, b), {}))
    enumerated = parse(C11_CLOSED, FormulaContext.build(heads=(a, b)))
    if concrete != enumerated or len(enumerated.normal_form) != 1 + a + b + a * b:
        return Mismatch(str(concrete), str(enumerated), dims={"|H1|": a, "|H2|": b}, field="Z",
                        note="the symbolic C11 instantiated at these head counts")
    return None


def check(ctx: Context) -> list[Check]:
    return [
        ctx.formula("C11 = the closed form, for every |H1|, |H2|", f"{C11_PRODUCT} == {C11_CLOSED}"),
        ctx.formula("C14: the scores of a layer-2 head, for every |H1|", f"{C14_FORM} == {C14_CLOSED}"),
        ctx.formula("renaming a bound index: Σ_{h∈H1} A^h⊗W_OV^h = Σ_{g∈H1} A^g⊗W_OV^g",
                    "Σ_{h∈H1} A^h⊗W_OV^h == Σ_{g∈H1} A^g⊗W_OV^g"),
        ctx.formula("a union splits: Σ_{h∈H1∪H2} A^h = Σ_{h∈H1} A^h + Σ_{h∈H2} A^h",
                    "Σ_{h∈H1∪H2} A^h == Σ_{h∈H1} A^h + Σ_{h∈H2} A^h"),
        ctx.formula("products distribute: (Σ_{h∈H2} A^h)(Σ_{h∈H1} A^h) = Σ_{h1∈H1, h2∈H2} A^{h2}A^{h1}",
                    "(Σ_{h∈H2} A^h)(Σ_{h∈H1} A^h) == Σ_{h1∈H1, h2∈H2} A^{h2}A^{h1}"),
        ctx.instances("the symbolic C11 at |H1|, |H2| drawn in 0…3 is the enumerated expansion, 1+|H1|+|H2|+|H1||H2| terms",
                      _instantiation_is_enumeration, trials=6),
    ]


def refute(ctx: Context) -> list[Check]:
    return [
        ctx.formula("C11 with the OV product reversed (W_OV^{h1} W_OV^{h2})",
                    f"{C11_PRODUCT} == " + C11_CLOSED.replace("W_OV^{h2} W_OV^{h1}", "W_OV^{h1} W_OV^{h2}")),
        ctx.formula("C11 with the pattern product reversed (A^{h1}A^{h2})",
                    f"{C11_PRODUCT} == " + C11_CLOSED.replace("(A^{h2}A^{h1})", "(A^{h1}A^{h2})")),
        ctx.formula("C14 with the query side's OV circuit untransposed (W_OV^{hq} for W_OV^{hq}ᵀ)",
                    f"{C14_FORM} == " + C14_CLOSED.replace("W_OV^{hq}ᵀ", "W_OV^{hq}")),
        ctx.formula("a square of a sum is not the sum of squares: (Σ_{h∈H1} A^h)² = Σ_{h∈H1} A^h A^h",
                    "(Σ_{h∈H1} A^h)^2 == Σ_{h∈H1} A^h A^h"),
    ]


CLAIM = Claim(
    "C27",
    "Every head count",
    "C11 and C14 hold for all |H1|, |H2| ≥ 0: Σ_{h∈H1} is a formal sum with a bound index",
    r"\forall |H_1|, |H_2| \ge 0:\ \text{C11 and C14, with } \sum_{h\in H_1} \text{ a formal sum over a bound index}",
    derive=derive,
    check=check,
    refute=refute,
)
