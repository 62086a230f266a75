"""The tensor-product algebra: every rewrite law agrees with numpy, and the normal form decides equality."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensoralg.errors import ShapeError
from tensoralg.algebra.evaluate import act, evaluate
from tensoralg.algebra.expr import (
    Apply,
    Atom,
    Bilinear,
    Identity,
    Inverse,
    Product,
    Scaled,
    Sum,
    Tensor,
    Transpose,
    Zero,
    atom,
    canonical,
    identity,
    symbols_in,
)
from tensoralg.algebra.expr import normal_form
from tensoralg.algebra.normal_form import concatenate, invert_word, transpose_word
from tensoralg.verify.strategies import dimensions, expressions, random_values, seeds
from tensoralg.algebra.symbols import Letter, Symbol, declared_symbol, standard_symbol


def sym(name: str, rows: str, cols: str) -> Atom:
    return atom(Symbol(name, (), rows, cols))


def values_for(*exprs, dims, seed):
    found = frozenset().union(*(symbols_in(e) for e in exprs))
    return random_values(found, dims, np.random.default_rng(seed))


def close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(1.0, float(np.max(np.abs(a), initial=0)), float(np.max(np.abs(b), initial=0)))
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-9 * scale))


# --- each law, checked symbolically and against numpy, dimensions drawn -------------------

@given(dims=dimensions(), seed=seeds())
def test_mixed_product_rule(dims, seed):
    A, B, C, D = sym("A", "p", "q"), sym("B", "r", "p"), sym("C", "q", "r"), sym("D", "p", "q")
    lhs = Tensor((A, B)) @ Tensor((C, D))
    rhs = Tensor((A @ C, B @ D))
    assert lhs == rhs
    v = values_for(lhs, dims=dims, seed=seed)
    assert close(evaluate(lhs, v), evaluate(rhs, v))


@given(dims=dimensions(), seed=seeds(), c=st.fractions(-5, 5, max_denominator=7))
def test_bilinearity(dims, seed, c):
    A, B = sym("A", "p", "q"), sym("B", "p", "q")
    W = sym("W", "r", "r")
    lhs = Tensor((A + Scaled(c, B), W))
    rhs = Tensor((A, W)) + Scaled(c, Tensor((B, Scaled(1, W))))
    assert lhs == rhs
    assert Tensor((Scaled(c, A), W)) == Tensor((A, Scaled(c, W)))
    v = values_for(lhs, dims=dims, seed=seed)
    assert close(evaluate(lhs, v), evaluate(rhs, v))


@given(dims=dimensions(), seed=seeds())
def test_transpose_rules(dims, seed):
    X, Y = sym("X", "p", "q"), sym("Y", "q", "r")
    A, B = sym("A", "p", "q"), sym("B", "r", "p")
    assert Transpose(X @ Y) == Y.T @ X.T
    assert Transpose(Tensor((A, B))) == Tensor((A.T, B.T))
    assert Transpose(Transpose(X)) == X
    v = values_for(X, Y, A, B, dims=dims, seed=seed)
    assert close(evaluate(Transpose(X @ Y), v), evaluate(Y.T @ X.T, v))
    assert close(evaluate(Transpose(Tensor((A, B))), v), evaluate(Tensor((A.T, B.T)), v))


@given(dims=dimensions(), seed=seeds())
def test_identity_elimination_and_unit(dims, seed):
    X = sym("X", "p", "q")
    assert Identity("p") @ X @ Identity("q") == X
    assert Tensor((Identity("p"), Identity("q"))) @ Tensor((X, X.T)) == Tensor((X, X.T))
    assert Transpose(Identity("p")) == Identity("p")
    v = values_for(X, dims=dims, seed=seed)
    one = evaluate(Tensor((Identity("p"), Identity("r"))), v, dims)
    assert close(one, np.eye(dims["p"] * dims["r"]))


@given(dims=dimensions(), seed=seeds())
def test_collecting_like_terms(dims, seed):
    X, Y = sym("X", "p", "p"), sym("Y", "p", "p")
    lhs = X @ Y + Scaled(Fraction(1, 2), X @ Y) - Y @ X + Y @ X
    assert lhs == Scaled(Fraction(3, 2), X @ Y)
    assert (X - X) == Zero(((("p", "p")),))
    v = values_for(X, Y, dims=dims, seed=seed)
    assert close(evaluate(lhs, v), 1.5 * evaluate(X @ Y, v))


@given(dims=dimensions(), seed=seeds())
def test_inverse_rules(dims, seed):
    M, N = sym("M", "p", "p"), sym("N", "p", "p")
    assert M @ Inverse(M) == Identity("p") == Inverse(M) @ M
    assert Inverse(M @ N) == Inverse(N) @ Inverse(M)
    assert Transpose(Inverse(M)) == Inverse(Transpose(M))
    assert M.T @ Transpose(Inverse(M)) == Identity("p")
    v = values_for(M, N, dims=dims, seed=seed)
    assert close(evaluate(Inverse(M @ N), v), evaluate(Inverse(N) @ Inverse(M), v))


def test_free_reduction_only_at_the_junction():
    M, N = (Letter(Symbol(n, (), "p", "p"), False) for n in "MN")
    assert concatenate((M, N), (N.invert(), M.invert())) == ()
    assert concatenate((M, N), (M.invert(),)) == (M, N, M.invert())
    assert invert_word(invert_word((M, N.transpose()))) == (M, N.transpose())
    assert transpose_word(transpose_word((M, N))) == (M, N)


# --- whole-expression properties over random expressions ----------------------------

SHAPES = [(("p", "q"),), (("p", "p"), ("q", "r")), (("p", "q"), ("r", "r"), ("q", "p"))]


@given(data=st.data(), dims=dimensions(max_size=3), seed=seeds())
@settings(max_examples=80)
def test_evaluation_equals_evaluation_of_normal_form(data, dims, seed):
    shape = data.draw(st.sampled_from(SHAPES))
    e = data.draw(expressions(*shape))
    v = values_for(e, dims=dims, seed=seed)
    assert close(evaluate(e, v, dims), evaluate(canonical(e), v, dims))


@given(data=st.data())
def test_normal_form_is_idempotent(data):
    e = data.draw(expressions(*data.draw(st.sampled_from(SHAPES))))
    once = canonical(e)
    assert normal_form(once) == e.normal_form
    assert canonical(once).normal_form == once.normal_form
    assert str(canonical(once)) == str(once)


@given(data=st.data())
def test_equal_normal_forms_iff_equal_hashes(data):
    shape = data.draw(st.sampled_from(SHAPES))
    a, b = data.draw(expressions(*shape)), data.draw(expressions(*shape))
    assert hash(a) == hash(canonical(a))
    assert (a.normal_form == b.normal_form) == (hash(a) == hash(b))
    assert (a == b) == (a.normal_form == b.normal_form)


@given(data=st.data(), dims=dimensions(max_size=3), seed=seeds())
def test_action_without_kronecker_equals_kron(data, dims, seed):
    op = data.draw(expressions(("p", "q"), ("r", "p")))
    X = sym("X", "q", "p")
    v = values_for(op, X, dims=dims, seed=seed)
    x = v[X.symbol]
    dense = evaluate(op, v, dims) @ x.reshape(-1)
    assert close(act(op, x, v, dims), dense.reshape(dims["p"], dims["r"]))
    assert close(evaluate(Apply(op, X), v, dims), act(op, x, v, dims))
    assert close(evaluate(canonical(Apply(op, X)), v, dims), act(op, x, v, dims))


@given(dims=dimensions(max_size=3), seed=seeds())
def test_three_factor_action_and_bilinear_form(dims, seed):
    Aq, Ak, M = sym("A", "p", "p"), sym("B", "p", "p"), sym("M", "q", "q")
    P, Q = Tensor((sym("C", "p", "p"), sym("W", "q", "r"))), Tensor((sym("D", "p", "p"), sym("V", "q", "r")))
    form = Tensor((Aq, Ak, M))
    t = sym("T", "p", "r")
    v = values_for(form, P, Q, t, dims=dims, seed=seed)
    x = v[t.symbol]
    a_q, a_k, m = v[Aq.symbol], v[Ak.symbol], v[M.symbol]
    y = act(P, x, v)
    assert close(act(form, y, v), a_q @ y @ m @ y.T @ a_k.T)
    # F∘(P, Q) read on t equals F's bilinear form between P·t and Q·t.
    composed = Bilinear(form, P, Q)
    expected = a_q @ act(P, x, v) @ m @ act(Q, x, v).T @ a_k.T
    assert close(evaluate(Apply(composed, t), v, dims), expected)


@given(dims=dimensions(max_size=2), seed=seeds())
def test_bilinear_form_scales_with_each_side(dims, seed):
    # F∘(aP, bQ) = ab·F∘(P, Q): the coefficients of the form, the query and the key all multiply.
    Aq, Ak, M = sym("A", "p", "p"), sym("B", "p", "p"), sym("M", "q", "q")
    P, Q = Tensor((sym("C", "p", "p"), sym("W", "q", "r"))), Tensor((sym("D", "p", "p"), sym("V", "q", "r")))
    form = Tensor((Aq, Ak, M))
    scaled = Bilinear(Scaled(Fraction(5), form), Scaled(Fraction(2), P), Scaled(Fraction(3), Q))
    assert scaled == Scaled(Fraction(30), Bilinear(form, P, Q))
    t = sym("T", "p", "r")
    v = values_for(form, P, Q, t, dims=dims, seed=seed)
    assert close(evaluate(Apply(scaled, t), v, dims), 30 * evaluate(Apply(Bilinear(form, P, Q), t), v, dims))


def test_normal_forms_are_immutable():
    import dataclasses

    nf = sym("A", "p", "p").normal_form
    with pytest.raises(dataclasses.FrozenInstanceError):
        nf.shape = ()


# --- must-fail twins: near-miss identities are different, symbolically and numerically --

@given(seed=seeds())
def test_reversed_mixed_product_is_not_the_rule(seed):
    A, B, C, D = (sym(n, "p", "p") for n in "ABCD")
    lhs = Tensor((A, B)) @ Tensor((C, D))
    for wrong in (Tensor((C @ A, B @ D)), Tensor((A @ C, D @ B))):
        assert lhs != wrong
        v = values_for(lhs, dims={"p": 2}, seed=seed)
        assert not close(evaluate(lhs, v), evaluate(wrong, v))


@given(seed=seeds())
def test_transpose_of_product_is_not_product_of_transposes(seed):
    X, Y = sym("X", "p", "p"), sym("Y", "p", "p")
    assert Transpose(X @ Y) != X.T @ Y.T
    v = values_for(X, Y, dims={"p": 2}, seed=seed)
    assert not close(evaluate(Transpose(X @ Y), v), evaluate(X.T @ Y.T, v))


def test_definitions_are_not_unfolded_by_equality():
    from tensoralg.algebra.definitions import expand_definitions

    W_OV = atom(standard_symbol("W_OV", 1, 0))
    unfolded = atom(standard_symbol("W_O", 1, 0)) @ atom(standard_symbol("W_V", 1, 0))
    assert W_OV != unfolded
    assert expand_definitions(W_OV) == unfolded
    W_QK = atom(standard_symbol("W_QK", 1, 0))
    assert expand_definitions(W_QK) == atom(standard_symbol("W_Q", 1, 0)).T @ atom(standard_symbol("W_K", 1, 0))
    assert expand_definitions(W_QK) != atom(standard_symbol("W_K", 1, 0)).T @ atom(standard_symbol("W_Q", 1, 0))


def test_exact_evaluation_over_the_rationals():
    X = sym("X", "p", "p")
    rng = np.random.default_rng(3)
    x = np.array([[Fraction(int(a), int(b)) for a, b in zip(r, rng.integers(1, 5, 3))] for r in rng.integers(-4, 5, (3, 3))], dtype=object)
    out = evaluate(Scaled(Fraction(1, 3), X @ Inverse(X)) + Identity("p"), {X.symbol: x})
    assert out.dtype == object
    assert all(out[i, j] == (Fraction(4, 3) if i == j else 0) for i in range(3) for j in range(3))


def _zero(rows: str, cols: str) -> Zero:
    return Zero(((rows, cols),))


@pytest.mark.parametrize("exact", [False, True], ids=["float64", "fractions"])
def test_zero_operator_acts_as_zero(exact):
    # Transposed, the operators reach the walk's Zero case only through their normal forms.
    X, S = sym("X", "q", "d"), sym("S", "q", "d")
    dims = {"p": 2, "q": 3, "r": 4, "d": 5}
    v = values_for(X, S, dims=dims, seed=1)
    if exact:
        v = {s: np.vectorize(lambda a: Fraction(round(4 * a), 3), otypes=[object])(m) for s, m in v.items()}
    two = Transpose(Tensor((_zero("q", "p"), _zero("d", "d"))))
    three = Transpose(Tensor((_zero("q", "p"), _zero("q", "r"), _zero("d", "d"))))
    for op, shape in ((two, (2, 5)), (three, (2, 4))):
        out = evaluate(Apply(op, X), v, dims)
        assert out.shape == shape and out.dtype == (object if exact else np.float64)
        assert not out.any()
    # Twins: the same walk gives X back for (Id⊗Id)ᵀ and the nonzero Sᵀ X Xᵀ S for (S⊗S⊗Id)ᵀ.
    assert (evaluate(Apply(Transpose(Tensor((Identity("q"), Identity("d")))), X), v) == v[X.symbol]).all()
    assert evaluate(Apply(Transpose(Tensor((S, S, Identity("d")))), X), v).any()


# --- bad input: one table, each error names the operands and their shapes -----------

W_E, W_U, W_OV = (atom(standard_symbol(n, *i)) for n, i in (("W_E", ()), ("W_U", ()), ("W_OV", (1, 0))))
A10 = atom(standard_symbol("A", 1, 0))
ID_CTX = Identity("n_ctx")

BAD = [
    ("product-of-embeddings", lambda: W_E @ W_E, ["W_E", "d_model × n_vocab", "n_vocab ≠ rows d_model"]),
    ("tensor-factor-mismatch", lambda: Tensor((ID_CTX, W_E)) @ Tensor((A10, W_OV)), ["Id ⊗ W_E", "A^{1,0} ⊗ W_OV^{1,0}", "tensor factor 2"]),
    ("tensor-times-matrix", lambda: Tensor((A10, W_OV)) @ W_OV, ["2 tensor factor(s) against 1"]),
    ("sum-of-shapes", lambda: W_OV + W_E, ["cannot add W_OV^{1,0}", "W_E (d_model × n_vocab)"]),
    ("invert-rectangle", lambda: Inverse(W_E), ["cannot invert W_E", "d_model ≠ n_vocab"]),
    ("invert-sum", lambda: Inverse(W_OV + W_OV @ W_OV).normal_form, ["only a single product", "2 terms"]),
    ("apply-wrong-state", lambda: Apply(Tensor((A10, W_OV)), W_U), ["cannot apply", "the state must be n_ctx × d_model"]),
    ("apply-matrix", lambda: Apply(W_OV, W_OV), ["a two- or three-factor term acts on a plain matrix"]),
    ("bilinear-misfit", lambda: Bilinear(W_OV, Tensor((A10, W_E)), Tensor((A10, W_U))), ["shapes do not chain"]),
    ("empty-product", lambda: Product(()), ["at least one factor"]),
    ("bad-coefficient", lambda: Scaled("1/0", W_OV), ["not a rational coefficient"]),
    ("act-without-size", lambda: act(Tensor((_zero("p", "p"), _zero("q", "q"))), np.zeros((2, 3)), {}), ["no size given for the space p", "0 ⊗ 0"]),
    ("singular-value", lambda: evaluate(Inverse(sym("M", "p", "p")), {sym("M", "p", "p").symbol: np.zeros((2, 2))}), ["the value of M is singular", "M⁻¹ does not exist"]),
]


@pytest.mark.parametrize("build, fragments", [(b, f) for _, b, f in BAD], ids=[i for i, _, _ in BAD])
def test_bad_input_names_the_problem(build, fragments):
    with pytest.raises(ShapeError) as info:
        build()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_symbol_validation():
    from tensoralg.errors import SymbolError

    with pytest.raises(SymbolError, match="unknown standard symbol 'W_X'"):
        standard_symbol("W_X")
    with pytest.raises(SymbolError, match="at most two indices"):
        standard_symbol("A", 1, 2, 3)
    with pytest.raises(SymbolError, match="non-negative"):
        standard_symbol("A", -1, 0)
    with pytest.raises(SymbolError, match="must start with a letter"):
        declared_symbol("1M", "d", "d")


def test_a_two_factor_action_is_counted_as_operator_terms_times_state_terms():
    # 1,100 state terms: 1,100 output terms, far below the limit (1,100² would be above it).
    A, W = sym("A", "p", "p"), sym("W", "q", "q")
    X = Sum(tuple(sym(f"X{i}", "p", "q") for i in range(1100)))
    assert len(Apply(Tensor((A, W)), X).normal_form) == 1100


def test_an_action_of_a_sum_over_heads_of_unknown_number():
    from tensoralg.verify.verification import check_formula

    verdict = check_formula("(Σ_{h∈H1} A^h ⊗ W_OV^h) · X == Σ_{h∈H1} A^h X W_OV^hᵀ", declarations=["X: n_ctx x d_model"])
    assert verdict.status == "PROVED" and "every number of heads" in verdict.detail
    twin = check_formula("(Σ_{h∈H1} A^h ⊗ W_OV^h) · X == Σ_{h∈H1} A^h X W_OV^h", declarations=["X: n_ctx x d_model"])
    assert twin.status == "REFUTED"
