"""The proofs catalog framework: a claim passes only when every link is proved, every check holds
and every negative control is refuted; discovery, selection and the reports."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensoralg.verify.catalog import (
    CatalogError,
    Claim,
    Context,
    Derivation,
    Mismatch,
    Step,
    UnknownClaimError,
    claim_key,
    discover,
    run_claim,
    select,
)
from tensoralg.algebra.prose import latex_text
from tensoralg.verify.catalog_report import catalog_json, render_table, to_latex_document, to_markdown
from tensoralg.algebra.expr import atom
from tensoralg.algebra.symbols import declared_symbol

A, B = (atom(declared_symbol(n, "p", "p")) for n in "AB")
C = atom(declared_symbol("C", "p", "p"))


def make_claim(claim_id="C0", *, steps=None, checks=None, negatives=None) -> Claim:
    steps = steps or [Step((A @ B).T), Step(B.T @ A.T, "(XY)ᵀ = YᵀXᵀ")]
    return Claim(
        claim_id, "Transpose of a product", "(AB)ᵀ = BᵀAᵀ", r"(AB)^\top = B^\top A^\top",
        derive=lambda: [Derivation("transpose", steps)],
        check=checks or (lambda ctx: [ctx.identity("(AB)ᵀ = BᵀAᵀ", (A @ B).T, B.T @ A.T)]),
        refute=negatives or (lambda ctx: [ctx.identity("(AB)ᵀ = AᵀBᵀ", (A @ B).T, A.T @ B.T)]),
    )


CTX = Context(seed=0)


# --- what makes a claim pass or fail -------------------------------------------------------


def test_a_sound_claim_passes_with_its_methods():
    result = run_claim(make_claim(), CTX)
    assert result.passed and result.verdict == "PASS"
    assert result.refuted == "1/1"
    assert result.methods == ("symbolic", "exact")
    assert result.failures == ()


def test_a_false_derivation_link_fails_the_claim():
    result = run_claim(make_claim(steps=[Step((A @ B).T), Step(A.T @ B.T, "wrong order")]), CTX)
    assert not result.passed
    assert result.derivations[0].links[0].verdict.status == "REFUTED"
    assert any("step 1: REFUTED" in line for line in result.failures)


def test_a_negative_control_that_holds_fails_the_claim():
    result = run_claim(make_claim(negatives=lambda ctx: [ctx.identity("(AB)ᵀ = BᵀAᵀ", (A @ B).T, B.T @ A.T)]), CTX)
    assert not result.passed
    assert result.refuted == "0/1"
    assert any("was not refuted" in line for line in result.failures)


def test_a_check_that_does_not_hold_fails_the_claim():
    result = run_claim(make_claim(checks=lambda ctx: [ctx.identity("AB = BA", A @ B, B @ A)]), CTX)
    assert not result.passed
    assert result.checks[0].verdict.status == "REFUTED"


def test_a_claim_without_negative_controls_fails():
    result = run_claim(make_claim(negatives=lambda ctx: []), CTX)
    assert not result.passed and result.refuted == "0/0"
    assert any("no negative controls" in line for line in result.failures)


def test_a_check_that_is_not_decided_fails_the_claim(monkeypatch):
    # Past the size cap AB = BA shows no difference: UNDECIDED, which is not a pass.
    monkeypatch.setattr("tensoralg.verify.verification.SIZE_CAP", {1: 1})
    result = run_claim(make_claim(checks=lambda ctx: [ctx.identity("AB = BA", A @ B, B @ A)]), CTX)
    assert result.checks[0].verdict.status == "UNDECIDED" and not result.passed
    assert any("UNDECIDED" in line for line in result.failures)


def test_an_exception_is_reported_and_the_rest_still_runs():
    def broken(ctx):
        raise RuntimeError("boom")

    result = run_claim(make_claim(checks=broken), CTX)
    assert not result.passed
    assert result.errors == ("C0 check: RuntimeError: boom",)
    assert result.refuted == "1/1" and result.derivations[0].proved


def test_a_given_is_substituted_on_both_sides_of_its_link():
    given = {C.symbol: A @ B}
    with_given = Derivation("C", [Step(C.T), Step(B.T @ A.T, "C := AB", given=given)])
    without = Derivation("C", [Step(C.T), Step(B.T @ A.T, "C := AB")])
    claim = make_claim()
    for derivation, proved in ((with_given, True), (without, False)):
        probe = Claim(claim.id, claim.title, claim.statement, claim.latex, lambda d=derivation: [d], claim.check, claim.refute)
        assert run_claim(probe, CTX).derivations[0].proved is proved


# --- the context's checks ------------------------------------------------------------------


def test_streams_are_reproducible_and_distinct():
    assert Context(seed=3).seed_for("x") == Context(seed=3).seed_for("x")
    assert len({Context(seed=s).seed_for(n) for s in (0, 1) for n in ("x", "y")}) == 4
    assert np.array_equal(Context(seed=3).rng("x").normal(size=3), Context(seed=3).rng("x").normal(size=3))


def test_a_fact_is_proved_or_refuted_by_one_complete_check():
    proved = CTX.fact("2 + 2 = 4", lambda: None if 2 + 2 == 4 else Mismatch(2 + 2, 4))
    assert (proved.verdict.status, proved.verdict.method) == ("PROVED", "symbolic")
    refuted = CTX.fact("2 + 2 = 5", lambda: None if 2 + 2 == 5 else Mismatch(2 + 2, 5, note="arithmetic"), method="exact")
    assert refuted.verdict.status == "REFUTED"
    assert (refuted.verdict.counterexample.lhs_value, refuted.verdict.counterexample.rhs_value) == ("4", "5")


def test_instances_report_the_seed_that_reproduces_the_failure():
    def trial(rng):
        value = int(rng.integers(0, 10))
        return None if value < 5 else Mismatch(value, "< 5", note="drawn")

    check = CTX.instances("a draw is below 5", trial, trials=20)
    assert check.verdict.status == "REFUTED"
    example = check.verdict.counterexample
    assert int(np.random.default_rng(example.seed).integers(0, 10)) == int(example.lhs_value) >= 5
    assert CTX.instances("a draw is below 10", lambda rng: None if rng.integers(0, 10) < 10 else Mismatch(1, 0)).verdict.ok


def test_a_false_law_is_refuted_with_the_shrunk_example():
    check = CTX.law("every integer is below 10", st.integers(0, 1000), lambda n: n < 10)
    assert check.verdict.status == "REFUTED"
    assert check.verdict.counterexample.note == "smallest example: 10"
    assert CTX.law("squares are nonnegative", st.integers(), lambda n: n * n >= 0).verdict.status == "HOLDS"


def test_explain_adds_the_draw_to_a_numeric_counterexample():
    check = CTX.numeric("x = x + 1", lambda rng: (rng.normal(size=2), rng.normal(size=2) + 1),
                        explain=lambda rng: f"first draw {rng.normal():.3f}")
    example = check.verdict.counterexample
    assert example.note.startswith(f"first draw {np.random.default_rng(example.seed).normal():.3f}\n")


# --- bad input -----------------------------------------------------------------------------

BAD = [
    pytest.param(lambda: make_claim("X1"), "must look like C7", id="id-not-C"),
    pytest.param(lambda: make_claim("C"), "must look like C7", id="id-without-number"),
    pytest.param(lambda: make_claim("c1"), "must look like C7", id="id-lowercase"),
    pytest.param(lambda: make_claim("C1bb"), "must look like C7", id="id-two-letters"),
    pytest.param(lambda: Derivation("short", [Step(A)]), "at least two steps", id="derivation-one-step"),
    pytest.param(lambda: select([make_claim("C1")], ["C2"]), "unknown claim 'C2'; the catalog has C1", id="unknown-claim"),
    pytest.param(lambda: claim_key("17b"), "is not a claim id", id="bad-key"),
]


@pytest.mark.parametrize("build, message", BAD)
def test_bad_input_is_rejected_with_a_message(build, message):
    with pytest.raises((CatalogError, UnknownClaimError), match=message.replace("(", r"\(")):
        build()


# --- discovery and selection ---------------------------------------------------------------


def _package(tmp_path, monkeypatch, files: dict[str, str]) -> str:
    name = "fake_proofs_" + "".join(c if c.isalnum() else "_" for c in tmp_path.name)  # fresh per test
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    for module, body in files.items():
        (root / f"{module}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return name


CLAIM_SOURCE = """
from tensoralg.verify.catalog import Claim
CLAIM = Claim("{id}", "t", "s", "l", derive=list, check=lambda ctx: [], refute=lambda ctx: [])
"""


def test_discovery_reads_claim_modules_in_catalog_order(tmp_path, monkeypatch):
    package = _package(tmp_path, monkeypatch, {
        "c17b_svd": CLAIM_SOURCE.format(id="C17b"), "c2_head": CLAIM_SOURCE.format(id="C2"),
        "c11_two": CLAIM_SOURCE.format(id="C11"), "_helpers": "X = 1", "notes": "Y = 2",
    })
    assert [c.id for c in discover(package)] == ["C2", "C11", "C17b"]


@pytest.mark.parametrize("files, message", [
    pytest.param({"c3_x": CLAIM_SOURCE.format(id="C4")}, "must define claim C3; it defines C4", id="id-mismatch"),
    pytest.param({"c3_x": "X = 1"}, "defines no CLAIM", id="no-claim"),
    pytest.param({"c3_x": CLAIM_SOURCE.format(id="C3"), "c03_y": CLAIM_SOURCE.format(id="C3")}, "defined by both", id="duplicate"),
])
def test_discovery_rejects_modules_that_break_the_rules(tmp_path, monkeypatch, files, message):
    with pytest.raises(CatalogError, match=message):
        discover(_package(tmp_path, monkeypatch, files))


def test_select_is_case_insensitive_ordered_and_deduplicated():
    claims = [make_claim(i) for i in ("C1", "C2", "C17b")]
    assert [c.id for c in select(claims, ["c17B", "C1", "c1"])] == ["C17b", "C1"]
    assert select(claims, []) == tuple(claims)


def test_claim_order():
    ids = ["C18", "C17b", "C2", "C11", "C17", "C1"]
    assert sorted(ids, key=claim_key) == ["C1", "C2", "C11", "C17", "C17b", "C18"]


# --- reports -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results():
    failing = make_claim("C9", checks=lambda ctx: [ctx.identity("AB = BA", A @ B, B @ A)])
    return (run_claim(make_claim("C1"), CTX), run_claim(failing, CTX))


def test_table_lists_each_claim_and_the_failures(results):
    lines = render_table(results).splitlines()
    assert lines[0].split() == ["claim", "statement", "methods", "verdict", "negatives", "time"]
    assert lines[1].split()[0] == "C1" and "PASS" in lines[1] and "1/1" in lines[1]
    assert "FAIL" in lines[2]
    assert lines[3].startswith("2 claims: 1 passed, 1 failed · 2/2 negative controls refuted")
    assert lines[4].startswith("C9 FAILED: check 'AB = BA': REFUTED")


def test_json_report_schema(results):
    data = json.loads(catalog_json(results, seed=0))
    assert data["seed"] == 0 and data["passed"] is False
    first = data["claims"][0]
    assert set(first) == {"id", "title", "statement", "latex", "verdict", "methods", "negatives_refuted", "seconds",
                          "derivations", "checks", "negative_controls", "errors"}
    step = first["derivations"][0]["steps"][0]
    assert step["unicode"] == "Bᵀ Aᵀ" and step["verdict"]["status"] == "PROVED"
    negative = first["negative_controls"][0]["verdict"]
    assert negative["status"] == "REFUTED" and negative["counterexample"]["lhs_value"] != negative["counterexample"]["rhs_value"]


def test_markdown_shows_derivations_checks_and_counterexamples(results):
    text = to_markdown(results, seed=0)
    assert "## C1 · Transpose of a product — PASS" in text
    assert "$$\nA B^{\\top}\n$$" not in text and "$$\n\\left(A B\\right)^{\\top}\n$$" in text
    assert "- $= {B}^{\\top} {A}^{\\top}$ — *$(XY)^{\\top} = Y^{\\top}X^{\\top}$*: **PROVED**" in text
    assert "### Negative controls (must be refuted)" in text and "counterexample:" in text


def test_latex_document_is_ascii_and_balanced(results):
    text = to_latex_document(results, seed=0)
    assert text.isascii()
    assert text.startswith("\\documentclass") and text.rstrip().endswith("\\end{document}")
    assert text.count("\\begin{list}") == text.count("\\end{list}") == 2  # one list per derivation
    assert text.count("$") % 2 == 0


@given(st.text())
def test_latex_text_is_ascii_with_balanced_math(text):
    spelled = latex_text(text)
    assert spelled.isascii()
    assert (spelled.count("$") - spelled.count("\\$")) % 2 == 0
