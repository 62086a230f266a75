"""Verdicts: true identities are PROVED, subtly false ones REFUTED with a counterexample
that reproduces, HOLDS carries its bound, ill-formed input is an ERROR."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensoralg.algebra.exact import evaluate_exact, field_named, first_difference, invertible_symbols, random_instance
from tensoralg.algebra.expr import Atom, canonical, symbols_in
from tensoralg.algebra.definitions import expand_definitions
from tensoralg.formula.parsing import Context, parse_equation
from tensoralg.verify.strategies import SPACES, expressions
from tensoralg.algebra.symbols import declared_symbol
from tensoralg.verify.verification import Counterexample, Verdict, check_formula, verify_identity, verify_numeric
from claims_formulas import C11_LATEX, C11_LHS, C11_RHS, C14_LATEX, C14_LHS, C14_RHS

# Generic matrices for the laws of C1 (A … D shadow the attention pattern A there).
GENERIC = ["A, B, C, D: p x p", "E, F: q x q"]
# Model symbols are the standard ones; a residual state X, Y and a change of basis M.
MODEL = ["X, Y: n_ctx x d_model", "M: d_head x d_head"]
HEADS = (2, 2)


def check(text, declarations=GENERIC, **options):
    return check_formula(text, declarations=declarations, heads=HEADS, **options)


# (id, a true identity, a subtly false twin)
CORPUS = [
    ("C1-mixed-product", GENERIC, "(A ⊗ E)(B ⊗ F) == (A B) ⊗ (E F)", "(A ⊗ E)(B ⊗ F) == (B A) ⊗ (E F)"),
    ("C1-mixed-product-right", GENERIC, "(A ⊗ E)(B ⊗ F) == (A B) ⊗ (E F)", "(A ⊗ E)(B ⊗ F) == (A B) ⊗ (F E)"),
    ("C1-bilinear-left", GENERIC, "(A + 2 B) ⊗ E == A ⊗ E + 2 (B ⊗ E)", "(A + 2 B) ⊗ E == A ⊗ E + B ⊗ E"),
    ("C1-bilinear-right", GENERIC, "A ⊗ (E - F) == A ⊗ E - A ⊗ F", "A ⊗ (E - F) == A ⊗ E + A ⊗ F"),
    ("C1-transpose", GENERIC, "(A ⊗ E)ᵀ == Aᵀ ⊗ Eᵀ", "(A ⊗ E)ᵀ == Aᵀ ⊗ E"),
    ("C1-identity", GENERIC, "Id_{p} ⊗ Id_{q} == Id", "Id_{p} ⊗ Id_{q} == Id ⊗ E"),
    ("C1-action", MODEL, "(A[0,0] ⊗ W_OV[0,0])·X == A[0,0] X W_OV[0,0]ᵀ", "(A[0,0] ⊗ W_OV[0,0])·X == A[0,0] X W_OV[0,0]"),
    (
        "C2-head-factors",
        MODEL,
        "(A^{0,0} ⊗ W_O^{0,0} W_V^{0,0})·X == (Id ⊗ W_O^{0,0})·((A^{0,0} ⊗ W_V^{0,0})·X)",
        "(A^{0,0} ⊗ W_O^{0,0} W_V^{0,0})·X == (Id ⊗ W_V^{0,0}ᵀ)·((A^{0,0} ⊗ W_O^{0,0}ᵀ)·X)",
    ),
    (
        "C2-linear-in-X",
        MODEL,
        "(A^{0,0} ⊗ W_OV^{0,0})·(X + 3 Y) == (A^{0,0} ⊗ W_OV^{0,0})·X + 3 (A^{0,0} ⊗ W_OV^{0,0})·Y",
        "(A^{0,0} ⊗ W_OV^{0,0})·(X + 3 Y) == (A^{0,0} ⊗ W_OV^{0,0})·X + (A^{0,0} ⊗ W_OV^{0,0})·Y",
    ),
    (
        "C3-heads-additive",
        MODEL,
        "Σ_{h∈H1} (Id ⊗ W_O^h)·((A^h ⊗ W_V^h)·X) == (Σ_{h∈H1} A^h ⊗ W_OV^h)·X",
        "Σ_{h∈H1} (Id ⊗ W_O^h)·((A^h ⊗ W_V^h)·X) == (A^{0,0} ⊗ W_OV^{0,0})·X",
    ),
    ("C4-qk", MODEL, "(M W_Q^{0,0})ᵀ (M⁻ᵀ W_K^{0,0}) == W_QK^{0,0}", "(M W_Q^{0,0})ᵀ (M⁻¹ W_K^{0,0}) == W_QK^{0,0}"),
    ("C4-ov", MODEL, "(W_O^{0,0} M⁻¹)(M W_V^{0,0}) == W_OV^{0,0}", "(W_O^{0,0} M⁻¹)(Mᵀ W_V^{0,0}) == W_OV^{0,0}"),
    (
        "C4-scores",
        MODEL,
        "X (M W_Q^{0,0})ᵀ (M^{-T} W_K^{0,0}) Xᵀ == X W_QK^{0,0} Xᵀ",
        "X (M W_Q^{0,0})ᵀ (M W_K^{0,0}) Xᵀ == X W_QK^{0,0} Xᵀ",
    ),
    ("C11-unicode", MODEL, f"{C11_LHS} == {C11_RHS}", f"{C11_LHS} == " + C11_RHS.replace("(A^{h2}A^{h1})", "(A^{h1}A^{h2})")),
    ("C11-latex", MODEL, f"{C11_LHS} == {C11_LATEX}", f"{C11_LHS} == " + C11_LATEX.replace("W_{OV}^{h_2} W_{OV}^{h_1}", "W_{OV}^{h_1} W_{OV}^{h_2}")),
    ("C14-unicode", MODEL, f"{C14_LHS} == {C14_RHS}", f"{C14_LHS} == " + C14_RHS.replace("W_OV^{hq}ᵀ W_QK^{1,0} W_E", "W_OV^{hq} W_QK^{1,0} W_E")),
    ("C14-latex", MODEL, f"{C14_LHS} == {C14_LATEX}", f"{C14_LHS} == " + C14_LATEX.replace(r"\mathrm{Id} \otimes A^{h_k}", r"A^{h_k} \otimes \mathrm{Id}")),
]


@pytest.mark.parametrize("declarations, true, false", [row[1:] for row in CORPUS], ids=[row[0] for row in CORPUS])
def test_true_corpus_is_proved_and_its_twin_refuted(declarations, true, false):
    proved = check(true, declarations)
    assert proved.status == "PROVED", proved.detail
    refuted = check(false, declarations)
    assert refuted.status == "REFUTED", refuted.detail
    assert refuted.counterexample is not None
    assert refuted.counterexample.lhs_value != refuted.counterexample.rhs_value


# The subtly false identities of the issue, each its own test.


def _refuted(text, declarations=GENERIC):
    verdict = check(text, declarations)
    assert verdict.status == "REFUTED", verdict.detail
    _assert_reproduces(text, declarations, verdict.counterexample)
    return verdict


def test_reversed_product_order():
    verdict = _refuted("(A B)ᵀ == Aᵀ Bᵀ")
    assert verdict.counterexample.dims == {"p": 2}


def test_missing_cross_term():
    _refuted("(A + B)(C + D) == A C + B D + A D")


def test_wrong_transpose():
    _refuted("(A ⊗ E)ᵀ == A ⊗ Eᵀ")


def test_wrong_inverse_transpose_reproduces_with_invertible_draws():
    _refuted("(M W_Q^{0,0})ᵀ (M⁻¹ W_K^{0,0}) == W_QK^{0,0}", MODEL)


def test_wrong_coefficient():
    _refuted("(A + B)(A + B) == A A + 2 A B + B B")


def test_wk_transpose_wq_for_qk():
    verdict = _refuted("W_QK^{0,0} == W_K^{0,0}ᵀ W_Q^{0,0}", MODEL)
    assert verdict.counterexample.dims["d_model"] == 2


def test_virtual_head_patterns_in_wrong_order():
    _refuted(f"{C11_LHS} == " + C11_RHS.replace("(A^{h2}A^{h1})", "(A^{h1}A^{h2})"), MODEL)


def test_wrong_coefficient_is_fine_when_commuting():
    # Twin: with the commutator-free coefficient the same expansion is proved.
    assert check("(A + B)(A + B) == A A + A B + B A + B B").status == "PROVED"


def _assert_reproduces(text, declarations, cx: Counterexample):
    """Re-evaluate the sides on the instance the counterexample names."""
    lhs, rhs = parse_equation(text, Context.build(declarations, HEADS))
    field = field_named(cx.field)
    left, right = expand_definitions(lhs), expand_definitions(rhs)
    syms = symbols_in(left) | symbols_in(right)
    values = random_instance(syms, cx.dims, cx.seed, field, invertible_symbols(left) | invertible_symbols(right))
    lv, rv = evaluate_exact(left, values, cx.dims, field), evaluate_exact(right, values, cx.dims, field)
    entry, l_value, r_value = first_difference(lv, rv, lhs.shape, cx.dims, field)
    assert (entry, l_value, r_value) == (cx.entry, cx.lhs_value, cx.rhs_value)


def test_counterexample_is_shrunk():
    verdict = check("A B C == C B A")
    assert verdict.counterexample.dims == {"p": 2}
    tensor = check("(A ⊗ E)(B ⊗ F) == (B A) ⊗ (E F)")
    assert tensor.counterexample.dims == {"p": 2, "q": 1}


def test_counterexample_lists_small_instance_and_describes_itself():
    cx = check("A B == B A").counterexample
    assert [name for name, _ in cx.values] == ["A", "B"]
    assert all(len(rows) == 2 and len(rows[0]) == 2 for _, rows in cx.values)
    text = cx.describe()
    assert "p=2" in text and f"seed {cx.seed}" in text and cx.lhs_value in text and len(text.splitlines()) <= 2


def test_holds_with_definitions_folded():
    verdict = check("W_OV^{0,0} == W_O^{0,0} W_V^{0,0}", MODEL, expand=False)
    assert verdict.status == "HOLDS" and verdict.ok
    assert verdict.error_bound == 0.0
    assert check("W_OV^{0,0} == W_O^{0,0} W_V^{0,0}", MODEL).status == "PROVED"
    assert check("W_OV^{0,0} == W_V^{0,0}ᵀ W_O^{0,0}ᵀ", MODEL, expand=False).status == "REFUTED"


def test_past_the_size_cap_is_not_decided(monkeypatch):
    # With the size cap forced to 1, scalars commute, so AB = BA shows no difference: the
    # verdict is UNDECIDED (exit 3), never HOLDS.
    monkeypatch.setattr("tensoralg.verify.verification.SIZE_CAP", {1: 1})
    verdict = check("A B == B A", trials=2)
    assert verdict.status == "UNDECIDED" and not verdict.ok and verdict.exit_code == 3
    assert "not decided" in verdict.detail and "size 3" in verdict.detail and "cap 1" in verdict.detail


def test_missed_difference_is_not_decided_with_the_schwartz_zippel_bound(monkeypatch):
    # Every trial missing (forced here) leaves the identity open, with the bound (degree/p)^trials.
    monkeypatch.setattr("tensoralg.verify.verification._Search.fails", lambda self, dims, seeds: None)
    verdict = check("A B == B A", trials=2)
    assert verdict.status == "UNDECIDED" and verdict.exit_code == 3
    assert verdict.error_bound == pytest.approx((2 / (2**61 - 1)) ** 2, rel=1e-9, abs=0)
    assert "degree ≤ 2" in verdict.detail and "2/p" in verdict.detail
    assert "Schwartz–Zippel" in verdict.detail and "not decided" in verdict.detail


def test_errors_are_verdicts():
    for text in ("A B ==", "A == W_E", "A ⊗ E == A", "A == Z"):
        verdict = check(text)
        assert verdict.status == "ERROR" and not verdict.ok and verdict.detail


def test_verify_identity_shape_mismatch_is_error():
    p, q = declared_symbol("P", "a", "b"), declared_symbol("Q", "b", "a")
    verdict = verify_identity(Atom(p), Atom(q))
    assert verdict.status == "ERROR" and "different shapes" in verdict.detail


def test_verify_identity_negative_seed_is_error():
    p = Atom(declared_symbol("P", "a", "a"))
    verdict = verify_identity(p @ p, p, seed=-1)
    assert verdict.status == "ERROR" and "seed must be a non-negative integer" in verdict.detail


def test_definitions_only_difference_holds_without_a_search():
    # Unexpanded, W_OV and W_O W_V differ as written; unfolded they agree, so no instance is drawn.
    from tensoralg.algebra.symbols import standard_symbol

    ov = Atom(standard_symbol("W_OV", 0, 0))
    unfolded = Atom(standard_symbol("W_O", 0, 0)) @ Atom(standard_symbol("W_V", 0, 0))
    verdict = verify_identity(ov, unfolded, expand=False)
    assert verdict.status == "HOLDS" and verdict.error_bound == 0.0 and "agree once W_OV" in verdict.detail


def test_verdict_json():
    data = check("A B == B A").to_json()
    assert data["status"] == "REFUTED" and data["ok"] is False and data["method"] == "exact"
    assert set(data["counterexample"]) == {"dims", "seed", "field", "entry", "lhs_value", "rhs_value", "note", "values"}
    assert check("A B == A B").to_json()["counterexample"] is None
    with pytest.raises(ValueError):
        Verdict("MAYBE", "exact", "", "")


SHAPES = st.sampled_from([(("p", "q"),), (("p", "p"), ("q", "r"))])


@settings(max_examples=40)
@given(SHAPES.flatmap(lambda shape: expressions(*shape)))
def test_an_expression_equals_its_canonical_form(expr):
    assert verify_identity(expr, canonical(expr)).status == "PROVED"


@settings(max_examples=25)
@given(SHAPES.flatmap(lambda shape: st.tuples(expressions(*shape), expressions(*shape))))
def test_verdict_agrees_with_exact_evaluation(pair):
    lhs, rhs = pair
    verdict = verify_identity(lhs, rhs, trials=1)
    assert verdict.status in ("PROVED", "REFUTED")
    if verdict.status == "REFUTED":
        cx = verdict.counterexample
        field = field_named(cx.field)
        values = random_instance(symbols_in(lhs) | symbols_in(rhs), cx.dims, cx.seed, field)
        found = first_difference(
            evaluate_exact(lhs, values, cx.dims, field), evaluate_exact(rhs, values, cx.dims, field), lhs.shape, cx.dims, field
        )
        assert found == (cx.entry, cx.lhs_value, cx.rhs_value)
    else:
        assert lhs.normal_form == rhs.normal_form


# ---------------------------------------------------------------------------
# Numeric checks


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_numeric_holds_for_softmax_shift_invariance():
    def sides(rng):
        s = rng.normal(size=(4, 5)) * 10
        return _softmax(s), _softmax(s + rng.normal(size=(4, 1)) * 100)

    verdict = verify_numeric("softmax(S + c1ᵀ) = softmax(S)", sides, seed=1)
    assert verdict.status == "HOLDS" and verdict.method == "numeric" and verdict.ok


def test_numeric_refutes_column_shift_with_reproducible_seed():
    def sides(rng):
        s = rng.normal(size=(4, 5))
        return _softmax(s), _softmax(s + rng.normal(size=(1, 5)))

    verdict = verify_numeric("softmax(S + 1cᵀ) = softmax(S)", sides, seed=10)
    cx = verdict.counterexample
    assert verdict.status == "REFUTED" and cx.field == "float64"
    lhs, rhs = sides(np.random.default_rng(cx.seed))
    assert repr(float(lhs[cx.entry])) == cx.lhs_value and repr(float(rhs[cx.entry])) == cx.rhs_value


def test_numeric_rounding_of_cancelling_terms_is_not_refuted():
    # Sums of terms of size 1e12 that cancel to O(1): rounding errors ~1e-4 are far
    # above 1e-9 absolute but tiny relative to the terms, which sides reports.
    def sides(rng):
        big = rng.normal(size=(50, 3)) * 1e12
        small = rng.normal(size=3)
        total = np.vstack([big, -big, small[None]])
        order = rng.permutation(len(total))
        return total.sum(axis=0), total[order].sum(axis=0), 1e12

    assert verify_numeric("Σ in two orders", sides).status == "HOLDS"


def test_numeric_bad_sides_are_errors():
    assert verify_numeric("shapes", lambda rng: (np.zeros(2), np.zeros(3))).status == "ERROR"
    assert verify_numeric("nan", lambda rng: (np.full(2, np.nan), np.zeros(2))).status == "ERROR"


# --- what the verdicts report ---------------------------------------------------------------

SQUARES = ["A, B: d x d"]


def test_a_verdict_built_without_timing_took_no_time():
    assert Verdict("PROVED", "symbolic", "s", "d").seconds == 0.0


def test_the_difference_shows_twelve_terms_and_counts_the_rest():
    words = "A + B + A B + B A + A A + B B + A B A + B A B + A A B + B B A + A B B + B A A + A A A"  # 13
    assert "… and 2 more term(s)" in check_formula(f"{words} == B B B", declarations=SQUARES).detail
    assert "more term" not in check_formula(f"{words} == A A A + B", declarations=SQUARES).detail


def test_proved_says_when_definitions_were_unfolded():
    assert "(W_OV, W_QK unfolded)" in check_formula("W_OV^{0,0} == W_O^{0,0} W_V^{0,0}").detail
    assert "(W_OV, W_QK unfolded)" in check_formula("W_QK^{0,0} == W_Q^{0,0}ᵀ W_K^{0,0}").detail
    assert "(W_OV, W_QK unfolded)" in check_formula("W_O^{0,0} W_V^{0,0} == W_OV^{0,0}").detail
    assert "unfolded" not in check_formula("A B == A B", declarations=SQUARES).detail
    assert "unfolded" not in check_formula("A + B - B == A", declarations=SQUARES).detail


def test_a_simple_counterexample_is_over_the_rationals_with_small_entries():
    cx = check_formula("A B == B A", declarations=SQUARES).counterexample
    assert cx.field == "Q" and cx.values and all(abs(int(x)) <= 3 for _, rows in cx.values for r in rows for x in r)


def test_a_large_instance_is_not_listed():
    names = [chr(c) for c in range(ord("A"), ord("A") + 17)]  # 17 matrices of 2 × 2: 68 entries
    text = f"{' '.join(names)} == {' '.join(reversed(names))}"
    cx = check_formula(text, declarations=[f"{', '.join(names)}: d x d"]).counterexample
    assert cx.dims == {"d": 2} and cx.values == ()


def test_numeric_verdicts_report_the_failing_trial_and_the_deviation():
    refuted = verify_numeric("sin = cos", lambda r: (lambda a: (np.sin(a), np.cos(a)))(r.normal(size=4)))
    assert refuted.detail == "trial 1 of 5 disagrees"
    zeros = verify_numeric("0 = 0", lambda r: (np.zeros(3), np.zeros(3)))
    assert zeros.status == "HOLDS" and "largest relative deviation 0 ≤" in zeros.detail
    left, right = np.array([100.0, 1.0]), np.array([100.0 + 2**-40, 1.0])
    close = verify_numeric("nearly", lambda r: (left, right), trials=1)
    assert close.status == "HOLDS" and f"largest relative deviation {2**-40 / (100.0 + 2**-40):.2g} ≤" in close.detail


@pytest.mark.parametrize("factors, cap", [(1, 12), (2, 8), (3, 5)])
def test_the_size_caps_are_as_documented(monkeypatch, factors, cap):
    # A difference of 13 letters per factor must show by size 13·f + f, above every cap: with every
    # trial missing (forced), the verdict names the cap for that many tensor factors.
    from tensoralg.algebra.expr import Tensor, atom

    monkeypatch.setattr("tensoralg.verify.verification._Search.fails", lambda self, dims, seeds: None)
    letters = [atom(declared_symbol(chr(ord("A") + i), "d", "d")) for i in range(13)]
    word, reversed_word = letters[0], letters[-1]
    for x in letters[1:]:
        word = word @ x
    for x in reversed(letters[:-1]):
        reversed_word = reversed_word @ x
    lhs, rhs = (Tensor((w,) * factors) if factors > 1 else w for w in (word, reversed_word))
    verdict = verify_identity(lhs, rhs)
    assert verdict.status == "UNDECIDED" and f"above the search's cap {cap} " in verdict.detail


def test_verdicts_time_themselves(monkeypatch):
    A, B = (Atom(declared_symbol(n, "d", "d")) for n in "AB")
    verdicts = [check_formula("A B ==", declarations=SQUARES), verify_identity(A @ B, B @ A),
                verify_identity(A @ B, A @ B), verify_numeric("0 = 0", lambda r: (np.zeros(2), np.zeros(2)))]
    monkeypatch.setattr("tensoralg.verify.verification.SIZE_CAP", {1: 1})
    verdicts.append(verify_identity(A @ B, B @ A))
    assert [v.status for v in verdicts] == ["ERROR", "REFUTED", "PROVED", "HOLDS", "UNDECIDED"]
    for verdict in verdicts:
        assert 0.0 <= verdict.seconds < 60.0, verdict.status


def test_the_counterexample_names_the_first_seed_that_shows_it_and_how_to_rebuild_it():
    A, B = (Atom(declared_symbol(n, "d", "d")) for n in "AB")
    verdict = verify_identity(A @ B, B @ A, seed=0)
    assert verdict.statement == "A B = B A"
    cx = verdict.counterexample
    assert cx.seed == 0 and cx.field == "Q"
    assert cx.note == "instance: tensoralg.algebra.exact.random_instance([A, B], dims, seed=0, field=field_named('Q'))"


def test_numeric_tolerance_is_relative_to_the_values_not_to_one():
    tiny = verify_numeric("1e-12 = 2e-12", lambda r: (np.array([1e-12]), np.array([2e-12])), trials=1)
    assert tiny.status == "REFUTED"


@pytest.mark.parametrize("width, one_line", [(100, True), (101, False)])
def test_statements_up_to_100_characters_stay_on_the_first_line(width, one_line):
    statement = "x" * (width - 4) + " = y"
    lines = Verdict("PROVED", "symbolic", statement, "d").describe().splitlines()
    assert (lines[0].endswith(statement)) == one_line


def test_shrinking_keeps_the_smallest_size_of_each_space():
    # The standard polynomial s₄ vanishes on 2 × 2 matrices (Amitsur–Levitzki), so the search
    # first sees it at size 3 and d stays 3; the space e, on which the difference does not
    # depend, shrinks to 1.
    from fractions import Fraction
    from itertools import permutations

    from tensoralg.algebra.expr import Scaled, Sum

    letters = [Atom(declared_symbol(n, "d", "d")) for n in "ABCD"]
    F, G = Atom(declared_symbol("F", "d", "e")), Atom(declared_symbol("G", "e", "d"))
    terms = []
    for perm in permutations(range(4)):
        sign = (-1) ** sum(perm[i] > perm[j] for i in range(4) for j in range(i + 1, 4))
        product = letters[perm[0]] @ letters[perm[1]] @ letters[perm[2]] @ letters[perm[3]]
        terms.append(product if sign > 0 else Scaled(Fraction(-1), product))
    verdict = verify_identity(Sum((*terms, F @ G)), F @ G)
    assert verdict.status == "REFUTED"
    assert verdict.counterexample.dims == {"d": 3, "e": 1}
