"""The paper's notation: sums over heads of unknown number (C27), traces (C25), rank statements
(C26), powers, · between operators, numeric sizes, hints, derivation files, readable refutations,
and formulas too deep for naive recursion (issue 10). Each new statement kind has true cases
PROVED and near-miss false cases REFUTED; printed forms parse back to equal expressions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claims_formulas import C11_LHS, C11_RHS, C14_LHS, C14_RHS
from tensoralg.algebra.expr import IndexedSum, Trace, canonical, canonical_tree, symbols_in
from tensoralg.algebra.normal_form import MAX_TERMS, instantiate_heads
from tensoralg.algebra.printing import to_json, to_latex, to_unicode
from tensoralg.errors import ArchitectureError, FormulaSyntaxError, ShapeError, SymbolError, TensoralgError, TermLimitError
from tensoralg.formula.parsing import Context, parse
from tensoralg.formula.syntax import MAX_NESTING
from tensoralg.verify.derivation import check_derivation
from tensoralg.verify.strategies import expressions, head_sum_formulas, trace_expressions
from tensoralg.verify.verification import check_formula

DECL = ["M, N, P: d_model x d_model", "x, y: d_model x 1", "Q: 3 x 3", "S: d_model x d_head", "R: d_head x d_model"]


def verdict(text: str, **options):
    return check_formula(text, declarations=DECL, **options)


# ---------------------------------------------------------------------------
# One table: each statement kind, true cases PROVED and near misses REFUTED

STATEMENTS = [
    # every head count (C27)
    ("c11-every-head-count", f"{C11_LHS} == {C11_RHS}", "PROVED"),
    ("c14-every-head-count", f"{C14_LHS} == {C14_RHS}", "PROVED"),
    ("c11-ov-reversed", f"{C11_LHS} == " + C11_RHS.replace("W_OV^{h2} W_OV^{h1}", "W_OV^{h1} W_OV^{h2}"), "REFUTED"),
    ("c11-patterns-reversed", f"{C11_LHS} == " + C11_RHS.replace("(A^{h2}A^{h1})", "(A^{h1}A^{h2})"), "REFUTED"),
    ("c14-query-untransposed", f"{C14_LHS} == " + C14_RHS.replace("W_OV^{hq}ᵀ", "W_OV^{hq}"), "REFUTED"),
    ("renaming", "Σ_{h∈H1} A^h ⊗ W_OV^h == Σ_{g∈H1} A^g ⊗ W_OV^g", "PROVED"),
    ("renaming-wrong-layer", "Σ_{h∈H1} A^h ⊗ W_OV^h == Σ_{g∈H2} A^g ⊗ W_OV^g", "REFUTED"),
    ("union-splits", "Σ_{h∈H1∪H2} A^h == Σ_{h∈H1} A^h + Σ_{h∈H2} A^h", "PROVED"),
    ("union-is-not-one-layer", "Σ_{h∈H1∪H2} A^h == Σ_{h∈H1} A^h", "REFUTED"),
    ("distribute", "(Σ_{h∈H2} A^h)(Σ_{h∈H1} A^h) == Σ_{h1∈H1, h2∈H2} A^{h2} A^{h1}", "PROVED"),
    ("square-of-sum", "(Σ_{h∈H1} A^h)^2 == Σ_{h∈H1} A^h A^h", "REFUTED"),
    ("sum-is-not-one-head", "Σ_{h∈H1} A^h == A^{0,0}", "REFUTED"),
    ("free-head", "W_OV^h == W_O^h W_V^h", "PROVED"),
    ("product-over-layers", "(Id⊗W_U) Π_{l=2..1}(Id + Σ_{h∈H_l} A^h⊗W_OV^h) (Id⊗W_E) == " + C11_RHS, "PROVED"),
    ("product-over-layers-latex", r"(\mathrm{Id} \otimes W_U) \prod_{l=2}^{1} (\mathrm{Id} + \sum_{h \in H_l} A^h \otimes W_{OV}^h)"
     r" (\mathrm{Id} \otimes W_E) == " + C11_RHS, "PROVED"),
    ("product-over-layers-ascending", "(Id⊗W_U) Π_{l=1}^{2}(Id + Σ_{h∈H_l} A^h⊗W_OV^h) (Id⊗W_E) == " + C11_RHS, "REFUTED"),
    ("product-of-copies", "Π_{l=1}^{3} M == M^3", "PROVED"),
    ("free-head-wrong", "W_QK^h == W_K^hᵀ W_Q^h", "REFUTED"),
    ("dot-between-operators", "(Id⊗W_U)·(Id + Σ_{h∈H1} A^h⊗W_OV^h)·(Id⊗W_E) == Id⊗W_U W_E + Σ_{h∈H1} A^h⊗W_U W_OV^h W_E", "PROVED"),
    ("dot-between-operators-wrong", "(Id⊗W_U)·(Id + Σ_{h∈H1} A^h⊗W_OV^h)·(Id⊗W_E) == Id⊗W_U W_E", "REFUTED"),
    # traces (C25)
    ("trace-rotation", "tr(M N P) == tr(P M N)", "PROVED"),
    ("trace-not-permutation", "tr(M N P) == tr(M P N)", "REFUTED"),
    ("trace-transpose-reversal", "tr(M N P) == tr(Pᵀ Nᵀ Mᵀ)", "PROVED"),
    ("trace-transpose-one", "tr(M N) == tr(Mᵀ N)", "REFUTED"),
    ("trace-rectangular", "tr(S R) == tr(R S)", "PROVED"),
    ("trace-tensor", "tr(M ⊗ Q) == tr(M) tr(Q)", "PROVED"),
    ("trace-tensor-wrong", "tr(M ⊗ N) == tr(M N)", "REFUTED"),
    ("trace-scalars-commute", "tr(M) tr(N) == tr(N) tr(M)", "PROVED"),
    ("frobenius", "‖M N‖_F^2 == tr(Mᵀ M N Nᵀ)", "PROVED"),
    ("frobenius-latex", r"\|M N\|_F^{2} == \operatorname{tr}(N^\top M^\top M N)", "PROVED"),
    ("frobenius-erratum", "‖M N‖_F^2 == ‖N M‖_F^2", "REFUTED"),
    ("trace-of-numeric-identity", "tr(Id_{3}) == tr(Q Q^{-1})", "PROVED"),
    ("trace-equals-a-number", "tr(Id_{3}) == 3", "PROVED"),
    ("trace-equals-another-number", "tr(Id_{3}) == 4", "REFUTED"),
    ("number-plus-scalar", "tr(M) + 3 == 3 + tr(M)", "PROVED"),
    ("number-plus-scalar-wrong", "xᵀ x + 1 == xᵀ x", "REFUTED"),
    ("square-of-scalar-plus-number", "(xᵀ x + 1)^2 == (xᵀ x)^2 + 2 xᵀ x + 1", "PROVED"),
    ("trace-outer-product", "tr(x yᵀ) == yᵀ x", "PROVED"),
    ("bilinear-scalar-transpose", "xᵀ M y == yᵀ Mᵀ x", "PROVED"),
    ("bilinear-scalar-wrong", "xᵀ M y == xᵀ Mᵀ y", "REFUTED"),
    ("trace-sum-of-heads", "tr(Σ_{h∈H1} W_OV^h) == Σ_{h∈H1} tr(W_V^h W_O^h)", "PROVED"),
    # powers
    ("power-square", "M^2 == M M", "PROVED"),
    ("power-braced", "M^{3} == M M M", "PROVED"),
    ("power-wrong", "M^3 == M M", "REFUTED"),
    ("power-negative", "M^{-2} M^2 == Id", "PROVED"),
    ("power-zero", "M^0 == Id", "PROVED"),
    ("power-of-group", "(M N)^2 == M N M N", "PROVED"),
    ("power-of-group-wrong", "(M N)^2 == M^2 N^2", "REFUTED"),
    ("power-of-head", "W_OV^{0,0}^2 == W_OV^{0,0} W_OV^{0,0}", "PROVED"),
    # rank (C26)
    ("rank-ov-circuit", "rank(W_U W_OV^{0,0} W_E) <= d_head", "PROVED"),
    ("rank-latex", r"\operatorname{rank}(W_{QK}^{0,0}) \le d_head", "PROVED"),
    ("rank-latex-size-as-printed", r"\operatorname{rank}(W_{QK}^{0,0}) \le d_{\mathrm{head}}", "PROVED"),
    ("rank-latex-size-text", r"\operatorname{rank}(W_{QK}^{0,0}) \le d_{\text{head}} - 1", "REFUTED"),
    ("subscript-mathrm", r"W_{\mathrm{OV}}^{0,0} == W_O^{0,0} W_V^{0,0}", "PROVED"),
    ("rank-two-heads", "rank(W_OV^{0,0} + W_OV^{0,1}) ≤ 2 d_head", "PROVED"),
    ("rank-two-heads-one-bound", "rank(W_OV^{0,0} + W_OV^{0,1}) <= d_head", "REFUTED"),
    ("rank-wrong-space", "rank(W_U W_E) <= d_head", "REFUTED"),
    ("rank-tensor", "rank(A^{0,0} ⊗ W_OV^{0,0}) <= n_ctx d_head", "PROVED"),
    ("rank-tensor-wrong", "rank(A^{0,0} ⊗ W_OV^{0,0}) <= d_head", "REFUTED"),
    ("rank-vector", "rank(x yᵀ) <= 1", "PROVED"),
    ("rank-vector-wrong", "rank(x yᵀ + y xᵀ) <= 1", "REFUTED"),
    ("rank-undecided", "rank(P) <= 7", "UNDECIDED"),
    ("rank-common-right-factor", "rank(W_OV^{0,0} W_OV^{1,0} + W_OV^{0,1} W_OV^{1,0}) <= d_head", "PROVED"),
    ("rank-common-left-factor", "rank(Σ_{h∈H1} W_OV^{1,0} W_OV^h) <= d_head", "PROVED"),
    ("rank-common-factor-over-heads", "rank(Σ_{h∈H1} W_OV^h W_OV^{1,0}) <= d_head", "PROVED"),
    ("rank-common-factor-with-identity", "rank(M W_OV^{0,0} + W_OV^{0,0}) <= d_head", "PROVED"),
    ("rank-no-common-factor", "rank(W_OV^{1,0} W_OV^{0,0} + W_OV^{0,1} W_OV^{1,0}) <= d_head", "REFUTED"),
    ("rank-bound-index-not-common", "rank(Σ_{h∈H1} A^h ⊗ W_OV^{1,0} W_OV^h) <= d_head", "REFUTED"),
    ("rank-of-zero", "rank(W_OV^{0,0} - W_OV^{0,0}) <= 0", "PROVED"),
    ("rank-below-head-size", "rank(W_OV^{0,0}) <= d_head - 1", "REFUTED"),
    ("rank-below-head-size-unicode-minus", "rank(W_OV^{0,0}) <= d_head − 1", "REFUTED"),
    ("rank-below-model-size", "rank(W_U W_E) <= d_model - 1", "REFUTED"),
    ("rank-with-a-difference", "rank(W_OV^{0,0}) <= 2 d_head - 1", "PROVED"),
    ("rank-difference-cancels", "rank(W_OV^{0,0} + W_OV^{0,1}) <= 3 d_head - d_head", "PROVED"),
    ("rank-sum-over-heads", "rank(Σ_{h∈H1} W_OV^h) <= d_model", "PROVED"),
    ("rank-sum-over-heads-wrong", "rank(Σ_{h∈H1} W_OV^h) <= d_head", "REFUTED"),
]


@pytest.mark.parametrize("text, status", [row[1:] for row in STATEMENTS], ids=[row[0] for row in STATEMENTS])
def test_statement(text, status):
    v = verdict(text)
    assert v.status == status, v.describe()
    if status == "REFUTED":
        assert v.counterexample is not None
    assert v.exit_code == {"PROVED": 0, "REFUTED": 1, "UNDECIDED": 3}[status]


@pytest.mark.parametrize("text", ["rank(W_OV^{0,0} + W_OV^{0,1}) <= d_head", "rank(Σ_{h∈H1} W_OV^h) <= d_head"])
def test_rank_refutation_names_an_instance_that_reproduces(text):
    from tensoralg.algebra.definitions import expand_definitions
    from tensoralg.algebra.exact import evaluate_exact, field_named, random_instance

    cx = verdict(text).counterexample
    assert f"tensoralg.algebra.exact.random_instance([W_O^{{0,0}}, W_O^{{0,1}}, W_V^{{0,0}}, W_V^{{0,1}}], dims, seed={cx.seed}, field=field_named('Q'))" in cx.note
    expr = expand_definitions(parse("W_OV^{0,0} + W_OV^{0,1}"))
    dims = {k: v for k, v in cx.dims.items() if not k.startswith("|")}
    values = random_instance(symbols_in(expr), dims, cx.seed, field_named("Q"))
    assert str(evaluate_exact(expr, values, dims, field_named("Q")).rank()) == cx.lhs_value


def test_every_head_count_refutation_names_head_counts():
    v = verdict(f"{C11_LHS} == " + C11_RHS.replace("(A^{h2}A^{h1})", "(A^{h1}A^{h2})"))
    assert v.counterexample.dims["|H1|"] >= 1 and v.counterexample.dims["|H2|"] >= 1
    assert "for every number of heads" in verdict(f"{C11_LHS} == {C11_RHS}").detail
    late = verdict("Σ_{h∈H3} A^h ⊗ W_OV^h == 0")  # the empty layers before H3 are not listed one by one
    assert late.counterexample.dims["|H3|"] == 1 and "|H1|" not in late.counterexample.dims and "none in any other layer" in late.detail
    free = verdict("W_Eᵀ W_QK^h W_E == W_Eᵀ W_Qᵀ W_K W_E")  # a free head index, no sum: no head counts to name
    assert free.status == "REFUTED" and "with  head" not in free.detail and "free head index" in free.detail


def test_sums_over_heads_that_agree_only_unfolded_hold_with_no_expand():
    v = verdict("Σ_{h∈H1} W_OV^h == Σ_{h∈H1} W_O^h W_V^h", expand=False)
    assert v.status == "HOLDS" and "for every number of heads" in v.detail
    assert verdict("Σ_{h∈H1} W_OV^h == Σ_{h∈H1} W_V^hᵀ W_O^hᵀ", expand=False).status == "REFUTED"


def test_sum_is_not_one_head_needs_two_heads():
    v = verdict("Σ_{h∈H1} A^h == A^{0,0}")
    assert v.counterexample.dims["|H1|"] == 2


def test_product_up_to_the_number_of_layers():
    c12 = "(Id⊗W_U) Π_{l=L..1}(Id + Σ_{h∈H_l} A^h⊗W_OV^h) (Id⊗W_E)"
    assert check_formula(f"{c12} == {C11_RHS}", heads=(2, 3)).status == "PROVED"
    assert check_formula(f"{c12} == {C11_RHS}", heads=(2, 3, 1)).status == "REFUTED"
    assert "needs the number of layers" in check_formula(f"{c12} == {C11_RHS}").detail
    with pytest.raises(SymbolError, match="not bound by a product"):
        parse("Σ_{h∈H_l} A^h")


def test_heads_keep_their_enumerated_meaning():
    ctx = Context.build(heads=(2, 3))
    assert len(parse(C11_RHS, ctx).normal_form) == 1 + 2 + 3 + 2 * 3
    assert not parse(C11_RHS, ctx).normal_form.variables
    assert parse(C11_RHS).normal_form.variables


@settings(max_examples=25)
@given(st.integers(0, 3), st.integers(0, 3))
def test_symbolic_form_instantiates_to_the_enumerated_one(a, b):
    symbolic = parse(C11_RHS).normal_form
    enumerated = parse(C11_RHS, Context.build(heads=(a, b)))
    assert canonical_tree(instantiate_heads(symbolic, (a, b), {})) == enumerated
    assert len(enumerated.normal_form) == 1 + a + b + a * b


def test_symbolic_normal_form_prints_in_the_paper_form():
    text = to_unicode(canonical(parse(C11_LHS)))
    assert text == (
        "Id ⊗ W_U W_E + Σ_{h∈H1} A^{h} ⊗ W_U W_OV^{h} W_E + Σ_{h∈H2} A^{h} ⊗ W_U W_OV^{h} W_E"
        " + Σ_{h1∈H1, h2∈H2} A^{h2} A^{h1} ⊗ W_U W_OV^{h2} W_OV^{h1} W_E"
    )
    terms = to_json(parse(C11_LHS))["terms"]
    assert terms[-1]["sum_over"] == [{"variable": "h1", "layer": 0}, {"variable": "h2", "layer": 1}]


@settings(max_examples=60)
@given(head_sum_formulas(), st.sampled_from([to_unicode, to_latex]))
def test_head_sums_print_then_parse_back(text, printer):
    expr = parse(text)
    printed = printer(canonical(expr))
    assert parse(printed) == expr


@settings(max_examples=60)
@given(trace_expressions(), st.sampled_from([to_unicode, to_latex]))
def test_traces_print_then_parse_back(expr, printer):
    context = Context.build([f"{x.name}: {x.rows} x {x.cols}" for x in symbols_in(expr)])
    assert parse(printer(expr), context, shape=expr.shape) == expr
    assert parse(printer(canonical(expr)), context, shape=expr.shape) == expr


def test_free_and_bound_indices():
    assert isinstance(parse("Σ_{h∈H1} A^h"), IndexedSum)
    with pytest.raises(SymbolError, match="bound twice"):
        parse("Σ_{h∈H1} Σ_{h∈H2} A^h A^h")
    with pytest.raises(SymbolError, match="does not use h"):
        parse("Σ_{h∈H1} W_U W_E").normal_form
    with pytest.raises(ArchitectureError, match="heads per layer"):
        parse("Σ_{h∈H} A^h")
    with pytest.raises(FormulaSyntaxError, match="H1000"):  # the verifier works on every layer up to it
        parse("Σ_{h∈H99999999999} A^h ⊗ W_OV^h")
    assert check_formula("Σ_{h∈H1000} A^h ⊗ W_OV^h == 0").status == "REFUTED"


def test_trace_node_and_scalars():
    ctx = Context.build(DECL)
    e = parse("tr(M N)", ctx)
    assert isinstance(e, Trace) and e.shape == (("1", "1"),)
    assert str(canonical(parse("tr(Id_{3})", ctx))) == "3 Id"


# ---------------------------------------------------------------------------
# Notation: · between operators, numeric sizes, hints, the 1-based hint

def test_dot_is_the_product_between_operators_and_the_action_on_states():
    ctx = Context.build(["X: n_ctx x d_model"])
    dotted = parse("(Id ⊗ W_U)·(Id + A^{0,0} ⊗ W_OV^{0,0})·(Id ⊗ W_E)", ctx)
    assert dotted == parse("(Id ⊗ W_U)(Id + A^{0,0} ⊗ W_OV^{0,0})(Id ⊗ W_E)", ctx)
    assert type(parse("(A^{0,0} ⊗ W_OV^{0,0})·X", ctx)).__name__ == "Apply"
    assert parse(r"(A^{0,0} \otimes W_{OV}^{0,0}) \cdot (Id \otimes W_E)", ctx).shape == (
        ("n_ctx", "n_ctx"), ("d_model", "n_vocab"))


def test_numeric_sizes_in_declarations():
    v = verdict("xᵀ W_QK^{0,0} y == xᵀ W_Q^{0,0}ᵀ W_K^{0,0} y")
    assert v.status == "PROVED"
    assert parse("Q", Context.build(["Q: 3 x 3"])).shape == (("3", "3"),)
    refuted = verdict("Q Q == Qᵀ Q")
    assert refuted.status == "REFUTED" and "d_model" not in refuted.counterexample.dims


HINTS = [
    ("lowercase-id", "id W_E", "did you mean Id?"),
    ("letter-I", "I + W_OV^{0,0}", "did you mean Id?"),
    ("braced-lowercase", "W_{ov}^{0,0}", "did you mean W_OV?"),
    ("all-lowercase", "w_ov^{0,0}", "did you mean W_OV?"),
    ("declared", "m", "did you mean M?"),
]


@pytest.mark.parametrize("text, hint", [row[1:] for row in HINTS], ids=[row[0] for row in HINTS])
def test_did_you_mean(text, hint):
    with pytest.raises(SymbolError, match=hint.replace("?", r"\?")):
        parse(text, Context.build(DECL))


def test_one_based_hint():
    v = check_formula("Σ_{h∈H1} A^h == A^{1,1} + A^{1,2}", heads=(2,))
    assert v.status == "ERROR" and "0-based" in v.detail
    assert "0-based" not in check_formula("A^{1,1} == A^{1,0}", heads=(2, 2)).detail


# ---------------------------------------------------------------------------
# Readable refutations

def test_refutation_prints_left_minus_right_folded():
    v = verdict("W_U W_OV^{0,0} W_E == W_U W_OV^{0,1} W_E")
    assert "left − right = W_U W_OV^{0,0} W_E - W_U W_OV^{0,1} W_E" in v.detail


def test_refutation_never_cuts_terms_silently():
    text = " + ".join(f"A^{{0,{h}}}" for h in range(20)) + " == 0"
    short, full = check_formula(text), check_formula(text, full=True)
    assert "and 8 more term(s)" in short.detail and "--full" in short.detail
    assert all(f"A^{{0,{h}}}" in full.detail for h in range(20)) and "more term" not in full.detail


def test_long_statements_leave_the_summary_line():
    first = verdict(f"{C11_LHS} == {C11_RHS}").describe().splitlines()[0]
    assert first.startswith("PROVED") and len(first) < 60


def test_verdict_json_has_the_kind():
    assert verdict("rank(W_OV^{0,0}) <= d_head").to_json()["kind"] == "rank"
    assert verdict("M == M").to_json()["kind"] == "identity"


# ---------------------------------------------------------------------------
# Derivation files

ALIGN = r"""
let M, N: d_model x d_model
\begin{align}
T &= (M N)^\top \\
  &= N^\top M^\top \nonumber \\
  &= M^\top N^\top
