"""Plausible bugs in the library that `tensoralg prove` must catch: each row applies one
mutation (monkeypatched for the test only) and names the claim and the check that must fail."""

from __future__ import annotations

import numpy as np
import pytest

import tensoralg.models.circuits as circuits
import tensoralg.models.factored as factored
import tensoralg.models.model as model_module
import tensoralg.paths.expansion as expansion
from tensoralg.verify.catalog import Context, discover, run_claim, select


def _scores_query_key_swapped(self, term):
    # Each term with its query and key states exchanged: the sum over all pairs is unchanged.
    return self.state(term.key) @ self._qk[term.layer][term.head] @ self.state(term.query).T


def _real_part_denominator(eigenvalues):
    total = np.real(eigenvalues.sum(axis=-1))
    size = np.abs(np.real(eigenvalues)).sum(axis=-1)
    return np.divide(total, size, out=np.zeros_like(total, dtype=np.float64), where=size > 0)


def _svd_without_s_b(self):
    U_a, s_a, V_a = np.linalg.svd(self.A, full_matrices=False)
    U_b, _, V_b = np.linalg.svd(self.B, full_matrices=False)
    U_c, s_c, V_c = np.linalg.svd((s_a[..., :, None] * V_a) @ U_b, full_matrices=False)
    return U_a @ U_c, s_c, V_c @ V_b


_forward = model_module.forward


def _forward_ignoring_frozen_patterns(model, tokens, patterns=None):
    return _forward(model, tokens)


#: (id, object, attribute, replacement, claim, words of the check that must fail)
MUTATIONS = [
    ("score-terms-query-key-swapped", expansion.TermValues, "scores", _scores_query_key_swapped, "C14",
     "each generated term's value"),
    ("copying-score-real-part-denominator", circuits, "eigenvalue_scores", _real_part_denominator, "C16",
     "complex"),
    ("factored-svd-drops-s_b", factored.FactoredMatrix, "svd", _svd_without_s_b, "C17b", "FactoredMatrix.svd"),
    ("forward-ignores-frozen-patterns", model_module, "forward", _forward_ignoring_frozen_patterns, "C20",
     "frozen at another input"),
]


@pytest.mark.parametrize("target, name, replacement, claim_id, check_words", [m[1:] for m in MUTATIONS],
                         ids=[m[0] for m in MUTATIONS])
def test_prove_catches_the_mutation(monkeypatch, target, name, replacement, claim_id, check_words):
    (claim,) = select(discover(), [claim_id])
    assert run_claim(claim, Context(seed=0)).passed
    monkeypatch.setattr(target, name, replacement)
    if target is model_module:
        # Proof modules import forward by name.
        import tensoralg.proofs.c20_term_importance as c20

        monkeypatch.setattr(c20, "forward", replacement)
    result = run_claim(claim, Context(seed=0))
    assert not result.passed
    assert any(check_words in line for line in result.failures), result.failures
