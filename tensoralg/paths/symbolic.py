"""The path expansion for every number of heads: the paper's Σ-form (CLAIMS C12, C14, C27).

With symbolic index sets (:mod:`tensoralg.algebra.index_sets`) the product

    T = (Id⊗W_U) Π_{l=L..1} (Id + Σ_{h∈H_l} A^h⊗W_OV^h) (Id⊗W_E)

multiplies out into one Σ-term per set of layers, not per path: for L = 2

    Id⊗W_U W_E + Σ_{h∈H1} A^h⊗W_U W_OV^h W_E + Σ_{h∈H2} … + Σ_{h1∈H1, h2∈H2} A^{h2}A^{h1}⊗W_U W_OV^{h2}W_OV^{h1} W_E,

2^L terms (each source — W_E, W_pos, the output MLP^{m} of an MLP — has its own), and the
order of a term is its number of bound heads. The scores of a head of layer l are W_QK read
through two such residual maps into layer l: 4^{l} Σ-terms, grouped by (query, key) order.

>>> terms = logit_terms(2)
>>> [(t.order, t.family) for t in terms]
[(0, 'direct'), (1, 'single-head'), (1, 'single-head'), (2, 'virtual')]
>>> print(terms[-1].expr)
Σ_{h1∈H1, h2∈H2} A^{h2} A^{h1} ⊗ W_U W_OV^{h2} W_OV^{h1} W_E
"""

from __future__ import annotations

from dataclasses import dataclass

from ..algebra.expr import Atom, Bilinear, Expr, Identity, IndexedSum, Product, Sum, Tensor, canonical_tree
from ..algebra.index_sets import is_bound, named_index, variables
from ..algebra.normal_form import NormalForm
from ..algebra.symbols import D_MODEL, N_CTX, standard_symbol
from ..errors import ArchitectureError
from .expansion import logit_family, score_family, source_symbol
from .term_counts import MLP, POSITION, TOKEN

#: The most layers the symbolic expansion multiplies out (2^L Σ-terms, 4^L for scores).
MAX_LAYERS = 12


@dataclass(frozen=True)
class SymbolicTerm:
    """One Σ-term: its order (heads it passes, query and key for scores), family, source and expression."""

    order: int
    family: str
    source: str
    expr: Expr
    query_order: int | None = None
    key_order: int | None = None


def _layer(l: int) -> Expr:
    h = named_index("h")
    head = Tensor((Atom(standard_symbol("A", l, 0)._replace(indices=(l, h))),
                   Atom(standard_symbol("W_OV", l, 0)._replace(indices=(l, h)))))
    return Sum((Tensor((Identity(N_CTX), Identity(D_MODEL))), IndexedSum(((h, l),), head)))


def residual_map(stop: int, source: str = TOKEN, source_layer: int | None = None) -> Expr:
    """Π_{l=stop..start+1} (Id + Σ_{h∈H_l} A^h⊗W_OV^h) (Id⊗S), over heads of unknown number."""
    start = 0 if source_layer is None else source_layer + 1
    factors = [_layer(l) for l in reversed(range(start, stop))]
    factors.append(Tensor((Identity(N_CTX), Atom(source_symbol(source, source_layer)))))
    return factors[0] if len(factors) == 1 else Product(tuple(factors))


def _sources(layers: int, positional: bool, mlp: bool) -> list[tuple[str, int | None]]:
    found: list[tuple[str, int | None]] = [(TOKEN, None)]
    if positional:
        found.append((POSITION, None))
    if mlp:
        found += [(MLP, m) for m in range(layers)]
    return found


def _check(layers: int) -> None:
    if not 0 <= layers <= MAX_LAYERS:
        raise ArchitectureError(f"the symbolic expansion takes 0 to {MAX_LAYERS} layers; got {layers}")


def _terms(nf: NormalForm) -> list[tuple[Expr, tuple]]:
    return [(canonical_tree(NormalForm(nf.shape, {key: c}, nf.variables)), key) for key, c in nf.sorted_terms]


def _bound(word_key: tuple) -> int:
    return sum(1 for v in variables(word_key) if is_bound(v))


def logit_terms(layers: int, positional: bool = False, mlp: bool = False) -> list[SymbolicTerm]:
    """The Σ-terms of T for every number of heads, by source then order."""
    _check(layers)
    readout = Tensor((Identity(N_CTX), Atom(standard_symbol("W_U"))))
    out: list[SymbolicTerm] = []
    for source, m in _sources(layers, positional, mlp):
        nf = Product((readout, residual_map(layers, source, m))).normal_form
        label = source if m is None else f"mlp:{m}"
        for expr, key in _terms(nf):
            order = _bound(key)
            out.append(SymbolicTerm(order, logit_family(order), label, expr))
    return sorted(out, key=lambda t: t.order)


def score_terms(layers: int, layer: int, head: int, positional: bool = False, mlp: bool = False) -> list[SymbolicTerm]:
    """The Σ-terms of the scores of head ``head`` of layer ``layer`` (0-based), for every number of
    heads in the layers before it; the query and key sides each read every source."""
    _check(layers)
    if not 0 <= layer < max(layers, 1) or head < 0:
        raise ArchitectureError(f"--qk {layer}.{head}: the layer must be one of 0…{layers - 1}")
    form = Atom(standard_symbol("W_QK", layer, head))
    out: list[SymbolicTerm] = []
    sources = [s for s in _sources(layers, positional, mlp) if s[1] is None or s[1] < layer]
    for q_source, qm in sources:
        for k_source, km in sources:
            nf = Bilinear(form, residual_map(layer, q_source, qm), residual_map(layer, k_source, km)).normal_form
            label = "/".join(s if m is None else f"mlp:{m}" for s, m in ((q_source, qm), (k_source, km)))
            for expr, key in _terms(nf):
                a, b = _bound((key[0],)), _bound((key[1],))
                out.append(SymbolicTerm(a + b, score_family(a, b), label, expr, a, b))
    return sorted(out, key=lambda t: (t.order, t.key_order))
