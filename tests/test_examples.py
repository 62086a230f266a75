"""The derivation files in examples/ check as their comments say."""

from pathlib import Path

from tensoralg.verify.derivation import check_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_two_layer_expansion_is_proved_step_by_step():
    report = check_file(EXAMPLES / "two_layer_expansion.txt")
    assert [s.verdict.status for s in report.steps] == ["PROVED"] * 6
    assert report.exit_code == 0


def test_common_mistakes_are_each_refuted_at_their_line():
    report = check_file(EXAMPLES / "common_mistakes.txt")
    assert [(s.lines, s.verdict.status) for s in report.steps] == [
        ((6, 7), "REFUTED"),
        ((10, 10), "REFUTED"),
        ((13, 13), "PROVED"),
        ((13, 13), "REFUTED"),
    ]
    assert all(s.verdict.counterexample is not None for s in report.steps if s.verdict.status == "REFUTED")
    assert report.exit_code == 1


def test_under_assumptions_proves_each_step_but_the_slip():
    report = check_file(EXAMPLES / "under_assumptions.txt")
    assert [s.verdict.status for s in report.steps] == ["PROVED"] * 5 + ["REFUTED"]
    assert all(s.verdict.certificate_ok for s in report.steps[:5] if s.verdict.certificate is not None)
    assert report.exit_code == 1


def test_every_head_count_in_the_latex_of_the_notes():
    report = check_file(EXAMPLES / "every_head_count.tex")
    assert [(s.lines, s.quantity, s.verdict.status) for s in report.steps] == [
        ((4, 5), "T", "PROVED"),
        ((5, 6), "T", "PROVED"),
        ((11, 12), "S", "PROVED"),
        ((19, 19), None, "PROVED"),
        ((20, 20), None, "PROVED"),
        ((23, 23), None, "REFUTED"),
    ]
    assert "for every number of heads" in report.steps[2].verdict.detail
