"""Printing: Unicode and LaTeX spellings, and the JSON schema with a lossless round trip."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tensoralg.algebra.expr import Identity, Inverse, Scaled, Sum, Tensor, atom, canonical
from tensoralg.algebra.expr import from_json
from tensoralg.algebra.printing import to_json, to_latex, to_unicode
from tensoralg.verify.strategies import expressions
from tensoralg.algebra.symbols import Symbol, standard_symbol

s = standard_symbol


def c11_terms():
    W_U, W_E = atom(s("W_U")), atom(s("W_E"))
    return Sum(
        (
            Tensor((Identity("n_ctx"), W_U @ W_E)),
            Tensor((atom(s("A", 1, 0)) @ atom(s("A", 0, 1)), W_U @ atom(s("W_OV", 1, 0)) @ atom(s("W_OV", 0, 1)) @ W_E)),
        )
    )


def test_unicode_matches_the_claims_notation():
    assert to_unicode(c11_terms()) == "Id ⊗ W_U W_E + A^{1,0} A^{0,1} ⊗ W_U W_OV^{1,0} W_OV^{0,1} W_E"


def test_latex_spelling():
    assert to_latex(c11_terms()) == (
        "\\mathrm{Id} \\otimes W_{U} W_{E} + A^{1,0} A^{0,1} \\otimes W_{U} W_{OV}^{1,0} W_{OV}^{0,1} W_{E}"
    )
    assert to_latex(Inverse(atom(s("W_OV", 0, 0))).T) == "\\left({W_{OV}^{0,0}}^{-1}\\right)^{\\top}"
    assert to_latex(canonical(Inverse(atom(s("W_OV", 0, 0))).T)) == "{W_{OV}^{0,0}}^{-\\top}"


def test_parentheses_follow_precedence():
    A, W = atom(s("A", 0, 0)), atom(s("W_OV", 0, 0))
    assert to_unicode(Tensor((A, W)) @ Tensor((A, W))) == "(A^{0,0} ⊗ W_OV^{0,0}) (A^{0,0} ⊗ W_OV^{0,0})"
    assert to_unicode(Scaled(-1, W + W @ W)) == "-(W_OV^{0,0} + W_OV^{0,0} W_OV^{0,0})"
    assert to_unicode((W @ W).T) == "(W_OV^{0,0} W_OV^{0,0})ᵀ"


def test_json_schema():
    data = to_json(Tensor((atom(s("A", 1, 0)), atom(s("W_OV", 1, 0)).T)))
    assert data == {
        "shape": [["n_ctx", "n_ctx"], ["d_model", "d_model"]],
        "terms": [
            {
                "coefficient": "1",
                "factors": [
                    [{"symbol": "A", "layer": 1, "head": 0, "transpose": False}],
                    [{"symbol": "W_OV", "layer": 1, "head": 0, "transpose": True}],
                ],
            }
        ],
    }
    assert to_json(Tensor((Identity("n_ctx"), atom(s("W_E")))))["terms"][0]["factors"][0] == []
    assert json.loads(json.dumps(data)) == data


def _resolve(name: str, indices: tuple[int, ...]) -> Symbol:
    # The shared strategies name generic symbols after their shape: "Apq" is p × q.
    return Symbol(name, indices, name[1], name[2])


@given(data=st.data())
def test_json_round_trip(data):
    e = data.draw(expressions(("p", "q"), ("p", "p")))
    back = from_json(json.loads(json.dumps(to_json(e))), _resolve)
    assert back == e


def test_a_per_layer_symbol_reports_its_index_as_the_layer():
    from tensoralg.algebra.expr import Atom
    from tensoralg.algebra.printing import letter_json
    from tensoralg.algebra.symbols import Letter, declared_symbol

    w_in = standard_symbol("W_in", 1)
    assert letter_json(Letter(w_in, False)) == {"symbol": "W_in", "layer": 1, "head": None, "transpose": False}
    mlp = declared_symbol("MLP", "d_model", "n_ctx", 0)
    assert (mlp.layer, mlp.head) == (0, None)
    # A head symbol with one index keeps it as its head, and both read back from JSON.
    assert (standard_symbol("W_OV", 3).layer, standard_symbol("W_OV", 3).head) == (None, 3)
    expr = Atom(standard_symbol("W_out", 1)) @ Atom(w_in)
    assert from_json(to_json(expr), lambda name, idx: standard_symbol(name, *idx)) == expr
