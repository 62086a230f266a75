"""Adversarial statements: scalars, traces, sums over heads, powers, inverses and rank bounds
must get the verdict that is true of them (a false statement is never PROVED, a true one never
REFUTED), and statements the rules do not read must not crash the checker."""

from __future__ import annotations

import pytest

from tensoralg.verify.verification import check_formula

#: (id, formula, declarations, status)
CASES = [
    # a rank statement about a trace (a 1 × 1 scalar) is bounded by its shape
    ("rank-of-a-trace-at-most-1", "rank(tr(M)) <= 1", ["M: 2 x 2"], "PROVED"),
    ("rank-of-a-trace-not-0", "rank(tr(M)) <= 0", ["M: 2 x 2"], "REFUTED"),
    ("rank-of-a-trace-times-id", "rank(tr(W_OV^{0,0}) Id_{1}) <= 0", [], "REFUTED"),
    # an inverse in a rank statement is drawn invertible (never "M is singular")
    # (M⁻¹ − M⁻¹ cancels in the normal form: rank 0, PROVED)
    ("rank-of-a-difference-of-inverses", "rank(M⁻¹ - M⁻¹) <= 0", ["M: d_model x d_model"], "PROVED"),
    ("rank-of-an-inverse", "rank(M⁻¹) <= d_head", ["M: d_model x d_model"], "REFUTED"),
]


