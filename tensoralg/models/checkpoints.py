"""Loading checkpoints: Hugging Face GPT-2 files, and tensoralg / TransformerLens weight files.

:func:`load_checkpoint` accepts a weights file or a directory holding ``model.safetensors``
(or ``model.npz``) and tells the layouts apart by their keys. The Hugging Face GPT-2 layout
(with or without the ``transformer.`` prefix) converts to the paper's column vectors as
nanoGPT's ``from_pretrained`` does, naming each transposed Conv1D (stored (in, out)):

    wte.weight                 n_vocab × d_model        W_E = wteᵀ
    wpe.weight                 n_ctx × d_model          W_pos = wpeᵀ
    h.{l}.ln_1 | ln_2          weight, bias (d_model)   γ, β of the LayerNorms before attention | MLP
    h.{l}.attn.c_attn          d_model × 3·d_model      [Q | K | V] along the output axis, each split per head:
                                                        W_Q^h = c_attn[:, h·d_head:(h+1)·d_head]ᵀ, bias likewise
    h.{l}.attn.c_proj          d_model × d_model        rows h·d_head…: W_O^h = c_proj[h·d_head:(h+1)·d_head, :]ᵀ
    h.{l}.mlp.c_fc | c_proj    (d_model × d_mlp) | (d_mlp × d_model)   W_in = c_fcᵀ, W_out = c_projᵀ
    ln_f                       weight, bias             the final LayerNorm
    lm_head.weight             n_vocab × d_model        W_U (absent when tied to wte: W_U = wte)

Every converted tensor is a view of the file's memory map (no copy for float32/float64). The
head count is not in the tensors: it comes from ``config.json`` beside the file (``n_head``, as
well as ``layer_norm_epsilon``, ``activation_function`` and checks of ``n_embd``, ``n_layer``,
``vocab_size``, ``n_positions``, ``n_inner``) or from ``heads=``. The causal-mask buffers ``attn.bias`` and
``attn.masked_bias`` are ignored; any other key is an error.

>>> import json, tempfile, os
>>> from tensoralg.models.weights import write_arrays
>>> rng = np.random.default_rng(0)
>>> d, V, T = 4, 5, 3
>>> arrays = {"wte.weight": rng.normal(size=(V, d)), "wpe.weight": rng.normal(size=(T, d)),
...           "ln_f.weight": np.ones(d), "ln_f.bias": np.zeros(d)}
>>> for part, shape in [("ln_1.weight", (d,)), ("ln_1.bias", (d,)), ("attn.c_attn.weight", (d, 3 * d)),
...                     ("attn.c_attn.bias", (3 * d,)), ("attn.c_proj.weight", (d, d)), ("attn.c_proj.bias", (d,)),
...                     ("ln_2.weight", (d,)), ("ln_2.bias", (d,)), ("mlp.c_fc.weight", (d, 4 * d)),
...                     ("mlp.c_fc.bias", (4 * d,)), ("mlp.c_proj.weight", (4 * d, d)), ("mlp.c_proj.bias", (d,))]:
...     arrays[f"h.0.{part}"] = rng.normal(size=shape)
>>> folder = tempfile.mkdtemp()
>>> write_arrays(arrays, os.path.join(folder, "model.safetensors"))
>>> load_checkpoint(folder)
Traceback (most recent call last):
...
tensoralg.errors.WeightsError: the head count of a Hugging Face GPT-2 checkpoint is not stored in its tensors: put its config.json beside model.safetensors or pass --heads N
>>> model = load_checkpoint(folder, heads=2)
>>> model.heads, model.d_model, model.n_vocab, model.n_ctx, model.layer_norm
((2,), 4, 5, 3, True)
>>> bool(np.array_equal(model.layers[0].W_Q[1], arrays["h.0.attn.c_attn.weight"][:, 2:4].T))
True
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..errors import WeightsError
from .model import AttentionLayer, LayerNorm, MLPLayer, Model
from .tensor_files import TensorFile, open_tensor_file
from .weights import check_values, layer_indices, model_from_file

LAYOUTS = ("hf_gpt2", "transformer_lens", "tensoralg")
#: Hugging Face GPT-2 tensors of layer l: (key, shape in terms of d = d_model, m = d_mlp).
_HF_LAYER = (
    ("ln_1.weight", ("d",)), ("ln_1.bias", ("d",)),
    ("attn.c_attn.weight", ("d", "3d")), ("attn.c_attn.bias", ("3d",)),
    ("attn.c_proj.weight", ("d", "d")), ("attn.c_proj.bias", ("d",)),
    ("ln_2.weight", ("d",)), ("ln_2.bias", ("d",)),
    ("mlp.c_fc.weight", ("d", "m")), ("mlp.c_fc.bias", ("m",)),
    ("mlp.c_proj.weight", ("m", "d")), ("mlp.c_proj.bias", ("d",)),
)
_HF_GLOBAL = (("wte.weight", ("V", "d")), ("wpe.weight", ("T", "d")), ("ln_f.weight", ("d",)), ("ln_f.bias", ("d",)))
_HF_IGNORED = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)$")
_HF_KEY = re.compile(r"^(transformer\.)?(wte|wpe|ln_f|h\.\d+)\.")
#: Hugging Face (and TransformerLens ``act_fn``) activation names → ours: GPT-2's is the tanh
#: approximation "gelu_new"; their "gelu" is the exact x·Φ(x), ours "gelu_erf".
ACTIVATION_NAMES = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu": "gelu_erf", "relu": "relu"}


def layout_of(keys) -> str:
    """'hf_gpt2', 'transformer_lens' or 'tensoralg', from the keys of a weights file."""
    keys = list(keys)
    if any(_HF_KEY.match(key) for key in keys):
        return "hf_gpt2"
    return "transformer_lens" if "embed.W_E" in keys else "tensoralg"


def resolve(path: str | Path) -> Path:
    """The weights file itself, or ``model.safetensors`` / ``model.npz`` / the shards' ``model.safetensors.index.json``
    inside a directory."""
    path = Path(path)
    if path.is_dir():
        for name in ("model.safetensors", "model.npz"):
            if (path / name).is_file():
                return path / name
        if (path / "model.safetensors.index.json").is_file():  # sharded: the index names the shards
            return path / "model.safetensors.index.json"
        raise WeightsError(f"{path} is a directory without model.safetensors or model.npz; name the weights file itself")
    return path


def read_config(weights: Path) -> dict | None:
    """The ``config.json`` beside a weights file, or None when there is none."""
    config = weights.parent / "config.json"
    if not config.is_file():
        return None
    try:
        value = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WeightsError(f"cannot read {config}: {exc}") from None
    if not isinstance(value, dict):
        raise WeightsError(f"{config} is not a JSON object")
    return value


def _config_int(config: Mapping, key: str, where: str) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise WeightsError(f"{where}: {key} must be a positive integer; got {value!r}")
    return value


def _hf_heads(config: Mapping | None, heads: int | None, d_model: int, where: str) -> int:
    """The head count from ``heads`` or config.json's n_head, checked against d_model."""
    from_config = None if config is None else _config_int(config, "n_head", where)
    if heads is not None and from_config is not None and heads != from_config:
        raise WeightsError(f"inconsistent head count: --heads {heads} but {where} says n_head {from_config}")
    n = heads if heads is not None else from_config
    if n is None:
        raise WeightsError("the head count of a Hugging Face GPT-2 checkpoint is not stored in its tensors: "
                           "put its config.json beside model.safetensors or pass --heads N")
    if n < 1 or d_model % n:
        raise WeightsError(f"inconsistent head count: {n} heads do not divide d_model = {d_model} into equal heads")
    return n


