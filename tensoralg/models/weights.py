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
    layers.{l}.ln.w | ln.b  d_model                blocks.{l}.ln1.w | ln1.b     d_model
    mlps.{l}.W_in           d_mlp × d_model        blocks.{l}.mlp.W_in          d_model × d_mlp
    mlps.{l}.W_out          d_model × d_mlp        blocks.{l}.mlp.W_out         d_mlp × d_model
    mlps.{l}.b_in | b_out   d_mlp | d_model        blocks.{l}.mlp.b_in | b_out  d_mlp | d_model
    mlps.{l}.ln.w | ln.b    d_model                blocks.{l}.ln2.w | ln2.b     d_model
    ln_final.w | ln_final.b d_model                ln_final.w | ln_final.b      d_model

Every matrix converts by transposing its last two axes (x @ W_TL = (W x)ᵀ); vectors are
shared. Optional scalars ``config.score_scale`` (s in softmax*(s·S); default 1/√d_head as in
TransformerLens), ``config.layer_norm`` (0/1) and ``config.ln_eps`` (ε, default 1e-5) mean the
same in both namings. LayerNorm parameters (γ = ``w``, β = ``b``) come all together or not at
all: their presence means LayerNorm; a folded model (TransformerLens's LNPre) has none and needs
``config.layer_norm`` = 1 or ``layer_norm=True``. W_pos, all biases, MLPs and config keys are
optional; TransformerLens's buffers ``blocks.{l}.attn.mask`` and ``blocks.{l}.attn.IGNORE`` are
ignored; any other key is an error. The MLP activation is the scalar ``config.activation``, a code
from :data:`ACTIVATION_CODES` (0: GELU as GPT-2 computes it, the tanh approximation; 1: ReLU;
2: the exact GELU x·Φ(x));
without it (TransformerLens's own state dicts do not store it) the ``activation`` argument decides,
default GELU as GPT-2 computes it.

Files are checked before they are read (:mod:`tensoralg.models.tensor_files` checks each header
against the file): the keys, layer indices (0 … L−1, no gaps), axes and sizes come from the
headers alone, then each tensor is read, must be float16/bfloat16/float32/float64, finite and
at most :data:`MAX_ABS` in magnitude.

>>> from tensoralg.models.toy_models import induction_model
>>> tl = to_transformer_lens(model_arrays(induction_model(n_vocab=4, n_ctx=6)))
>>> tl["embed.W_E"].shape, tl["blocks.0.attn.W_Q"].shape, tl["blocks.0.attn.W_O"].shape
((4, 18), (1, 18, 6), (1, 6, 18))
>>> model_from_arrays(tl).heads
(1, 1)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np

from ..errors import WeightsError
from .model import AttentionLayer, LayerNorm, MLPLayer, Model
from .tensor_files import TensorFile, open_tensor_file, write_safetensors

NAMINGS = ("tensoralg", "transformer_lens")
#: Weights larger in magnitude are refused: products of four of them must stay far from float overflow.
MAX_ABS = 1e6

#: ``config.activation`` codes: the MLP nonlinearity a file's MLPs apply ("gelu" is GPT-2's tanh approximation).
ACTIVATION_CODES: dict[int, str] = {0: "gelu", 1: "relu", 2: "gelu_erf"}


def _activation_code(name: str) -> int:
    """The code of an activation name ("gelu_new" is "gelu": the same function)."""
    name = "gelu" if name == "gelu_new" else name
    for code, known in ACTIVATION_CODES.items():
        if known == name:
            return code
    raise WeightsError(f"activation {name!r} has no config.activation code; known: {', '.join(ACTIVATION_CODES.values())}")


# (tensoralg key, TransformerLens key, tensoralg axes, transposed between the two, required)
_GLOBAL = (
    ("W_E", "embed.W_E", ("d_model", "n_vocab"), True, True),
    ("W_pos", "pos_embed.W_pos", ("d_model", "n_ctx"), True, False),
    ("W_U", "unembed.W_U", ("n_vocab", "d_model"), True, True),
    ("b_U", "unembed.b_U", ("n_vocab",), False, False),
    ("config.score_scale", "config.score_scale", (), False, False),
    ("config.layer_norm", "config.layer_norm", (), False, False),
    ("config.ln_eps", "config.ln_eps", (), False, False),
    ("config.activation", "config.activation", (), False, False),
    ("ln_final.w", "ln_final.w", ("d_model",), False, "ln"),
    ("ln_final.b", "ln_final.b", ("d_model",), False, "ln"),
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
    ("layers.{l}.ln.w", "blocks.{l}.ln1.w", ("d_model",), False, "ln"),
    ("layers.{l}.ln.b", "blocks.{l}.ln1.b", ("d_model",), False, "ln"),
)
_MLP = (
    ("mlps.{l}.W_in", "blocks.{l}.mlp.W_in", ("d_mlp", "d_model"), True, True),
    ("mlps.{l}.W_out", "blocks.{l}.mlp.W_out", ("d_model", "d_mlp"), True, True),
    ("mlps.{l}.b_in", "blocks.{l}.mlp.b_in", ("d_mlp",), False, False),
    ("mlps.{l}.b_out", "blocks.{l}.mlp.b_out", ("d_model",), False, False),
    ("mlps.{l}.ln.w", "blocks.{l}.ln2.w", ("d_model",), False, "ln"),
    ("mlps.{l}.ln.b", "blocks.{l}.ln2.b", ("d_model",), False, "ln"),
)
_IGNORED = re.compile(r"blocks\.\d+\.attn\.(mask|IGNORE)$")
_LAYER = {"tensoralg": re.compile(r"(layers|mlps)\.(\d+)\."), "transformer_lens": re.compile(r"blocks\.(\d+)\.(attn|mlp|ln1|ln2)\.")}
_LN_KEY = re.compile(r"(^|\.)(ln|ln1|ln2|ln_final)\.[wb]$")


def _swap(array: np.ndarray) -> np.ndarray:
    return np.swapaxes(array, -1, -2)


def _entries(naming: str, n_layers: int, mlp_layers: set[int], has_ln: bool):
    """(key in ``naming``, tensoralg key, axes in ``naming``, transposed, required) for a model's tensors."""
    side = NAMINGS.index(naming)
    table = [(e, None) for e in _GLOBAL]
    for l in range(n_layers):
        table += [(e, l) for e in _ATTENTION] + ([(e, l) for e in _MLP] if l in mlp_layers else [])
    for (ours, tl, axes, transposed, required), l in table:
        key, our_key = (ours, tl)[side].format(l=l), ours.format(l=l)
        file_axes = axes[:-2] + (axes[-1], axes[-2]) if transposed and side else axes
        yield key, our_key, file_axes, transposed, has_ln if required == "ln" else required


def naming_of(arrays: Mapping[str, object]) -> str:
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


def layer_indices(keys, pattern: re.Pattern, layer_group: int = 1) -> int:
    """The number of layers L named by ``keys`` (their indices must be exactly 0 … L−1).

    Checked against the keys themselves before anything loops over layers, so a key such as
    ``layers.999999999.W_Q`` is refused at once instead of building a billion layers.
    """
    found: dict[int, str] = {}
    for key in keys:
        match = pattern.match(key)
        if match:
            found.setdefault(int(match[layer_group]), key)
    n = len(found)
    for l in sorted(found):
        if l >= n:
            missing = min(set(range(n)) - found.keys())
            raise WeightsError(f"layer indices must run 0 … L−1 without gaps: {found[l]} names layer {l}, "
                               f"but no key names layer {missing}")
    return n


def _layers(keys, naming: str) -> tuple[int, set[int]]:
    """The number of layers and the layers that have an MLP, from the keys' layer indices."""
    pattern = _LAYER[naming]
    group, kind_group = (2, 1) if naming == "tensoralg" else (1, 2)
    n = layer_indices(keys, pattern, group)
    mlp = set()
    for key in keys:
        match = pattern.match(key)
        if match and match[kind_group] in ("mlps", "mlp", "ln2"):
            mlp.add(int(match[group]))
    return n, mlp


def check_values(key: str, value: np.ndarray) -> None:
    """Refuse non-float dtypes, NaN/Inf and magnitudes above MAX_ABS, naming the key (and the first bad entry)."""
    if value.dtype.kind != "f":
        raise WeightsError(f"{key} has dtype {value.dtype}; expected float16, bfloat16, float32 or float64")
    if value.size == 0:
        return
    low, high = value.min(), value.max()  # no temporary the size of the tensor; NaN propagates
    if np.isfinite(low) and np.isfinite(high) and max(-low, high) <= MAX_ABS:
        return
    bad = ~np.isfinite(value)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise WeightsError(f"{key} (shape {value.shape}) has {int(bad.sum())} NaN/Inf values, the first at index {first}")
    first = tuple(int(i) for i in np.argwhere(np.abs(value) > MAX_ABS)[0])
    raise WeightsError(f"{key} (shape {value.shape}) has a weight of magnitude {float(np.abs(value[first])):.3g} at index "
                       f"{first}; tensoralg refuses weights above {MAX_ABS:g} (circuit products would overflow)")


def _plan(shapes: Mapping[str, tuple[int, ...]]) -> Iterator[tuple[str, str, bool]]:
    """Check the structure of a model from its tensors' shapes alone; yield (key, tensoralg key, transposed).

    Raises WeightsError naming the key and the shapes for a missing key, a wrong shape, an empty
    axis, a layer whose tensors disagree on the head count, a missing LayerNorm parameter, layer
    indices with gaps or an unknown key.
    """
    naming = naming_of(shapes)
    n_layers, mlp_layers = _layers(shapes, naming)
    has_ln = any(_LN_KEY.search(key) for key in shapes)
    sizes: dict[str, int] = {}
    known: set[str] = set()
    plan = []
    for key, our_key, axes, transposed, required in _entries(naming, n_layers, mlp_layers, has_ln):
        known.add(key)
        if key not in shapes:
            if required and _LN_KEY.search(key):
                raise WeightsError(f"missing LayerNorm parameter {key} (shape d_model): the file has LayerNorm parameters "
                                   f"for other readers, and every reader of a LayerNorm model needs its γ (w) and β (b)")
            if required:
                raise WeightsError(f"missing key {key} (shape {'×'.join(axes)})")
            continue
        shape = tuple(shapes[key])
        layer = re.search(r"\.(\d+)\.", key)
        scope = f"layer {layer[1]} " if layer else ""
        if len(axes) != len(shape):
            raise WeightsError(f"{key} has shape {shape}; expected {len(axes)} axes ({', '.join(axes) or 'a scalar'})")
        expected = []
        for axis, n in zip(axes, shape):
            if n == 0:
                raise WeightsError(f"{key} has shape {shape}: its axis {axis} is empty ({axis} must be at least 1)")
            name = scope + axis if axis in ("n_heads", "d_head", "d_mlp") else axis
            if name not in sizes:
                sizes[name] = n
            elif sizes[name] != n and axis == "n_heads":
                raise WeightsError(f"inconsistent head count in layer {layer[1]}: {key} has {n} heads (shape {shape}) but the layer's W_Q has {sizes[name]}")
            expected.append(sizes[name])
        if tuple(expected) != shape:
            raise WeightsError(f"{key} has shape {shape}; expected {tuple(expected)} = ({', '.join(axes)})")
        plan.append((key, our_key, transposed and naming == "transformer_lens"))
    unknown = [key for key in shapes if key not in known and not (naming == "transformer_lens" and _IGNORED.match(key))]
    if unknown:
        raise WeightsError(f"unknown key {sorted(unknown)[0]} for the {naming} naming ({len(unknown)} unknown: {_preview(unknown)})")
    return iter(plan)


def _convert(shapes: Mapping[str, tuple[int, ...]], read: Callable[[str], np.ndarray]) -> dict[str, np.ndarray]:
    """The checked tensors in tensoralg naming: the structure from ``shapes`` first, then each tensor read and checked."""
    out = {}
    for key, our_key, transposed in _plan(shapes):
        value = read(key)
        if np.ndim(value) == 0 and np.asarray(value).dtype.kind in "biu":  # a config flag or code written as an int or bool
            value = np.asarray(value, dtype=np.float64)
        check_values(key, value)
        out[our_key] = _swap(value) if transposed else value
    return out


def _in_memory(arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, tuple[int, ...]], Callable[[str], np.ndarray]]:
    return {key: np.shape(value) for key, value in arrays.items()}, lambda key: np.asarray(arrays[key])


def to_tensoralg(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check ``arrays`` (either naming) and return them in tensoralg naming (column vectors).

    Raises WeightsError naming the key and the shapes for a missing key, a wrong shape, a layer
    whose tensors disagree on the head count, non-finite values or an unknown key.
    """
    return _convert(*_in_memory(arrays))


def to_transformer_lens(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same tensors (either naming, checked) in TransformerLens naming: W_TL = Wᵀ on the last two axes."""
    ours = to_tensoralg(arrays)
    n_layers, mlp_layers = _layers(ours, "tensoralg")
    return {
        key: _swap(ours[our_key]) if transposed else ours[our_key]
        for key, our_key, _, transposed, _ in _entries("transformer_lens", n_layers, mlp_layers, False)
        if our_key in ours
    }


def model_arrays(model: Model) -> dict[str, np.ndarray]:
    """A model's tensors in tensoralg naming, including ``config.score_scale``, ``config.layer_norm`` and ``config.ln_eps``."""
    arrays = {"W_E": model.W_E, "W_U": model.W_U, "config.score_scale": np.array(float(model.score_scale)),
              "config.layer_norm": np.array(float(model.layer_norm))}
    if model.layer_norm:
        arrays["config.ln_eps"] = np.array(float(model.ln_eps))
    codes = {_activation_code(mlp.activation) for mlp in model.mlps if mlp is not None}
    if len(codes) > 1:
        raise WeightsError(f"the MLPs use different activations ({sorted(ACTIVATION_CODES[c] for c in codes)}); "
                           "a weights file stores one config.activation")
    if codes:
        arrays["config.activation"] = np.array(float(codes.pop()))
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
    norms = [(f"layers.{l}.ln", n) for l, n in enumerate(model.ln1)] + [(f"mlps.{l}.ln", n) for l, n in enumerate(model.ln2)]
    for prefix, norm in norms + [("ln_final", model.ln_final)]:
        if norm is not None:
            arrays[f"{prefix}.w"] = norm.w
            if norm.b is not None:
                arrays[f"{prefix}.b"] = norm.b
    return arrays


def _norm(ours: Mapping[str, np.ndarray], prefix: str) -> LayerNorm | None:
    return LayerNorm(ours[f"{prefix}.w"], ours.get(f"{prefix}.b")) if f"{prefix}.w" in ours else None


def _model(
    ours: Mapping[str, np.ndarray],
    *,
    score_scale: float | None = None,
    layer_norm: bool | None = None,
    activation: str | None = None,
) -> Model:
    """A runnable :class:`Model` from checked arrays in tensoralg naming."""
    n_layers, mlp_layers = _layers(ours, "tensoralg")
    if activation is None:
        activation = "gelu"
        if "config.activation" in ours:
            code = float(ours["config.activation"])
            if code not in ACTIVATION_CODES:
                known = ", ".join(f"{c} ({name})" for c, name in ACTIVATION_CODES.items())
                raise WeightsError(f"config.activation must be one of {known}; got {code:g}")
            activation = ACTIVATION_CODES[int(code)]
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
    norms = {"ln1": tuple(_norm(ours, f"layers.{l}.ln") for l in range(n_layers)),
             "ln2": tuple(_norm(ours, f"mlps.{l}.ln") for l in range(n_layers)), "ln_final": _norm(ours, "ln_final")}
    has_parameters = norms["ln_final"] is not None
    if layer_norm is None:
        layer_norm = bool(ours["config.layer_norm"]) if "config.layer_norm" in ours else has_parameters
    if has_parameters and not layer_norm:
        raise WeightsError("the file has LayerNorm parameters (ln_final.w, …) but LayerNorm is switched off "
                           "(config.layer_norm = 0 or layer_norm=False)")
    eps = float(ours["config.ln_eps"]) if "config.ln_eps" in ours else 1e-5
    if not (np.isfinite(eps) and eps > 0):
        raise WeightsError(f"config.ln_eps must be a positive number; got {eps}")
    return Model(ours["W_E"], ours["W_U"], layers, W_pos=ours.get("W_pos"), b_U=ours.get("b_U"), mlps=mlps,
                 layer_norm=layer_norm, score_scale=float(score_scale), ln_eps=eps, **norms)


def model_from_arrays(arrays: Mapping[str, np.ndarray], **options) -> Model:
    """A runnable :class:`Model` from checked arrays in either naming. ``score_scale`` and
    ``layer_norm`` override the file's config keys (defaults: 1/√d_head, and LayerNorm exactly
    when the arrays hold LayerNorm parameters); ``activation`` names the MLP nonlinearity (default: the
    file's ``config.activation``, else "gelu")."""
    return _model(to_tensoralg(arrays), **options)


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The named float arrays of a .npz or .safetensors file (headers checked first; read-only views where possible)."""
    tensors = open_tensor_file(path)
    return {key: tensors.read(key) for key in tensors.shapes}


def model_from_file(tensors: TensorFile, **options) -> Model:
    """:func:`model_from_arrays` for an opened weights file: the structure is checked from the headers
    before any tensor is read, and tensors are read as views of the file where possible."""
    return _model(_convert(tensors.shapes, lambda key: tensors.read(key, integer_scalars=True)), **options)


def write_arrays(arrays: Mapping[str, np.ndarray], path: str | Path) -> None:
    """Write named arrays to a .npz or .safetensors file (chosen by the suffix)."""
    path = Path(path)
    contiguous = {key: np.asarray(value, order="C") for key, value in arrays.items()}
    if path.suffix == ".safetensors":
        return write_safetensors(contiguous, path)
    if path.suffix != ".npz":
        raise WeightsError(f"unknown weights file type {path.suffix or '(none)'!r} for {path}: expected .npz or .safetensors")
    try:
        np.savez(path, **contiguous)
    except OSError as exc:
        raise WeightsError(f"cannot write {path}: {exc}") from None


def load_weights(path: str | Path, **options) -> Model:
    """Read a weights file in either naming into a :class:`Model` (options as for :func:`model_from_arrays`)."""
    return model_from_file(open_tensor_file(path), **options)


def save_weights(model: Model, path: str | Path, naming: str = "tensoralg") -> None:
    """Write ``model`` to ``path`` (.npz or .safetensors) in the given naming."""
    if naming not in NAMINGS:
        raise WeightsError(f"unknown naming {naming!r}; expected one of {', '.join(NAMINGS)}")
    arrays = model_arrays(model)
    write_arrays(to_transformer_lens(arrays) if naming == "transformer_lens" else arrays, path)
