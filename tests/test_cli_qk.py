"""``tensoralg qk-dictionary`` and ``tensoralg qk-pairs``: the shipped dictionary of the C18 model,
JSON, a tiny training run end to end, and one-line errors (exit 2) from one table of cases."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

from tensoralg.cli import main
from tensoralg.models.qk_dictionary import random_dictionary, read_dictionary, save_dictionary, shipped_dictionaries
from tensoralg.models.toy_models import induction_model
from tensoralg.models.weights import save_weights

TOY = "qk-c18-induction-L1"


def test_a_dictionary_for_the_c18_model_is_shipped():
    assert TOY in shipped_dictionaries()
    d = read_dictionary(shipped_dictionaries()[TOY])
    assert (d.layer, d.n_heads, d.model) == (1, 1, "c18-induction")
    assert d.mask is not None and d.mask_without_bias_term is not None and d.mask_shuffled is not None


def test_pairs_show_the_induction_mechanism(capsys):
    assert main(["qk-pairs", TOY, "--top", "3"]) == 0
    out = capsys.readouterr().out
    pairs = [line for line in out.splitlines() if re.match(r"Q\d+ ", line)]
    assert len(pairs) == 3 and all(line.rstrip().endswith("induction") for line in pairs)
    assert "current token is '" in pairs[0] and "previous token was '" in pairs[0]


def test_pairs_json_schema(capsys):
    assert main(["qk-pairs", TOY, "--head", "1.0", "--top", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"dictionary", "model", "layer", "mask", "d_hidden", "pairs", "corpus", "heads", "figures"}
    (head,) = report["heads"]
    assert head["head"] == "L1H0" and len(head["pairs"]) == 2
    top = head["pairs"][0]
    assert set(top) == {"query", "key", "weight", "contribution", "mechanism"}
    assert top["mechanism"] == "induction"
    assert top["query"]["kind"] == "current" and top["key"]["kind"] == "previous"
    assert set(top["query"]["tokens"]) & set(top["key"]["tokens"])
    assert set(top["query"]["top"][0]) == {"context", "activation"}
    assert head["bias_terms"][0]["query"] is None
    assert report["pairs"]["surviving"] == head["surviving"] > 0


def test_shuffled_mask_pairs_are_listed(capsys):
    assert main(["qk-pairs", TOY, "--mask", "shuffled", "--json", "--top", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["mask"] == "mask_shuffled"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("qk")
    model = d / "toy.npz"
    save_weights(induction_model(n_vocab=5, n_ctx=8), model)
    (d / "toy.json").write_text(json.dumps({"vocabulary": ["zero", "one", "two", "three", "four"]}))
    rng = np.random.default_rng(0)
    # the model: d_model = 3·5 + 8 = 23, one head of d_head 8 per layer
    ones = np.ones((4, 4, 1))
    save_dictionary(random_dictionary(rng, 1, 8, 23, (4, 4), layer=1, mask=ones, model=str(model)), d / "fits.safetensors")
    save_dictionary(random_dictionary(rng, 1, 8, 23, (4, 4), layer=1, mask=ones), d / "nomodel.safetensors")
    save_dictionary(random_dictionary(rng, 1, 6, 23, (4, 4), layer=1, mask=ones, model=str(model)), d / "misfit.safetensors")
    save_dictionary(random_dictionary(rng, 1, 8, 23, (4, 4), layer=1, model=str(model)), d / "step1.safetensors")
    (d / "card_bad.npz").write_bytes(model.read_bytes())
    (d / "card_bad.json").write_text(json.dumps({"vocabulary": ["a"]}))
    return d


def test_token_strings_come_from_the_model_card(files, capsys):
    assert main(["qk-pairs", str(files / "fits.safetensors"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    tokens = {t for row in report["heads"] for pair in row["pairs"] + row["bias_terms"] for side in (pair["query"], pair["key"])
              if side for t in side["tokens"]}
    assert tokens and tokens <= {"zero", "one", "two", "three", "four"}


def _no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError


BAD = [
    ("pairs-missing-file", ["qk-pairs", "{d}/none.safetensors"], "no such file"),
    ("pairs-not-a-dictionary", ["qk-pairs", "{d}/toy.npz"], ".safetensors"),
    ("pairs-no-model", ["qk-pairs", "{d}/nomodel.safetensors"], "names no model"),
    ("pairs-misfit", ["qk-pairs", "{d}/misfit.safetensors"], "does not fit the model"),
    ("pairs-step1-only", ["qk-pairs", "{d}/step1.safetensors"], "has no mask"),
    ("pairs-head-layer", ["qk-pairs", TOY, "--head", "0.0"], "covers heads 1.0"),
    ("pairs-head-syntax", ["qk-pairs", TOY, "--head", "L1H0"], "expects L.H"),
    ("pairs-card", ["qk-pairs", "{d}/fits.safetensors", "--model", "{d}/card_bad.npz"], "lists 1 tokens; the weights have n_vocab = 5"),
    ("pairs-no-sequences", ["qk-pairs", TOY, "--sequences", "0"], "--sequences: expected a positive integer"),
    ("pairs-bad-mask", ["qk-pairs", TOY, "--mask", "all"], "--mask: invalid choice"),
    ("pairs-negative-top", ["qk-pairs", TOY, "--top", "-1"], "--top: expected a non-negative integer"),
    ("pairs-unknown-model", ["qk-pairs", TOY, "--model", "gpt-7"], "unknown model 'gpt-7'"),
    ("train-no-torch", ["qk-dictionary", "c18-induction", "--layer", "1", "-o", "{d}/x.safetensors"], "training needs torch"),
]


@pytest.mark.parametrize("argv, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_exit_2(files, capsys, monkeypatch, argv, message):
    if argv[0] == "qk-dictionary":
        _no_torch(monkeypatch)
    try:
        code = main([a.format(d=files) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


TRAIN_BAD = [
    ("suffix", ["c18-induction", "--layer", "1", "-o", "{d}/x.npz"], "written as .safetensors"),
    ("layer", ["c18-induction", "--layer", "5", "-o", "{d}/x.safetensors"], "layer 5 does not exist"),
    ("unknown-model", ["nope", "--layer", "0", "-o", "{d}/x.safetensors"], "unknown model 'nope'"),
    ("negative-mu", ["c18-induction", "--layer", "1", "--mask-sparsity", "-2", "-o", "{d}/x.safetensors"],
     "mask_sparsity must be a non-negative number"),
]


@pytest.mark.parametrize("argv, message", [b[1:] for b in TRAIN_BAD], ids=[b[0] for b in TRAIN_BAD])
def test_bad_training_input(files, capsys, argv, message):
    pytest.importorskip("torch")
    assert main(["qk-dictionary", *(a.format(d=files) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_train_then_read_pairs(files, capsys):
    pytest.importorskip("torch")
    out = files / "tiny.safetensors"
    assert main(["qk-dictionary", str(files / "toy.npz"), "--layer", "1", "--preset", "tiny", "--steps", "60",
                 "--mask-steps", "20", "--mask-sparsity", "0.5", "--seed", "3", "-o", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["config"]["steps"], info["config"]["seed"], info["config"]["mask_sparsity"]) == (60, 3, 0.5)
    assert {"l0", "live", "kl", "key_bias_share", "pairs", "loss"} <= set(info["figures"])
    assert main(["qk-pairs", str(out), "--top", "1"]) == 0
    assert "L1H0" in capsys.readouterr().out


def test_the_shipped_two_layer_dictionary_reads_induction_on_every_head(capsys):
    """attn-only-2l: its four layer-1 heads are K-composition induction heads (tensoralg analyze)."""
    assert main(["qk-pairs", "qk-attn-only-2l-L1", "--top", "1", "--json", "--sequences", "32"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "attn-only-2l" and [h["head"] for h in report["heads"]] == ["L1H0", "L1H1", "L1H2", "L1H3"]
    for head in report["heads"]:
        (top,) = head["pairs"]
        assert top["mechanism"] == "induction", head
        word = set(top["query"]["tokens"]) & set(top["key"]["tokens"])
        assert word and all(t.isalpha() for t in word)  # the card's token strings, e.g. 'gagu'


def test_corpus_is_the_models_training_distribution_when_its_card_has_one():
    from tensoralg.models.qk_metrics import repeated_segment_tokens
    from tensoralg.training.qk_dictionary import corpus_for

    assert corpus_for("c18-induction") is repeated_segment_tokens
    shipped = corpus_for("attn-only-2l")
    tokens = shipped(np.random.default_rng(0), 64, 32, 5)
    assert shipped is not repeated_segment_tokens and tokens.shape == (5, 32) and tokens.max() < 64
    np.testing.assert_array_equal(tokens, shipped(np.random.default_rng(0), 64, 32, 5))
