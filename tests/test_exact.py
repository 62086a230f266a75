"""Exact evaluation over ℚ and GF(2⁶¹ − 1) agrees with the core's dense evaluation."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import flint
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensoralg.errors import TensoralgError
from tensoralg.algebra.evaluate import evaluate
from tensoralg.algebra.exact import (
    P61,
    PRIME_FIELD,
    RATIONALS,
    SingularValueError,
    evaluate_exact,
    factor_entry,
    field_named,
    matrix_text,
    first_difference,
    invertible_symbols,
    kron,
    random_instance,
)
from tensoralg.algebra.expr import Apply, Atom, Identity, Inverse, Scaled, Sum, Tensor, Transpose, Zero, symbols_in
from tensoralg.verify.strategies import SPACES, dimensions, expressions, seeds
from tensoralg.algebra.symbols import declared_symbol, standard_symbol
from tensoralg.verify.verification import check_formula


def _fractions(value, field):
    cols = value.ncols()
    flat = [Fraction(int(x.p), int(x.q)) for x in value.entries()]
    return np.array([flat[i : i + cols] for i in range(0, len(flat), cols)], dtype=object)


def _as_object(values):
    return {s: _fractions(v, RATIONALS) for s, v in values.items()}


SHAPES = st.sampled_from([(("p", "q"),), (("p", "p"), ("q", "r")), (("p", "q"), ("q", "q"), ("r", "p"))])


@settings(max_examples=40)
@given(SHAPES.flatmap(lambda shape: expressions(*shape)), dimensions(SPACES, max_size=3), seeds())
def test_rational_evaluation_matches_dense_fractions(expr, dims, seed):
    values = random_instance(symbols_in(expr), dims, seed, RATIONALS)
    exact = _fractions(evaluate_exact(expr, values, dims, RATIONALS), RATIONALS)
    dense = evaluate(expr, _as_object(values), dims)
    assert exact.shape == dense.shape
    assert (exact == dense).all()


@settings(max_examples=40)
@given(SHAPES.flatmap(lambda shape: expressions(*shape)), dimensions(SPACES, max_size=3), seeds())
def test_prime_field_is_the_rational_value_mod_p(expr, dims, seed):
    values = random_instance(symbols_in(expr), dims, seed, RATIONALS)
    as_gf = {s: PRIME_FIELD.matrix(v.nrows(), v.ncols(), (int(x.p) % P61 for x in v.entries())) for s, v in values.items()}
    q = evaluate_exact(expr, values, dims, RATIONALS)
    gf = evaluate_exact(expr, as_gf, dims, PRIME_FIELD)
    reduced = [int(x.p) * pow(int(x.q), -1, P61) % P61 for x in q.entries()]
    assert [int(x) for x in gf.entries()] == reduced


def test_kron_matches_numpy():
    a = RATIONALS.matrix(2, 3, range(6))
    b = RATIONALS.matrix(3, 2, range(1, 7))
    expected = np.kron(np.arange(6).reshape(2, 3), np.arange(1, 7).reshape(3, 2))
    assert [int(x.p) for x in kron(a, b, RATIONALS).entries()] == expected.reshape(-1).tolist()
    gf = kron(PRIME_FIELD.matrix(2, 3, range(6)), PRIME_FIELD.matrix(3, 2, range(1, 7)), PRIME_FIELD)
    assert [int(x) for x in gf.entries()] == expected.reshape(-1).tolist()


def test_action_matches_kronecker_product():
    A, W, X = (declared_symbol(n, r, c) for n, r, c in (("A", "p", "p"), ("W", "d", "d"), ("X", "p", "d")))
    op = Tensor((Atom(A), Atom(W)))
    dims = {"p": 3, "d": 2}
    values = random_instance([A, W, X], dims, 5, RATIONALS)
    acted = _fractions(evaluate_exact(Apply(op, Atom(X)), values, dims, RATIONALS), RATIONALS)
    dense = _fractions(evaluate_exact(op, values, dims, RATIONALS), RATIONALS)
    x = _fractions(values[X], RATIONALS)
    assert (acted.reshape(-1) == dense.dot(x.reshape(-1))).all()


@settings(max_examples=30)
@given(expressions(("p", "q"), ("r", "p")), dimensions(SPACES, max_size=3), seeds())
def test_rational_action_matches_dense_fractions(op, dims, seed):
    # op − op has the normal form 0: transposed twice, it acts through the walk's Zero case.
    X = declared_symbol("X", "q", "p")
    for operator in (op, Transpose(Transpose(Sum((op, Scaled(Fraction(-1), op)))))):
        state = Apply(operator, Atom(X))
        values = random_instance(symbols_in(state), dims, seed, RATIONALS)
        exact = _fractions(evaluate_exact(state, values, dims, RATIONALS), RATIONALS)
        assert (exact == evaluate(state, _as_object(values), dims)).all()


@pytest.mark.parametrize("field", [RATIONALS, PRIME_FIELD], ids=["Q", "GF(p)"])
def test_zero_operator_acts_as_zero(field):
    X = declared_symbol("X", "q", "d")
    dims = {"p": 2, "q": 3, "r": 4, "d": 5}
    values = random_instance([X], dims, 3, field)
    zero = lambda rows, cols: Zero(((rows, cols),))  # noqa: E731
    two = Transpose(Tensor((zero("q", "p"), zero("d", "d"))))
    three = Transpose(Tensor((zero("q", "p"), zero("q", "r"), zero("d", "d"))))
    for op, (rows, cols) in ((two, (2, 5)), (three, (2, 4))):
        out = evaluate_exact(Apply(op, Atom(X)), values, dims, field)
        assert (out.nrows(), out.ncols()) == (rows, cols)
        assert out.entries() == field.zeros(rows, cols).entries()
    # Twin: the identity operator gives X back, which is not zero.
    ident = Transpose(Tensor((Identity("q"), Identity("d"))))
    assert evaluate_exact(Apply(ident, Atom(X)), values, dims, field).entries() == values[X].entries()
    assert values[X].entries() != field.zeros(3, 5).entries()


def test_zero_operator_in_a_checked_identity():
    refuted = check_formula("(0 ⊗ 0)ᵀ · X == X", declarations=["X: n_ctx x d_model"])
    assert refuted.status == "REFUTED" and refuted.counterexample is not None
    assert check_formula("(0 ⊗ 0)ᵀ · X == 0 X", declarations=["X: n_ctx x d_model"]).status == "PROVED"


def test_definitions_are_unfolded():
    ov, o, v = standard_symbol("W_OV", 0), standard_symbol("W_O", 0), standard_symbol("W_V", 0)
    dims = {"d_model": 3, "d_head": 2}
    values = random_instance([o, v], dims, 1, PRIME_FIELD)
    lhs = evaluate_exact(Atom(ov), values, dims, PRIME_FIELD)
    assert lhs.entries() == (values[o] * values[v]).entries()


def test_inverse_is_exact_and_drawn_invertible():
    m = declared_symbol("M", "p", "p")
    expr = Atom(m) @ Inverse(Atom(m))
    assert invertible_symbols(expr) == {m}
    for seed in range(20):
        for field in (RATIONALS, PRIME_FIELD):
            values = random_instance([m], {"p": 2}, seed, field, invertible=[m])
            value = evaluate_exact(expr, values, {"p": 2}, field)
            assert value.entries() == field.identity(2).entries()


def test_singular_inverse_is_reported():
    m = declared_symbol("M", "p", "p")
    zero = {m: RATIONALS.matrix(2, 2)}
    with pytest.raises(SingularValueError, match="singular"):
        evaluate_exact(Inverse(Atom(m)), zero, {"p": 2}, RATIONALS)


def test_random_instance_is_reproducible_and_seeded():
    syms = [declared_symbol("M", "p", "q"), declared_symbol("N", "q", "q")]
    one = random_instance(syms, {"p": 2, "q": 3}, 7, RATIONALS)
    two = random_instance(list(reversed(syms)), {"p": 2, "q": 3}, 7, RATIONALS)
    other = random_instance(syms, {"p": 2, "q": 3}, 8, RATIONALS)
    assert all(one[s].entries() == two[s].entries() for s in syms)
    assert any(one[s].entries() != other[s].entries() for s in syms)
    assert all(abs(int(x.p)) <= RATIONALS.entry_bound for v in one.values() for x in v.entries())


def test_factor_entry_inverts_kronecker_indexing():
    shape = (("a", "b"), ("c", "d"))
    dims = {"a": 2, "b": 3, "c": 4, "d": 5}
    for i1, j1, i2, j2 in [(1, 2, 3, 4), (0, 0, 0, 0), (1, 0, 2, 3)]:
        assert factor_entry(i1 * 4 + i2, j1 * 5 + j2, shape, dims) == (i1, j1, i2, j2)


def test_first_difference():
    a = RATIONALS.matrix(2, 2, [1, 2, 3, 4])
    b = RATIONALS.matrix(2, 2, [1, 2, 5, 4])
    assert first_difference(a, b, (("p", "p"),), {"p": 2}, RATIONALS) == ((1, 0), "3", "5")
    assert first_difference(a, a, (("p", "p"),), {"p": 2}, RATIONALS) is None


def test_coefficients_in_the_prime_field():
    assert int(PRIME_FIELD.scalar(Fraction(1, 2)) * 2) == 1
    assert field_named("Q") is RATIONALS
    assert field_named("GF(2^61-1)") is PRIME_FIELD and field_named("GF(1000003)").modulus == 1000003
    for bad in ("GF(8)", "GF(2)", "GF(x)", "R"):
        with pytest.raises(TensoralgError, match="field"):
            field_named(bad)


def test_a_coefficient_without_a_value_mod_p_is_refused():
    with pytest.raises(TensoralgError, match="has no value in GF"):
        PRIME_FIELD.scalar(Fraction(1, P61))
    assert int(PRIME_FIELD.scalar(Fraction(P61 + 1, 3)) * 3) == 1


def test_matrix_text_lists_rows():
    assert matrix_text(RATIONALS.matrix(2, 3, [1, 2, 3, flint.fmpq(1, 2), 5, -6]), RATIONALS) == (
        ("1", "2", "3"), ("1/2", "5", "-6"))
    assert matrix_text(PRIME_FIELD.matrix(1, 2, [P61 - 1, 5]), PRIME_FIELD) == ((str(P61 - 1), "5"),)


def test_rational_instances_use_every_entry_from_minus_3_to_3():
    X = declared_symbol("X", "p", "p")
    entries = {int(x.p) for seed in range(5) for x in random_instance([X], {"p": 4}, seed, RATIONALS)[X].entries()}
    assert entries == set(range(-3, 4))


def test_identity_needs_a_size():
    with pytest.raises(TensoralgError, match="no size"):
        evaluate_exact(Identity("p"), {}, {}, RATIONALS)
