"""The formula language: spellings, CLAIMS.md formulas pasted as Unicode and LaTeX,
inference of Id's space, errors with a caret, and fuzzing."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensoralg.errors import ArchitectureError, FormulaSyntaxError, ShapeError, SymbolError, TensoralgError
from tensoralg.algebra.expr import Apply, Atom, Bilinear, Identity, Inverse, Sum, Tensor, Zero, symbols_in
from tensoralg.formula.parsing import Context, parse, parse_chain, parse_declaration, parse_equation, tokenize
from tensoralg.algebra.printing import to_latex, to_unicode
from tensoralg.verify.strategies import SPACES, expressions
from tensoralg.algebra.symbols import declared_symbol, standard_symbol as s
from tensoralg.verify.verification import check_formula
from claims_formulas import C11_LATEX, C14_LATEX
from claims_formulas import C11_RHS as C11_UNICODE
from claims_formulas import C14_RHS as C14_UNICODE

CTX = Context.build(["M, N: d_model x d_model", "X: n_ctx x d_model", "P: d_head x d_head"], heads=(2, 2))


def a(name, *indices):
    return Atom(s(name, *indices))


# Each row: two spellings of one expression (Unicode / ASCII / LaTeX).
SPELLINGS = [
    ("transpose", "W_Eᵀ", "W_E^T"),
    ("transpose-latex", "W_Eᵀ", r"{W_{E}}^{\top}"),
    ("transpose-prime", "W_Eᵀ", "W_E'"),
    ("inverse", "P⁻¹", "P^{-1}"),
    ("inverse-call", "P⁻¹", "inv(P)"),
    ("inverse-transpose", "P⁻ᵀ", "P^{-T}"),
    ("inverse-transpose-latex", "P⁻ᵀ", r"P^{-\top}"),
    ("inverse-transpose-is-transpose-inverse", "P⁻ᵀ", "(P^T)^{-1}"),
    ("indices", "W_OV^{1,0}", "W_OV[1,0]"),
    ("indices-latex", "W_OV^{1,0}", r"W_{OV}^{1,0}"),
    ("tensor-ascii", "A^{0,0} ⊗ M", "A[0,0] (x) M"),
    ("tensor-latex", "A^{0,0} ⊗ M", r"A^{0,0} \otimes M"),
    ("product-at", "W_U W_E", "W_U @ W_E"),
    ("product-star", "W_U W_E", "W_U * W_E"),
    ("cdot-on-matrices-is-product", "W_U W_E", r"W_U \cdot W_E"),
    ("fraction", "(1/2) M", r"\frac{1}{2} M"),
    ("fraction-division", "(1/2) M", "M / 2"),
    ("decimal", "(1/2) M", "0.5 M"),
    ("negative-fraction", "(-3/2) M", r"-\frac{3}{2} M"),
    ("unicode-minus", "M - N", "M − N"),
    ("identity-explicit", "Id_{d_model} M", "Id[d_model] M"),
    ("identity-latex", "Id_{d_model} M", r"\mathrm{Id} M"),
    ("sum-ascii", "Σ_{h∈H1} A^h ⊗ W_OV^h", "sum_{h in H1} A[h] (x) W_OV[h]"),
    ("sum-latex", "Σ_{h∈H1} A^h ⊗ W_OV^h", r"\sum_{h \in H_1} A^{h} \otimes W_{OV}^{h}"),
    ("sum-brackets", "Σ_{h∈H1} A^h ⊗ W_OV^h", "sum[h in H1] A[h] (x) W_OV[h]"),
    ("sum-union", "Σ_{h∈H1∪H2} A^h ⊗ W_OV^h", "sum_{h in H1 cup H2} A[h] (x) W_OV[h]"),
    ("sum-all-layers", "Σ_{h∈H1∪H2} A^h ⊗ W_OV^h", "Σ_{h∈H} A^h ⊗ W_OV^h"),
    ("sum-two-variables", "Σ_{h1∈H1, h2∈H2} A^{h2} A^{h1} ⊗ M", r"\sum_{h_1 \in H_1, h_2 \in H_2} A^{h_2} A^{h_1} \otimes M"),
    ("apply", "(A^{0,0} ⊗ M)·X", "apply(A[0,0] (x) M, X)"),
    ("apply-ascii-dot", "(A^{0,0} ⊗ M)·X", "(A[0,0] (x) M).X"),
    ("bilinear", "M ∘ (Id ⊗ W_E, Id ⊗ W_E)", "bilinear(M, Id (x) W_E, Id (x) W_E)"),
    ("bilinear-latex", "M ∘ (Id ⊗ W_E, Id ⊗ W_E)", r"M \circ \left(\mathrm{Id} \otimes W_{E}, \mathrm{Id} \otimes W_{E}\right)"),
]


@pytest.mark.parametrize("first, second", [row[1:] for row in SPELLINGS], ids=[row[0] for row in SPELLINGS])
def test_spellings_agree(first, second):
    left, right = parse(first, CTX), parse(second, CTX)
    assert left.shape == right.shape
    assert left == right


def test_spellings_are_not_all_equal():
    # Twin of the table: different formulas must give different expressions.
    assert parse("P⁻ᵀ", CTX) != parse("P⁻¹", CTX)
    assert parse("Σ_{h∈H1} A^h ⊗ W_OV^h", CTX) != parse("Σ_{h∈H2} A^h ⊗ W_OV^h", CTX)
    assert parse("(1/2) M", CTX) != parse("2 M", CTX)


def test_sum_over_heads_binds_layer_and_head():
    expr = parse("Σ_{h∈H2} A^h ⊗ W_OV^h", CTX)
    expected = Sum(tuple(Tensor((a("A", 1, h), a("W_OV", 1, h))) for h in range(2)))
    assert expr == expected
    assert parse("Σ_{h1∈H1, h2∈H2} A^{h2} A^{h1} ⊗ M", CTX).normal_form.terms.__len__() == 4


def test_sum_body_stops_at_plus():
    expr = parse("Σ_{h∈H1} A^h ⊗ W_OV^h + Id ⊗ M", CTX)
    assert len(expr.normal_form) == 3


def test_apply_and_bilinear_build_core_nodes():
    assert isinstance(parse("(A^{0,0} ⊗ M)·X", CTX), Apply)
    form = parse("M ∘ (Id ⊗ W_E, Id ⊗ W_E)", CTX)
    assert isinstance(form, Bilinear)
    assert form.shape == (("n_ctx", "n_ctx"), ("n_ctx", "n_ctx"), ("n_vocab", "n_vocab"))


def test_inverse_node():
    expr = parse("P⁻ᵀ", CTX)
    assert isinstance(expr, Inverse)
    assert parse("P P⁻¹", CTX) == Identity("d_head")


# ---------------------------------------------------------------------------
# Id and 0 take their spaces from context


@pytest.mark.parametrize(
    "text, shape",
    [
        ("Id ⊗ W_U W_E", (("n_ctx", "n_ctx"), ("n_vocab", "n_vocab"))),
        ("(Id ⊗ W_U)(A^{0,0} ⊗ Id)", (("n_ctx", "n_ctx"), ("n_vocab", "d_model"))),
        ("W_U Id", (("n_vocab", "d_model"),)),
        ("Id W_E", (("d_model", "n_vocab"),)),
        ("Id ⊗ Id ⊗ M", (("n_ctx", "n_ctx"), ("n_ctx", "n_ctx"), ("d_model", "d_model"))),
        ("Id + A^{0,0} ⊗ M", (("n_ctx", "n_ctx"), ("d_model", "d_model"))),
    ],
    ids=["position-default", "from-product", "right-of-symbol", "left-of-symbol", "three-factors", "multi-factor-id"],
)
def test_identity_space_is_inferred(text, shape):
    assert parse(text, CTX).shape == shape


def test_identity_and_zero_from_other_side():
    lhs, rhs = parse_equation("M - M == 0", CTX)
    assert isinstance(rhs, Zero) and rhs.shape == lhs.shape
    lhs, rhs = parse_equation("P⁻¹ P == Id", CTX)
    assert rhs == Identity("d_head") and lhs == rhs


def test_chain_shares_shapes():
    exprs = parse_chain("M Id = M = Id M", CTX)
    assert len(exprs) == 3 and all(e == exprs[1] for e in exprs)


# ---------------------------------------------------------------------------
# The formulas of CLAIMS.md, pasted in Unicode and in LaTeX


def _c11_by_hand():
    ue = a("W_U") @ a("W_E")
    terms = [Tensor((Identity("n_ctx"), ue))]
    heads = [(l, h) for l in range(2) for h in range(2)]
    terms += [Tensor((a("A", *lh), a("W_U") @ a("W_OV", *lh) @ a("W_E"))) for lh in heads]
    terms += [
        Tensor((a("A", 1, h2) @ a("A", 0, h1), a("W_U") @ a("W_OV", 1, h2) @ a("W_OV", 0, h1) @ a("W_E")))
        for h1 in range(2) for h2 in range(2)
    ]
    return Sum(tuple(terms))


@pytest.mark.parametrize("text", [C11_UNICODE, C11_LATEX], ids=["unicode", "latex"])
def test_c11_pasted(text):
    expr = parse(text, CTX)
    assert len(expr.normal_form) == 1 + 2 + 2 + 2 * 2
    assert expr == _c11_by_hand()


@pytest.mark.parametrize("text", [C14_UNICODE, C14_LATEX], ids=["unicode", "latex"])
def test_c14_pasted(text):
    expr = parse(text, CTX)
    assert len(expr.normal_form) == (1 + 2) ** 2
    assert expr == parse(C14_UNICODE, CTX)


def test_c11_patterns_swapped_is_a_different_expression():
    swapped = C11_UNICODE.replace("(A^{h2}A^{h1})", "(A^{h1}A^{h2})")
    assert parse(swapped, CTX) != parse(C11_UNICODE, CTX)


# ---------------------------------------------------------------------------
# Bad input: one table, each error a TensoralgError naming the place

BAD = [
    ("trailing-operator", "W_U W_E +", FormulaSyntaxError, "expected a symbol", 10),
    ("unclosed-paren", "(W_U W_E", FormulaSyntaxError, "')' closing column 1", 9),
    ("unknown-character", "W_U $ W_E", FormulaSyntaxError, "unexpected character '$'", 5),
    ("unknown-latex", r"W_U \wedge W_E", FormulaSyntaxError, r"unknown LaTeX command \wedge", 5),
    ("lonely-minus-superscript", "P^{-x}", FormulaSyntaxError, "1 or T after -", 5),
    ("indices-after-group", "(W_U W_E)^{1,0}", FormulaSyntaxError, "only follow a symbol", 10),
    ("sum-without-set", "Σ_{h} A^h", FormulaSyntaxError, "∈", 5),
    ("sum-layer-zero", "Σ_{h∈H0} A^h", FormulaSyntaxError, "H1 is layer index 0", 6),
    ("divide-by-matrix", "M / N", FormulaSyntaxError, "nonzero number after /", 4),
    ("unknown-symbol", "W_U Y", SymbolError, "unknown symbol Y", 5),
    ("unknown-lowercase", "w_ov", SymbolError, "did you mean W_OV?", 1),
    ("unknown-id", "id M", SymbolError, "did you mean Id?", 1),
    ("unknown-I", "M + I", SymbolError, "did you mean Id?", 5),
    ("power-not-square", "(W_U W_OV^{0,0})^2", ShapeError, "not square", 17),
    ("power-of-unindexed-rectangle", "W_E^2", SymbolError, "neither an index nor a power", 4),
    ("bilinear-of-matrices", "bilinear(W_E, W_E, W_E)", ShapeError, "the query map has 1 tensor factor", 15),
    ("form-through-matrices", "W_QK^{0,0} ∘ (W_E, W_E)", ShapeError, "the query map has 1 tensor factor", 15),
    ("trace-not-square", "tr(W_E)", ShapeError, "not square", 1),
    ("norm-not-squared", "‖M‖_F", FormulaSyntaxError, "square root", 5),
    ("rank-in-identity", "rank(M) <= d_head", FormulaSyntaxError, "rank(E) <= d_head", 9),
    ("three-indices", "W_OV^{1,0,2}", SymbolError, "at most two indices", 1),
    ("indexed-unindexed", "W_E[1]", SymbolError, "not indexed", 1),
    ("layer-beyond-heads", "Σ_{h∈H3} A^h", ArchitectureError, "not a layer", 1),
    ("head-beyond-heads", "W_OV^{0,5}", ArchitectureError, "does not exist", 1),
    ("shape-sum", "W_U + W_E", ShapeError, "cannot add", 7),
    ("shape-product", "W_E W_E", ShapeError, "cannot multiply", 5),
    ("ambiguous-id", "Id Id", ShapeError, "cannot infer the space of Id", 1),
    ("number-as-matrix", "M + 2", ShapeError, "not a matrix", 5),
    ("inverse-of-sum", "(M + N)⁻¹", ShapeError, "cannot invert", 8),
    ("inverse-not-square", "inv(W_E)", ShapeError, "not square", 1),
    ("apply-wrong-state", "(A^{0,0} ⊗ M)·W_E", ShapeError, "cannot apply", 14),
]


@pytest.mark.parametrize("text, error, message, column", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_input(text, error, message, column):
    with pytest.raises(error) as info:
        parse(text, CTX)
    text_of_error = str(info.value)
    assert message in text_of_error
    assert f"(column {column})" in text_of_error
    formula_line, caret_line = text_of_error.splitlines()[-2:]
    assert formula_line == "  " + text
    assert caret_line == "  " + " " * (column - 1) + "^"


def test_sum_over_every_layer_needs_heads():
    with pytest.raises(ArchitectureError, match="heads per layer"):
        parse("Σ_{h∈H} A^h ⊗ W_OV^h")


@pytest.mark.parametrize(
    "text", ["M d_model", "M: d_model", "1M: a x b", "Id: a x a"], ids=["no-colon", "no-cols", "bad-name", "reserved-id"]
)
def test_bad_declarations(text):
    with pytest.raises(TensoralgError):
        parse_declaration(text)


def test_equation_needs_two_sides():
    with pytest.raises(FormulaSyntaxError, match="'==' between the two sides"):
        parse_equation("M N", CTX)
    with pytest.raises(FormulaSyntaxError, match="exactly one"):
        parse_equation("M = M = M", CTX)


def test_declared_symbol_shadows_standard():
    ctx = Context.build(["A: p x p"])
    assert parse("A", ctx) == Atom(declared_symbol("A", "p", "p"))


# ---------------------------------------------------------------------------
# Fuzzing: printed expressions parse back; random strings end in a verdict


def _context_for(expr):
    return Context.build([f"{x.name}: {x.rows} x {x.cols}" for x in symbols_in(expr)])


SHAPES = st.sampled_from([(("p", "q"),), (("p", "p"),), (("p", "p"), ("q", "r")), (("p", "q"), ("q", "q"), ("r", "p"))])


@settings(max_examples=150)
@given(SHAPES.flatmap(lambda shape: expressions(*shape)), st.sampled_from([to_unicode, to_latex]))
def test_printing_then_parsing_gives_an_equal_expression(expr, printer):
    back = parse(printer(expr), _context_for(expr), shape=expr.shape)
    assert back.shape == expr.shape
    assert back == expr


ALPHABET = list("AWMNPX_^{}[](),+-=*@/.'0123 ᵀ⊗·∘Σ∈∪hHT\\") + [
    "Id", "W_OV", "W_E", "W_U", r"\otimes", r"\sum", r"\frac", r"\top", "==", "^{-1}", "⁻¹", "⁻ᵀ", "(x)",
    "sum_{h in H1}", "inv(", "apply(", "bilinear(", r"\left(", r"\mathrm{Id}", "_{", "Σ_{h∈H1}",
]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(ALPHABET), max_size=20).map("".join))
def test_random_strings_end_in_a_verdict(text):
    verdict = check_formula(text, declarations=["M, N: d_model x d_model", "P: d_head x d_head"], heads=(2, 2))
    assert verdict.status in ("PROVED", "REFUTED", "HOLDS", "ERROR")
    if verdict.status == "ERROR":
        assert verdict.detail


@settings(max_examples=60)
@given(SHAPES.flatmap(lambda shape: expressions(*shape)), st.data())
def test_mutated_formulas_end_in_a_verdict_or_a_clean_error(expr, data):
    text = to_unicode(expr)
    cut = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.sampled_from(["", "(", ")", "⊗", "+", "ᵀ", "Id", "^{", "2", " "]))
    mutated = text[:cut] + insert + text[cut + 1 :]
    try:
        parse(mutated, _context_for(expr))
    except TensoralgError:
        pass


def test_tokens_carry_columns():
    kinds = [(t.kind, t.col) for t in tokenize("W_OV^{1,0} ⊗ Id")]
    assert kinds[:2] == [("NAME", 0), ("^", 4)]
    assert ("TENSOR", 11) in kinds


def test_fraction_coefficients_are_exact():
    expr = parse("(1/3) M + (2/3) M", CTX)
    assert expr == parse("M", CTX)
    assert list(parse("(1/3) M", CTX).normal_form.terms.values()) == [Fraction(1, 3)]
