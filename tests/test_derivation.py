"""Derivation chains: every step gets a verdict, the first wrong one is named with its line."""

from __future__ import annotations

import pytest

from tensoralg.verify.derivation import check_derivation, check_file
from tensoralg.errors import TensoralgError

TWO_LAYER = """\
# C12 for two layers, expanded step by step
heads 2,2
(Id⊗W_U)(Id + Σ_{h∈H2} A^h⊗W_OV^h)(Id + Σ_{h∈H1} A^h⊗W_OV^h)(Id⊗W_E)
= (Id⊗W_U)(Id + Σ_{h∈H1} A^h⊗W_OV^h + Σ_{h∈H2} A^h⊗W_OV^h + Σ_{h1∈H1, h2∈H2} A^{h2}A^{h1}⊗W_OV^{h2}W_OV^{h1})(Id⊗W_E)
= Id⊗W_U W_E + Σ_{h∈H1∪H2} A^h⊗(W_U W_OV^h W_E) + Σ_{h1∈H1, h2∈H2} (A^{h2}A^{h1}) ⊗ (W_U W_OV^{h2} W_OV^{h1} W_E)
"""


def test_true_derivation_is_proved_step_by_step():
    report = check_derivation(TWO_LAYER)
    assert [s.verdict.status for s in report.steps] == ["PROVED", "PROVED"]
    assert [s.lines for s in report.steps] == [(3, 4), (4, 5)]
    assert report.ok and report.first_wrong is None and report.exit_code == 0


def test_first_wrong_step_is_named_and_later_steps_still_checked():
    wrong = TWO_LAYER.replace("A^{h2}A^{h1}⊗", "A^{h1}A^{h2}⊗")
    report = check_derivation(wrong)
    assert [s.verdict.status for s in report.steps] == ["REFUTED", "REFUTED"]
    assert report.first_wrong.index == 1 and report.first_wrong.lines == (3, 4)
    assert report.exit_code == 1
    assert "first wrong step: 1 (line 3 → line 4)" in report.describe()


def test_wrong_middle_step_and_correct_later_step():
    text = "let M, N: d_model x d_model\n(M N)ᵀ\n= Mᵀ Nᵀ\n= (N M)ᵀ\n= Mᵀ Nᵀ\n"
    report = check_derivation(text)
    assert [s.verdict.status for s in report.steps] == ["REFUTED", "PROVED", "PROVED"]
    assert report.first_wrong.lines == (2, 3)
    assert report.steps[0].verdict.counterexample.dims == {"d_model": 2}


def test_inline_chains_and_blank_lines():
    text = "let M, N: p x p\nM N = (Nᵀ Mᵀ)ᵀ = M N\n\nM = N\n"
    report = check_derivation(text)
    assert [(s.lines, s.verdict.status) for s in report.steps] == [
        ((2, 2), "PROVED"), ((2, 2), "PROVED"), ((4, 4), "REFUTED")
    ]


def test_parse_error_marks_its_steps_and_the_rest_is_checked():
    text = "let M: p x p\nM\n= M +\n= M\n= Mᵀ\n"
    report = check_derivation(text)
    assert [s.verdict.status for s in report.steps] == ["ERROR", "ERROR", "REFUTED"]
    assert "line 3" in report.steps[0].verdict.detail and "(column 6)" in report.steps[0].verdict.detail
    assert report.exit_code == 2


def test_identity_takes_its_space_from_the_neighbour():
    report = check_derivation("let M: p x p\nM M⁻¹\n= Id\n")
    assert report.steps[0].verdict.status == "PROVED"


def test_declarations_and_heads_can_come_from_options():
    report = check_derivation("Σ_{h∈H1} M^h = Σ_{h∈H1} M^h", declarations=["M: p x p"], heads=(3,))
    assert report.ok


@pytest.mark.parametrize(
    "text, message",
    [("# nothing\n", "no expression to check"), ("heads two\nM = M", "heads must read")],
    ids=["empty", "bad-heads"],
)
def test_bad_derivations(text, message):
    with pytest.raises(TensoralgError, match=message):
        check_derivation(text)


def test_file_and_json(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text(TWO_LAYER, encoding="utf-8")
    report = check_file(path)
    data = report.to_json()
    assert data["ok"] and data["exit_code"] == 0 and data["first_wrong"] is None
    assert [s["lines"] for s in data["steps"]] == [[3, 4], [4, 5]]
    with pytest.raises(TensoralgError, match="cannot read"):
        check_file(tmp_path / "missing.txt")


def test_a_comment_line_inside_a_chain_does_not_end_it():
    report = check_derivation("let M, N: p x p\n(M N)ᵀ\n# reverse the product\n= Nᵀ Mᵀ\n# and again\n= (M N)ᵀ\n")
    assert [s.lines for s in report.steps] == [(2, 4), (4, 6)]
    assert [s.verdict.status for s in report.steps] == ["PROVED", "PROVED"]


def test_a_lone_expression_is_an_error_not_silently_skipped():
    report = check_derivation("let M, N: p x p\nM N\n\n(M N)ᵀ = Nᵀ Mᵀ\n")
    lone, step = report.steps
    assert lone.verdict.status == "ERROR" and "line 2: M N is compared with nothing" in lone.verdict.detail
    assert step.verdict.status == "PROVED"
    assert report.exit_code == 2 and report.first_wrong is lone
