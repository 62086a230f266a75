"""``tensoralg analyze``: tables and JSON for the induction model, its twins, both namings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tensoralg.cli import main
from tensoralg.models.model import random_model
from tensoralg.models.toy_models import induction_model, scrambled_induction_model
from tensoralg.models.weights import save_weights

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    paths = {
        "toy": d / "toy.npz",
        "toy_tl": d / "toy_tl.safetensors",
        "scrambled": d / "scrambled.npz",
        "no_pos": d / "no_pos.safetensors",
    }
    save_weights(induction_model(), paths["toy"])
    save_weights(induction_model(), paths["toy_tl"], "transformer_lens")
    save_weights(scrambled_induction_model(np.random.default_rng(0)), paths["scrambled"])
    save_weights(random_model(np.random.default_rng(0), heads=(2, 1, 2), n_ctx=8), paths["no_pos"], "transformer_lens")
    return paths


def run_json(capsys, *argv) -> dict:
    assert main(["analyze", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_toy_model_table_names_the_induction_head(files, capsys):
    assert main(["analyze", str(files["toy"])]) == 0
    out = capsys.readouterr().out
    assert "previous-token heads (*): L0H0" in out
    assert "induction heads (weights only): L1H0 (K-composition with L0H0)" in out
    assert "INDUCTION: K-comp with L0H0" in out
    assert "K     L0H0    L1H0" in out


def test_toy_model_json_carries_weights_and_behavioural_evidence(files, capsys):
    report = run_json(capsys, files["toy"])
    assert report["model"] == {"layers": 2, "heads": [1, 1], "d_model": 52, "d_head": 16, "n_vocab": 12, "n_ctx": 16,
                               "score_scale": 1.0, "layer_norm": False, "mlp": False, "processing": []}
    l0, l1 = report["heads"]
    assert (l0["head"], l0["previous_token_candidate"], l0["induction"]) == ("L0H0", True, None)
    assert l1["copying"] == 1.0 and l1["induction"]["is_candidate"] and l1["induction"]["previous_token_head"] == "L0H0"
    assert l1["induction"]["same_matching"] == 1.0 and l1["induction"]["k_composition_z"] > 3
    assert l1["prefix_matching"] > 0.95 and l1["behavioural_copying"] == 1.0
    assert report["induction_heads"] == ["L1H0"] and report["previous_token_heads"] == ["L0H0"]
    top = report["composition"]["top"][0]
    assert (top["mode"], top["writer"], top["reader"]) == ("K", "L0H0", "L1H0")
    assert top["score"] == pytest.approx(1 / np.sqrt(24), abs=1e-6)
    assert set(report["composition"]["baseline"]) == {"Q", "K", "V"}
    assert report["behaviour"] == {"seq_len": 8, "sequences": 4, "seed": 0}


def test_transformer_lens_naming_gives_the_same_report(files, capsys):
    assert run_json(capsys, files["toy_tl"]) == run_json(capsys, files["toy"])


def test_twin_scrambled_model_has_no_induction_head(files, capsys):
    report = run_json(capsys, files["scrambled"])
    assert report["induction_heads"] == [] and report["previous_token_heads"] == []
    assert report["heads"][1]["prefix_matching"] < 0.5
    assert main(["analyze", str(files["scrambled"])]) == 0
    assert "induction heads (weights only): none" in capsys.readouterr().out


def test_options_top_no_behaviour_and_no_positions(files, capsys):
    report = run_json(capsys, files["no_pos"], "--top", "3", "--no-behaviour")
    assert len(report["composition"]["top"]) == 3 and report["behaviour"] is None
    assert all(h["previous_token"] is None and h["prefix_matching"] is None for h in report["heads"])
    scores = [row["score"] / row["baseline_mean"] for row in report["composition"]["top"]]
    assert scores == sorted(scores, reverse=True)
    assert report["model"]["score_scale"] == 0.5  # saved with the file, not the 1/√d_head default guess
    assert run_json(capsys, files["no_pos"], "--score-scale", "2", "--no-behaviour")["model"]["score_scale"] == 2.0


def test_a_context_too_short_to_repeat_a_sequence_has_no_behavioural_scores(tmp_path, capsys):
    path = tmp_path / "short.npz"
    save_weights(random_model(np.random.default_rng(1), heads=(1, 1), n_ctx=3, positional=True), path)
    report = run_json(capsys, path)
    assert report["behaviour"] is None and all(h["prefix_matching"] is None for h in report["heads"])
    assert all(h["previous_token"] is not None for h in report["heads"])  # the weights-only scores still are


def test_seed_changes_only_the_random_parts(files, capsys):
    a, b = run_json(capsys, files["toy"], "--seed", "1"), run_json(capsys, files["toy"], "--seed", "2")
    assert [h["copying"] for h in a["heads"]] == [h["copying"] for h in b["heads"]]
    assert a["composition"]["baseline"] != b["composition"]["baseline"]


def test_bad_option_exits_2(files, capsys):
    assert main(["analyze", str(files["toy"]), "--seq-len", "9"]) == 2  # 2·9 > n_ctx = 16
    assert "seq_len" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # argparse rejects it before anything is loaded
        main(["analyze", str(files["toy"]), "--top", "-3"])
    assert exited.value.code == 2
    assert "--top: expected a non-negative integer; got '-3'" in capsys.readouterr().err


def test_console_entry_point_runs_in_a_subprocess(files):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tensoralg", "analyze", str(files["toy"]), "--json", "--top", "1"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["induction_heads"] == ["L1H0"]
    bad = subprocess.run([sys.executable, "-m", "tensoralg", "analyze", str(files["toy"]) + ".missing.npz"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such file" in bad.stderr


@pytest.fixture(scope="module")
def degenerate(tmp_path_factory):
    """Weights files that load but cannot be analysed."""
    from dataclasses import replace

    from tensoralg.models.model import AttentionLayer

    d = tmp_path_factory.mktemp("degenerate")
    rng = np.random.default_rng(0)
    empty = np.zeros((1, 0, 16))
    no_dims = replace(random_model(rng, heads=(1, 1), n_ctx=8),
                      layers=(AttentionLayer(empty, empty, empty, np.zeros((1, 16, 0))),) * 2)
    models = {
        "d_head-0": no_dims,
        "no-heads": random_model(rng, heads=(0, 0), n_ctx=8),
        "no-layers": random_model(rng, heads=(), n_ctx=8),
        "one-token": random_model(rng, heads=(1, 1), n_vocab=1, n_ctx=8),
        "ok": random_model(rng, heads=(1, 1), n_ctx=8),
    }
    paths = {name: d / f"{name}.npz" for name in models}
    for name, m in models.items():
        save_weights(m, paths[name])
    return paths


#: (id, file, extra options, words of the one-line error); exit 2, never a table of meaningless scores
DEGENERATE = [
    ("d_head-0", "d_head-0", [], "d_head"),
    ("no-heads", "no-heads", [], "n_heads"),
    ("no-layers", "no-layers", [], "no attention heads"),
    ("one-token", "one-token", [], "n_vocab is 1"),
    ("score-scale-overflows", "ok", ["--score-scale", "1e308"], "is nan (not a number)"),
]


@pytest.mark.parametrize("name, options, message", [c[1:] for c in DEGENERATE], ids=[c[0] for c in DEGENERATE])
def test_what_cannot_be_analysed_is_refused(degenerate, capsys, name, options, message):
    assert main(["analyze", str(degenerate[name]), *options]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err


#: (id, option, value): counts outside their bounds are usage errors before anything is loaded
BAD_COUNTS = [
    ("sequences-0", "--sequences", "0"),
    ("sequences-huge", "--sequences", "1000001"),
    ("seq-len-1", "--seq-len", "1"),
    ("seq-len-huge", "--seq-len", "100000"),
]


@pytest.mark.parametrize("option, value", [c[1:] for c in BAD_COUNTS], ids=[c[0] for c in BAD_COUNTS])
def test_counts_are_bounded(degenerate, capsys, option, value):
    with pytest.raises(SystemExit) as exited:
        main(["analyze", str(degenerate["ok"]), option, value])
    assert exited.value.code == 2 and f"argument {option}: expected an integer in" in capsys.readouterr().err


def test_a_large_but_finite_score_scale_without_behaviour_still_reports(degenerate, capsys):
    report = run_json(capsys, degenerate["ok"], "--score-scale", "1e308", "--no-behaviour")
    assert all(h["prefix_matching"] is None for h in report["heads"])
    assert all(isinstance(h["copying"], float) for h in report["heads"])