def from_hf_gpt2(tensors: TensorFile, config: Mapping | None = None, heads: int | None = None) -> Model:
    """A :class:`Model` from a Hugging Face GPT-2 checkpoint (shapes checked before any tensor is read)."""
    shapes, where = tensors.shapes, "config.json"
    prefix = "transformer." if any(key.startswith("transformer.") for key in shapes) else ""
    body = {key[len(prefix):]: key for key in shapes if key.startswith(prefix) and key != "lm_head.weight"}
    unknown = [key for key in shapes if key not in body.values() and key != "lm_head.weight"]
    if "wte.weight" not in body:
        raise WeightsError(f"missing key {prefix}wte.weight (shape n_vocab×d_model), the token embedding")
    if len(shapes[body["wte.weight"]]) != 2:
        raise WeightsError(f"{prefix}wte.weight has shape {shapes[body['wte.weight']]}; expected 2 axes (n_vocab, d_model)")
    V, d = shapes[body["wte.weight"]]
    if d < 1 or V < 1:
        raise WeightsError(f"{prefix}wte.weight has shape {(V, d)}: n_vocab and d_model must be at least 1")
    n_layers = layer_indices(body, re.compile(r"h\.(\d+)\."))
    config = config or {}
    for key, actual in (("n_embd", d), ("vocab_size", V), ("n_layer", n_layers)):
        declared = _config_int(config, key, where)
        if declared is not None and declared != actual:
            raise WeightsError(f"{where} says {key} = {declared} but the checkpoint has {actual}")
    H = _hf_heads(config or None, heads, d, where)
    activation = config.get("activation_function", "gelu_new")
    if activation not in ACTIVATION_NAMES:
        raise WeightsError(f"{where}: activation_function {activation!r} is not supported; expected one of {', '.join(ACTIVATION_NAMES)}")
    if config.get("scale_attn_by_inverse_layer_idx"):
        raise WeightsError(f"{where}: scale_attn_by_inverse_layer_idx (a score scale per layer) is not supported")
    eps = config.get("layer_norm_epsilon", 1e-5)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise WeightsError(f"{where}: layer_norm_epsilon must be a positive number; got {eps!r}")

    T = shapes[body["wpe.weight"]][0] if "wpe.weight" in body and shapes[body["wpe.weight"]] else 1
    c_fc = tuple(shapes[body["h.0.mlp.c_fc.weight"]]) if "h.0.mlp.c_fc.weight" in body else ()
    m = (c_fc[0] if c_fc[1] == d and c_fc[0] != d else c_fc[1]) if len(c_fc) == 2 else 1  # d_mlp, whichever way round
    sizes = {"d": d, "3d": 3 * d, "V": V, "T": T, "m": m}
    expected = dict(_HF_GLOBAL) | {f"h.{l}.{part}": axes for l in range(n_layers) for part, axes in _HF_LAYER}
    for name, axes in expected.items():
        key = prefix + name
        if name not in body:
            raise WeightsError(f"missing {'LayerNorm parameter' if '.ln_' in name or name.startswith('ln_') else 'key'} "
                               f"{key} (shape {'×'.join(axes)}, d = d_model, m = d_mlp)")
        want, shape = tuple(sizes[a] for a in axes), tuple(shapes[key])
        if shape != want:
            if len(shape) == 2 and shape == want[::-1] and "weight" in name:
                raise WeightsError(f"wrong Conv1D orientation: {key} has shape {shape}; a GPT-2 Conv1D stores (in, out) = {want} "
                                   f"(was it saved from a Linear layer, (out, in)? transpose it)")
            raise WeightsError(f"{key} has shape {shape}; expected {want} ({', '.join(axes)} with d = d_model = {d})")
        if 0 in shape:
            raise WeightsError(f"{key} has shape {shape}: an empty axis")
    for key, actual in (("n_positions", T), ("n_inner", m)):
        declared = _config_int(config, key, where)
        if declared is not None and declared != actual:
            raise WeightsError(f"{where} says {key} = {declared} but the checkpoint has {actual}")
    lm_head = shapes.get("lm_head.weight")
    if lm_head is not None and tuple(lm_head) != (V, d):
        raise WeightsError(f"lm_head.weight has shape {tuple(lm_head)}; expected (n_vocab, d_model) = {(V, d)}")
    unknown += [body[name] for name in body if name not in expected and not _HF_IGNORED.match(name)]
    if unknown:
        raise WeightsError(f"unknown key {sorted(unknown)[0]} for the Hugging Face GPT-2 layout ({len(unknown)} unknown)")

    def read(name: str) -> np.ndarray:
        key = name if name == "lm_head.weight" else prefix + name
        value = tensors.read(key)
        check_values(key, value)
        return value

    return _assemble(read, n_layers, H, d, lm_head is not None, ACTIVATION_NAMES[activation], float(eps),
                     scale=bool(config.get("scale_attn_weights", True)))


