"""Weights I/O: round trips in both formats and namings, TransformerLens conversion, bad files rejected."""

import io
import json
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
import safetensors.numpy

from tensoralg.cli import main
from tensoralg.errors import WeightsError
from tensoralg.models.model import AttentionLayer, MLPLayer, forward, random_model, with_weights
from tensoralg.models.weights import (
    NAMINGS, load_weights, model_arrays, model_from_arrays, naming_of, read_arrays, save_weights, to_tensoralg,
    to_transformer_lens, write_arrays,
)


def full_model():
    """Every optional tensor present: biases everywhere, positional embeddings, an MLP, LayerNorm."""
    rng = np.random.default_rng(7)
    base = random_model(rng, heads=(2, 3), d_model=6, d_head=2, n_vocab=9, n_ctx=5, positional=True, mlp=True, d_mlp=4)
    layers = tuple(
        AttentionLayer(l.W_Q, l.W_K, l.W_V, l.W_O, *(rng.normal(size=s) for s in [(l.n_heads, 2)] * 3 + [(6,)]))
        for l in base.layers
    )
    mlps = (base.mlps[0], MLPLayer(base.mlps[1].W_in, base.mlps[1].W_out, rng.normal(size=4), rng.normal(size=6)))
    return with_weights(base, layers=layers, mlps=mlps, b_U=rng.normal(size=9), layer_norm=True, score_scale=0.3)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("naming", NAMINGS)
