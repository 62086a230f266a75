"""MathML printing: well-formed markup, the same reading as the Unicode printer, everything escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given

from tensoralg.algebra.expr import Identity, Inverse, Scaled, Tensor, atom
from tensoralg.algebra.mathml import MathMLPrinter, to_mathml
from tensoralg.algebra.printing import to_unicode
from tensoralg.algebra.symbols import Symbol, standard_symbol as s
from tensoralg.verify.strategies import expressions

NS = "{http://www.w3.org/1998/Math/MathML}"


def _text(markup: str) -> str:
    """The characters a reader sees, in order (invisible times dropped)."""
    return "".join(ET.fromstring(markup).itertext()).replace("\u2062", "")


def _unicode_reading(expr) -> str:
    """The Unicode spelling with what MathML shows differently normalised: indices, ᵀ, ⁻¹, minus."""
    text = to_unicode(expr).replace("^{", "").replace("}", "").replace("_", "").replace(" ", "")
    return text.replace("ᵀ", "⊤").replace("⁻¹", "−1").replace("⁻⊤", "−⊤").replace("-", "−").replace("/", "")


@given(expressions(("d_model", "d_model"), ("n_ctx", "n_ctx")))
def test_mathml_is_well_formed_and_reads_like_unicode(expr):
    markup = to_mathml(expr)
    root = ET.fromstring(markup)
    assert root.tag == f"{NS}math" and root.get("display") == "block"
    shown = _text(markup).replace("(", "").replace(")", "").replace(" ", "").replace("_", "")
    expected = _unicode_reading(expr).replace("(", "").replace(")", "")
    assert shown == expected.replace("⁻ᵀ", "−⊤")


def test_indices_and_transposes_are_scripts():
    markup = to_mathml(Tensor((atom(s("A", 1, 0)), atom(s("W_OV", 1, 0)).T)), display="inline")
    root = ET.fromstring(markup)
    assert root.get("display") is None
    msubsup = root.find(f".//{NS}msubsup")
    assert [e.text for e in msubsup if e.text] == ["W", "OV"]
    assert [e.text for e in msubsup.iter(f"{NS}mn")] == ["1", "0"]
    assert any(e.text == "⊤" for e in root.iter(f"{NS}mo"))


def test_fractions_and_inverses():
    e = Scaled("-3/2", Inverse(atom(s("W_OV", 0, 0))))
    root = ET.fromstring(to_mathml(e))
    frac = root.find(f".//{NS}mfrac")
    assert [x.text for x in frac] == ["3", "2"]
    assert _text(to_mathml(e)).startswith("−")
    assert "−1" in _text(to_mathml(e))
    assert _text(to_mathml(Identity("n_ctx"))) == "Id"


def test_names_are_escaped():
    weird = Symbol("W_<b>&", (), "d_model", "d_model")
    markup = MathMLPrinter().doprint(atom(weird))
    assert "<b>" not in markup and "&lt;b&gt;&amp;" in markup


def test_a_node_kind_without_a_method_prints_as_escaped_text():
    printer = MathMLPrinter()
    printer._print_Transpose = None  # as for a node kind the MathML printer does not know yet
    markup = printer.doprint(Tensor((atom(s("A", 0, 0)), atom(s("W_OV", 0, 0)).T)))
    assert "<mtext>W_OV^{0,0}ᵀ</mtext>" in markup
    ET.fromstring(markup)


def test_every_node_kind_has_the_short_repr():
    from tensoralg.algebra.expr import Expr

    assert all(cls.__repr__ is Expr.__repr__ for cls in Expr.__subclasses__())  # no dataclass repr: repr=False


@pytest.mark.parametrize("display", ["wide", ""])
def test_unknown_display_is_refused(display):
    with pytest.raises(ValueError, match="display"):
        to_mathml(atom(s("W_E")), display=display)


def test_jupyter_display_of_expressions():
    e = Tensor((atom(s("A", 1, 0)), atom(s("W_OV", 1, 0))))
    assert e._repr_latex_() == "$\\displaystyle A^{1,0} \\otimes W_{OV}^{1,0}$"
    assert repr(e) == "<Tensor A^{1,0} ⊗ W_OV^{1,0} : n_ctx × n_ctx ⊗ d_model × d_model>"
    long = sum((atom(s("W_OV", 0, h)) for h in range(1, 12)), atom(s("W_OV", 0, 0)))
    assert len(repr(long)) < 120 and "…" in repr(long)


def test_sums_over_heads_and_traces():
    from tensoralg.formula.parsing import Context, parse

    e = parse("Σ_{h1∈H1, h2∈H2} A^{h2}A^{h1}⊗W_U W_OV^{h2} W_OV^{h1} W_E", Context.build([], None))
    root = ET.fromstring(to_mathml(e))
    munder = root.find(f".//{NS}munder")
    assert munder[0].text == "∑" and "".join(munder[1].itertext()) == "h1∈H1,h2∈H2"
    trace = ET.fromstring(to_mathml(parse("tr(W_OV^{0,0} W_OV^{1,0})", Context.build([], None))))
    assert [e.text for e in trace.iter(f"{NS}mi")][:3] == ["tr", "W", "OV"]
    # inside the sum a bound head prints alone, A^{h2}, as the Unicode printer has it
    assert "<msup><mi>A</mi><msub><mi>h</mi><mn>2</mn></msub></msup>" in to_mathml(e)
