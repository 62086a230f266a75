"""Real checkpoint layouts against the original libraries' outputs (fixtures made by tests/fixtures/make_fixtures.py).

The fixtures are a tiny GPT-2 (2 layers, 4 heads, d_model 32, n_vocab 61, n_ctx 12) with every
parameter drawn at random (LayerNorm gains and biases included), saved by Hugging Face
``save_pretrained`` in float32, float16 and bfloat16, and by TransformerLens 3.9 as a state
dict before and after its processing; reference.npz holds the libraries' logits and
TransformerLens's copying, same-matching and composition scores of the processed model.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from tensoralg.cli import main
from tensoralg.errors import WeightsError
from tensoralg.models.checkpoints import load_checkpoint
from tensoralg.models.circuits import copying_scores, head_weights, ov_circuits, qk_circuits
from tensoralg.models.composition import composition_scores
from tensoralg.models.model import forward
from tensoralg.models.processing import log_softmax, process_weights
from tensoralg.models.tensor_files import decode_bfloat16, open_tensor_file
from tensoralg.models.weights import model_arrays

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = np.load(FIXTURES / "reference.npz")
TOKENS = REFERENCE["tokens"]
DTYPES = ("fp32", "fp16", "bf16")


def logits(model) -> np.ndarray:
    return np.stack([forward(model, tokens).logits for tokens in TOKENS])


@pytest.mark.parametrize("dtype", DTYPES)
def test_hugging_face_checkpoint_reproduces_the_libraries_logits(dtype):
    model = load_checkpoint(FIXTURES / f"gpt2_{dtype}")
    assert model.heads == (4, 4) and model.layer_norm and model.ln_final is not None and model.mlps[1] is not None
    assert model.W_E.dtype == np.float32  # float16 and bfloat16 decode into float32
    np.testing.assert_allclose(logits(model), REFERENCE[f"logits_{dtype}"], rtol=0, atol=1e-4)


def test_the_three_dtypes_are_different_weights():
    """Twin: the reference logits of the rounded weights differ by more than the tolerance, so each test above tests its own file."""
    assert np.abs(REFERENCE["logits_bf16"] - REFERENCE["logits_fp32"]).max() > 1e-3
    assert np.abs(REFERENCE["logits_fp16"] - REFERENCE["logits_fp32"]).max() > 1e-4


def test_transformer_lens_state_dict_with_layer_norm_and_mlps():
    model = load_checkpoint(FIXTURES / "tl_unprocessed.safetensors")
    assert model.layer_norm and all(n is not None for n in model.ln1 + model.ln2)
    np.testing.assert_allclose(logits(model), REFERENCE["tl_logits"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(logits(model), REFERENCE["logits_fp32"], rtol=0, atol=1e-4)


def test_bfloat16_decoding_is_exact():
    # Known bit patterns: 1.0, −2.0, 1.5, the smallest subnormal 2⁻¹³³, +∞.
    bits = np.array([0x3F80, 0xC000, 0x3FC0, 0x0001, 0x7F80], dtype=np.uint16)
    assert decode_bfloat16(bits).tolist() == [1.0, -2.0, 1.5, 2.0**-133, np.inf]
    # The bfloat16 file holds the float32 weights rounded to nearest-even in the top 16 bits.
    fp32, bf16 = open_tensor_file(FIXTURES / "gpt2_fp32/model.safetensors"), open_tensor_file(FIXTURES / "gpt2_bf16/model.safetensors")
    for key in fp32.shapes:
        u = fp32.read(key).view(np.uint32).astype(np.uint64)
        rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16).astype(np.uint32).view(np.float32)
        np.testing.assert_array_equal(bf16.read(key), rounded, err_msg=key)


def _hf_arrays(dtype: str = "fp32") -> dict[str, np.ndarray]:
    return dict(safetensors.numpy.load_file(str(FIXTURES / f"gpt2_{dtype}/model.safetensors")))


def _write_hf(folder: Path, arrays: dict, config: dict | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / "model.safetensors"))
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder / "model.safetensors"


def _config() -> dict:
    return json.loads((FIXTURES / "gpt2_fp32/config.json").read_text())


def test_without_the_transformer_prefix_and_with_an_explicit_lm_head(tmp_path):
    arrays = {key.removeprefix("transformer."): value for key, value in _hf_arrays().items()}
    bare = load_checkpoint(_write_hf(tmp_path / "bare", arrays, _config()))
    np.testing.assert_allclose(logits(bare), REFERENCE["logits_fp32"], rtol=0, atol=1e-4)
    untied = load_checkpoint(_write_hf(tmp_path / "untied", arrays | {"lm_head.weight": arrays["wte.weight"]}, _config()))
    np.testing.assert_allclose(logits(untied), REFERENCE["logits_fp32"], rtol=0, atol=1e-4)
    # Twin: a different lm_head is read as W_U, and changes the logits.
    other = load_checkpoint(_write_hf(tmp_path / "other", arrays | {"lm_head.weight": -arrays["wte.weight"]}, _config()))
    assert np.abs(logits(other) - REFERENCE["logits_fp32"]).max() > 1.0


def test_heads_from_the_command_line_instead_of_config_json(tmp_path):
    path = _write_hf(tmp_path / "noconfig", _hf_arrays())
    np.testing.assert_allclose(logits(load_checkpoint(path, heads=4)), REFERENCE["logits_fp32"], rtol=0, atol=1e-4)
    # Twin: the wrong head count is a different model.
    assert np.abs(logits(load_checkpoint(path, heads=2)) - REFERENCE["logits_fp32"]).max() > 1e-3


def test_loading_views_the_file_instead_of_copying():
    model = load_checkpoint(FIXTURES / "gpt2_fp32")
    assert not model.W_E.flags.owndata and not model.layers[0].W_Q.flags.owndata
    assert np.shares_memory(model.W_E, model.W_U)  # tied embedding: one buffer


# --- processing against TransformerLens --------------------------------------------------------


def processed_fixture():
    return process_weights(load_checkpoint(FIXTURES / "gpt2_fp32"))


def test_processing_keeps_log_probabilities_and_matches_transformer_lens_logits():
    processed = processed_fixture()
    np.testing.assert_allclose(log_softmax(logits(processed)), log_softmax(REFERENCE["logits_fp32"]), rtol=0, atol=1e-4)
    np.testing.assert_allclose(logits(processed), REFERENCE["tl_processed_logits"], rtol=0, atol=1e-4)


def test_processed_weights_equal_transformer_lens_processed_weights():
    ours = model_arrays(processed_fixture())
    theirs = model_arrays(load_checkpoint(FIXTURES / "tl_processed.safetensors", layer_norm=True))
    for key, value in theirs.items():
        if key.endswith(("b_K", "b_V")):  # TransformerLens keeps b_K and a zero b_V; we drop both (C24)
            assert key not in ours
            continue
        np.testing.assert_allclose(ours[key], value, rtol=0, atol=1e-5, err_msg=key)


def _scores(model) -> dict[str, np.ndarray]:
    heads = head_weights(model)
    composition = composition_scores(heads)
    scores = {"copying": copying_scores(ov_circuits(heads)).reshape(2, 4),
              "same_matching": copying_scores(qk_circuits(heads)).reshape(2, 4)}
    for mode in "QKV":  # writer layer 0 → reader layer 1, TransformerLens's [L1, H1, L2, H2] order
        scores[f"composition_{mode}"] = composition.mode(mode).reshape(2, 4, 2, 4)[0, :, 1, :]
    return scores


def test_copying_same_matching_and_composition_equal_transformer_lens():
    for name, value in _scores(processed_fixture()).items():
        reference = REFERENCE[f"tl_{name}"]
        reference = reference[0, :, 1, :] if name.startswith("composition") else reference
        np.testing.assert_allclose(value, reference, rtol=0, atol=1e-3, err_msg=name)


def test_unprocessed_scores_differ_from_transformer_lens_processed_ones():
    """Twin: without processing the scores are not TransformerLens's, so the test above tests the processing."""
    scores = _scores(load_checkpoint(FIXTURES / "gpt2_fp32"))
    assert np.abs(scores["copying"] - REFERENCE["tl_copying"]).max() > 1e-2