def _assemble(read: Callable[[str], np.ndarray], n_layers: int, H: int, d: int, untied: bool, activation: str,
              eps: float, scale: bool) -> Model:
    """Views of the GPT-2 tensors in the paper's convention (see the module docstring for each map)."""
    k = d // H
    layers, mlps, ln1, ln2 = [], [], [], []
    for l in range(n_layers):
        qkv, qkv_bias = read(f"h.{l}.attn.c_attn.weight"), read(f"h.{l}.attn.c_attn.bias")
        W_Q, W_K, W_V = (qkv[:, i * d:(i + 1) * d].T.reshape(H, k, d) for i in range(3))
        b_Q, b_K, b_V = qkv_bias.reshape(3, H, k)
        W_O = read(f"h.{l}.attn.c_proj.weight").reshape(H, k, d).transpose(0, 2, 1)
        layers.append(AttentionLayer(W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, read(f"h.{l}.attn.c_proj.bias")))
        mlps.append(MLPLayer(read(f"h.{l}.mlp.c_fc.weight").T, read(f"h.{l}.mlp.c_proj.weight").T,
                             read(f"h.{l}.mlp.c_fc.bias"), read(f"h.{l}.mlp.c_proj.bias"), activation))
        ln1.append(LayerNorm(read(f"h.{l}.ln_1.weight"), read(f"h.{l}.ln_1.bias")))
        ln2.append(LayerNorm(read(f"h.{l}.ln_2.weight"), read(f"h.{l}.ln_2.bias")))
    wte = read("wte.weight")
    return Model(
        W_E=wte.T, W_U=read("lm_head.weight") if untied else wte, layers=tuple(layers), W_pos=read("wpe.weight").T,
        mlps=tuple(mlps), layer_norm=True, score_scale=1.0 / np.sqrt(k) if scale else 1.0,
        ln1=tuple(ln1), ln2=tuple(ln2), ln_final=LayerNorm(read("ln_f.weight"), read("ln_f.bias")), ln_eps=eps,
    )