def test_round_trip_keeps_every_tensor_and_the_logits(tmp_path, naming, suffix):
    model = full_model()
    path = tmp_path / f"model{suffix}"
    save_weights(model, path, naming)
    assert naming_of(read_arrays(path)) == naming
    loaded = load_weights(path)
    before, after = model_arrays(model), model_arrays(loaded)
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    assert (loaded.score_scale, loaded.layer_norm) == (0.3, True)
    tokens = np.array([3, 1, 4, 1, 5])
    # Equal weights; a TransformerLens file loads as transposed views, whose products BLAS sums in another order.
    np.testing.assert_allclose(forward(loaded, tokens).logits, forward(model, tokens).logits, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("naming", NAMINGS)
def test_the_mlp_activation_is_saved_and_read_back(tmp_path, naming, suffix):
    """A ReLU model written and read again is a ReLU model (read as GELU its logits differ: the twin)."""
    model = full_model()
    relu = with_weights(model, mlps=tuple(MLPLayer(m.W_in, m.W_out, m.b_in, m.b_out, activation="relu") for m in model.mlps))
    path = tmp_path / f"relu{suffix}"
    save_weights(relu, path, naming)
    assert float(read_arrays(path)["config.activation"]) == 1.0
    loaded = load_weights(path)
    assert {m.activation for m in loaded.mlps} == {"relu"}
    tokens = np.array([3, 1, 4, 1, 5])
    np.testing.assert_allclose(forward(loaded, tokens).logits, forward(relu, tokens).logits, rtol=1e-12, atol=1e-12)
    as_gelu = load_weights(path, activation="gelu")
    assert np.abs(forward(as_gelu, tokens).logits - forward(relu, tokens).logits).max() > 1e-3
    save_weights(model, tmp_path / f"gelu{suffix}", naming)  # GELU (gelu_new is the same function) is code 0
    assert float(read_arrays(tmp_path / f"gelu{suffix}")["config.activation"]) == 0.0


def test_a_file_holds_one_activation(tmp_path):
    model = full_model()
    mixed = with_weights(model, mlps=(model.mlps[0], MLPLayer(model.mlps[1].W_in, model.mlps[1].W_out, activation="relu")))
    with pytest.raises(WeightsError, match="different activations"):
        save_weights(mixed, tmp_path / "mixed.npz")


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_a_loaded_transformer_lens_file_expands_into_path_terms_that_sum_to_its_logits(tmp_path, suffix):
    from tensoralg.algebra.architecture import Architecture
    from tensoralg.paths.expansion import TermValues, iter_logit_terms

    model = random_model(np.random.default_rng(11), heads=(2, 1), d_model=6, d_head=3, n_vocab=8, n_ctx=5, positional=True)
    path = tmp_path / f"tl{suffix}"
    save_weights(model, path, "transformer_lens")
    loaded = load_weights(path)
    tokens = np.array([2, 7, 2, 0, 5])
    values = TermValues(loaded, tokens)
    terms = list(iter_logit_terms(Architecture.from_model(loaded)))
    assert len(terms) == 2 * (1 + 2) * (1 + 1)  # token and position sources, Π(1+|H_l|) paths each
    total = sum(values.logits(term) for term in terms)
    np.testing.assert_allclose(total, forward(loaded, tokens).logits, rtol=1e-10, atol=1e-10)
    # Twin: dropping the virtual terms no longer gives the logits.
    partial = sum(values.logits(term) for term in terms if term.order < 2)
    assert not np.allclose(partial, forward(loaded, tokens).logits, rtol=1e-6)


def test_conversion_transposes_each_matrix_and_round_trips():
    ours = model_arrays(full_model())
    tl = to_transformer_lens(ours)
    assert tl["embed.W_E"].shape == (9, 6) and tl["unembed.W_U"].shape == (6, 9) and tl["pos_embed.W_pos"].shape == (5, 6)
    np.testing.assert_array_equal(tl["blocks.1.attn.W_Q"][2], ours["layers.1.W_Q"][2].T)
    np.testing.assert_array_equal(tl["blocks.0.attn.W_O"][1], ours["layers.0.W_O"][1].T)
    np.testing.assert_array_equal(tl["blocks.1.mlp.W_in"], ours["mlps.1.W_in"].T)
    np.testing.assert_array_equal(tl["blocks.1.attn.b_O"], ours["layers.1.b_O"])
    back = to_tensoralg(tl)
    assert back.keys() == ours.keys()
    for key in ours:
        np.testing.assert_array_equal(back[key], ours[key])


def test_transformer_lens_row_vector_arithmetic_agrees():
    """x @ W_Q_TL + b_Q (TransformerLens) equals W_Q x + b_Q (ours); likewise the embedding and unembedding."""
    model = full_model()
    tl = to_transformer_lens(model_arrays(model))
    x = np.random.default_rng(0).normal(size=6)
    np.testing.assert_allclose(x @ tl["blocks.0.attn.W_Q"] + tl["blocks.0.attn.b_Q"], model.layers[0].W_Q @ x + model.layers[0].b_Q)
    z = np.random.default_rng(1).normal(size=(2, 2))
    np.testing.assert_allclose(np.einsum("hd,hdm->m", z, tl["blocks.0.attn.W_O"]), np.einsum("hmd,hd->m", model.layers[0].W_O, z))
    np.testing.assert_allclose(tl["embed.W_E"][4], model.W_E[:, 4])
    np.testing.assert_allclose(x @ tl["unembed.W_U"], model.W_U @ x)


def test_defaults_without_config_keys_and_overrides():
    arrays = to_transformer_lens(model_arrays(random_model(np.random.default_rng(0), heads=(1,), d_head=4)))
    del arrays["config.score_scale"], arrays["config.layer_norm"]
    model = model_from_arrays(arrays)
    assert (model.score_scale, model.layer_norm) == (0.5, False)  # TransformerLens's 1/√d_head
    assert model_from_arrays(arrays, score_scale=2.0, layer_norm=True).score_scale == 2.0
    arrays["blocks.0.attn.mask"] = np.tril(np.ones((3, 3)))  # TransformerLens buffer: ignored
    assert model_from_arrays(arrays).heads == (1,)


def _tl() -> dict:
    return to_transformer_lens(model_arrays(random_model(np.random.default_rng(0), heads=(2, 2), d_model=4, d_head=2, n_vocab=5, n_ctx=3, positional=True)))


def _ours() -> dict:
    return model_arrays(random_model(np.random.default_rng(0), heads=(2, 2), d_model=4, d_head=2, n_vocab=5))


def _edit(arrays: dict, **changes) -> dict:
    out = dict(arrays)
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del out[key]
        else:
            out[key] = value
    return out


def _nan(arrays: dict, key: str, value: float) -> dict:
    array = arrays[key].copy()
    array.flat[3] = value
    return {**arrays, key: array}


# (id, arrays to write or a function writing the file itself, suffix, message fragments)
BAD_ARRAYS = [
    ("missing-key-tl", lambda: _edit(_tl(), blocks__1__attn__W_V=None), ".npz", ["missing key blocks.1.attn.W_V", "n_heads×d_model×d_head"]),
    ("missing-key-ours", lambda: _edit(_ours(), W_U=None), ".safetensors", ["missing key W_U"]),
    ("missing-embedding", lambda: _edit(_tl(), embed__W_E=None), ".npz", ["missing key", "embed.W_E"]),
    ("wrong-shape", lambda: _edit(_tl(), blocks__0__attn__W_K=np.ones((2, 4, 3))), ".npz", ["blocks.0.attn.W_K has shape (2, 4, 3)", "expected (2, 4, 2)"]),
    ("wrong-axes", lambda: _edit(_ours(), W_E=np.ones(4)), ".npz", ["W_E has shape (4,)", "2 axes"]),
    ("inconsistent-heads", lambda: _edit(_tl(), blocks__1__attn__W_O=np.ones((3, 2, 4))), ".safetensors", ["inconsistent head count in layer 1", "blocks.1.attn.W_O has 3 heads", "has 2"]),
    ("NaN", lambda: _nan(_tl(), "blocks.0.attn.W_Q", np.nan), ".safetensors", ["blocks.0.attn.W_Q", "1 NaN/Inf"]),
    ("Inf", lambda: _nan(_ours(), "W_E", np.inf), ".npz", ["W_E", "NaN/Inf", "index (0, 3)"]),
    ("unknown-key", lambda: _edit(_tl(), blocks__0__attn__W_QK=np.ones(4)), ".npz", ["unknown key blocks.0.attn.W_QK"]),
    ("both-namings", lambda: _edit(_tl(), W_E=np.ones((4, 5))), ".npz", ["both W_E", "embed.W_E"]),
    ("string-dtype", lambda: _edit(_ours(), b_U=np.array(["a"] * 5)), ".npz", ["b_U has dtype <U1"]),
    ("bad-score-scale", lambda: _edit(_ours(), config__score_scale=np.array(-1.0)), ".npz", ["score_scale must be a positive number"]),
    ("bad-activation", lambda: _edit(_ours(), config__activation=np.array(7.0)), ".npz", ["config.activation must be one of", "1 (relu)", "got 7"]),
]


def _write_object_npz(path):
    np.savez(path, W_E=np.array([{"a": 1}], dtype=object))


def _write_pickle(path):
    path.write_bytes(pickle.dumps({"W_E": np.ones((2, 2))}))


def _write_npy(path):
    np.save(path, np.ones((2, 2)))


def _truncate(suffix):
    def write(path):
        write_arrays(_tl(), path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return write


def _npz_member(name: str, header: dict, data: bytes, compress: bool = False):
    """An .npz whose member ``name`` has the .npy header ``header`` followed by ``data`` (which may contradict it)."""
    def write(path):
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, header)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
            for key, value in _ours().items():
                archive.writestr(f"{key}.npy", _npy_bytes(value))
            archive.writestr(f"{name}.npy", buffer.getvalue() + data)
    return write


def _zip_bomb(path):
    """64 MB of zeros deflated into ~64 kB, under a key the structure check refuses before reading anything."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (16 * 2**20,)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in _ours().items():
            archive.writestr(f"{key}.npy", _npy_bytes(value))
        with archive.open("layers.0.W_Q_bomb.npy", "w", force_zip64=True) as member:
            member.write(buffer.getvalue())
            zeros = bytes(2**20)
            for _ in range(64):
                member.write(zeros)


def _raw_safetensors(changes: dict, header_length: int | None = None):
    """A .safetensors of _ours() with some header entries replaced (dtype, shape, data_offsets as given)."""
    def write(path):
        header, data = {}, b""
        for key, value in _ours().items():
            raw = np.ascontiguousarray(value, dtype="<f8").tobytes()
            header[key] = {"dtype": "F64", "shape": list(np.shape(value)), "data_offsets": [len(data), len(data) + len(raw)]}
            data += raw
        for key, entry in changes.items():
            header[key] = {**header.get(key, {}), **entry}
        text = json.dumps(header).encode()
        path.write_bytes(struct.pack("<Q", header_length or len(text)) + text + data)
    return write


def _impossible_ratio(path):
    """A deflated member whose zip directory claims 2 GB from a few compressed bytes (deflate cannot exceed 1032:1)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in _ours().items():
            archive.writestr(f"{key}.npy", _npy_bytes(value))
    data = bytearray(path.read_bytes())
    entry = data.rindex(b"PK\x01\x02")  # the last central-directory entry; its uncompressed size is at +24
    data[entry + 24:entry + 28] = (2**31 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(data))


def _directory(path):
    path.mkdir()


BAD_FILES = [
    ("object-array-npz", _write_object_npz, ".npz", ["W_E", "without pickle"]),
    ("pickle-named-npz", _write_pickle, ".npz", ["cannot read", "pickle"]),
    ("npy-object", lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), ".npy", ["unknown weights file type '.npy'"]),
    ("npy-renamed-npz", lambda p: p.write_bytes(_npy_bytes()), ".npz", ["single array"]),
    ("truncated-npz", _truncate(".npz"), ".npz", ["cannot read", ".npz"]),
    ("truncated-safetensors", _truncate(".safetensors"), ".safetensors", ["cannot read", "safetensors"]),
    ("torch-checkpoint", lambda p: p.write_bytes(b"PK\x03\x04"), ".pt", ["unknown weights file type '.pt'"]),
    ("not-there", None, ".npz", ["no such file"]),
    # Headers are checked against the file before anything is read or allocated (issue 10).
    ("npz-declares-1e10-elements", _npz_member("b_U", {"descr": "<f8", "fortran_order": False, "shape": (10**5, 10**5)}, bytes(16)),
     ".npz", ["b_U declares shape [100000, 100000]", "holds 16 bytes"]),
    ("npz-declares-1e14-elements", _npz_member("b_U", {"descr": "<f8", "fortran_order": False, "shape": (10**7, 10**7)}, bytes(8), True),
     ".npz", ["b_U declares shape [10000000, 10000000]"]),
    ("huge-layer-index", lambda p: write_arrays(_edit(_ours(), **{"layers__999999999__W_Q": np.ones((2, 2, 4))}), p), ".npz",
     ["layers.999999999.W_Q names layer 999999999, but no key names layer 2"]),
    ("zip-bomb", _zip_bomb, ".npz", ["unknown key layers.0.W_Q_bomb"]),
    ("impossible-ratio", _impossible_ratio, ".npz", ["more than deflate can produce"]),
    ("packed-float4", _raw_safetensors({"b_U": {"dtype": "F4", "shape": [5], "data_offsets": [0, 3]}}), ".safetensors",
     ["b_U has dtype F4"]),
    ("float8", _raw_safetensors({"b_U": {"dtype": "F8_E4M3", "shape": [5], "data_offsets": [0, 5]}}), ".safetensors",
     ["b_U has dtype F8_E4M3"]),
    ("complex", lambda p: write_arrays(_edit(_ours(), b_U=np.ones(5, np.complex64)), p), ".npz", ["b_U has dtype complex64"]),
    ("int", lambda p: write_arrays(_edit(_ours(), b_U=np.ones(5, np.int64)), p), ".safetensors", ["b_U has dtype I64"]),
    ("d_model-0", lambda p: write_arrays({"W_E": np.ones((0, 5)), "W_U": np.ones((5, 0))}, p), ".npz",
     ["W_E has shape (0, 5): its axis d_model is empty"]),
    ("n_vocab-0", lambda p: write_arrays({"W_E": np.ones((4, 0)), "W_U": np.ones((0, 4))}, p), ".safetensors",
     ["W_E has shape (4, 0): its axis n_vocab is empty"]),
    ("weights-1e300", lambda p: write_arrays(_nan(_ours(), "W_U", 1e300), p), ".npz",
     ["W_U (shape (5, 4)) has a weight of magnitude 1e+300 at index (0, 3)"]),
    ("directory", _directory, ".npz", ["bad.npz is a directory"]),
    ("safetensors-header-too-long", _raw_safetensors({}, header_length=2**40), ".safetensors",
     ["the header declares 1099511627776 bytes"]),
    ("safetensors-offsets-outside", _raw_safetensors({"W_E": {"data_offsets": [0, 10**12]}}), ".safetensors",
     ["W_E has data_offsets [0, 1000000000000], outside the"]),
    ("safetensors-shape-lies", _raw_safetensors({"W_E": {"shape": [10**6, 10**6]}}), ".safetensors",
     ["W_E declares shape [1000000, 1000000] of F64"]),
    ("safetensors-negative-shape", _raw_safetensors({"W_E": {"shape": [-4, 5]}}), ".safetensors",
     ["W_E declares shape [-4, 5]; expected a list of non-negative integers"]),
]


