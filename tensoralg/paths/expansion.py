"""Path expansion of the logits (OV side) and of a head's scores (QK side), term by term.

With the attention patterns held fixed, an attention-only transformer is the linear map
(CLAIMS C12)

    T = (Id⊗W_U) Π_{l=L−1..0} (Id + Σ_{h∈H_l} A^{l,h}⊗W_OV^{l,h}) (Id⊗W_E),

and multiplying out by (A⊗B)(C⊗D) = AC⊗BD gives one term per path, a choice of at
most one head in each layer. The path through heads (l₁,h₁), …, (l_k,h_k),
l₁ < … < l_k, is the term

    A^{l_k,h_k} ⋯ A^{l₁,h₁} ⊗ W_U W_OV^{l_k,h_k} ⋯ W_OV^{l₁,h₁} W_E

of order k: direct (k = 0, the bigram table), single-head (k = 1, skip-trigrams) or
virtual (k ≥ 2, V-composition). A path may also start at a source other than the
token: the position (the chain ends in W_pos, d_model × n_ctx, acting on the
position identity) or the output of the MLP after layer m, written MLP^{m}
(d_model × n_ctx, column i is what the MLP wrote at position i). An MLP is an
opaque nonlinear writer: its output is read off a forward pass, and only the
layers after it see it.

The scores S = X W_QK^{l,h} Xᵀ of head h in layer l read the residual stream X on
both sides, so they expand into pairs (query path, key path) of paths into layer l
(CLAIMS C14): A_q ⊗ A_k ⊗ S_qᵀ W_OV_qᵀ ⋯ W_QK^{l,h} ⋯ W_OV_k S_k, the form
W_QK read through two residual maps (:class:`tensoralg.algebra.expr.Bilinear`).

Terms are generated lazily, in order of increasing order; nothing is materialised.

>>> from tensoralg.algebra.architecture import Architecture
>>> from tensoralg.algebra.expr import sum_of
>>> arch = Architecture((1, 1))
>>> for term in iter_logit_terms(arch):
...     print(term.order, term.family, term.expr)
0 direct Id ⊗ W_U W_E
1 single-head A^{0,0} ⊗ W_U W_OV^{0,0} W_E
1 single-head A^{1,0} ⊗ W_U W_OV^{1,0} W_E
2 virtual A^{1,0} A^{0,0} ⊗ W_U W_OV^{1,0} W_OV^{0,0} W_E
>>> terms = [t.expr for t in iter_logit_terms(arch)]
>>> sum_of(terms, terms[0].shape) == unexpanded_logits(arch)
True
>>> print(next(t for t in iter_score_terms(arch, 1, 0) if t.family == "K-composition").expr)
Id ⊗ A^{0,0} ⊗ W_Eᵀ W_QK^{1,0} W_OV^{0,0} W_E
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations, product
from typing import Iterator, Sequence

import numpy as np

from ..algebra.architecture import Architecture
from ..errors import ArchitectureError
from ..algebra.expr import Atom, Bilinear, Expr, Identity, Product, Sum, Tensor, Transpose
from ..algebra.printing import to_latex
from ..models.model import ForwardPass, Model, forward
from ..algebra.symbols import D_MODEL, N_CTX, Symbol, declared_symbol, standard_symbol
from .term_counts import MLP, POSITION, TOKEN, order_pairs, sources

SOURCES = (TOKEN, POSITION, MLP)

#: The family of a logit term by order: 0, 1, and 2 or more heads.
LOGIT_FAMILIES = ("direct", "single-head", "virtual")
#: The family of a score term by (query side composes, key side composes).
SCORE_FAMILIES = {
    (False, False): "direct",
    (True, False): "Q-composition",
    (False, True): "K-composition",
    (True, True): "Q&K-composition",
}


def logit_family(order: int) -> str:
    """The family of a logit term of ``order`` heads: direct (0), single-head (1) or virtual (≥ 2).

    >>> [logit_family(k) for k in range(4)]
    ['direct', 'single-head', 'virtual', 'virtual']
    """
    if order < 0:
        raise ArchitectureError(f"a term's order is a number of heads, non-negative; got {order}")
    return LOGIT_FAMILIES[min(order, 2)]


def score_family(query_order: int, key_order: int) -> str:
    """The family of a score term by which sides pass heads: direct, Q-, K- or Q&K-composition.

    >>> score_family(0, 0), score_family(2, 0), score_family(0, 1), score_family(1, 3)
    ('direct', 'Q-composition', 'K-composition', 'Q&K-composition')
    """
    if query_order < 0 or key_order < 0:
        raise ArchitectureError(
            f"a score term's side orders are numbers of heads, non-negative; got query {query_order}, key {key_order}"
        )
    return SCORE_FAMILIES[query_order > 0, key_order > 0]


Head = tuple[int, int]


def mlp_symbol(layer: int) -> Symbol:
    """MLP^{m}: what the MLP after layer m wrote, as a d_model × n_ctx matrix (a column per position)."""
    return declared_symbol("MLP", D_MODEL, N_CTX, layer)


def source_symbol(source: str, source_layer: int | None = None) -> Symbol:
    """The matrix a path starts from: W_E (token), W_pos (position) or MLP^{m}."""
    if source == TOKEN:
        return standard_symbol("W_E")
    if source == POSITION:
        return standard_symbol("W_pos")
    return mlp_symbol(source_layer)


def _chain(symbols: Sequence[Symbol], space: str) -> Expr:
    if not symbols:
        return Identity(space)
    atoms = tuple(Atom(s) for s in symbols)
    return atoms[0] if len(atoms) == 1 else Product(atoms)


@dataclass(frozen=True, slots=True)
class Path:
    """A path into the residual stream: a source and the heads it passes, in forward order.

    Its map is A^{l_k,h_k}⋯A^{l₁,h₁} ⊗ W_OV^{l_k,h_k}⋯W_OV^{l₁,h₁} S, with S = W_E, W_pos or
    MLP^{m}; layers strictly increase along the path and come after an MLP source.
    """

    heads: tuple[Head, ...] = ()
    source: str = TOKEN
    source_layer: int | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ArchitectureError(f"a path starts at one of {', '.join(SOURCES)}; got {self.source!r}")
        if (self.source == MLP) != (self.source_layer is not None):
            raise ArchitectureError(
                f"only an MLP source has a source layer; got source {self.source!r} with layer {self.source_layer!r}"
            )
        previous = -1 if self.source_layer is None else self.source_layer
        for layer, head in self.heads:
            if layer <= previous or head < 0:
                raise ArchitectureError(
                    f"a path visits one head per layer in increasing layer order, after its source; "
                    f"got heads {list(self.heads)} from {self.source}"
                    + ("" if self.source_layer is None else f" {self.source_layer}")
                )
            previous = layer

    @property
    def order(self) -> int:
        """The number of heads on the path."""
        return len(self.heads)

    @property
    def family(self) -> str:
        return logit_family(len(self.heads))

    def pattern_symbols(self) -> tuple[Symbol, ...]:
        """A^{l_k,h_k}, …, A^{l₁,h₁}: later layers first (matrix-multiplication order)."""
        return tuple(standard_symbol("A", l, h) for l, h in reversed(self.heads))

    def writer_symbols(self) -> tuple[Symbol, ...]:
        """W_OV^{l_k,h_k}, …, W_OV^{l₁,h₁}, S: the residual chain, later layers first."""
        ovs = tuple(standard_symbol("W_OV", l, h) for l, h in reversed(self.heads))
        return ovs + (source_symbol(self.source, self.source_layer),)

    def positional_factor(self) -> Expr:
        """A^{l_k,h_k}⋯A^{l₁,h₁} (n_ctx × n_ctx), the identity for the direct path."""
        return _chain(self.pattern_symbols(), N_CTX)


@dataclass(frozen=True, slots=True)
class PathTerm(Path):
    """A term of the logits: a path read out by W_U.

    >>> term = PathTerm(((0, 1), (1, 2)), POSITION)
    >>> term.order, term.family
    (2, 'virtual')
    >>> print(term.expr)
    A^{1,2} A^{0,1} ⊗ W_U W_OV^{1,2} W_OV^{0,1} W_pos
    """

    def residual_chain(self) -> Expr:
        """W_U W_OV^{l_k,h_k}⋯W_OV^{l₁,h₁} S (n_vocab × n_vocab for tokens, n_vocab × n_ctx otherwise)."""
        return _chain((standard_symbol("W_U"),) + self.writer_symbols(), D_MODEL)

    @property
    def expr(self) -> Expr:
        """positional_factor ⊗ residual_chain; acting on t (tokens) or Id (position, MLP) it gives logits."""
        return Tensor((self.positional_factor(), self.residual_chain()))

    def _repr_latex_(self) -> str:
        """Jupyter: the term typeset, with its family."""
        return f"$\\displaystyle {to_latex(self.expr)} \\quad \\text{{({self.family})}}$"


@dataclass(frozen=True, slots=True)
class ScoreTerm:
    """A term of the scores of head ``head`` of layer ``layer``: a query path and a key path into that layer.

    Its expression is A_q ⊗ A_k ⊗ S_qᵀ W_OV^{q₁}ᵀ⋯W_OV^{q_a}ᵀ W_QK^{l,h} W_OV^{k_b}⋯W_OV^{k₁} S_k.

    >>> term = ScoreTerm(1, 0, Path(((0, 2),)), Path((), POSITION))
    >>> term.family, term.query_order, term.key_order
    ('Q-composition', 1, 0)
    >>> print(term.expr)
    A^{0,2} ⊗ Id ⊗ W_Eᵀ W_OV^{0,2}ᵀ W_QK^{1,0} W_pos
    """

    layer: int
    head: int
    query: Path
    key: Path

    def __post_init__(self) -> None:
        for side, path in (("query", self.query), ("key", self.key)):
            last = path.heads[-1][0] if path.heads else path.source_layer
            if last is not None and last >= self.layer:
                raise ArchitectureError(
                    f"the {side} path of a layer-{self.layer} score term must stay in earlier layers; "
                    f"it reaches layer {last}"
                )

    @property
    def query_order(self) -> int:
        return len(self.query.heads)

    @property
    def key_order(self) -> int:
        return len(self.key.heads)

    @property
    def order(self) -> int:
        """The number of OV circuits in the term, query side plus key side."""
        return len(self.query.heads) + len(self.key.heads)

    @property
    def family(self) -> str:
        return score_family(len(self.query.heads), len(self.key.heads))

    def residual_chain(self) -> Expr:
        """(query residual map)ᵀ W_QK^{l,h} (key residual map)."""
        query = tuple(Transpose(Atom(s)) for s in reversed(self.query.writer_symbols()))
        key = tuple(Atom(s) for s in self.key.writer_symbols())
        return Product(query + (Atom(standard_symbol("W_QK", self.layer, self.head)),) + key)

    @property
    def expr(self) -> Expr:
        return Tensor((self.query.positional_factor(), self.key.positional_factor(), self.residual_chain()))

    def _repr_latex_(self) -> str:
        """Jupyter: the term typeset, with its family."""
        return f"$\\displaystyle {to_latex(self.expr)} \\quad \\text{{({self.family})}}$"


# --- lazy generation -------------------------------------------------------------------


def paths_into(
    architecture: Architecture, stop: int | None, order: int, cls: type[Path] = Path
) -> Iterator[Path]:
    """Every path of exactly ``order`` heads into layer ``stop`` (None: the unembedding), lazily.

    Paths come in lexicographic order of their layers, then heads; each path's
    sources follow one another in the order of :func:`sources` (token, position,
    then the MLPs before its first head).
    """
    heads = architecture.heads
    stop = len(heads) if stop is None else stop
    choices = [tuple((l, h) for h in range(heads[l])) for l in range(stop)]
    used = [l for l in range(stop) if heads[l]]
    reach = sources(architecture, stop)
    for layers in combinations(used, order):
        first = layers[0] if layers else stop
        # An MLP source is read only by the layers after it, so only by paths whose heads all come later.
        starts = tuple((source, m) for source, m in reach if m is None or m < first)
        for chain in product(*(choices[l] for l in layers)):
            for source, m in starts:
                yield cls(chain, source, m)


def _max_order(max_order: int | None, layers: int) -> int:
    if max_order is None:
        return layers
    if max_order < 0:
        raise ArchitectureError(f"the maximum order must be non-negative; got {max_order}")
    return min(max_order, layers)


def iter_logit_terms(architecture: Architecture, max_order: int | None = None) -> Iterator[PathTerm]:
    """The terms of the logits of order ≤ ``max_order``, by increasing order, lazily."""
    for k in range(_max_order(max_order, architecture.n_layers) + 1):
        yield from paths_into(architecture, None, k, PathTerm)  # type: ignore[misc]


def iter_score_terms(
    architecture: Architecture, layer: int, head: int, max_order: int | None = None
) -> Iterator[ScoreTerm]:
    """The score terms of head ``head`` of layer ``layer``, each side of order ≤ ``max_order``, lazily.

    Grouped by (query order, key order) by increasing total order, query side first,
    so the groups of C14 come in its order: direct, Q-, K-, Q&K-composition.
    """
    architecture.check_head(layer, head)
    top = _max_order(max_order, layer)
    for a, b in order_pairs(range(top + 1)):
        for query in paths_into(architecture, layer, a):
            for key in paths_into(architecture, layer, b):
                yield ScoreTerm(layer, head, query, key)


# --- the unexpanded products, to tie the expansion to the algebra ------------------------


def _check_source(architecture: Architecture, stop: int, source: str, source_layer: int | None) -> None:
    if (source, source_layer) not in sources(architecture, stop):
        raise ArchitectureError(
            f"{source}" + ("" if source_layer is None else f" {source_layer}")
            + f" is not a source of layer {stop} for {architecture.describe()}"
        )


def residual_operator(
    architecture: Architecture, stop: int | None = None, source: str = TOKEN, source_layer: int | None = None
) -> Expr:
    """Π_{l=stop−1..start} (Id + Σ_{h∈H_l} A^{l,h}⊗W_OV^{l,h}) (Id⊗S), unexpanded.

    start is 0, or m+1 for the output of the MLP after layer m.
    """
    stop = architecture.n_layers if stop is None else stop
    _check_source(architecture, stop, source, source_layer)
    start = 0 if source_layer is None else source_layer + 1
    factors: list[Expr] = []
    for l in reversed(range(start, stop)):
        heads = tuple(
            Tensor((Atom(standard_symbol("A", l, h)), Atom(standard_symbol("W_OV", l, h))))
            for h in range(architecture.heads[l])
        )
        factors.append(Sum((Tensor((Identity(N_CTX), Identity(D_MODEL))),) + heads))
    factors.append(Tensor((Identity(N_CTX), Atom(source_symbol(source, source_layer)))))
    return factors[0] if len(factors) == 1 else Product(tuple(factors))


def unexpanded_logits(architecture: Architecture, source: str = TOKEN, source_layer: int | None = None) -> Expr:
    """T = (Id⊗W_U) Π_l (Id + Σ_h A^{l,h}⊗W_OV^{l,h}) (Id⊗S) for one source S."""
    readout = Tensor((Identity(N_CTX), Atom(standard_symbol("W_U"))))
    return Product((readout, residual_operator(architecture, None, source, source_layer)))


def unexpanded_scores(
    architecture: Architecture,
    layer: int,
    head: int,
    query: tuple[str, int | None] = (TOKEN, None),
    key: tuple[str, int | None] = (TOKEN, None),
) -> Expr:
    """W_QK^{l,h} read through the residual maps into layer l from the query and key sources."""
    architecture.check_head(layer, head)
    return Bilinear(
        Atom(standard_symbol("W_QK", layer, head)),
        residual_operator(architecture, layer, *query),
        residual_operator(architecture, layer, *key),
    )


# --- numeric values of terms ------------------------------------------------------------


def check_expandable(model: Model) -> None:
    """Raise ArchitectureError if the model has parts outside the path expansion.

    LayerNorm is not linear, and biases add constant terms no path carries.
    """
    if model.layer_norm:
        raise ArchitectureError("path expansion needs a model without LayerNorm (it is not linear in the residual stream)")
    if model.b_U is not None:
        raise ArchitectureError("path expansion needs a model without the unembedding bias b_U")
    for l, layer in enumerate(model.layers):
        for name in ("b_Q", "b_K", "b_V", "b_O"):
            if getattr(layer, name) is not None:
                raise ArchitectureError(f"path expansion needs attention layers without biases; layer {l} has {name}")


@dataclass(frozen=True, eq=False)
class TermValues:
    """Numeric values of terms on one input, with patterns and MLP outputs from a forward pass.

    The state a path writes into the stream is computed right to left with small
    products, X ↦ A X W_OVᵀ per head from the source state (t W_Eᵀ, W_posᵀ or the
    MLP's output), never as a Kronecker product. A logit term is that state times
    W_Uᵀ; a score term is state_q W_QK state_kᵀ (raw scores, before the score scale).
    ``patterns`` (one n_heads × n × n array per layer) freezes the patterns; without
    it the model's own softmax patterns are used.
    """

    model: Model
    tokens: np.ndarray
    patterns: tuple[np.ndarray, ...] | None = None
    run: ForwardPass = field(init=False)
    # W_OV and W_QK per layer, multiplied out once rather than per term.
    _ov: tuple[np.ndarray, ...] = field(init=False, repr=False)
    _qk: tuple[np.ndarray, ...] = field(init=False, repr=False)
    # Memo of path states by prefix, so a family of paths costs one product per path.
    _states: dict = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        check_expandable(self.model)
        tokens = np.asarray(self.tokens)
        object.__setattr__(self, "tokens", tokens)
        run = forward(self.model, tokens, self.patterns)
        object.__setattr__(self, "run", run)
        # In float64 like the forward pass, so that the terms of a float32 model (a loader's memory map) sum to its logits.
        def f64(array: np.ndarray) -> np.ndarray:
            return np.asarray(array, dtype=np.float64)

        object.__setattr__(self, "_ov", tuple(f64(layer.W_O) @ f64(layer.W_V) for layer in self.model.layers))
        object.__setattr__(self, "_qk", tuple(np.swapaxes(f64(layer.W_Q), -1, -2) @ f64(layer.W_K) for layer in self.model.layers))
        states = self._states
        states[(), TOKEN, None] = f64(self.model.W_E[:, tokens].T)
        if self.model.W_pos is not None:
            states[(), POSITION, None] = f64(self.model.W_pos[:, : tokens.size].T)
        for m, mlp in enumerate(self.model.mlps):
            if mlp is not None:
                # What the MLP wrote: the stream after it minus the stream before it and the heads' writes.
                states[(), MLP, m] = run.residuals[m + 1] - run.residuals[m] - run.head_outputs[m].sum(axis=0)

    def state(self, path: Path) -> np.ndarray:
        """(P⊗R)·X₀ = P X₀ Rᵀ for the path's map P⊗R and source state X₀ (n × d_model)."""
        key = (path.heads, path.source, path.source_layer)
        found = self._states.get(key)
        if found is not None:
            return found
        if not path.heads:
            where = "" if path.source_layer is None else f" after layer {path.source_layer}"
            raise ArchitectureError(f"the model has no {path.source} source{where}")
        l, h = path.heads[-1]
        if l >= len(self._ov) or h >= len(self._ov[l]):
            raise ArchitectureError(f"the model has no head {l}.{h}")
        before = self.state(Path(path.heads[:-1], path.source, path.source_layer))
        value = self.run.patterns[l][h] @ before @ self._ov[l][h].T
        self._states[key] = value
        return value

    def logits(self, term: PathTerm) -> np.ndarray:
        """The term's contribution to the logits (n × n_vocab)."""
        return self.state(term) @ self.model.W_U.T

    def scores(self, term: ScoreTerm) -> np.ndarray:
        """The term's contribution to the raw scores S of its head (n × n)."""
        return self.state(term.query) @ self._qk[term.layer][term.head] @ self.state(term.key).T