def test_analyze_processes_by_default_and_reports_it(capsys):
    assert main(["analyze", str(FIXTURES / "gpt2_bf16"), "--json", "--no-behaviour"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"]["processing"] == ["fold_layer_norm", "center_writing_weights", "center_unembed",
                                             "fold_value_biases", "drop_key_biases"]
    assert main(["analyze", str(FIXTURES / "gpt2_fp32"), "--json", "--no-behaviour"]) == 0
    copying = [row["copying"] for row in json.loads(capsys.readouterr().out)["heads"]]
    np.testing.assert_allclose(copying, REFERENCE["tl_copying"].ravel(), atol=1e-3)
    assert main(["analyze", str(FIXTURES / "gpt2_fp32"), "--no-process", "--no-behaviour"]) == 0
    text = capsys.readouterr().out
    assert "weights as stored (--no-process)" in text
    assert main(["analyze", str(FIXTURES / "gpt2_fp32"), "--no-behaviour"]) == 0
    assert "weights processed (C21–C24" in capsys.readouterr().out


def _skip_trigrams(capsys, *args) -> dict:
    assert main(["skip-trigrams", *args, "--json", "--top", "10"]) == 0
    return json.loads(capsys.readouterr().out)


def test_skip_trigrams_read_a_layer_norm_model_after_processing(capsys):
    """Its LayerNorm gains sit in front of W_Q, W_K, W_V and W_U: the triples of the raw matrices are
    not the model's. Read from the checkpoint, they equal those of TransformerLens's processed weights."""
    ours = _skip_trigrams(capsys, str(FIXTURES / "gpt2_fp32"))
    theirs = _skip_trigrams(capsys, str(FIXTURES / "tl_processed.safetensors"))
    assert ours["processing"] == ["fold_layer_norm", "center_writing_weights", "center_unembed",
                                  "fold_value_biases", "drop_key_biases"] and theirs["processing"] == []
    assert [t["ids"] for t in ours["triples"]] == [t["ids"] for t in theirs["triples"]]
    np.testing.assert_allclose([t["effect"] for t in ours["triples"]], [t["effect"] for t in theirs["triples"]], atol=1e-4)
    raw = _skip_trigrams(capsys, str(FIXTURES / "gpt2_fp32"), "--no-process")  # twin: unprocessed differs
    assert raw["processing"] == [] and [t["ids"] for t in raw["triples"]] != [t["ids"] for t in theirs["triples"]]


@pytest.mark.parametrize("to", ["tensoralg", "transformer-lens"])
@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_convert_round_trips(tmp_path, capsys, to, suffix):
    out = tmp_path / f"out{suffix}"
    assert main(["convert", str(FIXTURES / "gpt2_bf16"), str(out), "--to", to]) == 0
    np.testing.assert_allclose(logits(load_checkpoint(out)), REFERENCE["logits_bf16"], rtol=0, atol=1e-4)
    processed = tmp_path / f"processed{suffix}"
    assert main(["convert", str(FIXTURES / "gpt2_fp32"), str(processed), "--to", to, "--process"]) == 0
    model = load_checkpoint(processed)
    assert model.layer_norm and model.ln_final is None
    np.testing.assert_allclose(logits(model), REFERENCE["tl_processed_logits"], rtol=0, atol=1e-4)
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_written_weights_have_the_mode_of_any_new_file(tmp_path, capsys, suffix):
    import os

    umask = os.umask(0o022)
    try:
        assert main(["convert", "attn-only-1l", str(tmp_path / f"out{suffix}")]) == 0
    finally:
        os.umask(umask)
    assert (tmp_path / f"out{suffix}").stat().st_mode & 0o777 == 0o644  # not safetensors' 0o600 temporary file
    capsys.readouterr()


@pytest.mark.parametrize("to", ["tensoralg", "transformer-lens"])
def test_convert_keeps_a_relu_activation(tmp_path, capsys, to):
    """A GPT-2 checkpoint with activation_function relu converts to a file that still computes ReLU."""
    source = _write_hf(tmp_path / "relu", _hf_arrays(), _config() | {"activation_function": "relu"}).parent
    out = tmp_path / "out.safetensors"
    assert main(["convert", str(source), str(out), "--to", to]) == 0
    converted, original = load_checkpoint(out), load_checkpoint(source)
    assert {m.activation for m in converted.mlps} == {"relu"}
    np.testing.assert_allclose(logits(converted), logits(original), rtol=0, atol=1e-9)
    assert np.abs(logits(original) - REFERENCE["logits_fp32"]).max() > 1e-3  # twin: ReLU is not GPT-2's GELU


def test_exact_gelu_checkpoint_and_the_activation_option(tmp_path, capsys):
    """Hugging Face's (and TransformerLens's) "gelu" is the exact x·Φ(x), not GPT-2's tanh approximation."""
    import math
    from dataclasses import replace

    from tensoralg.models.model import ACTIVATIONS

    x = np.linspace(-6, 6, 49)
    np.testing.assert_allclose(ACTIVATIONS["gelu_erf"](x), [v * (1 + math.erf(v / math.sqrt(2))) / 2 for v in x], rtol=0, atol=1e-15)
    assert np.abs(ACTIVATIONS["gelu_erf"](x) - ACTIVATIONS["gelu_new"](x)).max() > 1e-4  # twin: not the approximation
    source = _write_hf(tmp_path / "gelu", _hf_arrays(), _config() | {"activation_function": "gelu"}).parent
    exact = load_checkpoint(source)
    assert {m.activation for m in exact.mlps} == {"gelu_erf"}
    by_hand = load_checkpoint(FIXTURES / "gpt2_fp32")
    by_hand = replace(by_hand, mlps=tuple(replace(m, activation="gelu_erf") for m in by_hand.mlps))
    np.testing.assert_allclose(logits(exact), logits(by_hand), rtol=0, atol=1e-12)
    # A TransformerLens state dict does not record its act_fn: --activation gives it, and convert keeps it.
    out = tmp_path / "relu.npz"
    assert main(["convert", str(FIXTURES / "tl_unprocessed.safetensors"), str(out), "--activation", "relu"]) == 0
    assert {m.activation for m in load_checkpoint(out).mlps} == {"relu"}
    assert {m.activation for m in load_checkpoint(FIXTURES / "tl_unprocessed.safetensors", activation="gelu").mlps} == {"gelu_erf"}
    capsys.readouterr()
    assert main(["analyze", str(source), "--activation", "relu", "--no-behaviour"]) == 2
    assert "contradicts the checkpoint's config.json" in capsys.readouterr().err
    with pytest.raises(WeightsError, match="unknown activation 'swish'"):
        load_checkpoint(FIXTURES / "tl_unprocessed.safetensors", activation="swish")


def test_convert_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "out.npz"
    out.write_bytes(b"")
    assert main(["convert", str(FIXTURES / "gpt2_fp32"), str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["convert", str(FIXTURES / "gpt2_fp32"), str(tmp_path / "out.pt")]) == 2


# --- malformed checkpoints: one table -------------------------------------------------------------


def _drop(key):
    return lambda arrays: {k: v for k, v in arrays.items() if k != key}


def _set(key, value):
    return lambda arrays: arrays | {key: value(arrays[key]) if callable(value) else value}


# (id, change of the arrays, config.json (None: none), --heads, message fragment)
MALFORMED = [
    ("missing-config", lambda a: a, None, None, "not stored in its tensors: put its config.json beside"),
    ("heads-do-not-divide", lambda a: a, {**_config(), "n_head": 5}, None, "inconsistent head count: 5 heads do not divide d_model = 32"),
    ("heads-disagree", lambda a: a, _config(), 2, "inconsistent head count: --heads 2 but config.json says n_head 4"),
    ("conv1d-transposed", _set("transformer.h.1.attn.c_attn.weight", lambda w: w.T), _config(), None,
     "wrong Conv1D orientation: transformer.h.1.attn.c_attn.weight has shape (96, 32)"),
    ("mlp-conv1d-transposed", _set("transformer.h.0.mlp.c_fc.weight", lambda w: w.T), _config(), None,
     "wrong Conv1D orientation: transformer.h.0.mlp.c_fc.weight"),
    ("missing-ln-bias", _drop("transformer.h.1.ln_2.bias"), _config(), None, "missing LayerNorm parameter transformer.h.1.ln_2.bias"),
    ("missing-ln-final", _drop("transformer.ln_f.weight"), _config(), None, "missing LayerNorm parameter transformer.ln_f.weight"),
    ("int-dtype", _set("transformer.h.0.attn.c_proj.bias", lambda b: b.astype(np.int32)), _config(), None,
     "transformer.h.0.attn.c_proj.bias has dtype I32"),
    ("n-embd-mismatch", lambda a: a, {**_config(), "n_embd": 64}, None, "config.json says n_embd = 64 but the checkpoint has 32"),
    ("n-layer-mismatch", _drop("transformer.h.1.attn.bias"), {**_config(), "n_layer": 3}, None, "n_layer = 3 but the checkpoint has 2"),
    ("n-positions-mismatch", lambda a: a, {**_config(), "n_positions": 1024}, None, "n_positions = 1024 but the checkpoint has 12"),
    ("activation", lambda a: a, {**_config(), "activation_function": "swish"}, None, "activation_function 'swish' is not supported"),
    ("unknown-key", _set("transformer.h.0.attn.q_proj.weight", np.ones((2, 2), np.float32)), _config(), None,
     "unknown key transformer.h.0.attn.q_proj.weight"),
    ("layer-gap", lambda a: {k.replace(".h.1.", ".h.7."): v for k, v in a.items()}, _config(), None,
     "names layer 7, but no key names layer 1"),
    ("lm-head-shape", _set("lm_head.weight", np.ones((60, 32), np.float32)), _config(), None, "lm_head.weight has shape (60, 32)"),
    ("nan", _set("transformer.wpe.weight", lambda w: np.where(np.arange(w.size).reshape(w.shape) == 5, np.nan, w)),
     _config(), None, "transformer.wpe.weight (shape (12, 32)) has 1 NaN/Inf values, the first at index (0, 5)"),
]


def _malformed(tmp_path, change, config):
    return _write_hf(tmp_path / "ckpt", change(_hf_arrays()), config).parent


@pytest.mark.parametrize("change, config, heads, fragment", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_checkpoint_is_one_clear_error(tmp_path, capsys, change, config, heads, fragment):
    folder = _malformed(tmp_path, change, config)
    with pytest.raises(WeightsError) as info:
        load_checkpoint(folder, heads=heads)
    assert fragment in str(info.value)
    assert main(["analyze", str(folder)] + ([] if heads is None else ["--heads", str(heads)])) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and fragment in captured.err


def test_the_unchanged_copy_loads(tmp_path):
    """Twin of the table: the same writing path without a change gives a working checkpoint."""
    folder = _malformed(tmp_path, lambda a: a, _config())
    np.testing.assert_allclose(logits(load_checkpoint(folder)), REFERENCE["logits_fp32"], rtol=0, atol=1e-4)


def test_transformer_lens_file_missing_a_layer_norm_parameter(tmp_path):
    arrays = dict(safetensors.numpy.load_file(str(FIXTURES / "tl_unprocessed.safetensors")))
    del arrays["blocks.1.ln1.w"]
    path = tmp_path / "tl.safetensors"
    safetensors.numpy.save_file(arrays, str(path))
    with pytest.raises(WeightsError, match="missing LayerNorm parameter blocks.1.ln1.w"):
        load_checkpoint(path)


# --- sharded checkpoints (save_pretrained past max_shard_size) ---------------------------------------


def _write_sharded(folder: Path, edit=None) -> Path:
    """The fp32 fixture split as Hugging Face shards it: model-0000k-of-00002.safetensors and the index."""
    arrays = _hf_arrays()
    keys = sorted(arrays)
    names = {key: f"model-0000{1 + (i >= len(keys) // 2)}-of-00002.safetensors" for i, key in enumerate(keys)}
    index = {"metadata": {"total_size": 0}, "weight_map": names}
    shards = {name: {k: arrays[k] for k in keys if names[k] == name} for name in set(names.values())}
    if edit is not None:
        edit(index, shards)
    folder.mkdir()
    for name, part in shards.items():
        safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in part.items()}, str(folder / name))
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "config.json").write_text(json.dumps(_config()))
    return folder


