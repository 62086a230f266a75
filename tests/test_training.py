"""Training (the train extra): torch and tensoralg compute the same model; a few dozen steps lower the loss."""

import json

import numpy as np
import pytest

from tensoralg.cli import main
from tensoralg.models.model import forward, with_weights
from tensoralg.models.registry import resolve
from tensoralg.models.weights import load_weights, model_arrays, write_arrays
from tensoralg.training.train import PRESETS, TrainingError, preset, with_steps

torch = pytest.importorskip("torch")

from tensoralg.training.torch_model import AttentionOnly, to_model  # noqa: E402


@pytest.mark.parametrize("heads, positional", [((2, 3), True), ((1,), False), ((2, 1, 2), True)])
def test_torch_logits_are_tensoralgs_forward_pass(heads, positional, tmp_path):
    """The saved weights reproduce torch's logits through tensoralg's own forward pass (column vectors)."""
    module = AttentionOnly(11, 9, heads, 8, 4, positional, torch.Generator().manual_seed(0))
    with torch.no_grad():  # move off the initialisation so every weight matters
        for p in module.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    tokens = np.random.default_rng(1).integers(0, 11, size=(3, 9))
    with torch.no_grad():
        ours = module(torch.as_tensor(tokens)).double().numpy()
    path = tmp_path / "w.safetensors"
    write_arrays(model_arrays(to_model(module)), path)
    model = load_weights(path)
    for row, sequence in enumerate(tokens):
        np.testing.assert_allclose(forward(model, sequence).logits, ours[row], rtol=1e-4, atol=1e-4)


def test_a_transposed_unembedding_is_caught():
    """The twin: the same weights with W_U read transposed (row-vector style; square here) give other logits."""
    module = AttentionOnly(8, 6, (1,), 8, 4, True, torch.Generator().manual_seed(0))
    model = to_model(module)
    tokens = np.arange(6)
    with torch.no_grad():
        ours = module(torch.as_tensor(tokens[None])).double().numpy()[0]
    np.testing.assert_allclose(forward(model, tokens).logits, ours, rtol=1e-4, atol=1e-4)
    wrong = forward(with_weights(model, W_U=model.W_U.T), tokens).logits
    assert not np.allclose(wrong, ours, atol=1e-3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "tiny.safetensors"
    assert main(["train", "tiny", "-o", str(out), "--quiet"]) == 0
    return out


def test_tiny_preset_lowers_the_loss_and_saves_weights_with_card(tiny):
    card = json.loads(tiny.with_suffix(".json").read_text())
    curve = card["loss_curve"]
    assert curve[0]["step"] == 0 and curve[-1]["step"] == PRESETS["tiny"].steps
    assert curve[-1]["eval_loss"] < curve[0]["eval_loss"] - 0.2
    assert len(card["vocabulary"]) == card["architecture"]["n_vocab"] and card["training"]["data"]["seed"] == 3
    model = load_weights(tiny)
    assert model.heads == PRESETS["tiny"].heads and resolve(tiny).vocabulary == tuple(card["vocabulary"])
    assert card["evaluation"]["loss"]["all"] == pytest.approx(card["final_loss"]["held_out"], abs=0.3)


def test_training_is_reproducible(tiny, tmp_path):
    again = tmp_path / "again.safetensors"
    assert main(["train", "tiny", "-o", str(again), "--quiet"]) == 0
    one, two = load_weights(tiny), load_weights(again)
    np.testing.assert_array_equal(one.W_E, two.W_E)
    np.testing.assert_array_equal(one.layers[1].W_O, two.layers[1].W_O)


BAD = [
    ("unknown-preset", ["train", "huge", "-o", "x.safetensors"], "unknown preset 'huge'"),
    ("not-safetensors", ["train", "tiny", "-o", "x.pt"], "must be a .safetensors file"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_is_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_presets():
    assert with_steps(preset("tiny"), 5).steps == 5
    with pytest.raises(TrainingError, match="positive"):
        with_steps(preset("tiny"), 0)