@pytest.mark.parametrize("text, declarations, status", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdict(text, declarations, status):
    verdict = check_formula(text, declarations=declarations)
    assert verdict.status == status, verdict.detail


#: sums over heads of unknown number and traces under assumptions (each A^{l,h} a pattern by default, 𝟙 the
#: column of ones): the free algebra's instance is arbitrary, so its refutation is not one here
UNDER = [
    # true: A^h 𝟙 = 𝟙 for every head
    ("pattern-times-ones-per-head",
     "(Σ_{h∈H1} A^h⊗W_OV^h) (𝟙_{n_ctx}⊗Id_{d_model}) == Σ_{h∈H1} 𝟙_{n_ctx}⊗W_OV^h", "UNDECIDED"),
    ("pattern-ones-ones-per-head", "Σ_{h∈H1} A^h 𝟙_{n_ctx} 𝟙_{n_ctx}ᵀ A^{h}ᵀ == Σ_{h∈H1} 𝟙_{n_ctx} 𝟙_{n_ctx}ᵀ A^{h}ᵀ",
     "UNDECIDED"),
    # false, refuted by an instance whose patterns are patterns
    ("false-per-head", "Σ_{h∈H1} A^h 𝟙_{n_ctx} 𝟙_{n_ctx}ᵀ A^{h} == Σ_{h∈H1} 𝟙_{n_ctx} 𝟙_{n_ctx}ᵀ A^{h}ᵀ", "REFUTED"),
    ("two-layers", "Σ_{h∈H1} A^h⊗W_OV^h == Σ_{h∈H2} A^h⊗W_OV^h", "REFUTED"),
    # traces with 𝟙 or a default pattern: true, so never REFUTED by an instance where 𝟙 is not ones
    ("ones-dot-ones-is-its-size", "𝟙_{3}ᵀ 𝟙_{3} == tr(Id_{3})", "UNDECIDED"),
    ("trace-with-a-pattern-and-ones", "tr(A^{0,0} 𝟙_{n_ctx} 𝟙_{n_ctx}ᵀ) == tr(𝟙_{n_ctx} 𝟙_{n_ctx}ᵀ)", "UNDECIDED"),
]


@pytest.mark.parametrize("text, status", [c[1:] for c in UNDER], ids=[c[0] for c in UNDER])
def test_free_algebra_nodes_under_default_assumptions(text, status):
    from tensoralg.verify.assumptions import check_assuming

    verdict = check_assuming(text)
    assert verdict.status == status, verdict.detail
    if status == "REFUTED" and "Σ" in text:
        assert "|H1|" in verdict.counterexample.dims


@pytest.mark.parametrize("text, assume, status", [
    ("causal (X⁻¹)", ["causal X"], "UNDECIDED"),   # true (inverse of a triangular matrix), never an error
    ("nonnegative (X⁻¹)", ["nonnegative X"], "REFUTED"),
    ("causal (A^{0,0}⁻¹)", [], "UNDECIDED"),
])
def test_a_property_of_an_inverse_skips_singular_draws(text, assume, status):
    from tensoralg.verify.assumptions import check_assuming

    verdict = check_assuming(text, assume, declarations=["X: n_ctx x n_ctx"])
    assert verdict.status == status, verdict.detail


@pytest.mark.parametrize("text, assume, defaults", [
    ("A^{h} 𝟙 == 𝟙", ["A^{l,h} 𝟙 = 𝟙"], False),
    ("W_OV^h == 0 W_OV^h", ["W_OV^{l,h} = 0"], True),
    ("Σ_{h∈H1} A^h⊗W_OV^h == 0 ⊗ W_OV^{0,0}", ["W_OV^{l,h} = 0"], True),
])
def test_an_assumed_schema_is_not_refuted_at_a_variable_head(text, assume, defaults):
    """True under the assumption for every head: the assumption is not instantiated at a head
    written as a variable, so an instance that ignores it is no counterexample (and no error)."""
    from tensoralg.verify.assumptions import check_assuming

    verdict = check_assuming(text, assume, defaults=defaults)
    assert verdict.status == "UNDECIDED", verdict.detail


@pytest.mark.parametrize("heads", [None, [2, 2]])
@pytest.mark.parametrize("text, status", [
    ("Σ_{h∈H1∪H1} W_OV^h == Σ_{h∈H1} W_OV^h", "PROVED"),        # a union of sets counts each head once
    ("Σ_{h∈H1∪H1} W_OV^h == 2 Σ_{h∈H1} W_OV^h", "REFUTED"),     # was PROVED: H1 counted twice
    ("Σ_{h∈H1∪H2∪H1} W_OV^h == Σ_{h∈H1∪H2} W_OV^h", "PROVED"),
])
def test_a_union_that_repeats_a_layer_counts_its_heads_once(text, status, heads):
    verdict = check_formula(text, heads=heads)
    assert verdict.status == status, verdict.detail


def test_a_bound_head_with_a_layer_index_is_one_clear_error():
    verdict = check_formula("Σ_{h∈H1} W_OV^{0,h} == Σ_{h∈H1} W_OV^h")
    assert verdict.status == "ERROR"
    assert "write W_OV^h" in verdict.detail and "(0, 0, 0)" not in verdict.detail


def test_a_refutation_with_only_free_heads_names_no_empty_head_count():
    verdict = check_formula("W_OV^h == 2 W_OV^h")
    assert verdict.status == "REFUTED"
    assert "with  head(s)" not in verdict.detail and "each free head index a head of its own" in verdict.detail


def test_a_derivation_step_at_a_variable_head_is_not_refuted_against_its_assumption(tmp_path):
    from tensoralg.cli import main

    path = tmp_path / "steps.txt"
    path.write_text("assume W_OV^{l,h} = 0\nW_OV^h = 0 W_OV^h\n", encoding="utf-8")
    assert main(["check", "--file", str(path)]) == 3


@pytest.mark.parametrize("text, status", [
    # equal after renaming h1 ↔ h2 and rotating the trace
    ("Σ_{h1∈H1, h2∈H1} tr(W_OV^{h1} W_OV^{h1} W_OV^{h2}) == Σ_{h1∈H1, h2∈H1} tr(W_OV^{h1} W_OV^{h2} W_OV^{h2})",
     "PROVED"),
    ("Σ_{h1∈H1, h2∈H1} tr(W_OV^{h1} W_OV^{h2} W_OV^{h1} W_OV^{h2}) == "
     "Σ_{h1∈H1, h2∈H1} tr(W_OV^{h1} W_OV^{h1} W_OV^{h2} W_OV^{h2})", "REFUTED"),
    ("Σ_{h1∈H1, h2∈H2} tr(W_OV^{h1} W_OV^{h1} W_OV^{h2}) == Σ_{h1∈H1, h2∈H2} tr(W_OV^{h1} W_OV^{h2} W_OV^{h2})",
     "REFUTED"),  # the variables range over different layers: no renaming
])
def test_traces_equal_up_to_renaming_bound_heads(text, status):
    verdict = check_formula(text)
    assert verdict.status == status, verdict.detail
