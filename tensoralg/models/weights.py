"""Reading and writing model weights (.npz, .safetensors) in two namings; never unpickles.

Two namings of the same tensors, told apart by their embedding key:

    tensoralg (column vectors, CLAIMS.md)      TransformerLens (row vectors, x @ W)
    W_E            d_model × n_vocab           embed.W_E             n_vocab × d_model
    W_pos          d_model × n_ctx             pos_embed.W_pos       n_ctx × d_model
    W_U            n_vocab × d_model           unembed.W_U           d_model × n_vocab
    b_U            n_vocab                     unembed.b_U           n_vocab
    layers.{l}.W_Q|W_K|W_V  H × d_head × d_model   blocks.{l}.attn.W_Q|W_K|W_V  H × d_model × d_head
    layers.{l}.W_O          H × d_model × d_head   blocks.{l}.attn.W_O          H × d_head × d_model
    layers.{l}.b_Q|b_K|b_V  H × d_head             blocks.{l}.attn.b_Q|b_K|b_V  H × d_head
    layers.{l}.b_O          d_model                blocks.{l}.attn.b_O          d_model
    mlps.{l}.W_in           d_mlp × d_model        blocks.{l}.mlp.W_in          d_model × d_mlp
    mlps.{l}.W_out          d_model × d_mlp        blocks.{l}.mlp.W_out         d_mlp × d_model
    mlps.{l}.b_in | b_out   d_mlp | d_model        blocks.{l}.mlp.b_in | b_out  d_mlp | d_model

Every matrix converts by transposing its last two axes (x @ W_TL = (W x)ᵀ); vectors are
shared. Optional scalars ``config.score_scale`` (s in softmax*(s·S); default 1/√d_head as in
TransformerLens) and ``config.layer_norm`` (0/1, parameter-free LayerNorm) mean the same in
both namings. W_pos, all biases, MLPs and config keys are optional; TransformerLens's buffers
``blocks.{l}.attn.mask`` and ``blocks.{l}.attn.IGNORE`` are ignored; any other key is an error.
MLP activations are not stored (``activation`` argument, default GELU).

>>> from tensoralg.models.toy_models import induction_model
>>> tl = to_transformer_lens(model_arrays(induction_model(n_vocab=4, n_ctx=6)))
>>> tl["embed.W_E"].shape, tl["blocks.0.attn.W_Q"].shape, tl["blocks.0.attn.W_O"].shape
((4, 18), (1, 18, 6), (1, 6, 18))
>>> model_from_arrays(tl).heads
(1, 1)
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path
from typing import Mapping

import numpy as np
import safetensors
import safetensors.numpy
from safetensors import SafetensorError

from ..errors import WeightsError
from .model import AttentionLayer, MLPLayer, Model

NAMINGS = ("tensoralg", "transformer_lens")

# (tensoralg key, TransformerLens key, tensoralg axes, transposed between the two, required)
_GLOBAL = (
    ("W_E", "embed.W_E", ("d_model", "n_vocab"), True, True),
    ("W_pos", "pos_embed.W_pos", ("d_model", "n_ctx"), True, False),
    ("W_U", "unembed.W_U", ("n_vocab", "d_model"), True, True),
    ("b_U", "unembed.b_U", ("n_vocab",), False, False),
    ("config.score_scale", "config.score_scale", (), False, False),
    ("config.layer_norm", "config.layer_norm", (), False, False),
)
_ATTENTION = (
    ("layers.{l}.W_Q", "blocks.{l}.attn.W_Q", ("n_heads", "d_head", "d_model"), True, True),
    ("layers.{l}.W_K", "blocks.{l}.attn.W_K", ("n_heads", "d_head", "d_model"), True, True),
    ("layers.{l}.W_V", "blocks.{l}.attn.W_V", ("n_heads", "d_head", "d_model"), True, True),
    ("layers.{l}.W_O", "blocks.{l}.attn.W_O", ("n_heads", "d_model", "d_head"), True, True),
    ("layers.{l}.b_Q", "blocks.{l}.attn.b_Q", ("n_heads", "d_head"), False, False),
    ("layers.{l}.b_K", "blocks.{l}.attn.b_K", ("n_heads", "d_head"), False, False),
    ("layers.{l}.b_V", "blocks.{l}.attn.b_V", ("n_heads", "d_head"), False, False),
    ("layers.{l}.b_O", "blocks.{l}.attn.b_O", ("d_model",), False, False),
)
_MLP = (
    ("mlps.{l}.W_in", "blocks.{l}.mlp.W_in", ("d_mlp", "d_model"), True, True),
    ("mlps.{l}.W_out", "blocks.{l}.mlp.W_out", ("d_model", "d_mlp"), True, True),
    ("mlps.{l}.b_in", "blocks.{l}.mlp.b_in", ("d_mlp",), False, False),
    ("mlps.{l}.b_out", "blocks.{l}.mlp.b_out", ("d_model",), False, False),
)
_IGNORED = re.compile(r"blocks\.\d+\.attn\.(mask|IGNORE)$")
_LAYER = {"tensoralg": re.compile(r"(layers|mlps)\.(\d+)\."), "transformer_lens": re.compile(r"blocks\.(\d+)\.(attn|mlp)\.")}


def _swap(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(array, -1, -2))


def _entries(naming: str, n_layers: int, mlp_layers: set[int]):
    """(key in ``naming``, tensoralg key, axes in ``naming``, transposed, required) for a model's tensors."""
    side = NAMINGS.index(naming)
    table = [(e, None) for e in _GLOBAL]
    for l in range(n_layers):
        table += [(e, l) for e in _ATTENTION] + ([(e, l) for e in _MLP] if l in mlp_layers else [])
    for (ours, tl, axes, transposed, required), l in table:
        key, our_key = (ours, tl)[side].format(l=l), ours.format(l=l)
        file_axes = axes[:-2] + (axes[-1], axes[-2]) if transposed and side else axes
        yield key, our_key, file_axes, transposed, required


