"""The exercises in examples/exercises/: blanks to fill, solutions PROVED, a planted slip REFUTED at its step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tensoralg.cli import main
from tensoralg.verify.derivation import check_derivation, check_file

EXERCISES = Path(__file__).resolve().parent.parent / "examples" / "exercises"

#: For each exercise, a wrong answer a student might write: (step it replaces, the expression).
SLIPS = {
    "01_transpose": (2, "W_Eᵀ W_OV^{0,0} W_Uᵀ"),  # forgot to transpose the middle factor
    "02_zero_layers": (2, "Id⊗(W_U W_E)ᵀ"),  # transposed the table
    "03_attention_head": (3, "A^{0,0} X W_OV^{0,0}"),  # (A⊗W)·X = A X Wᵀ, not A X W
    "04_one_layer": (2, "Id⊗W_U W_E + Σ_{h∈H1} A^hᵀ⊗W_U W_OV^h W_E"),  # pattern transposed
    "05_two_layers": (2, "(Id⊗W_U)(Id⊗W_E + Σ_{h∈H1∪H2} A^h⊗W_OV^h W_E"
                         " + Σ_{h1∈H1, h2∈H2} A^{h2}A^{h1}⊗W_OV^{h1} W_OV^{h2} W_E)"),  # OV product reversed
    "06_virtual_head": (1, "A^{1,0} A^{0,1} ⊗ W_OV^{0,1} W_OV^{1,0}"),  # the path's order reversed
    "07_by_products": (2, "W_Q^{0,0}ᵀ M W_K^{0,0}"),  # Mᵀ M⁻ᵀ is Id, Mᵀ alone is not
    "08_no_privileged_basis": (1, "W_U R W_OV^{0,0} R⁻¹ W_E"),  # lost a change of basis
    "09_q_composition": (2, "A^{0,0}⊗Id⊗W_Eᵀ W_OV^{0,0} W_QK^{1,0} W_E"),  # the query path's transpose dropped
    "10_skip_trigrams": (2, "A^{0,0} t W_Eᵀ W_OV^{0,0} W_Uᵀ"),  # the transpose stopped halfway
}
NAMES = sorted(p.stem for p in EXERCISES.glob("*.txt"))


def _expressions(text: str) -> list[str]:
    """The chain's expressions, in order (comments, declarations and the leading '=' dropped)."""
    lines = [l.split("#", 1)[0].strip() for l in text.splitlines()]
    return [l.lstrip("= ").strip() for l in lines if l and not l.startswith(("let ", "heads"))]


def test_there_are_ten_exercises_each_with_a_solution_and_a_slip():
    assert len(NAMES) == 10
    assert NAMES == sorted(p.stem for p in (EXERCISES / "solutions").glob("*.txt")) == sorted(SLIPS)


@pytest.mark.parametrize("name", NAMES)
def test_a_blank_exercise_is_not_yet_solved(name):
    report = check_file(EXERCISES / f"{name}.txt")
    assert report.exit_code == 2 and report.first_wrong is not None
    assert all("…" in s.left or "…" in s.right for s in report.steps if s.verdict.status == "ERROR")


@pytest.mark.parametrize("name", NAMES)
def test_the_solution_answers_the_question_and_is_proved(name):
    question = (EXERCISES / f"{name}.txt").read_text(encoding="utf-8")
    solution = (EXERCISES / "solutions" / f"{name}.txt").read_text(encoding="utf-8")
    asked, answered = _expressions(question), _expressions(solution)
    assert (asked[0], asked[-1]) == (answered[0], answered[-1])  # same start, same goal
    assert len(answered) == len(asked) and asked.count("…") == len(asked) - 2
    report = check_file(EXERCISES / "solutions" / f"{name}.txt")
    assert [s.verdict.status for s in report.steps] == ["PROVED"] * (len(answered) - 1)


@pytest.mark.parametrize("name", NAMES)
def test_a_planted_slip_is_refuted_at_its_step(name):
    solution = (EXERCISES / "solutions" / f"{name}.txt").read_text(encoding="utf-8")
    step, wrong = SLIPS[name]
    right = _expressions(solution)[step]
    assert solution.count(f"= {right}\n") == 1
    report = check_derivation(solution.replace(f"= {right}\n", f"= {wrong}\n"))
    assert report.first_wrong is not None and report.first_wrong.index == step
    assert report.first_wrong.verdict.status == "REFUTED" and report.first_wrong.verdict.counterexample is not None
    assert all(s.verdict.status == "PROVED" for s in report.steps[: step - 1])


def test_check_grades_an_exercise_from_the_command_line(capsys):
    assert main(["check", "--file", str(EXERCISES / "solutions" / "03_attention_head.txt")]) == 0
    assert main(["check", "--file", str(EXERCISES / "03_attention_head.txt")]) == 2
    assert re.search(r"first wrong step: 1 \(line \d+ → line \d+\)", capsys.readouterr().out)
