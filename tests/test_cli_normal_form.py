"""``tensoralg normal-form``: canonical forms printed for people and programs, and read back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from tensoralg.cli import main
from tensoralg.algebra.expr import canonical, symbols_in
from tensoralg.formula.parsing import Context, parse
from tensoralg.algebra.expr import from_json
from tensoralg.algebra.printing import to_unicode
from tensoralg.verify.strategies import expressions
from tensoralg.algebra.symbols import standard_symbol


def run(capsys, *argv):
    code = main(["normal-form", *argv])
    out, err = capsys.readouterr()
    return code, out.strip(), err


def test_one_layer_multiplied_out(capsys):
    code, out, _ = run(capsys, "(Id⊗W_U)(Id + Σ_{h∈H1} A^h⊗W_OV^h)(Id⊗W_E)", "--heads", "2")
    assert code == 0
    assert out == "Id ⊗ W_U W_E + A^{0,0} ⊗ W_U W_OV^{0,0} W_E + A^{0,1} ⊗ W_U W_OV^{0,1} W_E"


def test_latex_and_transpose_of_a_product(capsys):
    code, out, _ = run(capsys, "(W_OV^{1,0} W_OV^{0,0})ᵀ", "--format", "latex")
    assert (code, out) == (0, "{W_{OV}^{0,0}}^{\\top} {W_{OV}^{1,0}}^{\\top}")


def test_expand_unfolds_definitions_and_collects(capsys):
    code, out, _ = run(capsys, "W_QK^{0,0} + W_QK^{0,0} - W_K^{0,0}ᵀ W_Q^{0,0}", "--expand")
    assert (code, out) == (0, "-W_K^{0,0}ᵀ W_Q^{0,0} + 2 W_Q^{0,0}ᵀ W_K^{0,0}")
    code, out, _ = run(capsys, "W_QK^{0,0} - W_Q^{0,0}ᵀ W_K^{0,0}", "--expand")
    assert (code, out) == (0, "0")
    # Without --expand the definition stands: the difference is not zero.
    assert run(capsys, "W_QK^{0,0} - W_Q^{0,0}ᵀ W_K^{0,0}")[1] == "W_QK^{0,0} - W_Q^{0,0}ᵀ W_K^{0,0}"


def test_json_reads_back_to_the_same_expression(capsys):
    text = "(A^{1,0}⊗W_OV^{1,0})(A^{0,0}⊗W_OV^{0,0}) + (1/2) Id⊗W_OV^{1,0}"
    code, out, _ = run(capsys, text, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["terms"][0]["coefficient"] == "1/2"
    assert from_json(data, lambda name, idx: standard_symbol(name, *idx)) == parse(text)
    assert data["unicode"] == to_unicode(canonical(parse(text)))


@settings(max_examples=40)
@given(expressions(("p", "q"), ("q", "q")))
def test_printed_normal_form_parses_back_to_an_equal_expression(expr):
    declarations = [f"{s.name}: {s.rows} x {s.cols}" for s in symbols_in(expr)]
    context = Context.build(declarations)
    # A bare Id (or 0) takes its space from the shape the reader expects.
    assert parse(to_unicode(canonical(expr)), context, shape=expr.shape) == expr


BAD = [
    ("shape", ["W_E W_E"], "cannot multiply W_E"),
    ("syntax", ["A ⊗"], "expected"),
    ("unknown-symbol", ["Q W_E"], "Q"),
    ("bad-heads", ["A^h", "--heads", "x"], "comma-separated integers"),
]


@pytest.mark.parametrize("fmt", ["text", "latex"])
@pytest.mark.parametrize("text", ["tr(Id_{3})", "Id_{d_model}", "Id_{n_ctx} ⊗ Id_{d_model}", "tr(Id_{d_model}) + 2",
                                  "Id_{n_ctx} ⊗ W_U W_E + A^{0,0} ⊗ Id_{n_vocab}"])
def test_output_with_only_identities_in_a_factor_reads_back_alone(capsys, text, fmt):
    """Nothing beside such an Id tells its space, so it is printed with it (3 Id_{1}, not 3 Id)."""
    code, printed, _ = run(capsys, text, "--format", fmt)
    assert code == 0
    assert parse(printed) == parse(text), printed


@pytest.mark.parametrize("argv, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_gives_one_error_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and message in err
    assert err.startswith("tensoralg normal-form: error:")