def naming_of(arrays: Mapping[str, np.ndarray]) -> str:
    """'tensoralg' or 'transformer_lens', from the embedding key."""
    has = ("W_E" in arrays, "embed.W_E" in arrays)
    if all(has):
        raise WeightsError("both W_E (tensoralg naming) and embed.W_E (TransformerLens naming) are present; use one naming")
    if not any(has):
        raise WeightsError(f"missing key: the embedding W_E (tensoralg naming) or embed.W_E (TransformerLens naming); keys present: {_preview(arrays)}")
    return NAMINGS[has.index(True)]


def _preview(keys) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:6]) + (f", … ({len(keys)} keys)" if len(keys) > 6 else "") if keys else "none"


def _layers(arrays: Mapping[str, np.ndarray], naming: str) -> tuple[int, set[int]]:
    """The number of layers and the layers that have an MLP, from the keys' layer indices."""
    attention, mlp = set(), set()
    for key in arrays:
        match = _LAYER[naming].match(key)
        if match:
            kind, l = (match[1], int(match[2])) if naming == "tensoralg" else (match[2], int(match[1]))
            (mlp if kind in ("mlps", "mlp") else attention).add(l)
    return max(attention | mlp, default=-1) + 1, mlp


def _check_values(key: str, value: np.ndarray) -> None:
    if value.dtype.kind not in "fiu":
        raise WeightsError(f"{key} has dtype {value.dtype}; expected real numbers")
    bad = ~np.isfinite(value) if value.dtype.kind == "f" else np.zeros(value.shape, bool)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise WeightsError(f"{key} (shape {value.shape}) has {int(bad.sum())} NaN/Inf values, the first at index {first}")


