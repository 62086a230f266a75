"""Numeric transformer models in the paper's column-vector convention.

This is the plain reference implementation of a forward pass, written without
the algebra so that path expansions can be checked against it. Shapes (CLAIMS.md):

    W_E  d_model × n_vocab      W_pos  d_model × n_ctx     W_U  n_vocab × d_model
    W_Q, W_K, W_V  n_heads × d_head × d_model              W_O  n_heads × d_model × d_head

A residual state X has a row per position. Head h of a layer computes
S = X W_Qᵀ W_K Xᵀ (plus biases), A = softmax*(s·S) with the causal mask, and
writes A X W_Vᵀ W_Oᵀ = (A⊗W_OV)·X. Logits are X W_Uᵀ + b_U.

>>> rng = np.random.default_rng(0)
>>> model = random_model(rng, heads=(2, 1), d_model=8, d_head=4, n_vocab=11, n_ctx=6)
>>> run = forward(model, np.array([1, 5, 2, 5]))
>>> run.logits.shape, [p.shape for p in run.patterns]
((4, 11), [(2, 4, 4), (1, 4, 4)])
>>> bool(np.allclose(run.patterns[0].sum(axis=-1), 1.0))
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

import numpy as np

from ..errors import ArchitectureError, ShapeError


def _frozen(array: np.ndarray | None) -> np.ndarray | None:
    """A read-only float array. A read-only float32/float64 array (a loader's view of a memory-mapped
    file) is kept as it is, so loading never copies; anything else is copied to float64."""
    if array is None:
        return None
    if isinstance(array, np.ndarray) and not array.flags.writeable and array.dtype in (np.float32, np.float64):
        return array
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class LayerNorm:
    """The parameters of a LayerNorm, LN(x) = γ ⊙ n(x) + β: ``w`` = γ and ``b`` = β (d_model each, β optional)."""

    w: np.ndarray
    b: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "w", _frozen(self.w))
        object.__setattr__(self, "b", _frozen(self.b))
        if self.w.ndim != 1 or (self.b is not None and self.b.shape != self.w.shape):
            raise ShapeError(f"LayerNorm weight and bias must be vectors of one length; got {self.w.shape} and "
                             f"{None if self.b is None else self.b.shape}")


@dataclass(frozen=True, eq=False)
class AttentionLayer:
    """The heads of one layer, stacked on a leading head axis (column-vector convention)."""

    W_Q: np.ndarray
    W_K: np.ndarray
    W_V: np.ndarray
    W_O: np.ndarray
    b_Q: np.ndarray | None = None
    b_K: np.ndarray | None = None
    b_V: np.ndarray | None = None
    b_O: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        n, d_head, d_model = self.W_Q.shape
        expected = {
            "W_Q": (n, d_head, d_model),
            "W_K": (n, d_head, d_model),
            "W_V": (n, d_head, d_model),
            "W_O": (n, d_model, d_head),
            "b_Q": (n, d_head),
            "b_K": (n, d_head),
            "b_V": (n, d_head),
            "b_O": (d_model,),
        }
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise ShapeError(f"{name} has shape {value.shape}; expected {shape} (n_heads, d_head, d_model = {n}, {d_head}, {d_model})")

    @property
    def n_heads(self) -> int:
        return self.W_Q.shape[0]

    @property
    def W_OV(self) -> np.ndarray:
        """W_O^h W_V^h for every head: n_heads × d_model × d_model."""
        return self.W_O @ self.W_V

    @property
    def W_QK(self) -> np.ndarray:
        """W_Q^hᵀ W_K^h for every head: n_heads × d_model × d_model."""
        return np.swapaxes(self.W_Q, -1, -2) @ self.W_K


@dataclass(frozen=True, eq=False)
class MLPLayer:
    """An MLP block x ↦ W_out φ(W_in x + b_in) + b_out, with φ elementwise."""

    W_in: np.ndarray
    W_out: np.ndarray
    b_in: np.ndarray | None = None
    b_out: np.ndarray | None = None
    activation: str = "gelu"

    def __post_init__(self) -> None:
        for name in ("W_in", "W_out", "b_in", "b_out"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        if self.activation not in ACTIVATIONS:
            raise ArchitectureError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")
        d_mlp, d_model = self.W_in.shape
        if self.W_out.shape != (d_model, d_mlp):
            raise ShapeError(f"W_out has shape {self.W_out.shape}; expected {(d_model, d_mlp)} to match W_in {self.W_in.shape}")


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


#: "gelu" is GPT-2's tanh approximation (Hugging Face's and TransformerLens's ``gelu_new``), also known by that name;
#: "gelu_erf" is the exact x·Φ(x) (what Hugging Face and TransformerLens call ``gelu``).
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gelu": _gelu, "gelu_new": _gelu, "gelu_erf": _gelu_erf, "relu": lambda x: np.maximum(x, 0.0),
}


@dataclass(frozen=True, eq=False)
class Model:
    """A transformer: embedding, attention layers (each optionally followed by an MLP), unembedding.

    ``layer_norm`` applies a LayerNorm before every attention layer, MLP and the
    unembedding (pre-LN, as GPT-2): LN(x) = γ ⊙ n(x) + β with n(x) = (x − μ𝟙)/√(var + ε),
    ε = ``ln_eps``. ``ln1[l]`` (before attention layer l), ``ln2[l]`` (before MLP l) and
    ``ln_final`` hold γ and β; None there means the parameter-free n(x) (TransformerLens's
    LNPre, what folding leaves). ``score_scale`` is s in A = softmax*(s·S); the paper absorbs
    it (s = 1), TransformerLens and GPT-2 use 1/√d_head.
    """

    W_E: np.ndarray
    W_U: np.ndarray
    layers: tuple[AttentionLayer, ...]
    W_pos: np.ndarray | None = None
    b_U: np.ndarray | None = None
    mlps: tuple[MLPLayer | None, ...] = field(default=())
    layer_norm: bool = False
    score_scale: float = 1.0
    ln1: tuple[LayerNorm | None, ...] = field(default=())
    ln2: tuple[LayerNorm | None, ...] = field(default=())
    ln_final: LayerNorm | None = None
    ln_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("W_E", "W_U", "W_pos", "b_U"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "layers", tuple(self.layers))
        mlps = tuple(self.mlps) or (None,) * len(self.layers)
        object.__setattr__(self, "mlps", mlps)
        for name in ("ln1", "ln2"):
            norms = tuple(getattr(self, name)) or (None,) * len(self.layers)
            object.__setattr__(self, name, norms)
            if len(norms) != len(self.layers):
                raise ArchitectureError(f"{len(norms)} {name} LayerNorms for {len(self.layers)} layers")
        norms = [(f"ln1[{l}]", n) for l, n in enumerate(self.ln1)] + [(f"ln2[{l}]", n) for l, n in enumerate(self.ln2)]
        norms = [(name, n) for name, n in norms + [("ln_final", self.ln_final)] if n is not None]
        if norms and not self.layer_norm:
            raise ArchitectureError(f"LayerNorm parameters ({norms[0][0]}) given for a model without LayerNorm (layer_norm=False)")
        if not (np.isfinite(self.ln_eps) and self.ln_eps > 0):
            raise ArchitectureError(f"the LayerNorm epsilon must be a positive number; got {self.ln_eps}")
        d_model, n_vocab = self.W_E.shape
        if self.W_U.shape != (n_vocab, d_model):
            raise ShapeError(f"W_U has shape {self.W_U.shape}; expected (n_vocab, d_model) = {(n_vocab, d_model)}")
        if self.W_pos is not None and self.W_pos.shape[0] != d_model:
            raise ShapeError(f"W_pos has shape {self.W_pos.shape}; expected (d_model, n_ctx) with d_model = {d_model}")
        if self.b_U is not None and self.b_U.shape != (n_vocab,):
            raise ShapeError(f"b_U has shape {self.b_U.shape}; expected ({n_vocab},)")
        if len(mlps) != len(self.layers):
            raise ArchitectureError(f"{len(mlps)} MLP slots for {len(self.layers)} layers")
        for l, layer in enumerate(self.layers):
            if layer.W_Q.shape[2] != d_model:
                raise ShapeError(f"layer {l}: W_Q has shape {layer.W_Q.shape}; its d_model must be {d_model}")
        for l, mlp in enumerate(mlps):
            if mlp is not None and mlp.W_in.shape[1] != d_model:
                raise ShapeError(f"MLP {l}: W_in has shape {mlp.W_in.shape}; its d_model must be {d_model}")
        for name, norm in norms:
            if norm.w.shape != (d_model,):
                raise ShapeError(f"LayerNorm {name} has shape {norm.w.shape}; expected ({d_model},) = (d_model,)")

    @property
    def d_model(self) -> int:
        return self.W_E.shape[0]

    @property
    def n_vocab(self) -> int:
        return self.W_E.shape[1]

    @property
    def n_ctx(self) -> int | None:
        return None if self.W_pos is None else self.W_pos.shape[1]

    @property
    def heads(self) -> tuple[int, ...]:
        """Heads per layer, e.g. (4, 4)."""
        return tuple(layer.n_heads for layer in self.layers)

    @property
    def head_labels(self) -> tuple[tuple[int, int], ...]:
        """(layer, head) of every head, layer by layer: the order of stacked per-head results."""
        return tuple((l, h) for l, layer in enumerate(self.layers) for h in range(layer.n_heads))


@dataclass(frozen=True, eq=False)
class ForwardPass:
    """Everything a forward pass computed, per layer: the residual stream entering it, scores, patterns."""

    tokens: np.ndarray
    residuals: tuple[np.ndarray, ...]  # entering layer 0, 1, …, and the final stream
    scores: tuple[np.ndarray, ...]  # n_heads × n × n raw scores S (before scale and mask)
    patterns: tuple[np.ndarray, ...]  # n_heads × n × n
    head_outputs: tuple[np.ndarray, ...]  # n_heads × n × d_model
    logits: np.ndarray | None  # n × n_vocab (None when not asked for)


def layer_norm(x: np.ndarray, eps: float = 1e-5, norm: LayerNorm | None = None) -> np.ndarray:
    """LayerNorm of each row: n(x) = (x − mean) / √(var + ε) (biased variance, as torch), then γ ⊙ n(x) + β."""
    centred = x - x.mean(axis=-1, keepdims=True)
    out = centred / np.sqrt((centred**2).mean(axis=-1, keepdims=True) + eps)
    if norm is not None:
        out = out * norm.w + (0 if norm.b is None else norm.b)
    return out


def _read(model: Model, x: np.ndarray, norm: LayerNorm | None) -> np.ndarray:
    """What a reader sees: LN(x) in a LayerNorm model, else x itself."""
    return layer_norm(x, model.ln_eps, norm) if model.layer_norm else x


def causal_softmax(scores: np.ndarray) -> np.ndarray:
    """softmax* over the last axis with A[i, j] = 0 for j > i (rows sum to 1)."""
    n = scores.shape[-1]
    mask = np.tril(np.ones((n, n), dtype=bool))
    masked = np.where(mask, scores, -np.inf)
    masked = masked - masked.max(axis=-1, keepdims=True)
    weights = np.exp(masked)
    return weights / weights.sum(axis=-1, keepdims=True)


def one_hot(tokens: np.ndarray, n_vocab: int) -> np.ndarray:
    """t: a row per position, t[i, tokens[i]] = 1 (n × n_vocab)."""
    # not np.eye(n_vocab)[tokens], which holds n_vocab² floats (20 GB at GPT-2's vocabulary)
    return (np.asarray(tokens)[..., None] == np.arange(n_vocab)).astype(np.float64)


def _check_tokens(model: Model, tokens: np.ndarray) -> np.ndarray:
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or tokens.size == 0 or not np.issubdtype(tokens.dtype, np.integer):
        raise ShapeError(f"tokens must be a non-empty 1-D integer array; got shape {tokens.shape}, dtype {tokens.dtype}")
    if tokens.min() < 0 or tokens.max() >= model.n_vocab:
        raise ShapeError(f"tokens must lie in [0, {model.n_vocab}); got {tokens.min()}..{tokens.max()}")
    if model.n_ctx is not None and tokens.size > model.n_ctx:
        raise ShapeError(f"{tokens.size} tokens exceed n_ctx = {model.n_ctx}")
    return tokens


@dataclass(frozen=True, eq=False)
class LayerRun:
    """One attention layer of a batched run: S sequences × H heads × n positions."""

    layer: int
    residual: np.ndarray  # S × n × d_model, entering the layer
    scores: np.ndarray  # S × H × n × n raw scores (before scale and mask)
    patterns: np.ndarray  # S × H × n × n
    head_outputs: np.ndarray  # S × H × n × d_model


def _heads_read(read: np.ndarray, W: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """W_h x for every head and position as one GEMM: (S·n × d)(d × H·k) → S × H × n × k."""
    S, n, d = read.shape
    H, k, _ = W.shape
    out = (read.reshape(S * n, d) @ W.reshape(H * k, d).T).reshape(S, n, H, k).transpose(0, 2, 1, 3)
    return out if bias is None else out + bias[None, :, None, :]


def iter_layers(
    model: Model,
    tokens: np.ndarray,
    patterns: Sequence[np.ndarray] | None = None,
    dtype: type = np.float64,
) -> Iterator[LayerRun | np.ndarray]:
    """Run S sequences of n tokens (an S × n integer array) at once, yielding a :class:`LayerRun`
    per layer as it is computed (so a caller can reduce it and let it go) and finally the
    S × n × d_model residual stream after the last layer.

    The embedding is W_E[:, tokens] (indexing, not a one-hot product); every projection is one
    GEMM over all sequences, positions and heads. ``dtype`` is the precision of the run (float64 by
    default, whatever the weights' precision); each layer's weights are cast to it as the layer is reached. ``patterns`` (per
    layer S × H × n × n, or H × n × n for S = 1) freeze the attention (C20).
    """
    dtype = np.dtype(dtype)
    S, n = tokens.shape
    x = np.ascontiguousarray(np.moveaxis(model.W_E[:, tokens], 0, -1), dtype=dtype)
    if model.W_pos is not None:
        x += model.W_pos[:, :n].T.astype(dtype, copy=False)
    causal = np.triu(np.full((n, n), -np.inf, dtype=dtype), 1)
    cast = lambda a: None if a is None else a.astype(dtype, copy=False)  # noqa: E731
    for l, (layer, mlp) in enumerate(zip(model.layers, model.mlps)):
        read = _read(model, x, model.ln1[l])
        q = _heads_read(read, cast(layer.W_Q), cast(layer.b_Q))
        k = _heads_read(read, cast(layer.W_K), cast(layer.b_K))
        v = _heads_read(read, cast(layer.W_V), cast(layer.b_V))
        # n × n per sequence and head is tiny: einsum's own loop beats thousands of small BLAS calls
        scores = np.einsum("shik,shjk->shij", q, k)
        if patterns is None:
            pattern = scores * dtype.type(model.score_scale) + causal
            pattern -= pattern.max(axis=-1, keepdims=True)
            np.exp(pattern, out=pattern)
            pattern /= pattern.sum(axis=-1, keepdims=True)
        else:
            pattern = np.asarray(patterns[l], dtype=dtype)
            if pattern.shape[-3:] != (layer.n_heads, n, n) or pattern.ndim not in (3, 4):
                raise ShapeError(f"frozen patterns of layer {l} have shape {pattern.shape}; expected {(layer.n_heads, n, n)}")
            pattern = np.broadcast_to(pattern, (S, layer.n_heads, n, n))
        z = np.einsum("shij,shjk->hsik", pattern, v).reshape(layer.n_heads, S * n, v.shape[-1])  # H × S·n × d_head
        out = (z @ np.swapaxes(cast(layer.W_O), -1, -2)).reshape(layer.n_heads, S, n, x.shape[-1]).swapaxes(0, 1)  # S × H × n × d
        yield LayerRun(l, x, scores, pattern, out)
        x = x + out.sum(axis=1)
        if layer.b_O is not None:
            x += cast(layer.b_O)
        if mlp is not None:
            read = _read(model, x, model.ln2[l]).reshape(S * n, -1)
            pre = read @ cast(mlp.W_in).T + (0 if mlp.b_in is None else cast(mlp.b_in))
            x = x + (ACTIVATIONS[mlp.activation](pre) @ cast(mlp.W_out).T + (0 if mlp.b_out is None else cast(mlp.b_out))).reshape(S, n, -1)
    yield x


def forward(
    model: Model, tokens: np.ndarray, patterns: Sequence[np.ndarray] | None = None, *, logits: bool = True
) -> ForwardPass:
    """Run the model on ``tokens``; with ``patterns`` given (one n_heads × n × n array per
    layer) those frozen patterns replace the softmax, which makes the model linear in
    its input (CLAIMS C20). ``logits=False`` skips the n × n_vocab unembedding (``logits`` is None).
    Computed in float64."""
    tokens = _check_tokens(model, tokens)
    if patterns is not None and len(patterns) != len(model.layers):
        raise ShapeError(f"{len(patterns)} frozen pattern arrays for {len(model.layers)} layers")
    *runs, x = iter_layers(model, tokens[None, :], patterns)
    x = x[0]
    residuals = tuple(run.residual[0] for run in runs) + (x,)
    final = _read(model, x, model.ln_final)
    out = final @ model.W_U.T + (0 if model.b_U is None else model.b_U) if logits else None
    return ForwardPass(tokens, residuals, tuple(r.scores[0] for r in runs), tuple(r.patterns[0] for r in runs),
                       tuple(r.head_outputs[0] for r in runs), out)


def random_model(
    rng: np.random.Generator,
    heads: Sequence[int] = (2, 2),
    *,
    d_model: int = 16,
    d_head: int = 4,
    n_vocab: int = 20,
    n_ctx: int = 8,
    positional: bool = False,
    mlp: bool = False,
    d_mlp: int | None = None,
    layer_norm: bool = False,
    score_scale: float | None = None,
    layer_norm_weights: bool = False,
    biases: bool = False,
) -> Model:
    """A model with Gaussian weights scaled by 1/√fan_in, drawn from ``rng``.

    ``heads`` lists the heads of each layer; ``mlp`` adds a GELU MLP after every
    attention layer. ``score_scale`` defaults to 1/√d_head as in TransformerLens.
    ``layer_norm_weights`` (with ``layer_norm``) draws every LayerNorm's γ ~ 1 + N(0, 0.3²)
    and β ~ N(0, 0.3²); ``biases`` draws b_Q, b_K, b_V, b_O, b_out and b_U ~ N(0, 0.3²).
    Both are drawn after everything else, so the other weights do not depend on them.
    """
    heads = tuple(heads)
    if any(h < 0 for h in heads):
        raise ArchitectureError(f"heads per layer must be non-negative; got {list(heads)}")
    for name, value in (("d_model", d_model), ("d_head", d_head), ("n_vocab", n_vocab), ("n_ctx", n_ctx)):
        if value < 1:
            raise ArchitectureError(f"{name} must be positive; got {value}")

    def gauss(*shape: int) -> np.ndarray:
        return rng.normal(size=shape) / np.sqrt(shape[-1])

    layers = tuple(
        AttentionLayer(gauss(h, d_head, d_model), gauss(h, d_head, d_model), gauss(h, d_head, d_model), gauss(h, d_model, d_head))
        for h in heads
    )
    d_mlp = d_mlp or 4 * d_model
    mlps = tuple(MLPLayer(gauss(d_mlp, d_model), gauss(d_model, d_mlp), rng.normal(size=d_mlp) * 0.1) if mlp else None for _ in heads)
    model = Model(
        W_E=rng.normal(size=(d_model, n_vocab)),
        W_U=gauss(n_vocab, d_model),
        layers=layers,
        W_pos=rng.normal(size=(d_model, n_ctx)) if positional else None,
        mlps=mlps,
        layer_norm=layer_norm,
        score_scale=1.0 / np.sqrt(d_head) if score_scale is None else score_scale,
    )
    if biases:
        model = replace(
            model, b_U=0.3 * rng.normal(size=n_vocab),
            layers=tuple(replace(l, **{f"b_{x}": 0.3 * rng.normal(size=(l.n_heads, d_head)) for x in "QKV"},
                                 b_O=0.3 * rng.normal(size=d_model)) for l in layers),
            mlps=tuple(None if m is None else replace(m, b_out=0.3 * rng.normal(size=d_model)) for m in mlps),
        )
    if layer_norm and layer_norm_weights:
        def norm() -> LayerNorm:
            return LayerNorm(1.0 + 0.3 * rng.normal(size=d_model), 0.3 * rng.normal(size=d_model))

        model = replace(model, ln1=tuple(norm() for _ in heads), ln2=tuple(None if m is None else norm() for m in mlps),
                        ln_final=norm())
    return model


def with_weights(model: Model, **changes) -> Model:
    """A copy of ``model`` with some fields replaced (models are immutable)."""
    return replace(model, **changes)
