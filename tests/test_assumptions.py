"""Reasoning under assumptions: completion, certificates and their checker, properties,
constrained samplers, the formula syntax and ``tensoralg check --assume``."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensoralg.algebra.certificate import Certificate, Relation, Term, check_certificate
from tensoralg.algebra.completion import Caps, complete, reduce
from tensoralg.algebra.constrained import CannotSample, Kind, draw
from tensoralg.algebra.expr import atom
from tensoralg.algebra.relations import Poly, word_key
from tensoralg.algebra.symbols import Letter, declared_symbol, ones_symbol
from tensoralg.cli import main
from tensoralg.errors import TensoralgError
from tensoralg.formula.assumptions import parse_assumptions
from tensoralg.formula.parsing import Context, parse
from tensoralg.verify.assumptions import UNDECIDED, check_assuming
from tensoralg.verify.derivation import check_derivation

LETS = ["P, Q: p x p", "R: d_model x d_head", "B: n_ctx x n_ctx", "X: p x k", "c: k x 1", "u: p x 1"]
CENTRING = ["P P = P", "Pᵀ = P", "P 𝟙 = 0"]


def _fractions(rows):
    return [[Fraction(x) for x in row] for row in rows]


# -- the statement of the issue


def test_product_of_patterns_has_row_sums_one_with_a_checked_certificate(capsys):
    assert main(["check", "A^{1,0} A^{0,0} 𝟙 == 𝟙", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "PROVED" and data["certificate"]["checked"] is True
    assert data["certificate"]["size"] == 2
    assert any("default" in a for a in data["assumptions"])
    verdict = check_assuming("A^{1,0} A^{0,0} 𝟙 == 𝟙")
    lhs, rhs = parse("A^{1,0} A^{0,0} 𝟙"), parse("𝟙", shape=(("n_ctx", "1"),))
    assert check_certificate(lhs, rhs, verdict.certificate).ok


def test_without_the_pattern_assumption_it_is_refuted(capsys):
    assert main(["check", "A^{1,0} A^{0,0} 𝟙 == 𝟙", "--no-default-assumptions"]) == 1
    assert "REFUTED" in capsys.readouterr().out


def test_negative_ab_ones_refuted_with_a_a_pattern_and_b_not():
    v = check_assuming("A^{0,0} B 𝟙 == 𝟙", declarations=LETS)
    assert v.status == "REFUTED"
    values = dict(v.counterexample.values)
    A, B = _fractions(values["A^{0,0}"]), _fractions(values["B"])
    n = len(A)
    assert all(sum(row) == 1 and min(row) >= 0 for row in A)
    assert all(A[i][j] == 0 for i in range(n) for j in range(n) if j > i)
    assert not all(sum(row) == 1 for row in B)


def test_negative_r_rt_refuted_at_a_rectangular_size_while_rtr_consequences_are_proved():
    v = check_assuming("R Rᵀ == Id", ["Rᵀ R = Id"], declarations=LETS)
    assert v.status == "REFUTED"
    assert v.counterexample.dims["d_model"] > v.counterexample.dims["d_head"]
    R = _fractions(dict(v.counterexample.values)["R"])
    k = len(R[0])
    assert [[sum(r[i] * r[j] for r in R) for j in range(k)] for i in range(k)] == [
        [int(i == j) for j in range(k)] for i in range(k)]
    proved = check_assuming("R Rᵀ R == R", ["Rᵀ R = Id"], declarations=LETS)
    assert proved.status == "PROVED" and proved.certificate_ok
    square = check_assuming("O Oᵀ == Id", ["Oᵀ O = Id", "O⁻¹ O = Id"], declarations=["O: p x p"])
    assert square.status == "PROVED" and square.certificate_ok  # R⁻¹R = Id normalises away; R is still inverted


def test_completion_past_its_cap_is_not_decided_never_proved(capsys):
    braid = ["--let", "X, Y: p x p", "--assume", "X Y X = Y X Y"]
    assert main(["check", "Y X Y Y == X Y X Y", *braid]) == 3
    out = capsys.readouterr().out
    assert out.startswith("UNDECIDED") and "not decided" in out and "cap" in out
    capped = check_assuming("P (P X) == P X", CENTRING, declarations=LETS, caps=Caps(steps=0))
    assert capped.status == UNDECIDED and capped.certificate is None
    assert check_assuming("P (P X) == P X", CENTRING, declarations=LETS).status == "PROVED"


@pytest.mark.parametrize("text, assume, status", [
    ("P (P X + 𝟙 cᵀ) == P X", CENTRING, "PROVED"),
    ("𝟙ᵀ P == 0", CENTRING, "PROVED"),                    # from P𝟙 = 0 by transposing: relations closed under ᵀ
    ("P X == X", CENTRING, "REFUTED"),
    ("(Id - P) 𝟙 == 𝟙", CENTRING, "PROVED"),
    ("(Id - P) 𝟙 == 0", CENTRING, "REFUTED"),
    ("(P Q)ᵀ == Q P", ["Pᵀ = P", "Qᵀ = Q"], "PROVED"),
    ("(P Q)ᵀ == P Q", ["Pᵀ = P", "Qᵀ = Q"], "REFUTED"),
    ("pattern (A^{1,0} A^{0,0} A^{0,1})", [], "PROVED"),
    ("stochastic ((1/2) A^{1,0} + (1/2) A^{0,0})", [], "PROVED"),
    ("stochastic (2 A^{1,0} - A^{0,0})", [], "REFUTED"),
    ("nonnegative (A^{1,0} A^{0,0}ᵀ)", [], "PROVED"),
    ("causal (A^{1,0} A^{0,0}ᵀ)", [], "REFUTED"),
    # a unit vector: the relation is about a 1 × 1 word, where there is no 𝟙 to recognise
    ("u uᵀ u == u", ["uᵀ u = 1"], "PROVED"),
    ("uᵀ u uᵀ u == 1", ["uᵀ u = Id_{1}"], "PROVED"),
    ("u uᵀ u == 2 u", ["uᵀ u = Id_{1}"], "REFUTED"),
    ("u uᵀ == Id", ["uᵀ u = 1"], "REFUTED"),
])
def test_twins_proved_and_refuted(text, assume, status):
    v = check_assuming(text, assume, declarations=LETS)
    assert v.status == status, v.describe()
    if status == "PROVED" and v.certificate is not None:
        assert v.certificate_ok
    if status == "REFUTED":
        assert v.counterexample is not None and v.counterexample.lhs_value != v.counterexample.rhs_value


def test_derivation_files_take_assume_lines():
    report = check_derivation("let P: p x p\nlet X: p x k\nassume P P = P\nP (P X)\n= P X\n= X\n")
    assert [s.verdict.status for s in report.steps] == ["PROVED", "REFUTED"]


# -- the certificate checker is independent and rejects tampering


def _certified():
    v = check_assuming("P (P X + 𝟙 cᵀ) == P X", CENTRING, declarations=LETS)
    ctx = Context.build(LETS)
    lhs, rhs = parse("P (P X + 𝟙 cᵀ)", ctx), parse("P X", ctx)
    return v.certificate, lhs, rhs


@pytest.mark.parametrize("tamper", [
    lambda c: replace(c, terms=c.terms[1:]),
    lambda c: replace(c, terms=(replace(c.terms[0], coefficient=Fraction(c.terms[0].coefficient) * 2),) + c.terms[1:]),
    lambda c: replace(c, terms=(replace(c.terms[0], relation=(c.terms[0].relation + 1) % 3),) + c.terms[1:]),
    lambda c: replace(c, terms=(replace(c.terms[0], transposed=not c.terms[0].transposed),) + c.terms[1:]),
    lambda c: replace(c, terms=c.terms + (Term(1, (), 2, False, ()),)),
], ids=["drop", "coefficient", "relation", "transpose", "extra"])
def test_checker_rejects_a_tampered_certificate(tamper):
    cert, lhs, rhs = _certified()
    assert check_certificate(lhs, rhs, cert).ok
    assert not check_certificate(lhs, rhs, tamper(cert)).ok


# -- completion: ideal membership with certificates, a law on random combinations

N = declared_symbol("N", "p", "p")
M = declared_symbol("M", "p", "p")
ONE = ones_symbol("p")
LETTERS = [Letter(M, False), Letter(M, True), Letter(N, False), Letter(N, True)]
m, mt, n = Letter(M, False), Letter(M, True), Letter(N, False)
one = Letter(ONE, False)
RELS = [
    Poly("p", "p", {(m, m): Fraction(1), (m,): Fraction(-1)}),  # M² = M
    Poly("p", "p", {(mt,): Fraction(1), (m,): Fraction(-1)}),  # Mᵀ = M
    Poly("p", "1", {(n, one): Fraction(1), (one,): Fraction(-1)}),  # N𝟙 = 𝟙
]
EXPRS = [Relation(atom(M) @ atom(M), atom(M)), Relation(atom(M).T, atom(M)),
         Relation(atom(N) @ atom(ONE), atom(ONE))]
words = st.lists(st.sampled_from(LETTERS), max_size=3).map(tuple)


def _word_expr(word, cols):
    from tensoralg.algebra.expr import Identity, Product, Transpose

    if not word:
        return Identity("p") if cols == "p" else atom(ONE)
    parts = [Transpose(atom(l.symbol)) if l.transposed else atom(l.symbol) for l in word]
    return parts[0] if len(parts) == 1 else Product(tuple(parts))


square_combinations = st.lists(st.tuples(st.integers(-3, 3), words, st.integers(0, 1), words), min_size=1, max_size=4)
vector_combinations = st.lists(st.tuples(st.integers(-3, 3), words, st.just(2), st.just(())), min_size=1, max_size=4)


@given(st.one_of(square_combinations, vector_combinations))
def test_every_combination_of_relations_reduces_to_zero_with_a_valid_certificate(combination):
    """f = Σ c·u·rᵢ·v is in the ideal: it reduces to 0, and the cofactors re-expand to f."""
    done = complete(RELS)
    assert done.complete
    cols = "1" if combination[0][2] == 2 else "p"
    pairs: dict = {}
    for c, u, i, v in combination:
        for w, d in RELS[i].terms.items():
            pairs[u + w + v] = pairs.get(u + w + v, 0) + c * d
    f = Poly("p", cols, {w: Fraction(c) for w, c in pairs.items() if c})
    rest, cert = reduce(f, done.rules)
    assert not rest.terms
    if f.terms:
        lhs = sum((Fraction(c) * _word_expr(w, cols) for w, c in f.terms.items()), start=0 * _word_expr((), cols))
        terms = tuple(Term(c, u, i, False, v) for (u, i, v), c in cert.items())
        assert check_certificate(lhs, 0 * lhs, Certificate(tuple(EXPRS), terms)).ok


@given(words)
def test_reduction_is_idempotent_and_lowers_the_order(word):
    done = complete(RELS)
    f = Poly("p", "p", {word: Fraction(1)}) if word else Poly("p", "p", {(): Fraction(1)})
    rest, _ = reduce(f, done.rules)
    assert reduce(rest, done.rules)[0] == rest
    assert all(word_key(w) <= word_key(word) for w in rest.terms)


# -- samplers satisfy what they are built for


def _mat(rows):
    return np.array(rows, dtype=object)


@given(st.integers(0, 10_000), st.integers(1, 5), st.integers(1, 5))
def test_drawn_matrices_satisfy_their_assumptions(seed, n, k):
    rng = np.random.default_rng(seed)
    A = _mat(draw(Kind(causal=True, nonnegative=True, row_sum=Fraction(1)), n, n, rng))
    assert all(sum(r) == 1 for r in A) and (A >= 0).all() and all(A[i, j] == 0 for i in range(n) for j in range(i + 1, n))
    P = _mat(draw(Kind(idempotent=True, symmetric=True, row_sum=Fraction(0)), n, n, rng))
    assert (P.dot(P) == P).all() and (P.T == P).all() and all(sum(r) == 0 for r in P)
    Q = _mat(draw(Kind(idempotent=True), n, n, rng))
    assert (Q.dot(Q) == Q).all()
    S = _mat(draw(Kind(symmetric=True, row_sum=Fraction(2)), n, n, rng))
    assert (S.T == S).all() and all(sum(r) == 2 for r in S)
    rows, cols = max(n, k), min(n, k)
    R = _mat(draw(Kind(isometry="columns"), rows, cols, rng))
    assert (R.T.dot(R) == np.eye(cols, dtype=int)).all()
    C = _mat(draw(Kind(col_sum=Fraction(1)), n, k, rng))
    assert all(sum(C[:, j]) == 1 for j in range(k))


def test_impossible_families_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(CannotSample):
        draw(Kind(isometry="columns"), 2, 3, rng)
    with pytest.raises(CannotSample):
        draw(Kind(causal=True), 2, 3, rng)


# -- syntax and bad input


def test_ones_spellings():
    ctx = Context.build(["b: d_model x 1"])
    assert parse(r"\mathbf{1}_{n_ctx}") == parse("𝟙_{n_ctx}") == parse("𝟙[n_ctx]")
    assert parse("W_O^{0} b", Context.build(["b: d_head x 1"])).shape == (("d_model", "1"),)
    assert parse("W_E 𝟙", ctx).shape == (("d_model", "1"),)


def test_schemas_instantiate_for_the_symbols_present():
    from tensoralg.algebra.symbols import standard_symbol as s

    parsed = parse_assumptions(["A^{l,h} 𝟙 = 𝟙", "causal A^h"], None, [s("A", 1, 0), s("A", 0, 2)])
    assert len(parsed.relations) == 4  # l ∈ {0, 1}, h ∈ {0, 2}
    assert parse_assumptions(["A^{l,h} 𝟙 = 𝟙"], None, []).relations == ()


@pytest.mark.parametrize("assume, message", [
    ("pattern (P Q)", "one symbol"),
    ("causal R", "square"),
    ("P P = Zed", "unknown symbol Zed"),
    ("", "empty assumption"),
    ("P ⊗ P = P ⊗ P", "plain matrices"),
    ("P P = R", "different shapes: p × p and d_model × d_head"),
    ("sorted P", "a relation 'L = R' or a property"),
], ids=["property-of-product", "causal-rectangular", "unknown", "empty", "tensor", "shape", "unknown-keyword"])
def test_bad_assumptions(assume, message, capsys):
    with pytest.raises(TensoralgError, match=message):
        parse_assumptions([assume], Context.build(LETS), [])
    code = main(["check", "P == P", "--assume", assume, *sum((["--let", l] for l in LETS), [])])
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) >= 1


def test_lean_text_is_produced_for_a_proved_identity(tmp_path, capsys):
    path = tmp_path / "proof.lean"
    assert main(["check", "A^{1,0} A^{0,0} 𝟙 == 𝟙", "--lean", str(path)]) == 0
    text = path.read_text(encoding="utf-8")
    assert text.startswith("import Mathlib") and "calc" in text
    assert "(h0 : A_0_0 * one_n_ctx = one_n_ctx)" in text and "A_1_0 * (A_0_0 * one_n_ctx - one_n_ctx)" in text
    refuted = tmp_path / "none.lean"
    assert main(["check", "A^{1,0} A^{0,0} 𝟙 == 𝟙", "--no-default-assumptions", "--lean", str(refuted)]) == 1
    assert not refuted.exists()


# -- the property layer is sound: whatever it proves holds on drawn patterns

PATTERNS = [declared_symbol("A", "n_ctx", "n_ctx", 0, h) for h in range(3)]
pattern_letters = st.sampled_from([Letter(s, t) for s in PATTERNS for t in (False, True)])
pattern_terms = st.lists(st.tuples(st.sampled_from([Fraction(1, 2), Fraction(1, 3), Fraction(1), Fraction(-1)]),
                                   st.lists(pattern_letters, max_size=3)), min_size=1, max_size=3)


@given(pattern_terms, st.sampled_from(["causal", "nonnegative", "stochastic", "pattern"]), st.integers(0, 1000))
def test_proved_properties_hold_on_drawn_patterns(terms, keyword, seed):
    from tensoralg.algebra.expr import Identity, Product, Scaled, Sum, Transpose
    from tensoralg.algebra.properties import PATTERN, prove_property

    def word(letters):
        parts = [Transpose(atom(l.symbol)) if l.transposed else atom(l.symbol) for l in letters]
        return Identity("n_ctx") if not parts else parts[0] if len(parts) == 1 else Product(tuple(parts))

    expr = Sum(tuple(Scaled(c, word(w)) for c, w in terms))
    if prove_property(keyword, expr, {s: PATTERN for s in PATTERNS}) is None:
        return
    rng = np.random.default_rng(seed)
    n = 4
    values = {s: _mat(draw(Kind(causal=True, nonnegative=True, row_sum=Fraction(1)), n, n, rng)) for s in PATTERNS}
    total = np.zeros((n, n), dtype=object)
    for c, w in terms:
        m = np.eye(n, dtype=int).astype(object)
        for l in w:
            m = m.dot(values[l.symbol].T if l.transposed else values[l.symbol])
        total = total + c * m
    if keyword in ("causal", "pattern"):
        assert all(total[i, j] == 0 for i in range(n) for j in range(i + 1, n))
    if keyword in ("nonnegative", "stochastic", "pattern"):
        assert (total >= 0).all()
    if keyword in ("stochastic", "pattern"):
        assert all(sum(row) == 1 for row in total)


def test_tensor_terms_are_reduced_factor_by_factor_with_a_checked_certificate():
    v = check_assuming("A^{1,0} A^{0,0} 𝟙 ⊗ W_E P == 𝟙 ⊗ W_E P P", ["P P = P"], declarations=["P: n_vocab x n_vocab"])
    assert v.status == "PROVED" and v.certificate_ok
    assert {t.slot for t in v.certificate.terms} == {0, 1}
    wrong = check_assuming("A^{1,0} A^{0,0} 𝟙 ⊗ P P W_E == 𝟙 ⊗ W_E", ["P P = P"], declarations=["P: d_model x d_model"])
    assert wrong.status == "REFUTED"


@pytest.mark.parametrize("text, status", [
    ("bᵀ c == cᵀ b", "PROVED"),
    ("x yᵀ x == x xᵀ y", "PROVED"),
    ("(bᵀ c)(xᵀ y) == (yᵀ x)(cᵀ b)", "PROVED"),
    ("b cᵀ == c bᵀ", "REFUTED"),
    ("x yᵀ x == y xᵀ x", "REFUTED"),
])
def test_one_by_one_words_commute_and_equal_their_transposes(text, status):
    v = check_assuming(text, declarations=["b, c, x, y: d x 1"])
    assert v.status == status, v.describe()
    if status == "PROVED" and getattr(v, "certificate", None) is not None:
        # a scalar met inside a longer word needs the scalar law; a word that is 1 × 1 as a
        # whole is already canonical in the free algebra's normal form (no certificate)
        assert v.certificate_ok and any(t.relation == -2 for t in v.certificate.terms)


def test_checker_rejects_a_false_scalar_law():
    b, c = (declared_symbol(n, "d", "1") for n in "bc")
    B, C = Letter(b, False), Letter(c, False)
    bad = Certificate((), (Term(1, (), -2, False, (), equal=((B, C.transpose()), (C, B.transpose()), "d")),))
    assert not check_certificate(atom(b) @ atom(c).T, atom(c) @ atom(b).T, bad).ok


def test_relations_that_define_a_symbol_are_sampled_by_computing_it():
    lets = ["M, N, K, Y: p x p"]
    v = check_assuming("M N == N M", ["N = M M + K"], declarations=lets)
    assert v.status == "REFUTED"
    values = {name: np.array(_fractions(rows), dtype=object) for name, rows in v.counterexample.values}
    assert (values["N"] == values["M"].dot(values["M"]) + values["K"]).all()
    assert check_assuming("M N == N M", ["N = M M + Id"], declarations=lets).status == "PROVED"
    inverse = check_assuming("Y M == Id", ["M Y = Id"], declarations=lets)   # true for square matrices,
    assert inverse.status == UNDECIDED and "computed from M Y = Id" in " ".join(inverse.sampled)  # not in the ideal
