"""Sizes at which different normal forms must differ (path argument; Magnus expansion with inverses)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from tensoralg.algebra.exact import PRIME_FIELD, evaluate_exact, random_instance
from tensoralg.algebra.expr import canonical_tree
from tensoralg.algebra.normal_form import NormalForm, collect_like_terms
from tensoralg.algebra.size_bounds import size_bound
from tensoralg.algebra.symbols import Letter, declared_symbol
from tensoralg.verify.verification import check_formula

X, Y = declared_symbol("X", "p", "p"), declared_symbol("Y", "p", "p")
R = declared_symbol("R", "p", "q")
LETTERS = [Letter(X, False), Letter(X, False, True), Letter(X, True), Letter(Y, False), Letter(Y, True, True)]
words = st.lists(st.sampled_from(LETTERS), max_size=3).map(tuple)


def _reduced(word):
    out: list = []
    for letter in word:
        if out and out[-1] == letter.invert():
            out.pop()
        else:
            out.append(letter)
    return tuple(out)


@given(st.lists(st.tuples(st.integers(-2, 2), words), min_size=1, max_size=4))
def test_a_nonzero_difference_is_nonzero_at_the_bound(terms):
    nf = collect_like_terms((("p", "p"),), (((_reduced(w),), Fraction(c)) for c, w in terms))
    bound = size_bound(nf)
    if not nf.terms:
        assert bound.dims == {}
        return
    assert bound.proven
    dims = {"p": bound.dims.get("p", 1)}
    expr = canonical_tree(nf)
    values = [random_instance([X, Y], dims, seed, PRIME_FIELD, invertible=[X, Y]) for seed in range(3)]
    assert any(any(evaluate_exact(expr, v, dims, PRIME_FIELD).entries()) for v in values)


def test_per_space_sizes_follow_the_path():
    nf = NormalForm((("q", "q"),), {((Letter(R, True), Letter(R, False)),): 1})  # Rᵀ R: q → p → q
    assert size_bound(nf).dims == {"q": 2, "p": 1}


def test_inverse_identities_refuted_at_the_magnus_size():
    v = check_formula("X Y X⁻¹ Y⁻¹ == Id", declarations=["X, Y: p x p"])
    assert v.status == "REFUTED" and v.counterexample.dims["p"] >= 2
    assert check_formula("(X Y)⁻¹ X Y X == X", declarations=["X, Y: p x p"]).status == "PROVED"
