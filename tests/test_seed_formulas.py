"""The seeds' own formulas (../shared/seeds/, the LaTeX between $ … $ and $$ … $$), as written.

83 formulas are in the seeds (76 distinct; 28 occurrences, 23 distinct, parse); the ones below parse verbatim. The others are prose
or not statements of the algebra — arrows between tokens ([source] \\xleftarrow{} [active]),
sizes ([d_\\text{model} \\times d_\\text{head}], n_\\text{heads} = 12), softmax(…), entries and
sums over positions (r_i = \\sum_j A_{i,j} v_j), a function f(x) = \\alpha x + b — or use a
spelling the language answers with a hint instead of guessing: ``id`` (did you mean Id?),
``W_{ov}`` (did you mean W_OV?), a generic layer ``H_i``, W_I (not a standard symbol).
The identities among them are then checked: the definitions are PROVED.
"""

from __future__ import annotations

import pytest

from tensoralg.errors import SymbolError
from tensoralg.formula.parsing import parse_chain
from tensoralg.verify.verification import check_formula

PARSE_VERBATIM = [
    ('000', 'A'),
    ('000', 'W_O W_V'),
    ('000', 'W_Q'),
    ('000', 'W_K'),
    ('000', 'W_O'),
    ('000', 'W_V'),
    ('000', 'W_{OV} = W_O W_V'),
    ('000', 'W_{QK} = W_Q^T W_K'),
    ('003', 'Id \\otimes W_U W_E,'),
    ('003', 'A[i, j]'),
    ('003', 'A[i, i] = 0'),
    ('003', 'W_E^T W_{QK}^h W_E'),
    ('003', 'W_U W_{OV}^h W_E'),
    ('003', '\\sum_{h_1 \\in H_1} \\sum_{h_2 \\in H_2} (A^{h_1} A^{h_2}) \\otimes (W_U W_{OV}^{h_2} W_{OV}^{h_1} W_E)'),
    ('003', '\\sum_{h_1 \\in H_1} \\sum_{h_j \\in H_1} A^{h_i} \\otimes A^{h_j} \\otimes (W_E^T W_{OV}^{h_i T} W_{QK}^h W_{OV}^{h_j} W_E)'),
    ('004', 'W_{QK}'),
    ('004', 'W_Q^T W_K'),
    ('004', 'W_Q^h'),
    ('004', 'W_K^h'),
    ('004', 'W_V^h'),
    ('004', 'W_O^h'),
    ('004', 'W_{OV}^h = W_O^hW_V^h'),
    ('004', 'W_{QK}^h = W_Q^{hT}W_K^h'),
]


@pytest.mark.parametrize("seed, formula", PARSE_VERBATIM, ids=[f"{s}-{k}" for k, (s, _) in enumerate(PARSE_VERBATIM)])
def test_seed_formula_parses_verbatim(seed, formula):
    assert parse_chain(formula)


@pytest.mark.parametrize("formula", [
    "W_{OV} = W_O W_V", "W_{QK} = W_Q^T W_K", "W_{OV}^h = W_O^hW_V^h", "W_{QK}^h = W_Q^{hT}W_K^h",
    r"\sum_{h \in \cup H_1 H_2} A^h \otimes (W_U W_{OV}^h W_E) = \sum_{h \in H_1 \cup H_2} A^h \otimes (W_U W_{OV}^h W_E)",
])
def test_seed_definitions_are_proved(formula):
    assert check_formula(formula.replace(" = ", " == ", 1)).status == "PROVED"


@pytest.mark.parametrize("formula, hint", [
    (r"id \otimes W_U W_E", "did you mean Id?"),
    (r"W_{ov}", "did you mean W_OV?"),
])
def test_seed_near_misses_get_a_hint(formula, hint):
    with pytest.raises(SymbolError, match=hint.replace("?", r"\?")):
        parse_chain(formula)
