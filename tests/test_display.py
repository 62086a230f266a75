"""Jupyter display: verdict cards, derivation reports, claim results and path terms render themselves."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tensoralg.paths.expansion import Path as HeadPath, PathTerm, ScoreTerm
from tensoralg.verify.catalog import Context, discover, run_claim, select
from tensoralg.verify.derivation import check_derivation
from tensoralg.verify.verification import check_formula


def _wrapped(html: str) -> ET.Element:
    """The card parsed as XML (cards are well-formed, so a browser and a parser read them alike)."""
    return ET.fromstring(f"<root>{html}</root>")


def test_a_proved_verdict_card_typesets_its_statement():
    verdict = check_formula("(W_U W_E)ᵀ == W_Eᵀ W_Uᵀ")
    html = verdict._repr_html_()
    card = _wrapped(html)[0]
    assert card.get("data-status") == "PROVED"
    assert "<math" in html and "<mo>=</mo>" in html and "counterexample" not in html
    markdown = verdict._repr_markdown_()
    assert markdown.startswith("$$\\left(W_{U} W_{E}\\right)^{\\top} = {W_{E}}^{\\top} {W_{U}}^{\\top}$$")
    assert "**PROVED**" in markdown


def test_a_refuted_verdict_card_shows_the_counterexample():
    verdict = check_formula("M N == N M", declarations=["M, N: d_model x d_model"])
    html = verdict._repr_html_()
    assert _wrapped(html)[0].get("data-status") == "REFUTED"
    assert "<summary>counterexample</summary>" in html and "LHS = <code>" in html
    assert html.count("<table") == 2  # the instance: M and N as small matrices
    assert "$$M N = N M$$" in verdict._repr_markdown_()


def test_an_error_verdict_escapes_the_input():
    verdict = check_formula("<b>W_U == W_E")
    html = verdict._repr_html_()
    assert verdict.status == "ERROR" and "<b>" not in html and "&lt;b&gt;" in html


def test_a_derivation_report_marks_its_first_wrong_step():
    report = check_derivation("let M, N: d_model x d_model\n(M N)ᵀ\n= Nᵀ Mᵀ\n= Mᵀ Nᵀ")
    html = report._repr_html_()
    rows = _wrapped(html).findall(".//tbody/tr")
    assert len(rows) == 2 and rows[1].get("style") == "background:#fdecea" and rows[0].get("style") is None
    assert "first wrong step: 2 (line 3 → line 4)" in html


def test_a_claim_result_renders_its_derivations_and_controls():
    result = run_claim(select(discover(), ["C13"])[0], Context(seed=0))
    html = result._repr_html_()
    assert html.startswith('<section class="ta-claim" id="C13"')
    assert "Negative controls (must be refuted)" in html and html.count("<math") >= 3
    _wrapped(html)


@pytest.mark.parametrize("term, family", [
    (PathTerm(((0, 1), (1, 0))), "virtual"),
    (ScoreTerm(1, 0, HeadPath(((0, 1),)), HeadPath(())), "Q-composition"),
])
def test_path_terms_are_typeset_with_their_family(term, family):
    latex = term._repr_latex_()
    assert latex.startswith("$\\displaystyle ") and f"\\text{{({family})}}" in latex
