"""``tensoralg report``: one self-contained page, escaped everywhere, rendered by headless Chromium.

The browser tests need Debian's ``chromium`` (``.ci/run`` installs it); they load the page from
a file with networking off, take a screenshot (which must not be blank), dump the DOM after
load (no script element, nothing a script would have done) and read the console log (empty).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from matplotlib.image import imread

from tensoralg.cli import main
from tensoralg.display.formulas import expansion_formula
from tensoralg.display.report import Importance
from tensoralg.errors import TensoralgError
from tensoralg.models.toy_models import induction_model
from tensoralg.models.weights import save_weights

#: Token strings that would break out of HTML, SVG, MathML or LaTeX if inserted raw.
HOSTILE = [
    "<script>document.body.setAttribute('data-pwned','1')</script>",
    "</svg><script>document.title='pwned'</script>",
    "&amp;", "\\", "$x$", "a|b", "<b>bold</b>", "]]>",
]
CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    save_weights(induction_model(n_vocab=len(HOSTILE), n_ctx=16), d / "hostile.safetensors")
    card = {"name": "model <script>alert(2)</script>", "vocabulary": HOSTILE, "notes": "</table>& $\\"}
    (d / "hostile.json").write_text(json.dumps(card), encoding="utf-8")
    (d / "importance.json").write_text(json.dumps({"terms": [
        {"label": "L1H0 <i>·</i>", "delta": {"loss": 1.5}}, {"label": "direct", "delta": {"loss": 0.25}}]}))
    assert main(["report", str(d / "hostile.safetensors"), "-o", str(d / "report.html"),
                 "--importance", str(d / "importance.json")]) == 0
    return d / "report.html"


def test_page_is_self_contained_and_escaped(page):
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.findall(r'(?<!xmlns=")(?<!xmlns:xlink=")https?://', text)  # only namespace names, nothing to fetch
    assert not re.findall(r'(?:src|href)="(?!#|data:image/png;base64,)', text)  # images inline too
    assert "&lt;script&gt;document.body.setAttribute(&#x27;data-pwned&#x27;,&#x27;1&#x27;)&lt;/script&gt;" in text
    assert "model &lt;script&gt;alert(2)&lt;/script&gt;" in text and "&lt;/table&gt;&amp;" in text
    assert text.count("<svg") == text.count("</svg>") >= 4  # the figures, inline
    assert "<math" in text and "<msubsup><mi>W</mi><mi>OV</mi>" in text
    for svg in re.findall(r"<svg.*?</svg>", text, flags=re.S):
        ET.fromstring(svg)  # each figure is well-formed XML
    for formula in re.findall(r"<math.*?</math>", text, flags=re.S):
        ET.fromstring(formula)


def test_page_sections(page):
    text = page.read_text(encoding="utf-8")
    for heading in ("Model card", "Path expansion", "Heads", "Term importance", "Figures"):
        assert f"<h2>{heading}</h2>" in text
    assert "4 terms" in text and "Induction heads: L1H0." in text
    assert "id='figure-attention'" in text and "id='figure-importance'" in text


def test_expansion_formula_counts_and_spells_every_layer_set():
    f = expansion_formula((2, 0, 3))
    assert f.terms == 12
    root = ET.fromstring(f.mathml())
    sums = [e for e in root.iter() if e.tag.endswith("mo") and e.text == "∑"]
    assert len(sums) == 3  # {1}, {3}, {1, 3}: an empty layer adds no sum
    assert f.latex().count("\\sum") == 3 and "h_{1} \\in H_{1}, h_{2} \\in H_{3}" in f.latex()
    assert "l_1 < \\dots < l_k" in expansion_formula((1,) * 5).latex()


def test_card_with_a_wrong_vocabulary_is_refused(tmp_path, capsys):
    save_weights(induction_model(n_vocab=4, n_ctx=8), tmp_path / "m.npz")
    (tmp_path / "m.json").write_text(json.dumps({"vocabulary": ["a", "b"]}))
    assert main(["report", str(tmp_path / "m.npz"), "--no-figures"]) == 2
    assert "lists 2 tokens; the weights have n_vocab = 4" in capsys.readouterr().err
    (tmp_path / "m.json").write_text(json.dumps({"vocabulary": "abcd"}))
    assert main(["report", str(tmp_path / "m.npz"), "--no-figures"]) == 2
    assert "vocabulary must be a list of strings" in capsys.readouterr().err


def _chromium(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_chromium_with_no_console_error_and_runs_nothing(page, tmp_path):
    shot = tmp_path / "report.png"
    run = _chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,2400")
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    pixels = imread(shot)[..., :3]
    ink = (pixels.mean(axis=-1) < 0.85).mean()
    assert pixels.std() > 0.05 and 0.01 < ink < 0.6, (pixels.std(), ink)  # text and figures, not a blank page
    dom = _chromium(page, tmp_path, "--dump-dom").stdout
    assert "<h1>tensoralg report: hostile.safetensors</h1>" in dom
    assert "data-pwned" not in dom.replace("data-pwned&#x27;", "").replace("'data-pwned'", "")
    assert "<script" not in dom and "<title>pwned" not in dom
    assert "&lt;script&gt;document.body.setAttribute('data-pwned','1')&lt;/script&gt;" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_catalog_page_renders_in_chromium(tmp_path):
    page = tmp_path / "catalog.html"
    assert main(["prove", "C1", "C11", "--html", "-o", str(page)]) == 0
    run = _chromium(page, tmp_path, "--dump-dom")
    assert [line for line in run.stderr.splitlines() if ":CONSOLE" in line] == []
    assert "C11 · Two attention-only layers" in run.stdout and run.stdout.count("<math") > 10


C20_JSON = {  # the shape of `tensoralg importance --json`
    "model": "m", "sequences": 4, "seed": 0,
    "subsets": {"ordinary": {"description": "ordinary tokens", "positions": 10},
                "repeated": {"description": "second and later copies", "positions": 6}},
    "rows": [{"name": "direct", "order": 0, "loss": {"ordinary": 2.5, "repeated": 2.4}},
             {"name": "+ single heads", "order": 1, "loss": {"ordinary": 1.9, "repeated": 0.7}}],
    "full_model": {"ordinary": 1.8, "repeated": 0.3},
    "paths": {"ordinary": [{"path": "L0H1", "family": "single-head", "delta_loss": 0.4}],
              "repeated": [{"path": "L1H0", "family": "single-head", "delta_loss": 1.2},
                           {"path": "L0H1", "family": "single-head", "delta_loss": 0.1}]},
}


@pytest.mark.parametrize("data, paths, orders", [
    pytest.param({"L1H0": 2, "direct": 0.5}, (("L1H0", {"importance": 2.0}), ("direct", {"importance": 0.5})), (), id="mapping"),
    pytest.param({"terms": [{"label": "L1H0", "delta": {"loss": 1.5}}]}, (("L1H0", {"loss": 1.5}),), (), id="terms"),
    pytest.param(C20_JSON, (("L0H1", {"ordinary tokens": 0.4, "second and later copies": 0.1}),
                            ("L1H0", {"second and later copies": 1.2})),
                 (("direct", {"ordinary tokens": 2.5, "second and later copies": 2.4}),
                  ("+ single heads", {"ordinary tokens": 1.9, "second and later copies": 0.7})), id="c20"),
])
def test_importance_tables_are_read_from_each_schema(data, paths, orders):
    table = Importance.from_json(data)
    assert table.paths == paths and table.orders == orders
    column, bars = table.chart()
    assert max(abs(v) for _, v in bars) == max(abs(v) for _, values in paths for v in values.values())  # where it matters most
    assert all(values[column] == dict(bars)[label] for label, values in paths if column in values)


@pytest.mark.parametrize("data", [
    pytest.param([], id="a-list"),
    pytest.param({"terms": [{"delta": {"loss": 1}}]}, id="no-label"),
    pytest.param({"terms": [{"label": "x", "delta": {"loss": "high"}}]}, id="no-number"),
    pytest.param({"paths": {"repeated": [{"path": "L1H0"}]}}, id="c20-without-deltas"),
])
def test_malformed_importance_tables_are_refused(data):
    with pytest.raises(TensoralgError, match="the importance table"):
        Importance.from_json(data)


def test_the_shipped_two_layer_model_report_shows_its_induction_heads_and_measured_importance(tmp_path):
    page = tmp_path / "attn-only-2l.html"
    assert main(["report", "attn-only-2l", "-o", str(page), "--seed", "0"]) == 0
    text = page.read_text(encoding="utf-8")
    assert "Induction heads: L1H0, L1H1, L1H2, L1H3." in text  # the planted answer of its training data
    assert "<td>direct path only</td>" in text and "second and later copies" in text  # C20's table, measured
    assert "25 terms" in text and "<code>kifu</code>" in text  # (1+4)² paths; the card's token strings
    assert text.count("<svg") == 5  # eigenvalues, copying/matching, composition, attention, importance