def to_tensoralg(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check ``arrays`` (either naming) and return them in tensoralg naming (column vectors).

    Raises WeightsError naming the key and the shapes for a missing key, a wrong shape, a layer
    whose tensors disagree on the head count, non-finite values or an unknown key.
    """
    naming = naming_of(arrays)
    n_layers, mlp_layers = _layers(arrays, naming)
    sizes: dict[str, int] = {}
    out, known = {}, set()
    for key, our_key, axes, transposed, required in _entries(naming, n_layers, mlp_layers):
        known.add(key)
        if key not in arrays:
            if required:
                raise WeightsError(f"missing key {key} (shape {'×'.join(axes)})")
            continue
        value = np.asarray(arrays[key])
        layer = re.search(r"\.(\d+)\.", key)
        scope = f"layer {layer[1]} " if layer else ""
        if len(axes) != value.ndim:
            raise WeightsError(f"{key} has shape {value.shape}; expected {len(axes)} axes ({', '.join(axes) or 'a scalar'})")
        expected = []
        for axis, n in zip(axes, value.shape):
            name = scope + axis if axis in ("n_heads", "d_head", "d_mlp") else axis
            if name not in sizes:
                sizes[name] = n
            elif sizes[name] != n and axis == "n_heads":
                raise WeightsError(f"inconsistent head count in layer {layer[1]}: {key} has {n} heads (shape {value.shape}) but the layer's W_Q has {sizes[name]}")
            expected.append(sizes[name])
        if tuple(expected) != value.shape:
            raise WeightsError(f"{key} has shape {value.shape}; expected {tuple(expected)} = ({', '.join(axes)})")
        _check_values(key, value)
        out[our_key] = _swap(value) if transposed and naming == "transformer_lens" else value
    unknown = [key for key in arrays if key not in known and not (naming == "transformer_lens" and _IGNORED.match(key))]
    if unknown:
        raise WeightsError(f"unknown key {sorted(unknown)[0]} for the {naming} naming ({len(unknown)} unknown: {_preview(unknown)})")
    return out


def to_transformer_lens(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same tensors (either naming, checked) in TransformerLens naming: W_TL = Wᵀ on the last two axes."""
    ours = to_tensoralg(arrays)
    n_layers, mlp_layers = _layers(ours, "tensoralg")
    return {
        key: _swap(ours[our_key]) if transposed else ours[our_key]
        for key, our_key, _, transposed, _ in _entries("transformer_lens", n_layers, mlp_layers)
        if our_key in ours
    }


def model_arrays(model: Model) -> dict[str, np.ndarray]:
    """A model's tensors in tensoralg naming, including ``config.score_scale`` and ``config.layer_norm``."""
    arrays = {"W_E": model.W_E, "W_U": model.W_U, "config.score_scale": np.array(float(model.score_scale)),
              "config.layer_norm": np.array(float(model.layer_norm))}
    if model.W_pos is not None:
        arrays["W_pos"] = model.W_pos
    if model.b_U is not None:
        arrays["b_U"] = model.b_U
    for l, (layer, mlp) in enumerate(zip(model.layers, model.mlps)):
        for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"):
            if getattr(layer, name) is not None:
                arrays[f"layers.{l}.{name}"] = getattr(layer, name)
        for name in ("W_in", "W_out", "b_in", "b_out"):
            if mlp is not None and getattr(mlp, name) is not None:
                arrays[f"mlps.{l}.{name}"] = getattr(mlp, name)
    return arrays


def model_from_arrays(
    arrays: Mapping[str, np.ndarray],
    *,
    score_scale: float | None = None,
    layer_norm: bool | None = None,
    activation: str = "gelu",
) -> Model:
    """A runnable :class:`Model` from checked arrays in either naming. ``score_scale`` and
    ``layer_norm`` override the file's config keys (defaults: 1/√d_head and no LayerNorm)."""
    ours = to_tensoralg(arrays)
    n_layers, mlp_layers = _layers(ours, "tensoralg")
    layers = tuple(
        AttentionLayer(*(ours.get(f"layers.{l}.{name}") for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O")))
        for l in range(n_layers)
    )
    mlps = tuple(
        MLPLayer(*(ours.get(f"mlps.{l}.{name}") for name in ("W_in", "W_out", "b_in", "b_out")), activation=activation)
        if l in mlp_layers else None
        for l in range(n_layers)
    )
    if score_scale is None:
        d_head = layers[0].W_Q.shape[1] if layers else 1
        score_scale = float(ours["config.score_scale"]) if "config.score_scale" in ours else 1.0 / np.sqrt(d_head)
    if not (np.isfinite(score_scale) and score_scale > 0):
        raise WeightsError(f"config.score_scale must be a positive number; got {score_scale}")
    if layer_norm is None:
        layer_norm = bool(ours["config.layer_norm"]) if "config.layer_norm" in ours else False
    return Model(ours["W_E"], ours["W_U"], layers, W_pos=ours.get("W_pos"), b_U=ours.get("b_U"), mlps=mlps,
                 layer_norm=layer_norm, score_scale=float(score_scale))


_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, SafetensorError)


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The named arrays of a .npz (``np.load(allow_pickle=False)``) or .safetensors file."""
    path = Path(path)
    if path.suffix not in (".npz", ".safetensors"):
        raise WeightsError(f"unknown weights file type {path.suffix or '(none)'!r} for {path}: expected .npz or .safetensors (pickle-based formats are never read)")
    if not path.is_file():
        raise WeightsError(f"cannot read {path}: no such file")
    if path.suffix == ".safetensors":
        try:
            # tensor by tensor from the memory-mapped file: no second copy of the whole file in memory
            with safetensors.safe_open(str(path), framework="numpy") as handle:
                return {key: handle.get_tensor(key) for key in handle.keys()}
        except _READ_ERRORS as exc:
            raise WeightsError(f"cannot read {path} as safetensors: {exc}") from None
    try:
        archive = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise WeightsError(f"cannot read {path} as .npz: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise WeightsError(f"{path} holds a single array, not named arrays (an .npz archive)")
    with archive:
        arrays = {}
        for key in archive.files:
            try:
                arrays[key] = archive[key]
            except ValueError as exc:
                if "pickle" in str(exc):
                    raise WeightsError(f"{path}: key {key} holds Python objects that cannot be read without pickle, which tensoralg never uses") from None
                raise WeightsError(f"cannot read {path} as .npz (key {key}): {exc}") from None
            except _READ_ERRORS as exc:
                raise WeightsError(f"cannot read {path} as .npz (key {key}): {exc}") from None
        return arrays


def write_arrays(arrays: Mapping[str, np.ndarray], path: str | Path) -> None:
    """Write named arrays to a .npz or .safetensors file (chosen by the suffix)."""
    path = Path(path)
    contiguous = {key: np.asarray(value, order="C") for key, value in arrays.items()}
    try:
        if path.suffix == ".npz":
            np.savez(path, **contiguous)
        elif path.suffix == ".safetensors":
            safetensors.numpy.save_file(contiguous, str(path))
        else:
            raise WeightsError(f"unknown weights file type {path.suffix or '(none)'!r} for {path}: expected .npz or .safetensors")
    except (OSError, SafetensorError) as exc:
        raise WeightsError(f"cannot write {path}: {exc}") from None


def load_weights(path: str | Path, **options) -> Model:
    """Read a weights file in either naming into a :class:`Model` (options as for :func:`model_from_arrays`)."""
    return model_from_arrays(read_arrays(path), **options)


def save_weights(model: Model, path: str | Path, naming: str = "tensoralg") -> None:
    """Write ``model`` to ``path`` (.npz or .safetensors) in the given naming."""
    if naming not in NAMINGS:
        raise WeightsError(f"unknown naming {naming!r}; expected one of {', '.join(NAMINGS)}")
    arrays = model_arrays(model)
    write_arrays(to_transformer_lens(arrays) if naming == "transformer_lens" else arrays, path)
