"""Every proof module of the catalog, as ``tensoralg prove`` runs it: each claim passes, each
derivation link is proved symbolically, and each negative control is refuted with a counterexample.

The modules are discovered, so a new module under proofs/ is tested as soon as it exists.
"""

from __future__ import annotations

import pkgutil
import re

import pytest

import tensoralg.proofs
from tensoralg.verify.catalog import Context, discover, run_claim

CLAIMS = discover()


def test_every_claim_module_is_discovered():
    modules = [m.name for m in pkgutil.iter_modules(tensoralg.proofs.__path__) if re.match(r"c\d+[a-z]?_", m.name)]
    assert len(modules) == len(CLAIMS) >= 13


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_claim_passes_and_refutes_its_negative_controls(claim):
    result = run_claim(claim, Context(seed=0))
    assert result.failures == ()
    assert result.passed
    assert result.derivations, f"{claim.id} has no derivation"
    assert result.checks, f"{claim.id} has no checks"
    for derivation in result.derivations:
        assert all(link.verdict.status == "PROVED" and link.verdict.method == "symbolic" for link in derivation.links)
    for control in result.negatives:
        assert control.verdict.status == "REFUTED"
        example = control.verdict.counterexample
        assert example is not None and example.lhs_value != example.rhs_value, control.description


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.id in {"C1", "C5", "C6", "C16", "C17", "C19"}], ids=lambda c: c.id)
def test_claims_with_stated_negatives_pass_on_another_seed(claim):
    result = run_claim(claim, Context(seed=7))
    assert result.passed, result.failures
    assert result.refuted.split("/")[0] == result.refuted.split("/")[1] != "0"
