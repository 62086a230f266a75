"""Both routes to an induction head are recognised from the weights, named, and checked against behaviour."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tensoralg.cli import main
from tensoralg.errors import ShapeError
from tensoralg.models.circuits import head_weights, label
from tensoralg.models.induction import (
    BehaviouralScores,
    RouteEvidence,
    behavioural_scores,
    disagreements,
    next_position_scores,
    route_evidence,
    same_token_scores,
)
from tensoralg.models.model import forward, random_model
from tensoralg.models.toy_models import induction_model, q_composition_induction_model
from tensoralg.models.weights import save_weights


def candidates(model) -> list[tuple[str, str, str]]:
    return [(label(e.head), e.route, label(e.partner)) for e in route_evidence(head_weights(model)) if e.is_candidate]


def test_k_composition_model_is_named_k_composition():
    assert candidates(induction_model()) == [("L1H0", "K-composition", "L0H0")]


def test_q_composition_model_is_named_q_composition():
    heads = head_weights(q_composition_induction_model())
    assert candidates(q_composition_induction_model()) == [("L1H0", "Q-composition", "L0H0")]
    assert same_token_scores(heads)[0] == pytest.approx(1.0)
    assert next_position_scores(heads, [(0, 1)])[0] > 0.99


@settings(max_examples=8)
@given(st.integers(3, 8), st.integers(6, 14), st.integers(0, 2**31 - 1))
def test_q_composition_model_completes_a_b_a_with_b(n_vocab, n_ctx, seed):
    rng = np.random.default_rng(seed)
    length = min(n_vocab + 1, n_ctx)
    first = rng.choice(n_vocab, size=length - 1, replace=False)
    i = int(rng.integers(0, length - 2))
    tokens = np.concatenate([first, [first[i]]])
    run = forward(q_composition_induction_model(n_vocab, n_ctx), tokens)
    assert run.patterns[0][0, -1].argmax() == i and run.patterns[1][0, -1].argmax() == i + 1
    assert run.logits[-1].argmax() == tokens[i + 1]


def test_random_models_have_no_route():
    for seed in range(3):
        model = random_model(np.random.default_rng(seed), (3, 3), d_model=24, n_vocab=20, n_ctx=12, positional=True)
        assert candidates(model) == []


def _behaviour(prefix, copying):
    labels = ((0, 0), (1, 0))
    return BehaviouralScores(labels, np.array(prefix, float), np.array(copying, float), 6, 4)


def test_disagreements_name_the_head_and_both_verdicts():
    weights_yes = (RouteEvidence((1, 0), "K-composition", (0, 0), 0.3, 9.0, 0.9, 0.9, True),)
    weights_no = (RouteEvidence((1, 0), "K-composition", (0, 0), 0.1, 0.0, 0.9, 0.9, False),)
    assert disagreements(weights_yes, _behaviour([0.0, 0.9], [0.0, 1.0])) == ()
    (d,) = disagreements(weights_no, _behaviour([0.0, 0.9], [0.0, 1.0]))
    assert (d.head, d.weights_say, d.behaviour_says) == ((1, 0), False, True)
    (d,) = disagreements(weights_yes, _behaviour([0.0, 0.1], [0.0, 1.0]))
    assert (d.head, d.weights_say, d.behaviour_says) == ((1, 0), True, False)


def test_real_models_agree_with_their_behaviour():
    for model in (induction_model(), q_composition_induction_model()):
        routes = route_evidence(head_weights(model))
        assert disagreements(routes, behavioural_scores(model, np.random.default_rng(0), 5, 4)) == ()


def test_analyze_names_the_q_route(tmp_path, capsys):
    path = tmp_path / "q.npz"
    save_weights(q_composition_induction_model(), path)
    assert main(["analyze", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["induction_routes"] == [{"head": "L1H0", "route": "Q-composition", "partner": "L0H0"}]
    assert report["previous_token_heads"] == [] and report["disagreements"] == []
    assert main(["analyze", str(path)]) == 0
    assert "L1H0 (Q-composition with L0H0)" in capsys.readouterr().out


def test_next_position_scores_need_positions():
    heads = head_weights(random_model(np.random.default_rng(0), (1, 1), n_ctx=6))
    with pytest.raises(ShapeError, match="positional embeddings"):
        next_position_scores(heads, [(0, 1)])
