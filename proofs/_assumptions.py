"""Helpers for proofs that reason under assumptions (skipped by discovery: the name starts with ``_``).

* :func:`assumed`: a check whose verdict comes from
  :func:`tensoralg.verify.assumptions.check_assuming` (PROVED modulo relations with a
  certificate, or REFUTED by an instance that satisfies every assumption).
* :func:`certified`: PROVED only with a certificate the independent checker accepts.
* :data:`LETS`, :data:`CENTRING_RELATIONS`: declarations and the centring projector's relations.

>>> CENTRING_RELATIONS
('P P = P', 'Pᵀ = P', 'P 𝟙 = 0')
"""

from __future__ import annotations

from typing import Sequence

from tensoralg.verify.assumptions import check_assuming
from tensoralg.verify.catalog import Check, Context
from tensoralg.verify.verification import Verdict

#: Declarations shared by the statements of C22, C24 and C29.
LETS = ("X: n_ctx x d_model", "b_V, b_O, b_Q, b_K: d_head x 1", "y: d_model x 1", "B: n_ctx x n_ctx", "P: d_model x d_model",
        "R: d_model x d_head", "O, S: d_model x d_model", "c: n_vocab x 1", "x: d_model x 1")
#: The centring projector P = Id − 𝟙𝟙ᵀ/d as relations.
CENTRING_RELATIONS = ("P P = P", "Pᵀ = P", "P 𝟙 = 0")


def assumed(ctx: Context, description: str, text: str, assume: Sequence[str] = (), *, defaults: bool = True) -> Check:
    """A check whose verdict comes from :func:`tensoralg.verify.assumptions.check_assuming`."""
    verdict = check_assuming(text, assume, declarations=LETS, seed=ctx.seed_for(description) % 10_000,
                             trials=ctx.trials, defaults=defaults)
    report = ""
    if getattr(verdict, "certificate", None) is not None:
        report = f"certificate: {len(verdict.certificate)} term(s), checker {'accepts' if verdict.certificate_ok else 'rejects'}"
    return Check(description, verdict, report)


def certified(check: Check) -> Check:
    """PROVED only with a certificate the independent checker accepts (or none needed)."""
    v = check.verdict
    if v.status == "PROVED" and getattr(v, "certificate", None) is not None and not v.certificate_ok:
        return Check(check.description, Verdict("ERROR", v.method, v.statement, "certificate rejected"), check.report)
    return check