def test_sharded_checkpoint_reads_like_the_single_file(tmp_path, capsys):
    folder = _write_sharded(tmp_path / "sharded")
    np.testing.assert_allclose(logits(load_checkpoint(folder)), REFERENCE["logits_fp32"], rtol=0, atol=1e-4)
    assert main(["analyze", str(folder), "--json", "--no-behaviour"]) == 0
    copying = [row["copying"] for row in json.loads(capsys.readouterr().out)["heads"]]
    np.testing.assert_allclose(copying, REFERENCE["tl_copying"].ravel(), atol=1e-3)
    shard = next(folder.glob("model-00001-*.safetensors"))
    assert main(["convert", str(folder), str(shard), "--force"]) == 2  # would overwrite what it reads
    assert "OUT is the input file" in capsys.readouterr().err


def _move_key(index, shards):  # the map says shard 2, the tensor is in shard 1
    key = next(iter(shards["model-00001-of-00002.safetensors"]))
    index["weight_map"][key] = "model-00002-of-00002.safetensors"


SHARDED = [
    ("missing-shard", lambda index, shards: shards.pop("model-00002-of-00002.safetensors"), "no such file"),
    ("key-in-another-shard", _move_key, "which does not hold it"),
    ("unlisted-key", lambda index, shards: shards["model-00001-of-00002.safetensors"].update(extra=np.ones(2)),
     "holds extra, which weight_map gives to another shard or omits"),
    ("path-outside", lambda index, shards: index["weight_map"].update({"transformer.wte.weight": "../x.safetensors"}),
     "expected a .safetensors file name in the index's directory"),
    ("no-weight-map", lambda index, shards: index.pop("weight_map"), "the index has no weight_map"),
]


@pytest.mark.parametrize("edit, fragment", [case[1:] for case in SHARDED], ids=[case[0] for case in SHARDED])
def test_malformed_sharded_checkpoint_is_one_clear_error(tmp_path, capsys, edit, fragment):
    folder = _write_sharded(tmp_path / "sharded", edit)
    with pytest.raises(WeightsError, match="sharded checkpoint"):
        load_checkpoint(folder)
    assert main(["analyze", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and fragment in captured.err
