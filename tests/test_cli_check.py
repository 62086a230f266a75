"""``tensoralg check``: verdicts, exit codes 0/1/2, JSON, derivation files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tensoralg.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_proved_exits_0(capsys):
    assert main(["check", "(W_U W_E)ᵀ == W_Eᵀ W_Uᵀ"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PROVED (symbolic")


def test_refuted_exits_1_with_counterexample(capsys):
    assert main(["check", "M N == N M", "--let", "M, N: d_model x d_model"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("REFUTED (exact")
    assert "counterexample: d_model=2 over Q, seed" in out


def test_heads_and_seed_options(capsys):
    formula = "Σ_{h∈H1} A^h ⊗ W_OV^h == Σ_{h∈H1} A^h ⊗ W_O^h W_V^h"
    assert main(["check", formula, "--heads", "3"]) == 0
    assert main(["check", formula.replace("W_O^h W_V^h", "W_V^hᵀ W_O^hᵀ"), "--heads", "3", "--seed", "5"]) == 1
    assert "seed 5" in capsys.readouterr().out


def test_no_expand_gives_holds(capsys):
    assert main(["check", "W_OV^{0} == W_O^{0} W_V^{0}", "--no-expand"]) == 0
    assert capsys.readouterr().out.startswith("HOLDS (exact")


def test_json(capsys):
    assert main(["check", "M N == N M", "--let", "M, N: p x p", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "REFUTED" and data["method"] == "exact" and data["ok"] is False
    assert data["counterexample"]["dims"] == {"p": 2} and isinstance(data["seconds"], float)


BAD = [
    ("parse-error", ["check", "W_U W_E +"], "found the end of the formula (column 10)"),
    ("unknown-symbol", ["check", "Y == Y"], "unknown symbol Y"),
    ("shape-error", ["check", "W_E W_E == W_E"], "cannot multiply"),
    ("bad-let", ["check", "M == M", "--let", "M d_model"], "NAME: ROWS x COLS"),
    ("negative-seed", ["check", "M == M", "--seed", "-1"], "--seed: expected a non-negative integer"),
    ("bad-heads", ["check", "M == M", "--heads", "two"], "heads per layer are comma-separated integers"),
    ("no-heads", ["check", "Σ_{h∈H} A^h == A^{0,0}"], "heads per layer"),
    ("formula-and-file", ["check", "M == M", "--file", "x.txt"], "either a formula or --file"),
    ("nothing", ["check"], "either a formula or --file"),
    ("missing-file", ["check", "--file", "/nonexistent/derivation.txt"], "cannot read"),
    ("directory-file", ["check", "--file", "/"], "cannot read the derivation file /"),
    ("lean-with-file", ["check", "--file", "examples/two_layer_expansion.txt", "--lean", "x.lean"], "give a formula, not --file"),
    ("bad-assumption", ["check", "M == M", "--let", "M: d x d", "--assume", "M"], "in the assumption 'M'"),
    ("bad-trials", ["check", "M == M", "--let", "M: d x d", "--trials", "0"], "--trials: expected an integer in 1…100"),
    ("bad-max-steps", ["check", "M == M", "--max-steps", "x"], "--max-steps: expected a non-negative integer"),
    ("bad-max-rules", ["check", "M == M", "--max-rules", "-1"], "--max-rules: expected a non-negative integer"),
]


@pytest.mark.parametrize("argv, message", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_input_exits_2(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("tensoralg check: error:")
    assert message in err


def test_parse_error_shows_caret(capsys):
    main(["check", "W_U W_E +"])
    lines = capsys.readouterr().err.splitlines()
    assert lines[-2:] == ["  W_U W_E +", "           ^"]


def test_error_as_json_exits_2(capsys):
    assert main(["check", "W_U +", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["status"] == "ERROR"


def test_file(tmp_path, capsys):
    path = tmp_path / "derivation.txt"
    path.write_text("let M, N: p x p\n(M N)ᵀ\n= Nᵀ Mᵀ\n= Mᵀ Nᵀ\n", encoding="utf-8")
    assert main(["check", "--file", str(path)]) == 1
    out = capsys.readouterr().out
    assert "first wrong step: 2 (line 3 → line 4)" in out
    assert main(["check", "--file", str(path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["first_wrong"] == {"step": 2, "lines": [3, 4]}
    path.write_text("let M, N: p x p\n(M N)ᵀ\n= Nᵀ Mᵀ\n", encoding="utf-8")
    assert main(["check", "-f", str(path)]) == 0


def test_console_script():
    exe = shutil.which("tensoralg")
    command = [exe] if exe else [sys.executable, "-m", "tensoralg"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command + ["check", "(A^{0,0} ⊗ W_OV^{0,0})(A^{0,1} ⊗ W_OV^{0,1}) == A^{0,1} A^{0,0} ⊗ W_OV^{0,0} W_OV^{0,1}", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 1, done.stderr
    # A^{l,h} are attention patterns by default, and 2 × 2 causal row-stochastic matrices commute.
    assert json.loads(done.stdout)["counterexample"]["dims"]["n_ctx"] == 3
