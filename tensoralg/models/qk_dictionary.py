"""Query and key transcoders of one attention layer and their bilinear feature map (CLAIMS C19).

A query transcoder and a key transcoder read the residual stream x entering layer L (through
the model's parameter-free LayerNorm n(x) when it has one) and write every head's query and
key, stacked as n_head·d_head vectors:

    a_Q = ReLU(E_Q x + c_Q)      q̂ = D_Q a_Q + b_Q      (E_Q: d_hidden_Q × d_model, D_Q: n_head·d_head × d_hidden_Q)
    a_K = ReLU(E_K x + c_K)      k̂ = D_K a_K + b_K

Per head h (rows h·d_head … (h+1)·d_head − 1 of D and b) the score of destination i on source j is

    q̂_iᵀ k̂_j = a_Q,iᵀ M_h a_K,j + b_Qᵀ D_K a_K,j + a_Q,iᵀ D_Qᵀ b_K + b_Qᵀ b_K,
    M[p, r, h] = ⟨D_Q[:, p]_h, D_K[:, r]_h⟩        (the feature map, d_hidden_Q × d_hidden_K × n_head).

The last two terms depend on i only and drop out of the pattern (C15); the key-feature ×
query-bias term b_Qᵀ D_K a_K does not (C19). A mask m of M's shape gives the masked scores
a_Qᵀ (M ⊙ m) a_K (+ b_Qᵀ D_K a_K when ``query_bias_term``), equal to the transcoders' scores
when m is all ones. A dictionary is stored as safetensors (never pickle) with its metadata
(model reference, layer, figures measured after training) as JSON; :func:`read_dictionary`
names the first missing key or wrong shape.

>>> rng = np.random.default_rng(0)
>>> d = random_dictionary(rng, n_heads=2, d_head=3, d_model=5, d_hidden=(4, 6))
>>> d.feature_map().shape
(4, 6, 2)
>>> x = rng.normal(size=(7, 5))
>>> exact = np.einsum("hie,hje->hij", d.queries(x), d.keys(x))
>>> bool(np.allclose(d.score_terms(x, np.ones((4, 6, 2))).total, exact))
True
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import WeightsError
from .model import Model, causal_softmax, layer_norm
from .toy_models import induction_model
from .registry import resolve, shipped_models
from .tensor_files import write_safetensors
from .weights import read_arrays

#: File keys: (name, axes). Masks are optional (a dictionary after step 1 only has none).
_KEYS = (
    ("W_enc_Q", ("d_hidden_Q", "d_model")), ("b_enc_Q", ("d_hidden_Q",)),
    ("D_Q", ("n_head·d_head", "d_hidden_Q")), ("b_Q", ("n_head·d_head",)),
    ("W_enc_K", ("d_hidden_K", "d_model")), ("b_enc_K", ("d_hidden_K",)),
    ("D_K", ("n_head·d_head", "d_hidden_K")), ("b_K", ("n_head·d_head",)),
)
_MASKS = ("mask", "mask_without_bias_term", "mask_shuffled")
_CONFIG = ("config.layer", "config.n_heads", "config.score_scale", "config.layer_norm", "config.ln_eps")

#: Dictionaries trained by ``tensoralg qk-dictionary`` and shipped with the package, by name.
SHIPPED_DIR = Path(__file__).parent / "shipped" / "qk"


def _frozen(array: np.ndarray | None) -> np.ndarray | None:
    if array is None:
        return None
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class ScoreTerms:
    """The four terms of C19 per head, each (…, n_head, n, n): score = sum of them."""

    bilinear: np.ndarray  # a_Qᵀ (M ⊙ m) a_K
    key_bias: np.ndarray  # b_Qᵀ D_K a_K   (depends on the source: changes the pattern)
    query_bias: np.ndarray  # a_Qᵀ D_Qᵀ b_K (depends on the destination only)
    constant: np.ndarray  # b_Qᵀ b_K       (one number per head)

    @property
    def total(self) -> np.ndarray:
        return self.bilinear + self.key_bias + self.query_bias + self.constant


@dataclass(frozen=True, eq=False)
class QKDictionary:
    """Query and key transcoders of ``layer`` (shapes in the module docstring) and their masks.

    ``mask`` is the step-2 mask trained with the b_Qᵀ D_K a_K term in the scores,
    ``mask_without_bias_term`` the one trained without it (the post's formula), ``mask_shuffled``
    the negative control trained with source positions shuffled. ``model`` names the model
    (a shipped name or a path); ``info`` holds the training configuration and measured figures.
    """

    layer: int
    n_heads: int
    W_enc_Q: np.ndarray
    b_enc_Q: np.ndarray
    D_Q: np.ndarray
    b_Q: np.ndarray
    W_enc_K: np.ndarray
    b_enc_K: np.ndarray
    D_K: np.ndarray
    b_K: np.ndarray
    score_scale: float = 1.0
    layer_norm: bool = False
    ln_eps: float = 1e-5
    mask: np.ndarray | None = None
    mask_without_bias_term: np.ndarray | None = None
    mask_shuffled: np.ndarray | None = None
    model: str = ""
    info: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, _ in _KEYS:
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        for name in _MASKS:
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        for name in ("score_scale", "ln_eps"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise WeightsError(f"config.{name} must be a positive number; got {getattr(self, name)}")
        _check_shapes({name: getattr(self, name) for name, _ in _KEYS}
                      | {m: getattr(self, m) for m in _MASKS if getattr(self, m) is not None}, self.n_heads)

    @property
    def d_model(self) -> int:
        return self.W_enc_Q.shape[1]

    @property
    def d_head(self) -> int:
        return self.D_Q.shape[0] // self.n_heads

    @property
    def d_hidden(self) -> tuple[int, int]:
        """(d_hidden_Q, d_hidden_K)."""
        return self.D_Q.shape[1], self.D_K.shape[1]

    def read(self, residual: np.ndarray) -> np.ndarray:
        """What the transcoders read: the parameter-free n(x) = (x − μ𝟙)/√(var + ε) in a LayerNorm
        model (the post's normalised residual stream; γ and β are the transcoders' to learn), else x."""
        return layer_norm(residual, self.ln_eps) if self.layer_norm else np.asarray(residual, dtype=np.float64)

    def encode(self, residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a_Q, a_K) = (ReLU(E_Q x + c_Q), ReLU(E_K x + c_K)) for residuals (…, n, d_model)."""
        x = self.read(residual)
        if x.shape[-1] != self.d_model:
            raise WeightsError(f"residual stream has width {x.shape[-1]}; the dictionary reads d_model = {self.d_model}")
        return np.maximum(x @ self.W_enc_Q.T + self.b_enc_Q, 0.0), np.maximum(x @ self.W_enc_K.T + self.b_enc_K, 0.0)

    def _per_head(self, vectors: np.ndarray) -> np.ndarray:
        """(…, n, n_head·d_head) → (…, n_head, n, d_head)."""
        split = vectors.reshape(vectors.shape[:-1] + (self.n_heads, self.d_head))
        return np.moveaxis(split, -2, -3)

    def queries(self, residual: np.ndarray) -> np.ndarray:
        """q̂ = D_Q a_Q + b_Q per head: (…, n_head, n, d_head)."""
        return self._per_head(self.encode(residual)[0] @ self.D_Q.T + self.b_Q)

    def keys(self, residual: np.ndarray) -> np.ndarray:
        """k̂ = D_K a_K + b_K per head: (…, n_head, n, d_head)."""
        return self._per_head(self.encode(residual)[1] @ self.D_K.T + self.b_K)

    def feature_map(self) -> np.ndarray:
        """M[p, r, h] = ⟨D_Q[:, p]_h, D_K[:, r]_h⟩ (d_hidden_Q × d_hidden_K × n_head)."""
        return feature_map(self.D_Q, self.D_K, self.n_heads)

    def score_terms(self, residual: np.ndarray, mask: np.ndarray | None = None, acts=None) -> ScoreTerms:
        """The terms of C19 with the bilinear one masked (``mask`` None: the dictionary's own
        mask, ones if it has none). ``acts`` = (a_Q, a_K) skips encoding."""
        a_q, a_k = self.encode(residual) if acts is None else acts
        m = self.feature_map()
        mask = (self.mask if self.mask is not None else np.ones_like(m)) if mask is None else np.asarray(mask, float)
        if mask.shape != m.shape:
            raise WeightsError(f"mask has shape {mask.shape}; expected the feature map's {m.shape} (d_hidden_Q, d_hidden_K, n_head)")
        bq, bk = self.b_Q.reshape(self.n_heads, self.d_head), self.b_K.reshape(self.n_heads, self.d_head)
        dq = self.D_Q.reshape(self.n_heads, self.d_head, -1)
        dk = self.D_K.reshape(self.n_heads, self.d_head, -1)
        weights = m * mask
        p, q, h = weights.shape
        # a_Q (M ⊙ m)_h a_Kᵀ with two BLAS products: (… n × p)(p × q·h) → … h × n × q, then × a_Kᵀ
        left = np.moveaxis((a_q @ weights.reshape(p, q * h)).reshape(a_q.shape[:-1] + (q, h)), -1, -3)
        # contiguous operands keep numpy's matmul on BLAS (a strided one falls back to a slow loop)
        bilinear = np.ascontiguousarray(left) @ np.ascontiguousarray(np.swapaxes(a_k, -1, -2))[..., None, :, :]
        key_bias = np.einsum("he,heq,...jq->...hj", bq, dk, a_k)[..., None, :]
        query_bias = np.einsum("...ip,hep,he->...hi", a_q, dq, bk)[..., :, None]
        constant = np.einsum("he,he->h", bq, bk)[:, None, None]
        ones = np.ones(bilinear.shape)
        return ScoreTerms(bilinear, key_bias * ones, query_bias * ones, constant * ones)

    def masked_pattern(self, residual: np.ndarray, mask: np.ndarray | None = None, *, query_bias_term: bool = True,
                       acts=None) -> np.ndarray:
        """softmax*(s·(a_Qᵀ (M ⊙ m) a_K [+ b_Qᵀ D_K a_K])) per head; the query-only terms drop out (C15)."""
        terms = self.score_terms(residual, mask, acts)
        scores = terms.bilinear + (terms.key_bias if query_bias_term else 0.0)
        return causal_softmax(self.score_scale * scores)

    def transcoder_pattern(self, residual: np.ndarray) -> np.ndarray:
        """softmax*(s·q̂ k̂ᵀ) per head, from the reconstructed queries and keys."""
        scores = np.einsum("...hie,...hje->...hij", self.queries(residual), self.keys(residual))
        return causal_softmax(self.score_scale * scores)

    def arrays(self) -> dict[str, np.ndarray]:
        """The file's tensors (masks only when present) and config scalars."""
        out = {name: getattr(self, name) for name, _ in _KEYS}
        out |= {m: getattr(self, m) for m in _MASKS if getattr(self, m) is not None}
        out |= {"config.layer": np.array(float(self.layer)), "config.n_heads": np.array(float(self.n_heads)),
                "config.score_scale": np.array(float(self.score_scale)), "config.layer_norm": np.array(float(self.layer_norm)),
                "config.ln_eps": np.array(float(self.ln_eps))}
        return out


def feature_map(D_Q: np.ndarray, D_K: np.ndarray, n_heads: int) -> np.ndarray:
    """M[p, r, h] = ⟨D_Q[:, p]_h, D_K[:, r]_h⟩ for decoders of shape (n_heads·d_head) × d_hidden.

    >>> D_Q = np.array([[1.0, 0.0], [0.0, 2.0]]); D_K = np.array([[3.0], [4.0]])
    >>> feature_map(D_Q, D_K, 1)[:, :, 0].tolist(), feature_map(D_Q, D_K, 2)[:, 0, :].tolist()
    ([[3.0], [8.0]], [[3.0, 0.0], [0.0, 8.0]])
    """
    q = D_Q.reshape(n_heads, -1, D_Q.shape[1])
    k = D_K.reshape(n_heads, -1, D_K.shape[1])
    return np.einsum("hdi,hdj->ijh", q, k)


def _check_shapes(arrays: Mapping[str, np.ndarray], n_heads: int) -> None:
    """Every tensor has its axes' sizes, consistent across keys; the first misfit is named."""
    if n_heads < 1:
        raise WeightsError(f"config.n_heads must be positive; got {n_heads}")
    sizes: dict[str, int] = {}
    table = dict(_KEYS) | {m: ("d_hidden_Q", "d_hidden_K", "n_head") for m in _MASKS}
    for name, value in arrays.items():
        axes = table[name]
        if value.ndim != len(axes):
            raise WeightsError(f"{name} has shape {value.shape}; expected {len(axes)} axes ({', '.join(axes)})")
        for axis, n in zip(axes, value.shape):
            if sizes.setdefault(axis, n) != n:
                raise WeightsError(f"{name} has shape {value.shape}: its {axis} is {n} but another tensor has {sizes[axis]}")
        if not np.isfinite(value).all():
            raise WeightsError(f"{name} (shape {value.shape}) has NaN/Inf values")
    if sizes.get("n_head", n_heads) != n_heads:
        raise WeightsError(f"the masks have {sizes['n_head']} heads but config.n_heads is {n_heads}")
    if sizes["n_head·d_head"] % n_heads:
        raise WeightsError(f"decoders write {sizes['n_head·d_head']} = n_head·d_head values, not a multiple of n_head = {n_heads}")


def random_dictionary(rng: np.random.Generator, n_heads: int = 2, d_head: int = 3, d_model: int = 8,
                      d_hidden: tuple[int, int] = (6, 6), layer: int = 0, **options) -> QKDictionary:
    """A dictionary with Gaussian encoders, decoders and biases (for tests); ``options`` as QKDictionary's."""
    (fq, fk), w = d_hidden, n_heads * d_head
    return QKDictionary(layer, n_heads, rng.normal(size=(fq, d_model)), rng.normal(size=fq), rng.normal(size=(w, fq)),
                        rng.normal(size=w), rng.normal(size=(fk, d_model)), rng.normal(size=fk), rng.normal(size=(w, fk)),
                        rng.normal(size=w), **options)


def save_dictionary(dictionary: QKDictionary, path: str | Path) -> None:
    """Write ``dictionary`` to a .safetensors file; ``model`` and ``info`` go in its metadata as JSON."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise WeightsError(f"a dictionary is written as .safetensors; got {path.name!r}")
    metadata = {"model": dictionary.model, "info": json.dumps(dictionary.info, sort_keys=True)}
    write_safetensors({k: np.ascontiguousarray(v) for k, v in dictionary.arrays().items()}, path, metadata)


def read_dictionary(path: str | Path) -> QKDictionary:
    """Read and validate a dictionary file (one :class:`WeightsError` line for a missing key or shape)."""
    from safetensors import safe_open

    path = Path(path)
    if path.suffix != ".safetensors":
        raise WeightsError(f"a dictionary file is .safetensors; got {path.name!r}")
    arrays = read_arrays(path)
    for name in [k for k, _ in _KEYS] + list(_CONFIG):
        if name not in arrays:
            raise WeightsError(f"{path.name}: missing key {name}; is it a qk-dictionary file?")
    unknown = sorted(set(arrays) - {k for k, _ in _KEYS} - set(_MASKS) - set(_CONFIG))
    if unknown:
        raise WeightsError(f"{path.name}: unknown key {unknown[0]}")
    for name in _CONFIG:
        if arrays[name].size != 1:
            raise WeightsError(f"{path.name}: {name} has shape {arrays[name].shape}; expected a scalar")
        arrays[name] = arrays[name].reshape(())
    for name in ("config.layer", "config.n_heads"):
        if arrays[name] != int(arrays[name]) or arrays[name] < 0:
            raise WeightsError(f"{path.name}: {name} is {float(arrays[name])}; expected a non-negative integer")
    with safe_open(str(path), "np") as f:
        metadata = f.metadata() or {}
    try:
        info = json.loads(metadata.get("info", "{}"))
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path.name}: metadata 'info' is not JSON ({exc})") from None
    return QKDictionary(
        int(arrays["config.layer"]), int(arrays["config.n_heads"]),
        *(arrays[name] for name, _ in _KEYS),
        score_scale=float(arrays["config.score_scale"]), layer_norm=bool(arrays["config.layer_norm"]),
        ln_eps=float(arrays["config.ln_eps"]),
        **{m: arrays.get(m) for m in _MASKS}, model=metadata.get("model", ""), info=info,
    )


def shipped_dictionaries() -> dict[str, Path]:
    """Shipped dictionary files by name (``qk-<model>-L<layer>``)."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("qk-*.safetensors"))}


def find_dictionary(ref: str | Path) -> Path:
    """A dictionary file: a path, or the name of a shipped dictionary."""
    shipped = shipped_dictionaries()
    if str(ref) in shipped and not Path(ref).exists():
        return shipped[str(ref)]
    if not Path(ref).exists():
        raise WeightsError(f"cannot read {ref}: no such file, and not a shipped dictionary (shipped: {', '.join(sorted(shipped))})")
    return Path(ref)


#: Models known by name without a file (besides the shipped ones of :mod:`tensoralg.models.registry`).
BUILTIN = {"c18-induction": lambda: induction_model()}


def load_model(ref: str) -> tuple[Model, list[str], str]:
    """(model, token strings, the reference to store) for a built-in name, a shipped model's name
    or a weights file (its model card beside it, if any, names the tokens; else their ids).

    The reference stored in a dictionary is the name, or the file's absolute path. The built-in
    models name their tokens A, B, C, ….
    """
    if ref in BUILTIN and not Path(ref).exists():
        model = BUILTIN[ref]()
        letters = string.ascii_uppercase
        return model, [letters[t] if t < 26 else str(t) for t in range(model.n_vocab)], ref
    path = Path(ref)
    if not path.is_file() and ref not in {m.name for m in shipped_models()}:
        raise WeightsError(f"unknown model {ref!r}: not a file, a shipped model ({', '.join(m.name for m in shipped_models()) or 'none'}) "
                           f"or a built-in one ({', '.join(BUILTIN)})")
    source = resolve(ref)
    model = source.load()
    vocabulary = list(source.vocabulary) if source.vocabulary is not None else [str(t) for t in range(model.n_vocab)]
    return model, vocabulary, str(path.resolve()) if path.is_file() else source.name
