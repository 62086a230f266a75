"""The shipped models: listed, loadable by name, small, and carrying the circuits their cards claim."""

import json
from pathlib import Path

import numpy as np
import pytest

from tensoralg.cli import main
from tensoralg.errors import WeightsError
from tensoralg.models.registry import SHIPPED, resolve, shipped_models
from tensoralg.models.skip_trigrams import recall, skip_trigrams
from tensoralg.models.toy_models import induction_model
from tensoralg.models.weights import save_weights

NAMES = ["attn-only-1l", "attn-only-2l"]


def run_json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_both_models_ship_small_with_cards():
    assert [m.name for m in shipped_models()] == NAMES
    for m in shipped_models():
        assert m.weights.stat().st_size <= 2_000_000
        model = m.load()
        card = m.card
        assert len(m.vocabulary) == model.n_vocab == card["architecture"]["n_vocab"]
        assert list(model.heads) == card["architecture"]["heads"] and card["training"]["steps"] > 0
        assert card["final_loss"]["held_out"] > 0 and card["loss_curve"][-1]["step"] == card["training"]["steps"]


def test_models_command_lists_names_paths_and_cards(capsys):
    data = run_json(capsys, "models")
    assert [m["name"] for m in data["models"]] == NAMES
    assert all(m["path"].startswith(str(SHIPPED)) and m["card"]["vocabulary"] for m in data["models"])
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "attn-only-2l:" in out and "second copies" in out and "planted a … b → c" in out


def test_analyze_attn_only_2l_finds_the_papers_route_with_token_strings(capsys):
    report = run_json(capsys, "analyze", "attn-only-2l")
    assert report["previous_token_heads"] and all(h.startswith("L0") for h in report["previous_token_heads"])
    routes = report["induction_routes"]
    assert routes and all(r["route"] == "K-composition" and r["head"].startswith("L1") and r["partner"].startswith("L0")
                          for r in routes)
    assert report["vocabulary"] and report["disagreements"] == []
    words = set(resolve("attn-only-2l").vocabulary)
    first = report["heads"][-1]["ov_top"][0]
    assert set(first.split(" → ")) <= words


def test_skip_trigrams_of_attn_only_1l_recover_the_planted_ones(capsys):
    data = run_json(capsys, "skip-trigrams", "attn-only-1l")
    assert data["planted"] == data["top"] and data["recall"] >= 0.9
    assert sum(t["planted"] for t in data["triples"]) == round(data["recall"] * data["planted"])
    assert all(" … " in t["text"] and t["a"] in resolve("attn-only-1l").vocabulary for t in data["triples"])


def test_a_scrambled_list_is_not_recovered():
    source = resolve("attn-only-1l")
    triples = source.card["triples"]
    found = skip_trigrams(source.load(), top=len(triples))
    rotated = [[a, b, c] for (a, b, _), (_, _, c) in zip(triples, triples[1:] + triples[:1])]
    assert recall(found, rotated) < 0.1 < recall(found, triples)


def test_importance_of_attn_only_2l_sums_exactly_and_the_induction_head_carries_the_repeats(capsys):
    """With patterns frozen, the induction head's copying is a single-head term (K-composition shaped its
    pattern, C14): on repeated tokens adding the single heads removes most of the loss, and the most
    important path there is a layer-1 head."""
    data = run_json(capsys, "importance", "attn-only-2l", "--sequences", "8")
    assert data["max_sum_error"] < 1e-9
    last = data["rows"][-1]["loss"]
    assert [r["name"] for r in data["rows"]] == ["direct path only", "+ single heads", "+ virtual heads"]
    assert last == pytest.approx(data["full_model"], abs=1e-9)
    repeated = [r["loss"]["repeated"] for r in data["rows"]]
    assert repeated[1] < repeated[0] - 1.0
    top = data["paths"]["repeated"][0]
    assert top["delta_loss"] > 0.5 and top["path"].startswith("L1") and top["family"] == "single-head"


def test_unknown_model_name_is_one_line(capsys):
    assert main(["skip-trigrams", "attn-only-3l"]) == 2
    err = capsys.readouterr().err
    assert "not a shipped model (shipped: attn-only-1l, attn-only-2l)" in err and err.count("\n") == 1
    with pytest.raises(WeightsError, match="no such file"):
        resolve("nothing-here.safetensors")


def test_a_folder_or_file_without_weights_does_not_hide_a_shipped_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", "attn-only-1l", "--no-behaviour", "--plots", "attn-only-1l"]) == 0  # figures in ./attn-only-1l/
    assert main(["skip-trigrams", "attn-only-1l", "--top", "1"]) == 0
    (tmp_path / "attn-only-2l").write_text("notes")
    assert resolve("attn-only-2l").name == "attn-only-2l" and resolve("attn-only-2l").card is not None
    save_weights(induction_model(), tmp_path / "attn-only-1l" / "model.npz")  # a checkpoint directory wins
    assert resolve("attn-only-1l").weights == Path("attn-only-1l")
    capsys.readouterr()


def test_convert_takes_a_shipped_name(tmp_path, capsys):
    out = tmp_path / "tl.safetensors"
    assert main(["convert", "attn-only-2l", str(out), "--to", "transformer-lens"]) == 0
    assert "wrote" in capsys.readouterr().out
    from tensoralg.models.weights import load_weights

    np.testing.assert_allclose(load_weights(out).W_E, resolve("attn-only-2l").load().W_E)


@pytest.mark.parametrize("name", NAMES)
def test_cards_evaluation_is_reproduced_from_the_shipped_weights(name):
    """The card's figures come from these weights: tensoralg's forward pass on the card's held-out draw."""
    from tensoralg.training.data import DataConfig, Grammar
    from tensoralg.training.evaluation import evaluate

    source = resolve(name)
    training = source.card["training"]
    grammar = Grammar.build(DataConfig(**training["data"]))
    assert list(grammar.vocabulary) == source.card["vocabulary"] and grammar.triples.tolist() == source.card["triples"]
    figures = evaluate(source.load(), grammar, np.random.default_rng([training["seed"], 3]))
    assert figures == source.card["evaluation"]