def load_checkpoint(
    path: str | Path,
    *,
    heads: int | None = None,
    score_scale: float | None = None,
    layer_norm: bool | None = None,
    activation: str | None = None,
) -> Model:
    """A :class:`Model` from a weights file or a checkpoint directory, in any of :data:`LAYOUTS`.

    ``heads`` gives a Hugging Face checkpoint's head count when it has no config.json;
    ``score_scale`` and ``layer_norm`` override a tensoralg / TransformerLens file's config;
    ``activation`` (a name of :data:`ACTIVATION_NAMES`, e.g. a TransformerLens ``act_fn``) overrides
    its ``config.activation`` (a Hugging Face checkpoint's comes from config.json and must agree).
    """
    if activation is not None and activation not in ACTIVATION_NAMES:
        raise WeightsError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATION_NAMES)}")
    ours = None if activation is None else ACTIVATION_NAMES[activation]
    weights = resolve(path)
    tensors = open_tensor_file(weights)
    if layout_of(tensors.shapes) == "hf_gpt2":
        if layer_norm is False:
            raise WeightsError("a Hugging Face GPT-2 checkpoint has LayerNorm parameters; LayerNorm cannot be switched off")
        model = from_hf_gpt2(tensors, read_config(weights), heads)
        stored = {m.activation for m in model.mlps if m is not None}
        if ours is not None and stored and stored != {ours}:
            raise WeightsError(f"--activation {activation} ({ours}) contradicts the checkpoint's config.json, whose "
                               f"activation_function gives {stored.pop()}")
        if score_scale is None:
            return model
        if not (np.isfinite(score_scale) and score_scale > 0):
            raise WeightsError(f"the score scale must be a positive number; got {score_scale}")
        return replace(model, score_scale=float(score_scale))
    model = model_from_file(tensors, score_scale=score_scale, layer_norm=layer_norm, activation=ours)
    if heads is not None and any(n != heads for n in model.heads):
        raise WeightsError(f"inconsistent head count: --heads {heads} but the file's layers have {list(model.heads)} heads")
    return model