\end{align}
"""


def test_derivation_names_its_quantity_and_reads_align():
    report = check_derivation(ALIGN)
    assert [s.verdict.status for s in report.steps] == ["PROVED", "REFUTED"]
    assert [s.lines for s in report.steps] == [(4, 5), (5, 6)]
    assert report.steps[0].quantity == "T" and report.first_wrong.index == 2
    text = report.describe()
    assert "step 2 [T], line 5 → 6: REFUTED" in text and "    M = [" in text


def test_quantity_is_only_an_unknown_name():
    report = check_derivation("let M: d_model x d_model\nM = M Id = Id M")
    assert len(report.steps) == 2 and report.steps[0].quantity is None


# ---------------------------------------------------------------------------
# Bad input: deep formulas, huge products (issue 10), each one clear answer

DEEP = [
    ("150-parentheses", "(" * 150 + "M" + ")" * 150 + " == M", "PROVED"),
    ("500-parentheses", "(" * 500 + "M" + ")" * 500 + " == M", "PROVED"),
    ("500-nested-products", "(M " * 500 + "N" + ")" * 500 + " == " + "M " * 500 + "N", "PROVED"),
    ("500-nested-sums", "(M + " * 500 + "N" + ")" * 500 + " == 500 M + N", "PROVED"),
    ("400-transposes", "M" + "ᵀ" * 400 + " == M", "PROVED"),
    ("401-transposes", "M" + "ᵀ" * 401 + " == M", "REFUTED"),
    ("3000-inverses", "M" + "⁻¹" * 3000 + " == M", "PROVED"),
    ("10000-plus", " + ".join(["M"] * 10000) + " == 10000 M", "PROVED"),
    ("10000-unary-minus", "-" * 10000 + "M == M", "PROVED"),
    ("too-deep", "(" * (MAX_NESTING + 1) + "M" + ")" * (MAX_NESTING + 1) + " == M", "ERROR"),
    ("product-of-24-sums", "(M + N)" * 24 + " == M", "ERROR"),
    ("product-over-a-billion-layers", "Π_{l=1}^{1000000000} M == M", "ERROR"),
]


@pytest.mark.parametrize("text, status", [row[1:] for row in DEEP], ids=[row[0] for row in DEEP])
def test_deep_and_huge_formulas(text, status):
    v = verdict(text)
    assert v.status == status, v.detail[:300]
    if status == "ERROR":
        assert "levels" in v.detail or f"{MAX_TERMS:,}" in v.detail or "layers is refused" in v.detail


def test_inverse_of_a_sum_stays_refused_after_folding():
    with pytest.raises(ShapeError, match="cannot invert"):
        parse("(M + N)⁻¹⁻¹", Context.build(DECL))


def test_normal_form_counts_terms_before_expanding():
    with pytest.raises(TermLimitError, match="16,777,216"):
        parse("(M + N)" * 24, Context.build(DECL)).normal_form


def test_normal_form_cli_refuses_a_huge_product():
    out = subprocess.run(
        [sys.executable, "-m", "tensoralg", "normal-form", "(M + N)" * 24, "--let", "M, N: d_model x d_model"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "limit" in out.stderr


# ---------------------------------------------------------------------------
# Fuzzing the new constructs: random strings end in a verdict, never a traceback

ALPHABET = [
    "M", "N", "x", "Q", "W_OV", "A", "Id", "tr(", "‖", "_F^2", "^2", "^{-2}", "^{3}", "rank(", "<=", "≤", "d_head",
    "Σ_{h∈H1}", "Σ_{h∈H2}", "sum_{g in H1 cup H2}", "^h", "^g", "(", ")", "+", "-", "·", "⊗", "ᵀ", "⁻¹", "==", "&",
    r"\\", r"\operatorname{tr}", r"\|", r"\le", " ", "2", "^{0,0}",
    "Π_{l=1}^{2}", "Π_{l=L..1}", "H_l", "Σ_{h∈H_l}",
]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(ALPHABET), max_size=16).map("".join))
def test_random_notation_ends_in_a_verdict(text):
    v = verdict(text)
    assert v.status in ("PROVED", "REFUTED", "HOLDS", "UNDECIDED", "ERROR")
    if v.status == "ERROR":
        assert v.detail
    json.dumps(v.to_json())


def test_errors_are_project_errors():
    for text in ["tr(W_E)", "‖M‖_F", "W_E^2", "rank(M) <= ", "rank M <= d_head", "M^{0.5}", "M + 3 == M",
                 "3 == 3", "3 ⊗ M == M ⊗ 3", "x xᵀ + 1 == x xᵀ", "rank(M) <= d_head -", "rank(M) <= - d_head",
                 "rank(W_U) <= foo", "rank(W_OV^{0,0}) <= d_haed"]:
        v = verdict(text)
        assert v.status == "ERROR", text
    assert "did you mean d_head?" in verdict("rank(W_OV^{0,0}) <= dhead").detail  # not a free size refuted at 1
    with pytest.raises(TensoralgError):
        parse("‖M‖_F", Context.build(DECL))
    with pytest.raises(FormulaSyntaxError):
        parse("M ‖ N", Context.build(DECL))


# ---------------------------------------------------------------------------
# expand --symbolic and --equation

def _cli(capsys, *argv):
    from tensoralg.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_expand_symbolic_lists_the_sigma_form(capsys):
    code, out, _ = _cli(capsys, "expand", "--symbolic", "--layers", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith("4 Σ-terms")
    assert lines[-1].split(None, 3)[-1] == "Σ_{h1∈H1, h2∈H2} A^{h2} A^{h1} ⊗ W_U W_OV^{h2} W_OV^{h1} W_E"
    terms = [line.split(None, 3)[-1] for line in lines[1:]]
    total = " + ".join(terms)
    assert parse(total) == parse(C11_LHS)


@pytest.mark.parametrize("layers, positional, mlp, expected", [(1, False, False, 2), (3, False, False, 8),
                                                                (2, True, False, 8), (3, False, True, 15)])
def test_expand_symbolic_counts(capsys, layers, positional, mlp, expected):
    argv = ["expand", "--symbolic", "--layers", str(layers), "--format", "json"]
    argv += ["--positional"] * positional + ["--mlp"] * mlp
    code, out, _ = _cli(capsys, *argv)
    data = json.loads(out)
    assert code == 0 and len(data["terms"]) == expected
    assert [t["order"] for t in data["terms"]] == sorted(t["order"] for t in data["terms"])


def test_expand_symbolic_scores_are_c14(capsys):
    code, out, _ = _cli(capsys, "expand", "--symbolic", "--layers", "2", "--qk", "1.0", "--format", "latex", "--equation")
    assert code == 0 and out.startswith("\\begin{aligned}\nS^{1,0} &= ") and out.rstrip().endswith("\\end{aligned}")
    body = out.split("&= ", 1)[1].rsplit("\\end{aligned}", 1)[0].replace("\\\\\n  &+", "+")
    assert parse(body) == parse(C14_RHS)


def test_expand_equation_for_enumerated_heads(capsys):
    code, out, _ = _cli(capsys, "expand", "--heads", "1,1", "--format", "latex", "--equation")
    body = out.split("&= ", 1)[1].rsplit("\\end{aligned}", 1)[0].replace("\\\\\n  &+", "+")
    assert code == 0 and parse(body, Context.build(heads=(1, 1))) == parse(C11_LHS, Context.build(heads=(1, 1)))


@pytest.mark.parametrize("argv, message", [
    (["expand", "--layers", "2"], "give --heads"),
    (["expand", "--symbolic", "--heads", "2,2"], "not --heads"),
    (["expand", "--symbolic", "--layers", "2", "--count"], "--count"),
    (["expand", "--heads", "2", "--equation"], "--format latex"),
    (["expand", "--symbolic", "--layers", "2", "--qk", "x"], "LAYER.HEAD"),
    (["expand", "--symbolic", "--layers", "40"], "0 to 12 layers"),
], ids=["no-heads", "symbolic-with-heads", "symbolic-count", "equation-text", "bad-qk", "too-many-layers"])
def test_expand_bad_input(capsys, argv, message):
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@settings(max_examples=40)
@given(st.sampled_from([C11_LHS, C14_LHS, "Σ_{h∈H1} tr(W_OV^h) Id_{1}", "tr(A^{0,0} ⊗ W_OV^{0,0}) + tr(W_U W_E)"]))
def test_json_of_sums_and_traces_reads_back(text):
    from tensoralg.algebra.expr import from_json
    from tensoralg.algebra.symbols import standard_symbol

    expr = parse(text)
    assert from_json(to_json(expr), lambda name, indices: standard_symbol(name, *indices)) == expr


SCALAR_SHAPES = st.sampled_from([(("1", "1"),), (("p", "1"),), (("1", "p"),), (("3", "p"),)])


@settings(max_examples=80)
@given(SCALAR_SHAPES.flatmap(lambda shape: expressions(*shape)), st.sampled_from([to_unicode, to_latex]))
def test_numeric_sizes_print_then_parse_back(expr, printer):
    context = Context.build([f"{x.name}: {x.rows} x {x.cols}" for x in symbols_in(expr)])
    assert parse(printer(expr), context, shape=expr.shape) == expr


def test_rank_statements_are_steps_of_a_derivation():
    report = check_derivation(
        "rank(W_U W_OV^{0,0} W_E) <= d_head\nW_U W_OV^{0,0} W_E\n= (W_U W_O^{0,0})(W_V^{0,0} W_E)\n"
        "rank(W_OV^{0,0} + W_OV^{0,1}) <= d_head\nrank(P) <= 7",
        declarations=["P: d_model x d_model"],
    )
    assert [(s.lines, s.verdict.status) for s in report.steps] == [
        ((1, 1), "PROVED"), ((2, 3), "PROVED"), ((4, 4), "REFUTED"), ((5, 5), "UNDECIDED")]
    # refuted outranks undecided: 2 for an error, else 1 for a refutation, else 3
    assert report.exit_code == 1 and "1 undecided" in report.describe()


def test_derivation_full_difference():
    text = "A^{0,0}\n= " + " + ".join(f"A^{{0,{h}}}" for h in range(16))
    short, full = check_derivation(text), check_derivation(text, full=True)
    assert "and 3 more term(s)" in short.describe() and "more term" not in full.describe()
