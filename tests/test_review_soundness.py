"""Adversarial statements: scalars, traces, sums over heads, powers, inverses and rank bounds
must get the verdict that is true of them (a false statement is never PROVED, a true one never
REFUTED), and statements the rules do not read must not crash the checker."""

from __future__ import annotations

import pytest

from tensoralg.verify.verification import check_formula

#: (id, formula, declarations, status)
CASES = [
    # a rank statement about a trace (a 1 × 1 scalar) is bounded by its shape
    ("rank-of-a-trace-at-most-1", "rank(tr(M)) <= 1", ["M: 2 x 2"], "PROVED"),
    ("rank-of-a-trace-not-0", "rank(tr(M)) <= 0", ["M: 2 x 2"], "REFUTED"),
    ("rank-of-a-trace-times-id", "rank(tr(W_OV^{0,0}) Id_{1}) <= 0", [], "REFUTED"),
    # an inverse in a rank statement is drawn invertible (never "M is singular")
    ("rank-of-a-difference-of-inverses", "rank(M⁻¹ - M⁻¹) <= 0", ["M: d_model x d_model"], "UNDECIDED"),
    ("rank-of-an-inverse", "rank(M⁻¹) <= d_head", ["M: d_model x d_model"], "REFUTED"),
]


@pytest.mark.parametrize("text, declarations, status", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdict(text, declarations, status):
    verdict = check_formula(text, declarations=declarations)
    assert verdict.status == status, verdict.detail
