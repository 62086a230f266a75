"""Plots: what each axes-level function draws (points, cells, labels), with matplotlib's Agg canvas."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.axes import Axes

from tensoralg import plots
from tensoralg.cli import main
from tensoralg.errors import TensoralgError
from tensoralg.models.model import random_model
from tensoralg.models.toy_models import induction_model
from tensoralg.models.weights import save_weights


def test_eigenvalues_draws_one_point_per_eigenvalue_in_the_complex_plane():
    values = np.array([3.0, 1 + 2j, 1 - 2j, -0.5])
    ax = plots.eigenvalues(values, title="L1H0 $x$")
    offsets = ax.collections[0].get_offsets()
    assert sorted(map(tuple, np.asarray(offsets).tolist())) == [(-0.5, 0.0), (1.0, -2.0), (1.0, 2.0), (3.0, 0.0)]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Re λ", "Im λ")
    assert ax.get_title() == r"L1H0 \$x\$"  # drawn literally, never as mathtext
    assert ax.get_xlim()[1] >= 3.0 and ax.get_aspect() == 1.0


def test_eigenvalue_grid_has_a_panel_per_head():
    fig = plots.eigenvalue_grid(np.ones((5, 3)), [f"L0H{h}" for h in range(5)], [1.0] * 5)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 5 and visible[4].get_title().startswith("L0H4")
    with pytest.raises(TensoralgError, match="one label per head"):
        plots.eigenvalue_grid(np.ones((5, 3)), ["L0H0"])


def test_copying_matching_marks_induction_heads():
    ax = plots.copying_matching([0.1, 0.95, -0.3], [0.0, 0.9, 0.2], ["L0H0", "L1H0", "L1H1"], induction=["L1H0"])
    plain, hot = ax.collections
    assert len(plain.get_offsets()) == 2 and np.asarray(hot.get_offsets()).tolist() == [[0.95, 0.9]]
    assert [t.get_text() for t in ax.texts] == ["L0H0", "L1H0", "L1H1"]
    with pytest.raises(TensoralgError, match="one copying and one same-matching score per head"):
        plots.copying_matching([0.1], [0.0, 0.9], ["L0H0"])


def test_an_induction_head_is_drawn_at_its_k_composition_matching():
    ax = plots.copying_matching([0.1, 0.95], [0.0, -0.6], ["L0H0", "L1H0"], induction=["L1H0"], composed={"L1H0": 0.99})
    ring, plain, hot = ax.collections
    assert np.asarray(ring.get_offsets()).tolist() == [[0.95, -0.6]]  # the direct score, before composition
    assert np.asarray(hot.get_offsets()).tolist() == [[0.95, 0.99]]  # in the corner
    assert [line.get_ydata().tolist() for line in ax.lines[2:]] == [[-0.6, 0.99]]  # after the two axis lines
    with pytest.raises(TensoralgError, match="unknown heads"):
        plots.copying_matching([0.1], [0.0], ["L0H0"], composed={"L9H9": 1.0})


def test_composition_heatmap_shows_writers_by_readers_relative_to_baseline():
    labels = ["L0H0", "L0H1", "L1H0"]
    pairs = np.zeros((3, 3), dtype=bool)
    pairs[:2, 2] = True
    scores = np.zeros((3, 3))
    scores[0, 2], scores[1, 2] = 0.5, 0.1
    ax = plots.composition(scores, pairs, labels, baseline=0.1, mode="K")
    data = ax.images[0].get_array()
    assert data.shape == (2, 1) and np.allclose(np.asarray(data).ravel(), [5.0, 1.0])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["L0H0", "L0H1"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["L1H0"]
    assert ax.get_title() == "K-composition / baseline"
    with pytest.raises(TensoralgError, match="baseline mean must be positive"):
        plots.composition(scores, pairs, labels, baseline=0.0)


def test_attention_uses_token_strings():
    pattern = np.tril(np.ones((3, 3))) / np.arange(1, 4)[:, None]
    ax = plots.attention(pattern, ["<b>", "a$b", "&"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["<b>", r"a\$b", "&"]
    with pytest.raises(TensoralgError, match="must be 2 × 2"):
        plots.attention(pattern, ["a", "b"])


def test_importance_bars_largest_first():
    ax = plots.importance({"direct": 0.2, "L1H0": 3.0, "L0H0·L1H0": -1.0}, top=2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["L1H0", "L0H0·L1H0"]
    assert [p.get_width() for p in ax.patches] == [3.0, -1.0]


def test_given_axes_are_drawn_on_and_returned():
    ax = plots.eigenvalues(np.ones(2))
    assert isinstance(ax, Axes)
    assert plots.importance({"a": 1.0}, ax=ax) is ax


def test_inline_svg_is_an_svg_element_with_unique_ids():
    fig = plots.eigenvalues(np.ones(2)).figure
    first, second = plots.to_svg(fig, "a"), plots.to_svg(fig, "b")
    assert first.startswith("<svg") and ET.fromstring(first).tag.endswith("svg")
    ids = lambda text: {e.get("id") for e in ET.fromstring(text).iter() if e.get("id")}
    assert not ids(first) & ids(second)
    refs = re.findall(r'(?:href="#|url\(#)([^")]+)', first)
    assert refs and set(refs) <= ids(first)


def test_analyze_json_has_eigenvalues_and_composition_matrices(tmp_path, capsys):
    path = tmp_path / "toy.npz"
    save_weights(induction_model(n_vocab=5, n_ctx=8), path)
    assert main(["analyze", str(path), "--json", "--no-behaviour"]) == 0
    report = json.loads(capsys.readouterr().out)
    l1 = report["heads"][1]
    # d_head = max(V + 1, n) = 8 eigenvalues; the OV circuit W_U W_OV W_E = I₅ has five equal to 1
    assert l1["eigenvalues"] == [[1.0, 0.0]] * 5 + [[0.0, 0.0]] * 3
    matrices = report["composition"]["matrices"]
    assert matrices["heads"] == ["L0H0", "L1H0"] and matrices["pairs"] == [[False, True], [False, False]]
    assert matrices["K"][0][1] == pytest.approx(1 / np.sqrt(2 * 5), abs=1e-6) and matrices["Q"][0][1] == 0.0


def test_analyze_plots_writes_png_and_svg(tmp_path, capsys):
    path = tmp_path / "model.npz"
    save_weights(random_model(np.random.default_rng(1), heads=(2, 2), d_model=8, d_head=2, n_vocab=6, n_ctx=8), path)
    assert main(["analyze", str(path), "--plots", str(tmp_path / "figs")]) == 0
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    expected = ["attention", "composition", "copying_matching", "ov_eigenvalues"]
    assert names == sorted(f"{n}.{ext}" for n in expected for ext in ("png", "svg"))
    assert (tmp_path / "figs" / "ov_eigenvalues.png").read_bytes()[:4] == b"\x89PNG"