def _npy_bytes(value=None) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ones((2, 2)) if value is None else value)
    return buffer.getvalue()


CASES = [(i, (lambda build: lambda p: write_arrays(build(), p))(b), s, m) for i, b, s, m in BAD_ARRAYS] + BAD_FILES


def _bad_file(tmp_path, write, suffix):
    path = tmp_path / f"bad{suffix}"
    if write is not None:
        write(path)
    return path


@pytest.mark.parametrize("write, suffix, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_file_is_rejected_with_a_clear_error(tmp_path, write, suffix, fragments):
    path = _bad_file(tmp_path, write, suffix)
    with pytest.raises(WeightsError) as info:
        load_weights(path)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("write, suffix, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_file_exits_2_from_the_cli_with_one_line(tmp_path, capsys, write, suffix, fragments):
    path = _bad_file(tmp_path, write, suffix)
    assert main(["analyze", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tensoralg analyze: error: ") and captured.err.count("\n") == 1
    assert fragments[0] in captured.err


@pytest.mark.parametrize("write, suffix", [c[1:3] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_files_are_refused_in_bounded_memory(tmp_path, write, suffix):
    """Every bad file is refused allocating at most 8 MB (numpy reports its allocations to tracemalloc)."""
    path = _bad_file(tmp_path, write, suffix)
    tracemalloc.start()
    try:
        with pytest.raises(WeightsError):
            load_weights(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_object_arrays_are_never_unpickled(tmp_path, monkeypatch):
    path = tmp_path / "evil.npz"
    _write_object_npz(path)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(WeightsError):
        read_arrays(path)


def test_write_errors(tmp_path):
    with pytest.raises(WeightsError, match="unknown weights file type '.bin'"):
        write_arrays({"W_E": np.ones((2, 2))}, tmp_path / "m.bin")
    with pytest.raises(WeightsError, match="cannot write"):
        write_arrays({"W_E": np.ones((2, 2))}, tmp_path / "missing-dir" / "m.safetensors")
    with pytest.raises(WeightsError, match="unknown naming 'pytorch'"):
        save_weights(full_model(), tmp_path / "m.npz", "pytorch")


def test_safetensors_file_is_read_with_safetensors_numpy(tmp_path):
    path = tmp_path / "m.safetensors"
    save_weights(full_model(), path, "transformer_lens")
    assert safetensors.numpy.load_file(str(path))["embed.W_E"].shape == (9, 6)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_config_flags_and_codes_may_be_integers_or_booleans(tmp_path, suffix):
    """np.savez(..., **{"config.layer_norm": True}) is how people write a flag: read as the number it is.
    Only scalars: an integer tensor is still refused (the int case of BAD_FILES)."""
    model = full_model()
    relu = with_weights(model, mlps=tuple(MLPLayer(m.W_in, m.W_out, m.b_in, m.b_out, activation="relu") for m in model.mlps))
    arrays = model_arrays(relu) | {"config.layer_norm": np.array(True), "config.activation": np.array(1, dtype=np.int32),
                                   "config.score_scale": np.array(2, dtype=np.int64)}
    path = tmp_path / f"ints{suffix}"
    write_arrays(arrays, path)
    loaded = load_weights(path)
    assert (loaded.layer_norm, loaded.score_scale, {m.activation for m in loaded.mlps}) == (True, 2.0, {"relu"})
    assert model_from_arrays(arrays).score_scale == 2.0
    write_arrays(arrays | {"config.layer_norm": np.array(False)}, tmp_path / f"off{suffix}")
    assert load_weights(tmp_path / f"off{suffix}").layer_norm is False  # False is read as 0, not ignored
